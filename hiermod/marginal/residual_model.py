"""Design with a residual structure -> pm.Model: group effects integrated out (one grouping
factor or none), or explicit (any number of factors).

    marginal:  y_j ~ N(W_j c, Z_j Σ Z_jᵀ + S_j R_j(φ) S_j),   log σ_i = log σ + v_iᵀδ
    explicit:  y = W c + Σ_g Z_g u_g + e,    e_unit ~ N(0, S R(φ) S)

with the parameters, names and priors of the plain models (:mod:`hiermod.model`) plus φ and δ
(:mod:`hiermod.model.residual_parts`). The likelihood is one ``pm.Potential`` evaluated by the
kernel of :mod:`hiermod.longitudinal.kernel` (the numba Op, :mod:`.residual_op`) or by its
PyTensor twin (:mod:`.residual_graph`, every back end); the marginal model's group effects are
drawn afterwards from their exact conditional posterior (:mod:`.residual_draws`). With nutpie
the marginal model runs as a compiled callback (:mod:`.residual_callback`).
"""

from __future__ import annotations

import pymc as pm

from .. import names
from ..errors import SpecError
from ..longitudinal.layout import SerialData, serial_data
from ..model import BuiltModel, model_coords
from ..model.explicit import check_parameterization, linear_predictor
from ..model.parts import SIGMA, Recorder, factor_cholesky, factor_scales, fixed_part
from ..model.residual_parts import residual_coords, residual_parameters
from ..priors import resolve_priors
from .model import PATH_MARGINAL, marginal_obstacle
from .residual_graph import serial_loglik
from .residual_op import serial_loglik_op

#: the PyMC model's likelihood: the numba Op, or plain PyTensor (JAX)
SERIAL_IMPLEMENTATIONS = {"op": serial_loglik_op, "graph": serial_loglik}


def _coords(design, observations: bool) -> dict:
    return {**model_coords(design, observations=observations), **residual_coords(design)}


def assemble_residual_marginal_model(design, priors: dict | None = None,
                                     stats: SerialData | None = None,
                                     implementation: str = "op") -> BuiltModel:
    """The PyMC model with the group effects integrated out, and the record of its variables.

    Parameters
    ----------
    design : Design
        Gaussian, with ``design.residuals``, at most one grouping factor.
    priors : dict, optional
        Overrides of the default priors (:mod:`hiermod.priors`; ``"phi(t | g)"``,
        ``"sigma_log_ratio[...]"`` for the residual structure).
    stats : SerialData, optional
        The layout of :func:`hiermod.longitudinal.serial_data`.
    implementation : {"op", "graph"}

    Raises
    ------
    SpecError
        Several grouping factors, or an unknown implementation.
    """
    obstacle = marginal_obstacle(design)
    if obstacle is not None:
        raise SpecError(f"cannot integrate the group effects out: {obstacle}")
    if implementation not in SERIAL_IMPLEMENTATIONS:
        raise SpecError(f"unknown implementation '{implementation}'; choose one of "
                        f"{', '.join(SERIAL_IMPLEMENTATIONS)}")
    resolved = resolve_priors(design, priors)
    sd = serial_data(design) if stats is None else stats
    rec = Recorder()
    with pm.Model(coords=_coords(design, observations=False)) as model:
        _, c = fixed_part(design, resolved, rec)
        L = None
        for fd in design.factors:
            L = factor_cholesky(fd, factor_scales(fd, resolved, rec))
        sigma = resolved.sigma.create(names.SIGMA)
        rec.add(names.SIGMA, SIGMA, [resolved.sigma], shape=())
        phi, delta = residual_parameters(design, resolved, rec)
        theta = None if c is None else c - sd.offset
        loglik = SERIAL_IMPLEMENTATIONS[implementation]
        pm.Potential(names.MARGINAL_LOGLIK, loglik(sd, theta, L, sigma, phi, delta))
    return BuiltModel(model, rec.records)


def assemble_residual_explicit_model(design, priors: dict | None = None,
                                     parameterization: str = "noncentered") -> BuiltModel:
    """The PyMC model with explicit group effects (any number of grouping factors) and the
    residual likelihood in PyTensor (every back end)."""
    check_parameterization(parameterization)
    resolved = resolve_priors(design, priors)
    sd = serial_data(design, by_unit=True)
    rec = Recorder()
    with pm.Model(coords=_coords(design, observations=True)) as model:
        eta = linear_predictor(design, resolved, rec, parameterization)
        sigma = resolved.sigma.create(names.SIGMA)
        rec.add(names.SIGMA, SIGMA, [resolved.sigma], shape=())
        phi, delta = residual_parameters(design, resolved, rec)
        residual = (design.y - eta)[sd.order]
        pm.Potential(names.RESIDUAL_LOGLIK, serial_loglik(sd, None, None, sigma, phi, delta,
                                                          residual=residual))
    return BuiltModel(model, rec.records)


def residual_model(design, priors: dict | None, path: str, implementation: str = "op",
                   parameterization: str = "noncentered") -> BuiltModel:
    """The PyMC model of a fit's path (``"marginal"`` or ``"explicit"``)."""
    if path == PATH_MARGINAL:
        return assemble_residual_marginal_model(design, priors, implementation=implementation)
    return assemble_residual_explicit_model(design, priors, parameterization)
