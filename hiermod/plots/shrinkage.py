"""Shrinkage plot: each group's no-pooling estimate moves to its partial-pooling estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

from ._labels import factor_name

#: no-pooling estimates farther than this many IQRs outside the quartiles are drawn at the
#: edge of the axis (one extreme estimate must not squash every other group)
OUTLIER_IQR = 3.0
#: tick values of the log axis of group sizes
SIZE_TICKS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10000)


def y_limits(no_pool: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
    """Limits holding every value of ``keep`` (partial and complete pooling) and the
    no-pooling estimates within :data:`OUTLIER_IQR` IQRs of their quartiles."""
    finite = no_pool[np.isfinite(no_pool)]
    inside = finite
    if finite.size >= 4:
        q1, q3 = np.quantile(finite, [0.25, 0.75])
        iqr = max(q3 - q1, 1e-12)
        inside = finite[(finite >= q1 - OUTLIER_IQR * iqr) & (finite <= q3 + OUTLIER_IQR * iqr)]
    values = np.concatenate([inside, keep[np.isfinite(keep)]])
    lo, hi = float(values.min()), float(values.max())
    pad = 0.06 * (hi - lo) if hi > lo else 0.5
    return lo - pad, hi + pad


def plot_shrinkage(table: pd.DataFrame, terms: list[str] | None = None,
                   jitter: float = 0.04, random_seed: int = 0,
                   factor: str | None = None) -> Figure:
    """No pooling → partial pooling, with the complete-pooling line.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`hiermod.report.pooling` (index (term, <factor>); columns n,
        no_pool, partial_mean, complete_pool).
    terms : list of str, optional
        Terms to draw (default all), one panel each.
    jitter : float
        Horizontal jitter (in log10 units of n) so groups of the same size do not overlap.
    random_seed : int
        Seed of the jitter.
    factor : str, optional
        The grouping factor's name for the labels (default: the table's level index name).

    Returns
    -------
    matplotlib.figure.Figure
        With unequal group sizes: x is n_j (log scale, plain-number ticks); open circles are
        the no-pooling estimates, filled ones the partial-pooling posterior means, joined by a
        segment: small groups move far, large groups barely. With equal group sizes (balanced
        data, where n carries no information) each group is a line from its no-pooling
        estimate (left) to its partial-pooling estimate (right). The complete-pooling
        estimate is a horizontal line (or a cross per group when level-2 predictors make it
        differ). No-pooling estimates far outside the others (beyond 3 IQRs) are drawn as
        triangles at the edge of the axis, so they cannot squash the picture; the legend
        counts them.
    """
    terms = list(dict.fromkeys(table.index.get_level_values(0))) if terms is None else terms
    if not terms:
        raise ValueError("no pooling table rows to plot")
    rng = np.random.default_rng(random_seed)
    factor = factor_name(table, factor) or "group"
    fig = Figure(figsize=(4.6 * len(terms) + 0.6, 4.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(terms), squeeze=False)[0])
    balanced = bool(np.unique(table["n"]).size == 1)
    for ax, term in zip(axes, terms, strict=True):
        t = table.loc[term]
        no_pool = t["no_pool"].to_numpy(dtype=float)
        partial = t["partial_mean"].to_numpy(dtype=float)
        cp = t["complete_pool"].to_numpy(dtype=float)
        lo, hi = y_limits(no_pool, np.concatenate([partial, cp]))
        shown = np.clip(no_pool, lo, hi)
        off = np.isfinite(no_pool) & (shown != no_pool)
        ok = np.isfinite(no_pool)
        if balanced:
            x0, x1 = np.zeros(len(t)), np.ones(len(t))
            ax.plot(np.stack([x0[ok], x1[ok]]), np.stack([shown[ok], partial[ok]]),
                    color="0.6", lw=0.7)
            ax.set_xticks([0, 1], ["no pooling", "partial pooling"])
            ax.set_xlim(-0.3, 1.3)
            ax.set_xlabel(f"every group of {factor} has n = {int(t['n'].iloc[0])}")
        else:
            x0 = x1 = t["n"].to_numpy(dtype=float) * 10 ** rng.uniform(-jitter, jitter, len(t))
            ax.vlines(x0[ok], shown[ok], partial[ok], color="0.6", lw=0.7)
            ax.set_xscale("log")
            ticks = [v for v in SIZE_TICKS if t["n"].min() * 0.8 <= v <= t["n"].max() * 1.25]
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(f"observations in the group (n_j, {factor})")
        inside = ok & ~off
        ax.scatter(x0[inside], shown[inside], facecolors="none", edgecolors="C0", s=18,
                   label="no pooling")
        for side, marker in ((off & (no_pool > hi), "^"), (off & (no_pool < lo), "v")):
            if side.any():
                ax.scatter(x0[side], shown[side], marker=marker, color="C0", s=30,
                           label=f"no pooling, off the scale ({int(side.sum())})")
        ax.scatter(x1, partial, color="C3", s=14, zorder=3, label="partial pooling")
        if np.allclose(cp, cp[0]):
            ax.axhline(cp[0], color="k", lw=1, ls="--", label="complete pooling")
        else:
            ax.scatter(x1, cp, marker="x", color="k", s=12, label="complete pooling")
        ax.set_ylim(lo, hi)
        ax.set_ylabel(f"{term}: group estimate")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", frameon=False)
    fig.suptitle("Shrinkage: no pooling → partial pooling", fontsize="medium")
    return fig
