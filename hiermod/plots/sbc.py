"""Simulation-based calibration: a histogram of the ranks of each parameter, with the band a
uniform histogram stays in 99% of the time."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats


def plot_sbc_ranks(ranks: pd.DataFrame, n_ranked: int, bins: int = 10,
                   ncols: int = 4) -> Figure:
    """Rank histograms of :func:`hiermod.sbc` (one panel per parameter).

    Parameters
    ----------
    ranks : pandas.DataFrame
        Simulations × parameters, ranks 0..``n_ranked`` (``SBC.ranks``).
    n_ranked : int
        Posterior draws each true value was ranked among (``SBC.n_ranked``).
    bins : int
        Bins of equal width; (n_ranked + 1) should be a multiple of it.
    ncols : int

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    With N simulations a bin's count is Binomial(N, 1/bins) under calibration; the grey band
    spans its 0.5% and 99.5% quantiles.
    """
    cols = list(ranks.columns)
    ncols = min(ncols, len(cols))
    nrows = int(np.ceil(len(cols) / ncols))
    fig = Figure(figsize=(3.0 * ncols + 0.4, 2.4 * nrows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    edges = np.linspace(0, n_ranked + 1, bins + 1)
    for ax, col in zip(axes, cols, strict=False):
        r = ranks[col].dropna().to_numpy()
        lo, hi = stats.binom.ppf([0.005, 0.995], len(r), 1 / bins)
        ax.axhspan(lo, hi, color="0.85", zorder=0)
        ax.axhline(len(r) / bins, color="0.5", lw=1, zorder=1)
        ax.hist(r, bins=edges, color="C0", alpha=0.8, zorder=2)
        ax.set_title(col, fontsize="small")
        ax.set_yticks([])
        ax.set_xlim(0, n_ranked + 1)
    for ax in axes[len(cols):]:
        ax.set_visible(False)
    fig.supxlabel(f"rank among {n_ranked} posterior draws", fontsize="small")
    return fig
