"""Variance components and the variance explained at each level against a reference fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..families import get_family
from . import _posterior as P


def variance_components(dt: xr.DataTree, design, prob: float = 0.95) -> pd.DataFrame:
    """sd, variance and correlations of the varying effects, and the residual sd / variance.

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    prob : float
        Probability of the equal-tailed intervals.

    Returns
    -------
    pandas.DataFrame
        Rows "sd(Intercept | county)", "var(Intercept | county)",
        "corr(Intercept, floor | county)", ..., "sigma", "sigma^2" (gaussian models); columns
        factor, term, stat ("sd", "var", "corr"), mean, sd, lower, upper.

    Notes
    -----
    Each varying effect u_g,j ~ N(0, Σ_g), Σ_g = diag(τ) R diag(τ). The variance τ² is
    summarised from its own draws (its posterior mean is not the square of the mean sd).
    For logit and Poisson models the level-1 variance is not a parameter (see
    :func:`hiermod.report.icc_draws` for its latent-scale value).
    """
    P.check_prob(prob)
    rows, meta = {}, {}
    for fd in design.factors:
        sd = P.group_sds(dt, fd)
        for k, term in enumerate(fd.terms):
            rows[names.sd_label(fd.name, term)] = sd[..., k]
            meta[names.sd_label(fd.name, term)] = (fd.name, term, "sd")
            rows[names.var_label(fd.name, term)] = sd[..., k] ** 2
            meta[names.var_label(fd.name, term)] = (fd.name, term, "var")
        if fd.correlated:
            cov = P.group_cov(dt, fd)
            for block in fd.blocks:
                for i, a in enumerate(block):
                    for b in block[i + 1:]:
                        r = cov[..., a, b] / (sd[..., a] * sd[..., b])
                        label = names.corr_label(fd.name, fd.terms[a], fd.terms[b])
                        rows[label] = r
                        meta[label] = (fd.name, names.corr_key(fd.terms[a], fd.terms[b]), "corr")
    s = P.sigma(dt, design)
    if s is not None:
        rows[names.SIGMA], meta[names.SIGMA] = s, (names.RESIDUAL, "", "sd")
        rows[names.RESIDUAL_VAR], meta[names.RESIDUAL_VAR] = s**2, (names.RESIDUAL, "", "var")
    table = P.summary_frame(rows, prob)
    info = pd.DataFrame.from_dict(meta, orient="index", columns=["factor", "term", "stat"])
    return pd.concat([info, table], axis=1).rename_axis("component").pipe(_keep_attrs, table)


def _keep_attrs(frame: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    frame.attrs.update(source.attrs)
    return frame


def paired(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten two independent posteriors' draws and keep the first min(S_a, S_b) of each."""
    a, b = a.ravel(), b.ravel()
    m = min(a.size, b.size)
    return a[:m], b[:m]


def variance_explained(dt: xr.DataTree, design, reference_dt: xr.DataTree, reference_design,
                       prob: float = 0.95) -> pd.DataFrame:
    """Proportional reduction of the variance at each level relative to a reference fit.

    Parameters
    ----------
    dt, design : the model with predictors.
    reference_dt, reference_design : the reference, usually the null model
        (:func:`hiermod.null_model`), fitted to the same observations.
    prob : float

    Returns
    -------
    pandas.DataFrame
        Rows "residual" (level 1, gaussian models only) and one per grouping factor present in
        both fits (its intercept variance); columns mean, sd, lower, upper (of the per-draw
        reduction), ``reference`` and ``model`` (posterior mean variances) and ``from_means``
        (1 − model / reference).

    Notes
    -----
    Raudenbush & Bryk's proportional reduction in variance:

    .. math::

        R^2_{1} = \\frac{\\sigma^2_0 - \\sigma^2_1}{\\sigma^2_0}, \\qquad
        R^2_{2,g} = \\frac{\\tau^2_{g,0} - \\tau^2_{g,1}}{\\tau^2_{g,0}}

    (0: reference, 1: model). The two posteriors are independent, so pairing the s-th draw of
    each gives draws of the ratio under their product; the first min(S₀, S₁) draws are used.
    A reduction can be negative: adding a level-1 predictor can raise τ² (Snijders & Bosker
    2012, sec. 7.2). With random slopes, τ² is the intercept variance at predictor value 0.
    For logit / Poisson models the level-1 variance is fixed on the latent scale and only the
    level-2 rows are given; those models are rescaled when predictors are added (Hox 2010,
    sec. 6.5), so read their reductions with care.
    """
    P.check_prob(prob)
    rows, extra = {}, {}
    if get_family(design.family).has_sigma and get_family(reference_design.family).has_sigma:
        v1, v0 = paired(P.sigma(dt, design) ** 2, P.sigma(reference_dt, reference_design) ** 2)
        rows[names.RESIDUAL] = 1 - v1 / v0
        extra[names.RESIDUAL] = (float(v0.mean()), float(v1.mean()))
    ref_names = {f.name for f in reference_design.factors}
    for fd in design.factors:
        if fd.name not in ref_names:
            continue
        t1, t0 = paired(P.intercept_variance(dt, fd),
                        P.intercept_variance(reference_dt, reference_design.factor(fd.name)))
        rows[fd.name] = 1 - t1 / t0
        extra[fd.name] = (float(t0.mean()), float(t1.mean()))
    table = P.summary_frame(rows, prob, index_name="level")
    table["reference"] = [extra[k][0] for k in table.index]
    table["model"] = [extra[k][1] for k in table.index]
    table["from_means"] = 1 - table["model"] / table["reference"]
    return table
