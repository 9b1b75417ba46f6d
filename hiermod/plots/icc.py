"""Posterior distribution of the ICC of each grouping factor."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure


def plot_icc(draws: xr.DataArray, reference: dict | None = None, prob: float = 0.95) -> Figure:
    """Histogram of the ICC draws of each factor, with mean, interval and reference values.

    Parameters
    ----------
    draws : xarray.DataArray
        The output of :func:`hiermod.report.icc_draws` (dims chain, draw, factor).
    reference : dict, optional
        factor -> a value to mark (e.g. the REML / lme4 ICC).
    prob : float
        Probability of the marked equal-tailed interval.

    Returns
    -------
    matplotlib.figure.Figure
    """
    factors = [str(f) for f in draws["factor"].values]
    fig = Figure(figsize=(4.2 * len(factors) + 0.4, 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(factors), squeeze=False)[0])
    a = (1 - prob) / 2
    for ax, f in zip(axes, factors, strict=True):
        x = np.asarray(draws.sel(factor=f).values).ravel()
        lo, hi = np.quantile(x, [a, 1 - a])
        ax.hist(x, bins=40, color="C0", alpha=0.6, density=True)
        ax.axvline(x.mean(), color="C0", lw=1.5, label=f"mean {x.mean():.3f}")
        ax.axvspan(lo, hi, color="C0", alpha=0.12, label=f"{100 * prob:g}%: {lo:.3f}–{hi:.3f}")
        if reference and f in reference:
            ax.axvline(reference[f], color="k", ls="--", lw=1.2,
                       label=f"reference {reference[f]:.3f}")
        ax.set_xlabel(f"ICC ({f})")
        ax.set_yticks([])
        ax.legend(fontsize="small", frameon=False)
    kind = str(draws.name or "icc").replace("icc_", "")
    fig.suptitle(f"Posterior of the intraclass correlation ({kind})", fontsize="medium")
    return fig
