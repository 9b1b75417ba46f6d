"""Predictions by group along a predictor, with the band of a new group."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure


def plot_predictions(table: pd.DataFrame, x: str, group: str, interval: str = "mean",
                     observed: pd.DataFrame | None = None, y: str | None = None) -> Figure:
    """Predicted mean and interval against ``x``, one line and band per group.

    Parameters
    ----------
    table : pandas.DataFrame
        ``Predictions.table`` from :func:`hiermod.report.predict` (it keeps the new data's
        columns, so ``x`` and ``group`` are among them, and ``new_group``).
    x : str
        Column on the horizontal axis.
    group : str
        Grouping column: one line per level.
    interval : {"mean", "outcome"}
        Band of the expected value (columns mean, lower, upper) or of a new observation
        (y_mean, y_lower, y_upper).
    observed : pandas.DataFrame, optional
        Data to overlay as points (columns ``x``, ``group`` and ``y``).
    y : str, optional
        Outcome column of ``observed``.

    Returns
    -------
    matplotlib.figure.Figure
        Existing groups in colour; new groups (``new_group`` True) in grey with a hatched band,
        wider because it carries the between-group variance.
    """
    prefix = {"mean": "", "outcome": "y_"}.get(interval)
    if prefix is None:
        raise ValueError(f"interval must be 'mean' or 'outcome', got {interval!r}")
    for col in (x, group, f"{prefix}mean", f"{prefix}lower", f"{prefix}upper"):
        if col not in table.columns:
            raise ValueError(f"the predictions table has no column '{col}'")
    prob = table.attrs.get("interval_prob", 0.95)
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    k = 0
    for level, t in table.groupby(group, sort=False):
        t = t.sort_values(x)
        new = bool(t["new_group"].any()) if "new_group" in t else False
        xs = t[x].to_numpy(dtype=float)
        if new:
            ax.fill_between(xs, t[f"{prefix}lower"], t[f"{prefix}upper"], facecolor="0.85",
                            edgecolor="0.4", hatch="//", alpha=0.5, lw=0.5)
            ax.plot(xs, t[f"{prefix}mean"], color="0.2", ls="--", marker="o", ms=3,
                    label=f"{level} (new group)")
        else:
            color = f"C{k % 10}"
            k += 1
            ax.fill_between(xs, t[f"{prefix}lower"], t[f"{prefix}upper"], color=color,
                            alpha=0.18, lw=0)
            ax.plot(xs, t[f"{prefix}mean"], color=color, marker="o", ms=3, label=str(level))
            if observed is not None and y is not None:
                o = observed[observed[group].astype(str) == str(level)]
                ax.scatter(o[x], o[y], color=color, s=8, alpha=0.6)
    what = "expected value" if interval == "mean" else "new observation"
    ax.set_xlabel(x)
    ax.set_ylabel(f"predicted {what} ({100 * prob:g}% interval)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", frameon=False, ncol=2 if table[group].nunique() > 6 else 1)
    return fig
