"""Forest plot of :func:`hiermod.compare`: posterior intervals next to REML."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._labels import interval_label

_TITLES = {"fixed": "fixed effects", "sd": "group-level sds", "corr": "correlations",
           "sigma": "residual sd"}


def plot_compare(table: pd.DataFrame, z: float = 1.959964, prob: float | None = None,
                 method: str | None = None) -> Figure:
    """Posterior mean and interval against the REML / ML estimate, one row per parameter.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`hiermod.compare`.
    z : float
        Half-width of the REML interval in SEs (default 1.96: a 95% Wald interval), drawn where
        the REML fit gives an SE (fixed effects); elsewhere the REML estimate is a point.
    prob : float, optional
        The posterior intervals' probability, for the legend (default: the table's ``attrs``;
        if it has none, the legend names no percentage).
    method : str, optional
        "REML", "ML" or "Laplace ML", for the legend (default: the table's ``attrs``, else
        "REML / ML").

    Returns
    -------
    matplotlib.figure.Figure
        One strip per parameter, each on its own scale (an intercept of 250 and a slope of 10
        cannot share an axis), grouped under fixed effects, sds, correlations and the residual
        sd. Rows with a flag have their label marked "(!)"; the flags are in the table.
    """
    n = len(table)
    fig = Figure(figsize=(7.0, 0.9 + 0.62 * n), layout="constrained")
    axes = np.atleast_1d(fig.subplots(n, 1, squeeze=False)[:, 0])
    method = method or table.attrs.get("reml_method") or "REML / ML"
    previous = None
    for ax, (name, row) in zip(axes, table.iterrows(), strict=True):
        ax.hlines(0.2, row["post_lower"], row["post_upper"], color="C0", lw=2.5)
        ax.plot([row["post_mean"]], [0.2], "o", color="C0")
        if np.isfinite(row["reml_se"]):
            ax.hlines(-0.2, row["reml"] - z * row["reml_se"], row["reml"] + z * row["reml_se"],
                      color="C1", lw=2.5)
        ax.plot([row["reml"]], [-0.2], "D", color="C1")
        if row["kind"] == "corr":
            ax.axvline(0, color="0.6", lw=0.8)
        ax.set_ylim(-0.6, 0.6)
        ax.set_yticks([0.0], [f"{name} (!)" if row["flags"] else name])
        ax.tick_params(axis="x", labelsize="small")
        ax.grid(axis="x", alpha=0.3)
        if row["kind"] != previous:
            ax.set_title(_TITLES.get(row["kind"], row["kind"]), loc="left", fontsize="medium")
            previous = row["kind"]
    handles = [Line2D([], [], color="C0", marker="o", lw=2.5,
                      label=f"posterior mean, {interval_label(table, prob)}"),
               Line2D([], [], color="C1", marker="D", lw=2.5,
                      label=f"{method} estimate ± {z:.3g} SE (where REML has an SE)")]
    fig.legend(handles=handles, loc="outside upper center", ncols=2, fontsize="small",
               frameon=False)
    return fig
