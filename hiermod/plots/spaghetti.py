"""Spaghetti plot: every group's fitted trajectory along a predictor (longitudinal data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def plot_spaghetti(table: pd.DataFrame, x: str | None = None,
                   observed: pd.DataFrame | None = None, y: str | None = None,
                   group: str | None = None, population: pd.DataFrame | None = None,
                   facets: bool = False) -> Figure:
    """One fitted line per group (posterior mean of E[y]) against ``x``.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`hiermod.report.trajectories` (columns ``level``, ``x``, mean,
        lower, upper; attrs x, factor).
    x : str, optional
        Default ``table.attrs["x"]``.
    observed : pandas.DataFrame, optional
        The data, drawn as points (needs ``x``, ``y`` and the ``group`` column).
    y, group : str, optional
        Outcome and grouping columns of ``observed`` (group default: the factor's name).
    population : pandas.DataFrame, optional
        A predictions table for the population average (``new_groups="zero"``) along ``x``,
        drawn as a thick line with its band.
    facets : bool
        One small panel per group (with the group's interval band) instead of one panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    x = x or table.attrs.get("x")
    if x is None or x not in table.columns:
        raise ValueError(f"the trajectories table has no x column {x!r}")
    group = group or table.attrs.get("factor")
    levels = list(dict.fromkeys(table["level"]))
    if facets:
        ncol = int(np.ceil(np.sqrt(len(levels))))
        nrow = int(np.ceil(len(levels) / ncol))
        fig = Figure(figsize=(1.9 * ncol + 0.6, 1.6 * nrow + 0.6), layout="constrained")
        axes = fig.subplots(nrow, ncol, squeeze=False, sharex=True, sharey=True).ravel()
        for ax in axes[len(levels):]:
            ax.set_visible(False)
    else:
        fig = Figure(figsize=(6.4, 4.2), layout="constrained")
        axes = [fig.subplots()] * len(levels)
    for k, (ax, lvl) in enumerate(zip(axes, levels, strict=False)):
        t = table[table["level"] == lvl].sort_values(x)
        color = "C0" if facets else f"C{k % 10}"
        ax.plot(t[x], t["mean"], color=color, lw=1.2, alpha=0.9)
        if facets:
            ax.fill_between(t[x], t["lower"], t["upper"], color=color, alpha=0.2, lw=0)
            ax.set_title(str(lvl), fontsize="x-small", pad=2)
            ax.tick_params(labelsize="x-small")
        if observed is not None and y is not None and group in observed:
            o = observed[observed[group].astype(str) == str(lvl)]
            ax.scatter(o[x], o[y], color=color, s=6 if facets else 5, alpha=0.6)
    if population is not None and not facets:
        p = population.sort_values(x)
        ax = axes[0]
        ax.fill_between(p[x], p["lower"], p["upper"], color="k", alpha=0.12, lw=0)
        ax.plot(p[x], p["mean"], color="k", lw=2.5, label="population average")
        ax.legend(fontsize="small", frameon=False)
    if not facets:
        axes[0].set_xlabel(x)
        axes[0].set_ylabel("fitted E[y]")
        axes[0].grid(alpha=0.3)
    fig.suptitle(f"Fitted trajectories of {len(levels)} groups "
                 f"({table.attrs.get('factor', '')})", fontsize="medium")
    return fig
