"""Predictions (or marginal means) along a predictor, one series per group, numeric or
categorical x."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._labels import interval_label

INTERVALS = {"mean": "", "outcome": "y_"}


def is_categorical(x: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x)


def category_order(x: pd.Series) -> list:
    """The categories of x: a categorical's own order, else sorted (as formulae codes them)."""
    if isinstance(x.dtype, pd.CategoricalDtype):
        return [c for c in x.cat.categories if c in set(x)]
    return sorted(x.dropna().unique(), key=str)


def plot_predictions(table: pd.DataFrame, x: str, group: str | None = None,
                     interval: str = "mean", observed: pd.DataFrame | None = None,
                     y: str | None = None, prob: float | None = None) -> Figure:
    """Predicted mean and interval against ``x``, one series per group.

    Parameters
    ----------
    table : pandas.DataFrame
        ``Predictions.table`` from :func:`hiermod.report.predict` (it keeps the new data's
        columns, and ``new_group``), or the ``table`` of
        :func:`hiermod.report.marginal_means`.
    x : str
        Column on the horizontal axis: numeric (lines and bands) or categorical (points with
        interval bars, the series side by side).
    group : str, optional
        Column whose levels are drawn as separate series (default: one series).
    interval : {"mean", "outcome"}
        Band of the expected value (columns mean, lower, upper) or of a new observation
        (y_mean, y_lower, y_upper).
    observed : pandas.DataFrame, optional
        Data to overlay as points (columns ``x``, ``group`` and ``y``).
    y : str, optional
        Outcome column of ``observed``.
    prob : float, optional
        The intervals' probability for the axis label (default: the table's ``attrs``; if it
        has none the label names no percentage).

    Returns
    -------
    matplotlib.figure.Figure
        Existing groups in colour; new groups (``new_group`` True) in grey with a hatched band
        (or open markers on a categorical axis), wider because it carries the between-group
        variance.
    """
    prefix = INTERVALS.get(interval)
    if prefix is None:
        raise ValueError(f"interval must be 'mean' or 'outcome', got {interval!r}")
    for col in (x, *([group] if group else []), f"{prefix}mean", f"{prefix}lower",
                f"{prefix}upper"):
        if col not in table.columns:
            raise ValueError(f"the predictions table has no column '{col}'; it has "
                             f"{', '.join(map(str, table.columns))}")
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    series = list(table.groupby(group, sort=False)) if group else [("prediction", table)]
    categorical = is_categorical(table[x])
    positions = None
    if categorical:
        cats = category_order(table[x])
        positions = {c: i for i, c in enumerate(cats)}
        ax.set_xticks(range(len(cats)), [str(c) for c in cats])
        ax.set_xlim(-0.6, len(cats) - 0.4)
    width = 0.6 / max(len(series), 1)
    k = 0
    for s, (level, t) in enumerate(series):
        new = bool(t["new_group"].any()) if "new_group" in t else False
        color = "0.3" if new else f"C{k % 10}"
        k += 0 if new else 1
        label = f"{level} (new group)" if new else str(level)
        mean, lo, hi = (t[f"{prefix}{c}"].to_numpy(dtype=float)
                        for c in ("mean", "lower", "upper"))
        if categorical:
            offset = (s - (len(series) - 1) / 2) * width
            xs = np.array([positions[v] for v in t[x]], dtype=float) + offset
            ax.vlines(xs, lo, hi, color=color, lw=2.0, alpha=0.7)
            ax.scatter(xs, mean, color="white" if new else color, edgecolors=color, s=28,
                       zorder=3, label=label)
        else:
            order = np.argsort(t[x].to_numpy(dtype=float), kind="stable")
            xs = t[x].to_numpy(dtype=float)[order]
            mean, lo, hi = mean[order], lo[order], hi[order]
            if new:
                ax.fill_between(xs, lo, hi, facecolor="0.85", edgecolor="0.4", hatch="//",
                                alpha=0.5, lw=0.5)
                ax.plot(xs, mean, color="0.2", ls="--", marker="o", ms=3, label=label)
            else:
                ax.fill_between(xs, lo, hi, color=color, alpha=0.18, lw=0)
                ax.plot(xs, mean, color=color, marker="o", ms=3, label=label)
        if observed is not None and y is not None and not new:
            o = observed if not group else observed[observed[group].astype(str) == str(level)]
            ox = (np.array([positions.get(v, np.nan) for v in o[x]], dtype=float)
                  if categorical else o[x].to_numpy(dtype=float))
            if categorical:
                ox = ox + np.random.default_rng(s).uniform(-0.15, 0.15, len(ox))
            ax.scatter(ox, o[y], color=color, s=8, alpha=0.4)
    what = "expected value" if interval == "mean" else "new observation"
    ax.set_xlabel(x)
    ax.set_ylabel(f"predicted {what} ({interval_label(table, prob)})")
    ax.grid(alpha=0.3)
    if group or len(series) > 1:
        ax.legend(fontsize="small", frameon=False, ncol=2 if len(series) > 6 else 1,
                  title=group)
    return fig
