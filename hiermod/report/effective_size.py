"""Design effect of cluster sampling and the effective sample size, with their posteriors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from . import _posterior as P
from .intraclass import icc_draws

QUANTITIES = ("n_obs", "n_groups", "mean_size", "kish_size", "icc", "deff", "deff_kish",
              "n_eff", "n_eff_kish")


def cluster_sizes(sizes: np.ndarray) -> tuple[float, float]:
    """(n̄, n̄_w): the mean cluster size n/J and Kish's size-weighted mean Σn_j²/Σn_j."""
    sizes = np.asarray(sizes, dtype=float)
    return float(sizes.mean()), float((sizes**2).sum() / sizes.sum())


def deff(rho, mean_size: float):
    """1 + (n̄ − 1) ρ."""
    return 1.0 + (mean_size - 1.0) * np.asarray(rho)


def design_effect(dt: xr.DataTree, design, factor: str | None = None,
                  kind: str = "cumulative", prob: float = 0.95) -> pd.DataFrame:
    """Design effect and effective sample size per grouping factor, with posterior intervals.

    Parameters
    ----------
    dt : xarray.DataTree
        Usually the null model's (``hm.null_model``); any fit works, its ICC is then the
        adjusted (residual) one.
    design : Design
    factor : str, optional
        One factor; default all.
    kind : str
        The ICC used (see :func:`hiermod.report.icc_draws`); the default "cumulative" is the
        correlation of two units in the same cluster, the one that inflates variances.
    prob : float

    Returns
    -------
    pandas.DataFrame
        Index (factor, quantity); columns mean, sd, lower, upper. Quantities: ``n_obs``,
        ``n_groups``, ``mean_size`` (n̄), ``kish_size`` (n̄_w), ``icc``, ``deff``,
        ``deff_kish``, ``n_eff``, ``n_eff_kish`` (the first four are constants: sd 0).

    Notes
    -----
    For J clusters of sizes n_j, n = Σ n_j and ICC ρ (per posterior draw):

    .. math::

        \\mathrm{deff} = 1 + (\\bar n - 1)\\rho, \\qquad \\bar n = n / J

    With unequal sizes (Kish 1965) n̄ is replaced by the size-weighted mean
    n̄_w = Σ n_j² / Σ n_j = n̄ (1 + CV²), CV the coefficient of variation of the n_j:
    deff_w = 1 + (n̄_w − 1) ρ ≥ deff. The effective sample size is n / deff: the number of
    independent observations that would carry as much information about the mean.
    """
    P.check_prob(prob)
    rho = icc_draws(dt, design, kind=kind)
    factors = design.factors if factor is None else (P.pick_factor(design, factor),)
    rows, index = [], []
    for fd in factors:
        r = rho.sel(factor=fd.name).values
        nbar, nw = cluster_sizes(fd.sizes)
        n = design.n_obs
        d, dk = deff(r, nbar), deff(r, nw)
        values = {"n_obs": n, "n_groups": fd.n_levels, "mean_size": nbar, "kish_size": nw,
                  "icc": r, "deff": d, "deff_kish": dk, "n_eff": n / d, "n_eff_kish": n / dk}
        for q in QUANTITIES:
            index.append((fd.name, q))
            rows.append(P.summarize(np.atleast_1d(values[q]), prob))
    table = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["factor",
                                                                            "quantity"]))
    table.attrs.update({"interval_prob": prob, "icc_kind": kind})
    return table
