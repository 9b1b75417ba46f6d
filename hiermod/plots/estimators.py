"""Forest plot of :func:`hiermod.compare_estimators`: every estimator's interval, term by term."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def plot_estimators(table: pd.DataFrame) -> Figure:
    """One panel per term, one row per estimator: estimate and interval.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`hiermod.compare_estimators` (index estimator × term).

    Returns
    -------
    matplotlib.figure.Figure
        Terms share no axis (an intercept and a slope have different scales). An estimator that
        does not estimate a term (LSDV and a level-2 predictor) is listed with "absorbed".
    """
    estimators = list(dict.fromkeys(table.index.get_level_values(0)))
    terms = list(dict.fromkeys(table.index.get_level_values(1)))
    fig = Figure(figsize=(7.5, 0.8 + 0.32 * len(estimators) * len(terms)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(terms), 1, squeeze=False)[:, 0])
    level = table.attrs.get("level", 0.95)
    for ax, term in zip(axes, terms, strict=True):
        ys, labels = [], []
        for i, est in enumerate(estimators):
            y = len(estimators) - 1 - i
            ys.append(y)
            row = table.loc[(est, term)] if (est, term) in table.index else None
            if row is None or not np.isfinite(row["estimate"]):
                labels.append(f"{est} (absorbed)" if row is not None else est)
                continue
            labels.append(est)
            ax.hlines(y, row["lower"], row["upper"], color=f"C{i}", lw=2.2)
            ax.plot([row["estimate"]], [y], "o", color=f"C{i}")
        ax.set_yticks(ys, labels, fontsize="small")
        ax.set_ylim(-0.7, len(estimators) - 0.3)
        ax.set_title(term, loc="left", fontsize="medium")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{100 * level:g}% intervals by estimator (clusters: "
                 f"{table.attrs.get('n_clusters', '?')} of '{table.attrs.get('cluster', '?')}')",
                 fontsize="medium")
    return fig
