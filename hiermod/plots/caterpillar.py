"""Caterpillar plot: each group's posterior interval, sorted, one panel per varying term."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

#: label the groups on the y axis only up to this many
MAX_LABELS = 40


def plot_caterpillar(table: pd.DataFrame, terms: list[str] | None = None) -> Figure:
    """Posterior mean and interval of every group's effect, sorted by the mean.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`hiermod.report.group_effects` (index (term, level); columns mean,
        lower, upper; ``attrs`` factor, interval_prob, coefficient).
    terms : list of str, optional
        Terms to draw (default all in the table), one panel each.

    Returns
    -------
    matplotlib.figure.Figure
        Groups whose interval excludes the reference (0 for effects u_j, the mean of the
        coefficients otherwise) are drawn in a darker colour; labels are shown for up to
        40 groups.
    """
    terms = list(dict.fromkeys(table.index.get_level_values(0))) if terms is None else terms
    if not terms:
        raise ValueError("no group effects to plot")
    prob = table.attrs.get("interval_prob", 0.95)
    factor = table.attrs.get("factor", "group")
    coefficient = table.attrs.get("coefficient", False)
    n_groups = max(len(table.loc[t]) for t in terms)
    height = min(max(3.0, 0.16 * n_groups + 1.2), 11.0)
    fig = Figure(figsize=(3.6 * len(terms) + 0.8, height), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(terms), squeeze=False)[0])
    for ax, term in zip(axes, terms, strict=True):
        t = table.loc[term].sort_values("mean", kind="stable")
        y = np.arange(len(t))
        ref = float(t["mean"].mean()) if coefficient else 0.0
        away = (t["lower"] > ref) | (t["upper"] < ref)
        colors = np.where(away, "C3", "C0")
        ax.hlines(y, t["lower"], t["upper"], colors=colors, lw=1.2, alpha=0.8)
        ax.scatter(t["mean"], y, c=colors, s=9, zorder=3)
        ax.axvline(ref, color="0.5", lw=0.8, ls="--")
        if len(t) <= MAX_LABELS:
            ax.set_yticks(y, [str(v) for v in t.index], fontsize="x-small")
        else:
            ax.set_yticks([])
            ax.set_ylabel(f"{len(t)} levels of {factor}, sorted")
        ax.set_ylim(-1, len(t))
        what = "coefficient" if coefficient else "effect u_j"
        ax.set_xlabel(f"{term}: group {what}")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Group effects by {factor} (mean, {100 * prob:g}% interval)",
                 fontsize="medium")
    return fig
