"""Design -> pm.Model: the usual (explicit group effects) multilevel model.

    η = α + (X − x̄) b + Σ_g (Z_g ∘ u_g[j]) 1,        β = (α − x̄·b, b)
    u_g,j = L_g z_g,j,  z ~ N(0, I)        (non-centered, default)
    u_g,j ~ N(0, L_g L_gᵀ)                  (centered)
    L_g = blockdiag_b( diag(sd_b) · chol(R_b) ),  R_b ~ LKJ(η)

Predictors are centred internally (as brms does) so the intercept's prior is on the mean
outcome and its posterior is nearly uncorrelated with the slopes; ``beta`` holds the fixed
effects on the original scale.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .. import names
from ..errors import SpecError
from ..families import get_family
from ..priors import Prior, lkj_key, resolve_priors
from .lkj import lkj_corr_cholesky

PARAMETERIZATIONS = ("noncentered", "centered")


def model_coords(design, observations: bool = True) -> dict[str, list]:
    """Named coordinates of the model; ``observations=False`` leaves out the ``obs`` dim (the
    marginalized model has no per-observation variable)."""
    coords: dict[str, list] = {names.FIXED_DIM: list(design.fixed_terms)}
    if observations:
        coords[names.OBS_DIM] = list(range(design.n_obs))
    if design.has_intercept:
        coords[names.SLOPE_DIM] = [t for t in design.fixed_terms if t != names.INTERCEPT]
    for fd in design.factors:
        coords[names.group_dim(fd.name)] = list(fd.levels)
        coords[names.term_dim(fd.name)] = list(fd.terms)
        coords[names.term_dim_bis(fd.name)] = list(fd.terms)
    return coords


def fixed_part(design, priors: dict[str, Prior], linear_predictor: bool = True):
    """β on the original scale and X β, with an internally centred intercept.

    ``linear_predictor=False`` returns ``(beta, None)``: the marginalized model needs β only.
    """
    terms = design.fixed_terms
    if not terms:
        return None, (pt.zeros(design.n_obs) if linear_predictor else None)
    if not design.has_intercept:
        b = _vector_normal(names.SLOPES, list(terms), priors, dims=names.FIXED_DIM)
        beta = pm.Deterministic(names.FIXED, b, dims=names.FIXED_DIM)
        return beta, (pt.dot(design.X, beta) if linear_predictor else None)
    k0 = terms.index(names.INTERCEPT)
    slope_idx = [k for k in range(len(terms)) if k != k0]
    alpha = priors[names.INTERCEPT].create(names.CENTERED_INTERCEPT)
    if not slope_idx:
        beta = pm.Deterministic(names.FIXED, pt.stack([alpha]), dims=names.FIXED_DIM)
        return beta, (alpha * pt.ones(design.n_obs) if linear_predictor else None)
    Xs = design.X[:, slope_idx]
    means = Xs.mean(axis=0)
    b = _vector_normal(names.SLOPES, [terms[k] for k in slope_idx], priors, dims=names.SLOPE_DIM)
    parts = [None] * len(terms)
    parts[k0] = alpha - pt.dot(means, b)
    for i, k in enumerate(slope_idx):
        parts[k] = b[i]
    beta = pm.Deterministic(names.FIXED, pt.stack(parts), dims=names.FIXED_DIM)
    if not linear_predictor:
        return beta, None
    return beta, alpha + pt.dot(Xs - means, b)


def _vector_normal(name, terms, priors, dims):
    """One vector RV when all priors are Normal (the usual case), else one RV per term."""
    ps = [priors[t] for t in terms]
    if all(p.dist == "Normal" for p in ps):
        return pm.Normal(name, mu=np.array([p.kwargs["mu"] for p in ps]),
                         sigma=np.array([p.kwargs["sigma"] for p in ps]), dims=dims)
    return pt.stack([p.create(f"{name}[{t}]") for p, t in zip(ps, terms, strict=True)])


def block_sds(fd, block, bi, priors):
    """The sds of a block of correlated terms as one vector RV (one prior family per block)."""
    ps = [priors[names.sd_label(fd.name, fd.terms[k])] for k in block]
    if len({p.dist for p in ps}) != 1:
        raise SpecError(f"the correlated varying effects {[fd.terms[k] for k in block]} of "
                        f"'{fd.name}' need sd priors of one family; got {[p.dist for p in ps]}")
    kw = {k: np.array([p.kwargs[k] for p in ps]) for k in ps[0].kwargs}
    return getattr(pm, ps[0].dist)(names.group_sd_block(fd.name, bi), **kw, shape=len(block))


def factor_scales(fd, priors):
    """Per block: (term indices, Cholesky factor of its covariance); sds and correlations
    are recorded as Deterministics ``sd_g`` and ``corr_g``.

    A correlated block is written as L = diag(sd) · L_R with the sds and the Cholesky factor
    L_R of the correlation matrix (LKJ) as separate parameters. Unlike the packed covariance
    Cholesky of ``LKJCholeskyCov``, this has no funnel when an sd approaches zero: the
    correlation then simply falls back to its prior.
    """
    chols, sds, corr_parts = [], [None] * fd.q, []
    for bi, block in enumerate(fd.blocks):
        if len(block) == 1:
            k = block[0]
            sd = priors[names.sd_label(fd.name, fd.terms[k])].create(
                f"{names.group_sd(fd.name)}[{fd.terms[k]}]")
            sds[k] = sd
            chols.append((block, sd * pt.ones((1, 1))))
        else:
            eta = priors[lkj_key(fd.name)].kwargs["eta"]
            std = block_sds(fd, block, bi, priors)
            chol_corr = lkj_corr_cholesky(names.group_pcorr(fd.name, bi), len(block), eta)
            for i, k in enumerate(block):
                sds[k] = std[i]
            chols.append((block, std[:, None] * chol_corr))
            corr_parts.append((block, pt.dot(chol_corr, chol_corr.T)))
    pm.Deterministic(names.group_sd(fd.name), pt.stack(sds), dims=names.term_dim(fd.name))
    if corr_parts:
        R = pt.eye(fd.q)
        for block, corr in corr_parts:
            R = pt.set_subtensor(R[np.ix_(block, block)], corr)
        pm.Deterministic(names.group_corr(fd.name), R,
                         dims=(names.term_dim(fd.name), names.term_dim_bis(fd.name)))
    return chols


def group_effects(fd, priors, parameterization: str):
    """u_g (levels × terms) under the chosen parameterization."""
    chols = factor_scales(fd, priors)
    dims = (names.group_dim(fd.name), names.term_dim(fd.name))
    cols = [None] * fd.q
    if parameterization == "noncentered":
        z = pm.Normal(names.group_effects_raw(fd.name), 0.0, 1.0, dims=dims)
        for block, L in chols:
            ub = pt.dot(z[:, list(block)], L.T)
            for i, k in enumerate(block):
                cols[k] = ub[:, i]
    else:
        for bi, (block, L) in enumerate(chols):
            name = f"{names.group_effects_raw(fd.name)}_{bi}"
            if len(block) == 1:
                ub = pm.Normal(name, 0.0, L[0, 0], shape=(fd.n_levels, 1))
            else:
                ub = pm.MvNormal(name, mu=np.zeros(len(block)), chol=L,
                                 shape=(fd.n_levels, len(block)))
            for i, k in enumerate(block):
                cols[k] = ub[:, i]
    return pm.Deterministic(names.group_effects(fd.name), pt.stack(cols, axis=1), dims=dims)


def build_model(design, priors: dict | None = None, parameterization: str = "noncentered"):
    """Assemble the PyMC model of a Design.

    Parameters
    ----------
    design : Design
    priors : dict, optional
        Overrides of the default priors (see :mod:`hiermod.priors`).
    parameterization : {"noncentered", "centered"}
        How the group effects are written; non-centered suits few observations per group,
        centered suits many.

    Returns
    -------
    pymc.Model
    """
    if parameterization not in PARAMETERIZATIONS:
        raise SpecError(f"unknown parameterization '{parameterization}'; choose one of "
                        f"{', '.join(PARAMETERIZATIONS)}")
    resolved = resolve_priors(design, priors)
    family = get_family(design.family)
    with pm.Model(coords=model_coords(design)) as model:
        _, eta = fixed_part(design, resolved)
        for fd in design.factors:
            u = group_effects(fd, resolved, parameterization)
            eta = eta + pt.sum(fd.Z * u[fd.index], axis=1)
        sigma = resolved[names.SIGMA].create(names.SIGMA) if family.has_sigma else None
        family.likelihood(names.OUTCOME, eta, design, sigma=sigma, dims=names.OBS_DIM)
    return model
