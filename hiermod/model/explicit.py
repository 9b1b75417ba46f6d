"""Design -> pm.Model: the usual multilevel model, with explicit group effects.

    η = W c + Σ_g (Z_g ∘ u_g[j]) 1,        β = B c     (:mod:`hiermod.design.centring`)
    u_g,j = L_g z_g,j,  z ~ N(0, I)        (non-centered, default)
    u_g,j ~ N(0, L_g L_gᵀ)                  (centered)
    L_g = blockdiag_b( diag(sd_b) · chol(R_b) ),  R_b ~ LKJ(η)

Predictors are centred internally (as brms does) so the intercept's prior is on the mean
outcome and its posterior is nearly uncorrelated with the slopes; ``beta`` holds the fixed
effects on the original scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .. import names
from ..errors import SpecError
from ..families import get_family
from ..priors import resolve_priors
from .parts import RAW, SIGMA, Recorder, VarRecord, factor_scales, fixed_part, model_coords

PARAMETERIZATIONS = ("noncentered", "centered")


def check_parameterization(parameterization: str) -> str:
    """The parameterization, or a SpecError listing the choices."""
    if parameterization not in PARAMETERIZATIONS:
        raise SpecError(f"unknown parameterization {parameterization!r}; choose one of "
                        f"{', '.join(PARAMETERIZATIONS)}")
    return parameterization


@dataclass(frozen=True, eq=False)
class BuiltModel:
    """A PyMC model and the record of its free variables (:class:`~hiermod.model.parts.VarRecord`)."""

    model: pm.Model
    records: dict[str, VarRecord]


def group_effects(fd, chols, parameterization: str, rec: Recorder):
    """u_g (levels × terms) under the chosen parameterization."""
    dims = (names.group_dim(fd.name), names.term_dim(fd.name))
    cols = [None] * fd.q
    if parameterization == "noncentered":
        name = names.group_effects_raw(fd.name)
        z = pm.Normal(name, 0.0, 1.0, dims=dims)
        rec.add(name, RAW, [("Normal", (0.0, 1.0))] * (fd.n_levels * fd.q), fd.name,
                shape=(fd.n_levels, fd.q))
        for block, L in chols:
            ub = pt.dot(z[:, list(block)], L.T)
            for i, k in enumerate(block):
                cols[k] = ub[:, i]
    else:
        for bi, (block, L) in enumerate(chols):
            name = names.group_effects_block(fd.name, bi)
            if len(block) == 1:
                ub = pm.Normal(name, 0.0, L[0, 0], shape=(fd.n_levels, 1))
            else:
                ub = pm.MvNormal(name, mu=np.zeros(len(block)), chol=L,
                                 shape=(fd.n_levels, len(block)))
            for i, k in enumerate(block):
                cols[k] = ub[:, i]
    return pm.Deterministic(names.group_effects(fd.name), pt.stack(cols, axis=1), dims=dims)


def linear_predictor(design, resolved, rec: Recorder, parameterization: str):
    """η = W c + Σ_g (Z_g u_g[index_g]) summed over columns: the fixed part (c sampled, W = X B
    the centred columns) and every factor's explicit group effects, created in the model in
    context and recorded in ``rec``."""
    _, c = fixed_part(design, resolved, rec)
    W = design.X @ design.centring.B
    eta = pt.dot(W, c) if c is not None else pt.zeros(design.n_obs)
    for fd in design.factors:
        u = group_effects(fd, factor_scales(fd, resolved, rec), parameterization, rec)
        eta = eta + pt.sum(fd.Z * u[fd.index], axis=1)
    return eta


def assemble_model(design, priors: dict | None = None,
                   parameterization: str = "noncentered") -> BuiltModel:
    """:func:`build_model` with the record of its free variables."""
    check_parameterization(parameterization)
    if getattr(design, "residuals", None) is not None:
        raise SpecError("the design has a residual structure (correlation= / sigma=): its "
                        "models are built by hiermod.marginal.residual_model (hm.fit does so)")
    resolved = resolve_priors(design, priors)
    family = get_family(design.family)
    rec = Recorder()
    with pm.Model(coords=model_coords(design)) as model:
        eta = linear_predictor(design, resolved, rec, parameterization)
        sigma = None
        if family.has_sigma:
            sigma = resolved.sigma.create(names.SIGMA)
            rec.add(names.SIGMA, SIGMA, [resolved.sigma], shape=())
        family.likelihood(names.OUTCOME, eta, design.y, trials=design.trials, sigma=sigma,
                          dims=names.OBS_DIM)
    return BuiltModel(model, rec.records)


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
    return assemble_model(design, priors, parameterization).model
