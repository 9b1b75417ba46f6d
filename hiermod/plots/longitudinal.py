"""Figures of growth models: observed trajectories with the fitted mean, observed against
fitted per unit, and the residual autocorrelation before and after modelling it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def _need(frame: pd.DataFrame, cols, what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks the column(s) {missing}; it has {list(frame.columns)}")


def plot_growth(data: pd.DataFrame, x: str, y: str, unit: str,
                mean: pd.DataFrame | None = None, by: str | None = None,
                interval: str = "mean", max_units: int | None = None) -> Figure:
    """Spaghetti plot: every unit's observed trajectory, with the fitted mean and its band.

    Parameters
    ----------
    data : pandas.DataFrame
        Observations (columns ``x``, ``y``, ``unit`` and ``by``).
    x, y, unit : str
        Time, outcome and unit columns.
    mean : pandas.DataFrame, optional
        Population predictions along ``x`` (``fit.predict(grid, new_groups="zero").table``,
        one row per ``x`` value, or per (``x``, ``by``) value): drawn as a thick line with the
        band of ``interval``.
    by : str, optional
        Colour trajectories (and the mean lines) by this column (a treatment, a diet).
    interval : {"mean", "outcome"}
        Band of the expected value (``lower``, ``upper``) or of a new observation
        (``y_lower``, ``y_upper``).
    max_units : int, optional
        Draw at most this many units' trajectories (the first ones); all by default.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(data, [x, y, unit] + ([by] if by else []), "data")
    prefix = {"mean": "", "outcome": "y_"}[interval]
    groups = [None] if by is None else list(dict.fromkeys(data[by].astype(str)))
    colour = {g: f"C{k % 10}" for k, g in enumerate(groups)}
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    units = list(dict.fromkeys(data[unit].astype(str)))
    if max_units is not None:
        units = units[:max_units]
    keyed = data.assign(_unit=data[unit].astype(str))
    for u, d in keyed[keyed["_unit"].isin(units)].groupby("_unit", sort=False):
        d = d.sort_values(x)
        g = None if by is None else str(d[by].iloc[0])
        ax.plot(d[x], d[y], color=colour[g], lw=0.7, alpha=0.35, marker="o", ms=2)
    if mean is not None:
        _need(mean, [x, f"{prefix}lower", f"{prefix}upper", "mean"], "mean")
        for g in groups:
            m = mean if g is None or by not in mean else mean[mean[by].astype(str) == g]
            m = m.sort_values(x)
            label = "fitted mean" if g is None else f"{by} = {g}"
            ax.fill_between(m[x], m[f"{prefix}lower"], m[f"{prefix}upper"], color=colour[g],
                            alpha=0.2, lw=0)
            ax.plot(m[x], m["mean"], color=colour[g], lw=2.5, label=label)
        ax.legend(fontsize="small", frameon=False)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    fig.suptitle(f"Observed trajectories of {len(units)} units"
                 + (" with the fitted mean" if mean is not None else ""), fontsize="medium")
    return fig


def plot_unit_fits(table: pd.DataFrame, observed: pd.DataFrame, x: str, y: str, unit: str,
                   units=None, interval: str = "outcome", ncol: int | None = None) -> Figure:
    """Observed against fitted, one small panel per unit: the observations as points, the
    prediction (``fit.forecast`` or ``fit.predict`` on a grid of ``x`` per unit) as a line
    with its band.

    Parameters
    ----------
    table : pandas.DataFrame
        Predictions with the columns ``unit``, ``x``, ``mean`` and the band of ``interval``
        (``y_lower``/``y_upper`` or ``lower``/``upper``).
    observed : pandas.DataFrame
        The data (``unit``, ``x``, ``y``).
    units : sequence of str, optional
        The units to draw (default: those of ``table``, at most 24).
    interval : {"outcome", "mean"}
    ncol : int, optional

    Returns
    -------
    matplotlib.figure.Figure
        Rows of ``table`` beyond a unit's last observation (a forecast) are drawn dashed.
    """
    prefix = {"mean": "", "outcome": "y_"}[interval]
    _need(table, [unit, x, "mean", f"{prefix}lower", f"{prefix}upper"], "table")
    _need(observed, [unit, x, y], "observed")
    units = list(dict.fromkeys(table[unit].astype(str)))[:24] if units is None \
        else [str(u) for u in units]
    ncol = ncol or int(np.ceil(np.sqrt(len(units))))
    nrow = int(np.ceil(len(units) / ncol))
    fig = Figure(figsize=(1.9 * ncol + 0.6, 1.6 * nrow + 0.6), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False, sharex=True, sharey=True).ravel()
    for ax in axes[len(units):]:
        ax.set_visible(False)
    for ax, u in zip(axes, units, strict=False):
        o = observed[observed[unit].astype(str) == u].sort_values(x)
        t = table[table[unit].astype(str) == u].sort_values(x)
        last = o[x].max() if len(o) else -np.inf
        inside, ahead = t[t[x] <= last], t[t[x] >= last]
        ax.fill_between(t[x], t[f"{prefix}lower"], t[f"{prefix}upper"], color="C0", alpha=0.2,
                        lw=0)
        ax.plot(inside[x], inside["mean"], color="C0", lw=1.2)
        if len(ahead) > 1:
            ax.plot(ahead[x], ahead["mean"], color="C0", lw=1.2, ls="--")
        ax.scatter(o[x], o[y], color="k", s=6, zorder=3)
        ax.set_title(u, fontsize="x-small", pad=2)
        ax.tick_params(labelsize="x-small")
    fig.supxlabel(x, fontsize="small")
    fig.supylabel(y, fontsize="small")
    prob = table.attrs.get("interval_prob")
    band = f"{100 * prob:g}% band" if prob else "band"
    fig.suptitle(f"Observed (points) and fitted (line, {band}) per {unit}", fontsize="medium")
    return fig


def plot_residual_acf(tables: dict[str, pd.DataFrame], max_lag: int | None = None) -> Figure:
    """Residual autocorrelation by lag, one panel per fit (e.g. before and after modelling the
    correlation), with the ±z/√N_k band of no autocorrelation.

    Parameters
    ----------
    tables : dict of label -> table
        From :func:`hiermod.report.residual_acf` / :func:`~hiermod.report.reml_residual_acf`
        (index ``lag``, columns ``acf``, ``bound``).
    max_lag : int, optional
        Lags drawn (default all).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not tables:
        raise ValueError("plot_residual_acf needs at least one table")
    fig = Figure(figsize=(3.4 * len(tables) + 0.4, 3.2), layout="constrained")
    axes = fig.subplots(1, len(tables), squeeze=False, sharey=True)[0]
    for ax, (label, t) in zip(axes, tables.items(), strict=True):
        _need(t, ["acf", "bound"], f"table '{label}'")
        t = t if max_lag is None else t.loc[t.index <= max_lag]
        lags = t.index.to_numpy()
        ax.vlines(lags, 0, t["acf"], color="C0", lw=2)
        ax.plot(lags, t["bound"], color="grey", ls="--", lw=0.8)
        ax.plot(lags, -t["bound"], color="grey", ls="--", lw=0.8)
        ax.axhline(0, color="k", lw=0.6)
        kind = t.attrs.get("kind", "")
        ax.set_title(f"{label}" + (f" ({kind})" if kind else ""), fontsize="small")
        ax.set_xlabel("lag (occasions within a unit)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("autocorrelation")
    fig.suptitle("Residual autocorrelation by lag", fontsize="medium")
    return fig
