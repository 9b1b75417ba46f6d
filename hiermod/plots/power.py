"""Power curves: simulated power against the number of groups, one line per group size."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def plot_power(table: pd.DataFrame, x: str = "n_groups", by: str = "group_size",
               target: float | None = 0.8) -> Figure:
    """Power with its 95% interval against ``x``, a line per value of ``by``.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`hiermod.power` (columns ``n_groups``, ``group_size``, ``power``,
        ``lower``, ``upper``).
    x, by : str
        Columns on the horizontal axis and separating the lines.
    target : float, optional
        A power to mark (default 0.8; None for none).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(5.6, 3.8), layout="constrained")
    ax = fig.subplots()
    for i, (value, rows) in enumerate(table.sort_values(x).groupby(by, sort=True)):
        xs = rows[x].to_numpy(dtype=float)
        p = rows["power"].to_numpy(dtype=float)
        err = np.vstack([p - rows["lower"].to_numpy(float), rows["upper"].to_numpy(float) - p])
        label = f"{by.replace('_', ' ')} {value:g}" if np.isscalar(value) else str(value)
        ax.errorbar(xs, p, yerr=err, marker="o", ms=4, capsize=3, color=f"C{i}", label=label)
    if target is not None:
        ax.axhline(target, color="k", ls=":", lw=1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel("power")
    term = table.attrs.get("term")
    method = table.attrs.get("method")
    if term:
        ax.set_title(f"Power for '{term}'" + (f" ({method})" if method else ""),
                     fontsize="medium")
    ax.legend(fontsize="small", frameon=False)
    return fig
