"""Posterior (and prior) predictive check plots: the outcome's distribution and the group means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from .. import names
from ._labels import interval_label

#: the predictive groups a check can draw from
PREDICTIVE_GROUPS = {names.POSTERIOR_PREDICTIVE: "Posterior predictive",
                     names.PRIOR_PREDICTIVE: "Prior predictive"}


def is_binary(*arrays: np.ndarray) -> bool:
    """Whether every value is 0 or 1 (a bernoulli outcome and its replications)."""
    return all(np.isin(np.unique(a), (0.0, 1.0)).all() for a in arrays)


def plot_ppc(dt: xr.DataTree, group_table: pd.DataFrame | None = None, n_draws: int = 60,
             random_seed: int = 0, prob: float | None = None, factor: str | None = None,
             group: str = names.POSTERIOR_PREDICTIVE) -> Figure:
    """Observed outcome against replicated outcomes; optionally the group means too.

    Parameters
    ----------
    dt : xarray.DataTree
        With the groups ``observed_data`` and ``posterior_predictive`` (variable ``y``), e.g.
        after ``fit.posterior_predictive()`` or :func:`hiermod.report.add_posterior_predictive`
        (or ``prior_predictive``, with ``group``).
    group_table : pandas.DataFrame, optional
        The output of :func:`hiermod.report.ppc_groups`: adds a panel of each group's observed
        mean against its predictive interval.
    n_draws : int
        Replicated data sets drawn in the left panel.
    random_seed : int
        Which replications are drawn.
    prob : float, optional
        Probability of the group table's intervals, for the legend (default: the table's
        ``attrs``; if it has none, the legend names no percentage).
    factor : str, optional
        The grouping factor, for the axis label (default: the table's index name).
    group : {"posterior_predictive", "prior_predictive"}
        The DataTree group of the replications.

    Returns
    -------
    matplotlib.figure.Figure
        Left: the density of y as a frequency polygon (black) and those of ``n_draws``
        replications (light blue); integer outcomes get one bin per value. For a 0/1 outcome
        the left panel is instead the histogram of the replications' proportions of ones with
        the observed proportion marked (a line between the shares of 0 and 1 says nothing).
        Right: groups sorted by their predicted mean; the observed means outside their
        interval are red.
    """
    if group not in PREDICTIVE_GROUPS:
        raise ValueError(f"group must be one of {', '.join(PREDICTIVE_GROUPS)}, got {group!r}")
    for g in ("observed_data", group):
        if g not in dt.children:
            how = ("fit.posterior_predictive()" if g != names.PRIOR_PREDICTIVE
                   else "fit.prior_predictive()")
            raise ValueError(f"the DataTree has no '{g}' group; call {how}")
    y = np.asarray(dt["observed_data"][names.OUTCOME].values, dtype=float)
    yrep = np.asarray(dt[group][names.OUTCOME].values, dtype=float)
    yrep = yrep.reshape(-1, yrep.shape[-1])
    rng = np.random.default_rng(random_seed)
    pick = rng.choice(len(yrep), size=min(n_draws, len(yrep)), replace=False)
    panels = 1 if group_table is None else 2
    fig = Figure(figsize=(5.0 * panels + 0.4, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, panels, squeeze=False)[0])
    binary = is_binary(y, yrep)
    title = PREDICTIVE_GROUPS[group]
    if binary:
        _proportions(axes[0], y, yrep, title)
    else:
        _densities(axes[0], y, yrep[pick], title)
    if group_table is not None:
        _group_means(axes[1], group_table, binary, prob, factor)
    return fig


def _proportions(ax, y: np.ndarray, yrep: np.ndarray, title: str) -> None:
    share = yrep.mean(axis=1)
    ax.hist(share, bins=30, color="C0", alpha=0.6, label="replicated data sets")
    ax.axvline(y.mean(), color="k", lw=2, label=f"observed {y.mean():.3f}")
    ax.set_xlabel("proportion of ones (y = 1)")
    ax.set_ylabel("replications")
    ax.legend(fontsize="small", frameon=False)
    ax.set_title(f"{title}: proportion of ones", loc="left", fontsize="medium")


def _densities(ax, y: np.ndarray, yrep: np.ndarray, title: str) -> None:
    lo, hi = np.quantile(np.concatenate([y, yrep.ravel()]), [0.001, 0.999])
    if np.allclose(y, np.round(y)) and hi - lo <= 60:
        bins = np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.5)
    else:
        bins = np.linspace(lo, hi, 40)
    centers = (bins[:-1] + bins[1:]) / 2
    for k, rep in enumerate(yrep):
        dens, _ = np.histogram(rep, bins=bins, density=True)
        ax.plot(centers, dens, color="C0", alpha=0.15, lw=0.8,
                label="replicated y" if k == 0 else None)
    dens, _ = np.histogram(y, bins=bins, density=True)
    ax.plot(centers, dens, color="k", lw=1.6, marker="o" if len(bins) <= 25 else None, ms=3,
            label="observed y")
    ax.set_xlabel("outcome")
    ax.set_yticks([])
    ax.legend(fontsize="small", frameon=False)
    ax.set_title(f"{title} distribution", loc="left", fontsize="medium")


def _group_means(ax, table: pd.DataFrame, binary: bool, prob: float | None,
                 factor: str | None) -> None:
    t = table.sort_values("rep_mean")
    pos = np.arange(len(t))
    out = (t["obs_mean"] < t["rep_mean_lower"]) | (t["obs_mean"] > t["rep_mean_upper"])
    what = "proportion" if binary else "mean"
    ax.vlines(pos, t["rep_mean_lower"], t["rep_mean_upper"], color="C0", alpha=0.5, lw=1.2,
              label=interval_label(table, prob, "predictive interval"))
    ax.scatter(pos, t["obs_mean"], c=np.where(out, "C3", "k"), s=8, zorder=3,
               label=f"observed group {what}")
    factor = factor or table.index.name or table.attrs.get("factor") or "the groups"
    ax.set_xlabel(f"groups of {factor}, sorted by predicted {what}")
    ax.set_ylabel(f"group {what}")
    ax.set_xticks([])
    ax.legend(fontsize="small", frameon=False)
    ax.set_title(f"Group {what}s: {int(out.sum())} of {len(t)} outside", loc="left",
                 fontsize="medium")
