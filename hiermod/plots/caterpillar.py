"""Caterpillar plot: each group's posterior interval, sorted, one panel per varying term."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._labels import factor_name, interval_label

#: above this many groups, every k-th label is shown (k = ceil(n / MAX_LABELS))
MAX_LABELS = 200


def label_size(n: int) -> float:
    """Font size (points) of the group labels: 7 up to 40 groups, down to 4.5 for many."""
    return float(np.clip(7.0 - (n - 40) / 40, 4.5, 7.0))


def sort_order(table: pd.DataFrame, terms: list[str], sort_by: str | None) -> list:
    """The levels in one order for every panel: by the posterior mean of ``sort_by`` (default
    the first term), or as they come with ``sort_by="none"``."""
    first = table.loc[terms[0]]
    if sort_by == "none":
        return list(first.index)
    key = terms[0] if sort_by is None else sort_by
    if key not in table.index.get_level_values(0):
        raise ValueError(f"sort_by must be one of the table's terms or 'none', got {key!r}")
    return list(table.loc[key].sort_values("mean", kind="stable").index)


def plot_caterpillar(table: pd.DataFrame, terms: list[str] | None = None,
                     factor: str | None = None, prob: float | None = None,
                     coefficient: bool | None = None, sort_by: str | None = None) -> Figure:
    """Posterior mean and interval of every group's effect, one panel per term, one row per
    group in the same order in every panel.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`hiermod.report.group_effects` (index (term, <factor>); columns
        mean, lower, upper).
    terms : list of str, optional
        Terms to draw (default all in the table), one panel each.
    factor : str, optional
        The grouping factor's name for the labels (default: the table's level index name).
    prob : float, optional
        The intervals' probability, for the title (default: the table's ``attrs``; if it has
        none, the title names no percentage).
    coefficient : bool, optional
        Whether the table holds the groups' coefficients (``coefficient=True`` in the report)
        rather than their deviations u_j; default from the table's ``attrs``. When unknown the
        axis says "estimate" and no reference line is drawn.
    sort_by : str, optional
        The term whose posterior means order the groups (default the first); ``"none"`` keeps
        the table's order. Every panel uses this one order, so a group's row is the same row
        across panels.

    Returns
    -------
    matplotlib.figure.Figure
        Groups whose interval excludes the reference (0 for effects u_j, the mean of the
        coefficients otherwise) are drawn in a darker colour. Every group is labelled (every
        k-th above 200 groups), in a font that shrinks with the number of groups; the figure
        grows with it.
    """
    terms = list(dict.fromkeys(table.index.get_level_values(0))) if terms is None else terms
    if not terms:
        raise ValueError("no group effects to plot")
    factor = factor_name(table, factor) or "group"
    if coefficient is None:
        coefficient = table.attrs.get("coefficient")
    order = sort_order(table, terms, sort_by)
    n = len(order)
    height = min(max(3.0, 0.125 * n + 1.2), 24.0)
    fig = Figure(figsize=(3.4 * len(terms) + 1.2, height), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(terms), squeeze=False, sharey=True)[0])
    y = np.arange(n)
    for k, (ax, term) in enumerate(zip(axes, terms, strict=True)):
        t = table.loc[term].reindex(order)
        if coefficient is None:
            ref = None
        else:
            ref = float(t["mean"].mean()) if coefficient else 0.0
        away = ((t["lower"] > ref) | (t["upper"] < ref)) if ref is not None else \
            np.zeros(n, dtype=bool)
        colors = np.where(away, "C3", "C0")
        ax.hlines(y, t["lower"], t["upper"], colors=colors, lw=1.2, alpha=0.8)
        ax.scatter(t["mean"], y, c=colors, s=9, zorder=3)
        if ref is not None:
            ax.axvline(ref, color="0.5", lw=0.8, ls="--")
        what = {None: "estimate", True: "coefficient", False: "effect u_j"}[coefficient]
        ax.set_xlabel(f"{term}: group {what}")
        ax.grid(axis="x", alpha=0.3)
        if k == 0:
            step = int(np.ceil(n / MAX_LABELS))
            ax.set_yticks(y[::step], [str(v) for v in order[::step]], fontsize=label_size(n))
            ax.set_ylim(-1, n)
            ax.set_ylabel(f"{factor} ({n} levels, sorted by {sort_by or terms[0]})"
                          if sort_by != "none" else factor)
        else:
            ax.tick_params(axis="y", labelleft=False)
    fig.suptitle(f"Group effects by {factor} (mean, {interval_label(table, prob)})",
                 fontsize="medium")
    return fig
