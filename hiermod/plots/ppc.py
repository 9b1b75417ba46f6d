"""Posterior predictive check plots: the outcome's distribution and the group means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from .. import names


def plot_ppc(dt: xr.DataTree, group_table: pd.DataFrame | None = None, n_draws: int = 60,
             random_seed: int = 0) -> Figure:
    """Observed outcome against replicated outcomes; optionally the group means too.

    Parameters
    ----------
    dt : xarray.DataTree
        With the groups ``observed_data`` and ``posterior_predictive`` (variable ``y``), e.g.
        after ``fit.posterior_predictive()`` or :func:`hiermod.report.add_posterior_predictive`.
    group_table : pandas.DataFrame, optional
        The output of :func:`hiermod.report.ppc_groups`: adds a panel of each group's observed
        mean against its predictive interval.
    n_draws : int
        Replicated data sets drawn in the left panel.
    random_seed : int
        Which replications are drawn.

    Returns
    -------
    matplotlib.figure.Figure
        Left: the density of y as a frequency polygon (black) and those of ``n_draws``
        replications (light blue); integer outcomes get one bin per value. Right: groups sorted by their
        predicted mean; the observed means outside their interval are red.
    """
    for g in ("observed_data", names.POSTERIOR_PREDICTIVE):
        if g not in dt.children:
            raise ValueError(f"the DataTree has no '{g}' group; call fit.posterior_predictive()")
    y = np.asarray(dt["observed_data"][names.OUTCOME].values, dtype=float)
    yrep = np.asarray(dt[names.POSTERIOR_PREDICTIVE][names.OUTCOME].values, dtype=float)
    yrep = yrep.reshape(-1, yrep.shape[-1])
    rng = np.random.default_rng(random_seed)
    pick = rng.choice(len(yrep), size=min(n_draws, len(yrep)), replace=False)
    panels = 1 if group_table is None else 2
    fig = Figure(figsize=(5.0 * panels + 0.4, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, panels, squeeze=False)[0])
    lo, hi = np.quantile(np.concatenate([y, yrep[pick].ravel()]), [0.001, 0.999])
    if np.allclose(y, np.round(y)) and hi - lo <= 60:
        bins = np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.5)
    else:
        bins = np.linspace(lo, hi, 40)
    ax = axes[0]
    centers = (bins[:-1] + bins[1:]) / 2
    for k, i in enumerate(pick):
        dens, _ = np.histogram(yrep[i], bins=bins, density=True)
        ax.plot(centers, dens, color="C0", alpha=0.15, lw=0.8,
                label="replicated y" if k == 0 else None)
    dens, _ = np.histogram(y, bins=bins, density=True)
    ax.plot(centers, dens, color="k", lw=1.6, marker="o" if len(bins) <= 25 else None, ms=3,
            label="observed y")
    ax.set_xlabel("outcome")
    ax.set_yticks([])
    ax.legend(fontsize="small", frameon=False)
    ax.set_title("Posterior predictive distribution", loc="left", fontsize="medium")
    if group_table is not None:
        ax = axes[1]
        t = group_table.sort_values("rep_mean")
        pos = np.arange(len(t))
        out = (t["obs_mean"] < t["rep_mean_lower"]) | (t["obs_mean"] > t["rep_mean_upper"])
        ax.vlines(pos, t["rep_mean_lower"], t["rep_mean_upper"], color="C0", alpha=0.5, lw=1.2,
                  label=f"{100 * t.attrs.get('interval_prob', 0.95):g}% predictive interval")
        ax.scatter(pos, t["obs_mean"], c=np.where(out, "C3", "k"), s=8, zorder=3,
                   label="observed group mean")
        ax.set_xlabel(f"groups of {t.attrs.get('factor', '')}, sorted by predicted mean")
        ax.set_ylabel("group mean")
        ax.set_xticks([])
        ax.legend(fontsize="small", frameon=False)
        ax.set_title(f"Group means: {int(out.sum())} of {len(t)} outside", loc="left",
                     fontsize="medium")
    return fig
