"""Figures of the model checks: residuals against fitted values, binned residuals,
calibration of predicted probabilities, and the QQ plot of the group effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._labels import interval_label

QQ_COLUMNS = ("theoretical", "mean", "lower", "upper")


def plot_residuals(table: pd.DataFrame, kind: str = "pearson", n_bins: int = 20) -> Figure:
    """Residuals against fitted values, with the mean residual in bins of the fitted value.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`hiermod.report.residuals`.
    kind : {"pearson", "residual"}
        Pearson (standardized by √Var(y)) or raw residuals.
    n_bins : int
        Bins of equal counts for the running mean (black line).

    Returns
    -------
    matplotlib.figure.Figure
        One point per observation; a horizontal line at 0. A curved running mean points at a
        missing non-linearity, a funnel at variance that changes with the mean.
    """
    if kind not in ("pearson", "residual"):
        raise ValueError(f"kind must be 'pearson' or 'residual', got {kind!r}")
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    x, r = table["fitted"].to_numpy(dtype=float), table[kind].to_numpy(dtype=float)
    ax.scatter(x, r, s=6, alpha=0.35, color="C0", label="observations")
    order = np.argsort(x, kind="stable")
    k = max(1, min(n_bins, len(x)))
    groups = np.array_split(order, k)
    ax.plot([x[g].mean() for g in groups], [r[g].mean() for g in groups], color="k", lw=1.6,
            marker="o", ms=3, label=f"mean in {k} bins")
    ax.axhline(0, color="0.4", lw=0.8, ls="--")
    ax.set_xlabel("fitted value (posterior mean of E[y])")
    ax.set_ylabel("Pearson residual" if kind == "pearson" else "residual (y − fitted)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", frameon=False)
    return fig


def plot_binned_residuals(table: pd.DataFrame) -> Figure:
    """Binned residuals with their ±2 SE band (Gelman & Hill 2007, fig. 5.13).

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`hiermod.report.binned_residuals`.

    Returns
    -------
    matplotlib.figure.Figure
        One point per bin (red when outside its band); the grey lines are ±2 SE.
    """
    t = table.sort_values("fitted")
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    ax.plot(t["fitted"], t["bound"], color="0.5", lw=1)
    ax.plot(t["fitted"], -t["bound"], color="0.5", lw=1, label="±2 SE")
    out = t["outside"].to_numpy(dtype=bool)
    ax.scatter(t["fitted"], t["residual"], c=np.where(out, "C3", "C0"), s=18, zorder=3,
               label="mean residual of a bin")
    ax.axhline(0, color="0.4", lw=0.8, ls="--")
    ax.set_xlabel("mean fitted value of the bin")
    ax.set_ylabel("mean residual of the bin")
    ax.set_title(f"Binned residuals: {int(out.sum())} of {len(t)} bins outside ±2 SE",
                 loc="left", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", frameon=False)
    return fig


def plot_calibration(table: pd.DataFrame, prob: float | None = None) -> Figure:
    """Observed proportion against predicted probability per bin, with the diagonal.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`hiermod.report.calibration`.
    prob : float, optional
        The intervals' probability for the legend (default: the table's ``attrs``; if it has
        none the legend names no percentage).

    Returns
    -------
    matplotlib.figure.Figure
        One point per bin with the observed proportion's interval (vertical) and the
        predicted probability's posterior interval (horizontal); a calibrated model lies on
        the dashed diagonal.
    """
    fig = Figure(figsize=(4.8, 4.6), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1, label="perfect calibration")
    ax.vlines(table["predicted"], table["observed_lower"], table["observed_upper"], color="C0",
              lw=1.4, alpha=0.7)
    ax.hlines(table["observed"], table["predicted_lower"], table["predicted_upper"], color="C1",
              lw=1.4, alpha=0.7)
    ax.scatter(table["predicted"], table["observed"], color="k", s=20, zorder=3,
               label=f"bins ({interval_label(table, prob)}s)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("predicted probability (bin mean)")
    ax.set_ylabel("observed proportion")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", frameon=False, loc="upper left")
    return fig


def plot_qq(table: pd.DataFrame, term: str | None = None, prob: float | None = None,
            n_labels: int = 3) -> Figure:
    """QQ plot of the standardized group effects against the normal distribution.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`hiermod.report.group_effects_qq` (its extra column, named after
        the grouping factor, gives the level at each rank).
    term : str, optional
        The varying term, for the axis label (default: the table's ``attrs``).
    prob : float, optional
        The intervals' probability for the legend (default: the table's ``attrs``).
    n_labels : int
        Label this many levels at each end.

    Returns
    -------
    matplotlib.figure.Figure
        One point per rank with its posterior interval; the identity line is where N(0, 1)
        effects lie.
    """
    extra = [c for c in table.columns if c not in QQ_COLUMNS]
    factor = extra[0] if extra else None
    term = term or table.attrs.get("term")
    fig = Figure(figsize=(5.0, 4.6), layout="constrained")
    ax = fig.subplots()
    x = table["theoretical"].to_numpy(dtype=float)
    ax.vlines(x, table["lower"], table["upper"], color="C0", alpha=0.5, lw=1.2,
              label=interval_label(table, prob))
    ax.scatter(x, table["mean"], color="C0", s=14, zorder=3, label="posterior mean")
    lim = float(max(np.abs(x).max(), np.abs(table[["lower", "upper"]].to_numpy()).max()))
    ax.plot([-lim, lim], [-lim, lim], color="k", lw=1, ls="--", label="N(0, 1)")
    if factor is not None and n_labels > 0:
        ends = list(range(min(n_labels, len(table)))) + \
            list(range(max(len(table) - n_labels, n_labels), len(table)))
        for i in ends:
            ax.annotate(str(table[factor].iloc[i]), (x[i], table["mean"].iloc[i]),
                        fontsize="x-small", xytext=(3, 0), textcoords="offset points")
    what = f"{term} effects" if term else "group effects"
    by = f" of {factor}" if factor else ""
    ax.set_xlabel("normal quantile")
    ax.set_ylabel(f"standardized {what}{by}, u/τ (sorted)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", frameon=False, loc="upper left")
    return fig
