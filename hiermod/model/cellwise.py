"""Design -> pm.Model for binomial, bernoulli and poisson models, on the design's cells.

The likelihood runs over the cells of :func:`hiermod.design.aggregate` (exact: the same
posterior as the row-level model), and the group effects are written in the adaptive
parameterization (:mod:`hiermod.model.adaptive`) by default, or non-centred / centred on
request. Variables, names, dims and priors are those of the explicit model
(:mod:`hiermod.model.explicit`): ``beta``, ``sd_<g>``, ``corr_<g>``, ``u_<g>`` as
Deterministics, so every report reads the posterior the same way.
"""

from __future__ import annotations

import pymc as pm
import pytensor.tensor as pt

from .. import names
from ..families import get_family
from ..priors import resolve_priors
from .adaptive import adaptive_effects
from .explicit import BuiltModel, check_parameterization, group_effects
from .parts import Recorder, factor_scales, fixed_part, model_coords
from .pilot import CellData, Pilot

#: how the group effects of a model over cells can be written
CELL_PARAMETERIZATIONS = ("adaptive", "noncentered", "centered")


def assemble_cell_model(design, data: CellData, pilot: Pilot | None, priors: dict | None = None,
                        parameterization: str = "adaptive") -> BuiltModel:
    """The PyMC model of a binomial / bernoulli / poisson design over its cells.

    Parameters
    ----------
    design : Design
        The row-level design (its factors' levels and terms name the variables).
    data : CellData
        The cells (:func:`hiermod.model.pilot.cell_data`).
    pilot : Pilot
        The constants of the adaptive parameterization (needed for it only).
    priors : dict, optional
    parameterization : {"adaptive", "noncentered", "centered"}
    """
    if parameterization != "adaptive":
        check_parameterization(parameterization)
    resolved = resolve_priors(design, priors)
    rec = Recorder()
    coords = {**model_coords(design, observations=False),
              names.CELL_DIM: list(range(len(data.y)))}
    with pm.Model(coords=coords) as model:
        _, c = fixed_part(design, resolved, rec)
        eta = pt.dot(data.W, c) if c is not None else pt.zeros(len(data.y))
        corrections = []
        for g, fd in enumerate(design.factors):
            chols = factor_scales(fd, resolved, rec)
            if parameterization == "adaptive":
                u, corr = adaptive_effects(fd, chols, c, pilot.P[g], pilot.G[g], pilot.b0[g],
                                           rec)
                corrections.append(corr)
            else:
                u = group_effects(fd, chols, parameterization, rec)
            eta = eta + pt.sum(data.Z[g] * u[data.index[g]], axis=1)
        if corrections:
            pm.Potential(names.ADAPTIVE_JACOBIAN, sum(corrections))
        get_family(data.family).likelihood(names.OUTCOME, eta + data.offset, data.y,
                                           trials=data.trials, dims=names.CELL_DIM)
    return BuiltModel(model, rec.records)
