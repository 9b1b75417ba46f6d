"""The free variables of a residual structure, shared by every PyMC model that has one.

    φ ~ Beta on (0, 1) (car1, cs)  or  (φ + 1)/2 ~ Beta, φ = 2·phi_unit − 1 (ar1, φ in (−1, 1))
    δ_k ~ Normal(0, s_k)           log σ_i = log σ + v_iᵀδ    (:mod:`hiermod.design.residuals`)

Each is recorded (roles ``phi`` and ``sigma_coef``) for the compiled callbacks' layout.
"""

from __future__ import annotations

import pymc as pm
import pytensor.tensor as pt

from .. import names
from .parts import PHI, SIGMA_COEF, Recorder


def residual_coords(design) -> dict[str, list]:
    """The coordinates of δ (``sigma_term``), empty without a model of the residual sd."""
    res = design.residuals
    return {names.SIGMA_DIM: list(res.sigma_terms)} if res is not None and res.r else {}


def residual_parameters(design, priors, rec: Recorder):
    """(φ, δ) as PyTensor variables (0.0 and an empty vector when absent), created in the
    current model context with the priors of ``priors`` (:class:`hiermod.priors.Priors`)."""
    res = design.residuals
    phi = pt.constant(0.0)
    if res.has_correlation:
        _, prior = priors.phi
        if res.kind == "ar1":
            raw = prior.create(names.RESIDUAL_CORR_UNIT)
            rec.add(names.RESIDUAL_CORR_UNIT, PHI, [prior], shape=())
            phi = pm.Deterministic(names.RESIDUAL_CORR, 2.0 * raw - 1.0)
        else:
            phi = prior.create(names.RESIDUAL_CORR)
            rec.add(names.RESIDUAL_CORR, PHI, [prior], shape=())
    if not res.r:
        return phi, pt.zeros(0)
    ps = [priors.sigma_effects[t] for t in res.sigma_terms]
    if len({p.dist for p in ps}) == 1:
        kw = {k: [p.kwargs[k] for p in ps] for k in ps[0].kwargs}
        delta = getattr(pm, ps[0].dist)(names.SIGMA_EFFECTS, **kw, dims=names.SIGMA_DIM)
        rec.add(names.SIGMA_EFFECTS, SIGMA_COEF, ps, index=range(res.r))
        return phi, delta
    singles = []
    for k, (term, p) in enumerate(zip(res.sigma_terms, ps, strict=True)):
        name = names.sigma_effect_term(term)
        singles.append(p.create(name))
        rec.add(name, SIGMA_COEF, [p], index=[k], shape=())
    delta = pm.Deterministic(names.SIGMA_EFFECTS, pt.stack(singles), dims=names.SIGMA_DIM)
    return phi, delta
