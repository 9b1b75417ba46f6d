"""Trace plots and interval (forest) plots of summary tables, for the HTML report.

Both take report outputs (the draws of :func:`hiermod.report.summary_table.parameter_draws`, a table
of :func:`hiermod.report.summary`) and return a matplotlib Figure; nothing is shown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._labels import interval_label


def plot_trace(draws: dict[str, np.ndarray], max_params: int = 8) -> Figure:
    """Per parameter: the marginal posterior of each chain (left) and the chains' traces (right).

    Parameters
    ----------
    draws : dict
        Parameter label -> draws shaped (chain, draw), as returned by
        :func:`hiermod.report.summary_table.parameter_draws`.
    max_params : int
        Plot at most this many parameters (in the order given).

    Returns
    -------
    matplotlib.figure.Figure
        Chains that agree overlap in both panels; a chain stuck apart, or drifting, is the
        visual sign of a high R-hat.
    """
    items = list(draws.items())[:max_params]
    if not items:
        raise ValueError("no parameters to plot")
    fig = Figure(figsize=(8.0, 1.35 * len(items) + 0.4), layout="constrained")
    axes = fig.subplots(len(items), 2, squeeze=False, gridspec_kw={"width_ratios": [1, 2.2]})
    for (label, x), (ax_d, ax_t) in zip(items, axes, strict=True):
        x = np.atleast_2d(np.asarray(x, dtype=float))
        lo, hi = np.nanquantile(x, [0.001, 0.999])
        bins = np.linspace(lo, hi, 40) if hi > lo else 10
        for c in range(x.shape[0]):
            ax_d.hist(x[c], bins=bins, histtype="step", density=True, color=f"C{c % 10}", lw=1)
            ax_t.plot(x[c], color=f"C{c % 10}", lw=0.5, alpha=0.8)
        ax_d.set_yticks([])
        ax_d.set_title(label, loc="left", fontsize="small")
        ax_t.set_xlim(0, x.shape[1] - 1)
        ax_t.tick_params(labelsize="small")
        ax_d.tick_params(labelsize="small")
    axes[-1, 1].set_xlabel("draw")
    return fig


def plot_intervals(table: pd.DataFrame, title: str = "", reference: float | None = None,
                   prob: float | None = None) -> Figure:
    """Posterior mean and interval of each row of a summary table (a forest plot).

    Parameters
    ----------
    table : pandas.DataFrame
        Rows to plot, with columns ``mean``, ``lower``, ``upper`` (e.g. rows of
        ``fit.summary()``, a comparisons table).
    title : str
    reference : float, optional
        Draw a vertical line here (0 for effects).
    prob : float, optional
        The intervals' probability, for the legend (default: the table's ``attrs``; if it has
        none, the legend names no percentage).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if len(table) == 0:
        raise ValueError("no rows to plot")
    fig = Figure(figsize=(6.5, 0.9 + 0.38 * len(table)), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(table))[::-1]
    ax.hlines(y, table["lower"], table["upper"], color="C0", lw=2.2,
              label=interval_label(table, prob))
    ax.plot(table["mean"], y, "o", color="C0", label="posterior mean")
    ax.set_yticks(y, [str(i) for i in table.index])
    ax.set_ylim(-0.7, len(table) - 0.3)
    if reference is not None:
        ax.axvline(reference, color="0.6", lw=0.8)
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title, loc="left", fontsize="medium")
    ax.legend(loc="best", fontsize="small", frameon=False)
    return fig


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """PNG bytes of a figure (for embedding)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
