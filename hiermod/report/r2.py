"""R² of multilevel models: Nakagawa's marginal / conditional, Snijders & Bosker's per level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..families import get_family
from . import _posterior as P
from .intraclass import variance_parts
from .variance import paired


def r2_nakagawa_draws(dt: xr.DataTree, design, slopes: str = "average") -> xr.Dataset:
    """Posterior draws of Nakagawa's marginal and conditional R² (dims chain, draw).

    See :func:`r2_nakagawa` for the formulas; the Dataset also holds the variance parts
    ``var_fixed``, ``var_random`` and ``var_residual`` per draw.
    """
    parts = variance_parts(dt, design, slopes)
    vf, ve, vr = parts.fixed, parts.residual, parts.random_total
    total = vf + vr + ve
    data = {"marginal": vf / total, "conditional": (vf + vr) / total,
            "var_fixed": vf, "var_random": vr, "var_residual": ve}
    return xr.Dataset({k: P.sample_dataarray(v, dt) for k, v in data.items()})


def r2_nakagawa(dt: xr.DataTree, design, slopes: str = "average",
                prob: float = 0.95) -> pd.DataFrame:
    """Nakagawa's marginal and conditional R², draw by draw.

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    slopes : {"average", "intercept"}
        The variance of the varying effects: the mean over the observations of z_i Σ_g z_iᵀ
        (default; Johnson 2014, as ``performance::r2_nakagawa``) or the intercept variances
        only.
    prob : float

    Returns
    -------
    pandas.DataFrame
        Rows marginal, conditional; columns mean, sd, lower, upper.

    Notes
    -----
    Per posterior draw (Nakagawa & Schielzeth 2013; Johnson 2014; Nakagawa, Johnson &
    Schielzeth 2017):

    .. math::

        R^2_m = \\frac{\\sigma^2_f}{\\sigma^2_f + \\sigma^2_r + \\sigma^2_\\varepsilon},\\qquad
        R^2_c = \\frac{\\sigma^2_f + \\sigma^2_r}{\\sigma^2_f + \\sigma^2_r + \\sigma^2_\\varepsilon}

    σ²_f = var(X β) over the observations (n − 1 denominator, as R's ``var``);
    σ²_r = Σ_g mean_i(z_gi Σ_g z_giᵀ) = Σ_g tr(Σ_g Z_gᵀ Z_g / n), which is Σ_g τ²_g for
    random-intercept models; σ²_ε = σ² (gaussian), π²/3 (logit), log(1 + 1/λ) with
    λ = exp(mean(Xβ) + ½σ²_r) (Poisson, lognormal approximation).
    """
    P.check_prob(prob)
    ds = r2_nakagawa_draws(dt, design, slopes)
    table = P.summary_frame({k: ds[k].values for k in ("marginal", "conditional")}, prob)
    table.attrs["slopes"] = slopes
    return table


def harmonic_mean(sizes) -> float:
    sizes = np.asarray(sizes, dtype=float)
    return float(len(sizes) / np.sum(1.0 / sizes))


def r2_levels(dt: xr.DataTree, design, null_dt: xr.DataTree, null_design,
              factor: str | None = None, cluster_size: float | None = None,
              prob: float = 0.95) -> pd.DataFrame:
    """Snijders & Bosker's level-1 and level-2 R² against the null model.

    Parameters
    ----------
    dt, design : the model with predictors (gaussian).
    null_dt, null_design : the null model of the same data (:func:`hiermod.null_model`).
    factor : str, optional
        The level-2 factor (default the first).
    cluster_size : float, optional
        The representative group size n in the level-2 formula; default the harmonic mean of
        the group sizes.
    prob : float

    Returns
    -------
    pandas.DataFrame
        Rows level1, level2; columns mean, sd, lower, upper, from_means (the formula applied
        to posterior means) and ``cluster_size`` (n used).

    Notes
    -----
    With σ² the residual variance and τ² the intercept variance(s), 1 the model and 0 the
    null model (Snijders & Bosker 1994; 2012, sec. 7.1):

    .. math::

        R^2_1 = 1 - \\frac{\\sigma^2_1 + \\tau^2_1}{\\sigma^2_0 + \\tau^2_0},\\qquad
        R^2_2 = 1 - \\frac{\\sigma^2_1 / n + \\tau^2_{g,1}}{\\sigma^2_0 / n + \\tau^2_{g,0}}

    R²_1 is the proportional reduction of the prediction error of an individual outcome, R²_2
    that of a group mean (of n units). τ²_1 in R²_1 sums the intercept variances of all
    factors. With random slopes τ² is the intercept variance at predictor value 0: Snijders
    & Bosker recommend computing these R² from the random-intercept version of the model.
    Draws of the two independent posteriors are paired as in
    :func:`hiermod.report.variance_explained`.
    """
    P.check_prob(prob)
    for d in (design, null_design):
        if not get_family(d.family).has_sigma:
            raise ValueError("Snijders & Bosker's R² is defined for gaussian models; for "
                             f"'{d.family}' use r2_nakagawa")
    fd = P.pick_factor(design, factor)
    fd0 = null_design.factor(fd.name)
    n = harmonic_mean(fd.sizes) if cluster_size is None else float(cluster_size)

    def parts(t, des):
        s2 = P.sigma(t, des) ** 2
        tau_all = sum(P.intercept_variance(t, f) for f in des.factors)
        return s2, tau_all

    s1, ta1 = parts(dt, design)
    s0, ta0 = parts(null_dt, null_design)
    tg1, tg0 = P.intercept_variance(dt, fd), P.intercept_variance(null_dt, fd0)
    s1, s0 = paired(s1, s0)
    ta1, ta0 = paired(ta1, ta0)
    tg1, tg0 = paired(tg1, tg0)
    rows = {"level1": 1 - (s1 + ta1) / (s0 + ta0),
            "level2": 1 - (s1 / n + tg1) / (s0 / n + tg0)}
    table = P.summary_frame(rows, prob)
    m = {k: float(v.mean()) for k, v in dict(s1=s1, s0=s0, ta1=ta1, ta0=ta0, tg1=tg1,
                                             tg0=tg0).items()}
    table["from_means"] = [1 - (m["s1"] + m["ta1"]) / (m["s0"] + m["ta0"]),
                           1 - (m["s1"] / n + m["tg1"]) / (m["s0"] / n + m["tg0"])]
    table["cluster_size"] = n
    table.attrs["factor"] = fd.name
    return table
