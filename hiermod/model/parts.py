"""The pieces every PyMC model of a Design is made of: coordinates, the fixed part, the scales
of the varying effects, and the record of each free variable's prior and role.

The record (:class:`Recorder`) is what the compiled callbacks read, together with the built
``pm.Model``'s value variables, to lay out their coordinates: the names, order, shapes and
transforms come from the model; the prior and the role of each variable from the builder that
created it here.

    β = B c,  c = (α, b)                    (:mod:`hiermod.design.centring`)
    L_g = blockdiag_b( diag(sd_b) · chol(R_b) ),  R_b ~ LKJ(η)   (:mod:`hiermod.model.lkj`)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .. import names
from ..priors import Prior, Priors
from .lkj import lkj_corr_cholesky, partial_correlation_shapes

#: roles of free variables, read by the compiled callbacks
FIXED, SD, PCORR, SIGMA, RAW = "fixed", "sd", "pcorr", "sigma", "raw"
#: the residual structure's: the correlation φ and the coefficients δ of log σ
PHI, SIGMA_COEF = "phi", "sigma_coef"


@dataclass(frozen=True)
class VarRecord:
    """One free variable: its role, one prior per element as (distribution, parameters in the
    order of :data:`hiermod.priors.DISTRIBUTIONS`; Beta: alpha, beta), and where it belongs.

    ``fixed``: ``index`` = positions in c; ``sd``: ``factor`` and ``index`` = term indices;
    ``pcorr``: ``factor`` and ``index`` = the block's term indices; ``raw``: ``factor`` (the
    standard-normal innovations z_g); ``sigma``; ``phi`` (the residual correlation);
    ``sigma_coef``: ``index`` = positions in δ.
    """

    role: str
    priors: tuple[tuple[str, tuple[float, ...]], ...]
    shape: tuple[int, ...]
    factor: str | None = None
    index: tuple[int, ...] = ()


@dataclass
class Recorder:
    """Collects a :class:`VarRecord` per free variable while a model is built."""

    records: dict[str, VarRecord] = field(default_factory=dict)

    def add(self, name: str, role: str, priors, factor: str | None = None, index=(),
            shape: tuple[int, ...] | None = None) -> None:
        """``priors``: :class:`~hiermod.priors.Prior` objects or (distribution, parameters),
        one per element; ``shape`` defaults to a vector of them."""
        entries = tuple((p.dist, tuple(p.kwargs.values())) if isinstance(p, Prior) else p
                        for p in priors)
        shape = (len(entries),) if shape is None else tuple(shape)
        self.records[name] = VarRecord(role, entries, shape, factor, tuple(int(i) for i in index))


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
        coords[names.cov_dim(fd.name)] = list(fd.terms)
        coords[names.cov_dim_bis(fd.name)] = list(fd.terms)
    return coords


def _vector(name: str, priors: list[Prior], rec: Recorder, role: str, index, dims=None,
            factor: str | None = None):
    """One vector variable when all priors share a family, else None."""
    if len({p.dist for p in priors}) != 1:
        return None
    kw = {k: np.array([p.kwargs[k] for p in priors]) for k in priors[0].kwargs}
    size = {"dims": dims} if dims else {"shape": len(priors)}
    rv = getattr(pm, priors[0].dist)(name, **kw, **size)
    rec.add(name, role, priors, factor, index)
    return rv


def fixed_part(design, priors: Priors, rec: Recorder):
    """(β on the original scale, c the sampled coordinates), both PyTensor vectors; (None,
    None) without fixed terms. Normal priors on all slopes make one vector ``b``; otherwise
    each slope is its own variable ``b[term]``."""
    terms = design.fixed_terms
    if not terms:
        return None, None
    cen = design.centring
    parts = []
    if cen.intercept is not None:
        alpha = priors.fixed[names.INTERCEPT].create(names.CENTERED_INTERCEPT)
        rec.add(names.CENTERED_INTERCEPT, FIXED, [priors.fixed[names.INTERCEPT]], index=[0],
                shape=())
        parts.append(alpha[None])
    first = len(parts)
    slope_terms = [terms[k] for k in cen.slopes]
    if slope_terms:
        ps = [priors.fixed[t] for t in slope_terms]
        dims = names.SLOPE_DIM if cen.intercept is not None else names.FIXED_DIM
        idx = range(first, first + len(ps))
        b = (_vector(names.SLOPES, ps, rec, FIXED, idx, dims=dims)
             if all(p.dist == "Normal" for p in ps) else None)
        if b is None:
            singles = []
            for i, (p, t) in enumerate(zip(ps, slope_terms, strict=True)):
                name = names.fixed_slope_term(t)
                singles.append(p.create(name))
                rec.add(name, FIXED, [p], index=[first + i], shape=())
            b = pt.stack(singles)
        parts.append(b)
    c = pt.concatenate(parts) if len(parts) > 1 else parts[0]
    beta = pm.Deterministic(names.FIXED, pt.dot(cen.B, c), dims=names.FIXED_DIM)
    return beta, c


def factor_scales(fd, priors: Priors, rec: Recorder):
    """Per block: (term indices, Cholesky factor of its covariance); sds and correlations
    are recorded as Deterministics ``sd_g`` and ``corr_g``.

    A correlated block is written as L = diag(sd) · L_R with the sds and the Cholesky factor
    L_R of the correlation matrix (LKJ, through its C-vine partial correlations) as separate
    parameters. Unlike the packed covariance Cholesky of ``LKJCholeskyCov``, this has no funnel
    when an sd approaches zero: the correlation then simply falls back to its prior.
    """
    chols, sds, corr_parts = [], [None] * fd.q, []
    for bi, block in enumerate(fd.blocks):
        ps = [priors.sd[(fd.name, fd.terms[k])] for k in block]
        std = None
        if len(block) > 1:
            std = _vector(names.group_sd_block(fd.name, bi), ps, rec, SD, block, factor=fd.name)
        if std is None:
            singles = []
            for k, p in zip(block, ps, strict=True):
                name = names.group_sd_term(fd.name, fd.terms[k])
                singles.append(p.create(name))
                rec.add(name, SD, [p], fd.name, [k], shape=())
            std = pt.stack(singles)
        for i, k in enumerate(block):
            sds[k] = std[i]
        if len(block) == 1:
            chols.append((block, std[:, None]))
            continue
        eta = priors.lkj[fd.name].kwargs["eta"]
        name = names.group_pcorr(fd.name, bi)
        chol_corr = lkj_corr_cholesky(name, len(block), eta)
        shapes = partial_correlation_shapes(len(block), eta)
        rec.add(name, PCORR, [("Beta", (b, b)) for b in shapes], fd.name, block)
        chols.append((block, std[:, None] * chol_corr))
        corr_parts.append((block, pt.dot(chol_corr, chol_corr.T)))
    pm.Deterministic(names.group_sd(fd.name), pt.stack(sds), dims=names.cov_dim(fd.name))
    if corr_parts:
        R = pt.eye(fd.q)
        for block, corr in corr_parts:
            R = pt.set_subtensor(R[np.ix_(block, block)], corr)
        pm.Deterministic(names.group_corr(fd.name), R,
                         dims=(names.cov_dim(fd.name), names.cov_dim_bis(fd.name)))
    return chols


def factor_cholesky(fd, chols):
    """The q × q block-diagonal factor L from the per-block factors of :func:`factor_scales`."""
    L = pt.zeros((fd.q, fd.q))
    for block, Lb in chols:
        L = pt.set_subtensor(L[np.ix_(block, block)], Lb)
    return L
