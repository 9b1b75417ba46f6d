"""Shrinkage plot: each group's no-pooling estimate moves to its partial-pooling estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def plot_shrinkage(table: pd.DataFrame, terms: list[str] | None = None,
                   jitter: float = 0.04, random_seed: int = 0) -> Figure:
    """No pooling → partial pooling against the group size, with the complete-pooling line.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`hiermod.report.pooling` (index (term, level); columns n,
        no_pool, partial_mean, complete_pool).
    terms : list of str, optional
        Terms to draw (default all), one panel each.
    jitter : float
        Horizontal jitter (in log10 units of n) so groups of the same size do not overlap.
    random_seed : int
        Seed of the jitter.

    Returns
    -------
    matplotlib.figure.Figure
        x: n_j (log scale); open circles: no-pooling estimates; filled: partial-pooling
        posterior means; a segment joins the two. The complete-pooling estimate is a
        horizontal line (or a cross per group when level-2 predictors make it differ).
        Small groups move far, large groups barely: shrinkage 1 − λ_j falls with n_j.
    """
    terms = list(dict.fromkeys(table.index.get_level_values(0))) if terms is None else terms
    if not terms:
        raise ValueError("no pooling table rows to plot")
    rng = np.random.default_rng(random_seed)
    factor = table.attrs.get("factor", "group")
    fig = Figure(figsize=(4.6 * len(terms) + 0.6, 4.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(terms), squeeze=False)[0])
    for ax, term in zip(axes, terms, strict=True):
        t = table.loc[term]
        n = t["n"].to_numpy(dtype=float) * 10 ** rng.uniform(-jitter, jitter, len(t))
        ok = np.isfinite(t["no_pool"].to_numpy())
        ax.vlines(n[ok], t["no_pool"][ok], t["partial_mean"][ok], color="0.6", lw=0.7)
        ax.scatter(n[ok], t["no_pool"][ok], facecolors="none", edgecolors="C0", s=18,
                   label="no pooling")
        ax.scatter(n, t["partial_mean"], color="C3", s=14, zorder=3, label="partial pooling")
        cp = t["complete_pool"].to_numpy()
        if np.allclose(cp, cp[0]):
            ax.axhline(cp[0], color="k", lw=1, ls="--", label="complete pooling")
        else:
            ax.scatter(n, cp, marker="x", color="k", s=12, label="complete pooling")
        ax.set_xscale("log")
        ax.set_xlabel(f"observations in the group (n_j, {factor})")
        ax.set_ylabel(f"{term}: group estimate")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", frameon=False)
    fig.suptitle("Shrinkage: no pooling → partial pooling", fontsize="medium")
    return fig
