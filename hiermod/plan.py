"""Which model a fit builds and how its log-density is evaluated: the plan of ``hm.fit``.

=========  =====================================================  ==============================
path       when                                                   the model
=========  =====================================================  ==============================
marginal   gaussian (default where exact)                         group effects integrated out
                                                                  (:mod:`hiermod.marginal`)
cells      bernoulli, binomial, poisson                           rows summed into cells,
                                                                  group effects in the adaptive
                                                                  parameterization by default
                                                                  (:mod:`hiermod.model.cellwise`)
explicit   any other model, or ``marginalize=False`` (gaussian)   explicit group effects,
                                                                  non-centred by default
=========  =====================================================  ==============================

A gaussian design with a residual structure (``correlation=`` / ``sigma=``) takes the
marginal path with one grouping factor or none, over the O(n) kernel of
:mod:`hiermod.longitudinal` (:mod:`hiermod.marginal.residual_model`), else the explicit one.

With nutpie, the marginal and the cells models run as hiermod's own disk-cached compiled
callbacks (no PyTensor compile per fit); with PyMC's NUTS or numpyro, as the PyMC models.
"""

from __future__ import annotations

from dataclasses import dataclass

from .design import SummaryDesign, aggregate, can_aggregate
from .errors import SpecError
from .glmm import CompiledCells
from .glmm.callback import COMPILED_PARAMETERIZATIONS
from .longitudinal import serial_data
from .marginal import (
    PATH_EXPLICIT,
    PATH_MARGINAL,
    assemble_marginal_model,
    choose_model_path,
    marginal_stats,
)
from .marginal.callback import CompiledMarginal
from .marginal.crossed_callback import CompiledCrossed
from .marginal.crossed_stats import CrossedStats
from .marginal.residual_callback import CompiledSerialMarginal
from .marginal.residual_model import (
    assemble_residual_explicit_model,
    assemble_residual_marginal_model,
)
from .model import BuiltModel, assemble_model
from .model.cellwise import CELL_PARAMETERIZATIONS, assemble_cell_model
from .model.pilot import cell_data, pilot

PATH_CELLS = "cells"
#: the ``parameterization=`` choices; "auto" picks per path (see :func:`resolve_parameterization`)
PARAMETERIZATION_CHOICES = ("auto", *CELL_PARAMETERIZATIONS)
#: the parameterization recorded for a model without explicit group effects
INTEGRATED = "integrated"
#: what a design summed partition by partition (Dask data) can be fitted by
PARTITIONED_PATHS = (
    "data summed partition by partition (a Dask DataFrame) are fitted on the exact paths "
    "only, which need sums over the rows and not the rows: gaussian models with any number of "
    "grouping factors (group effects integrated out; leave marginalize=None) and bernoulli, "
    "binomial and poisson models (rows summed into cells). The explicit model needs every row "
    "in memory: fit it on a pandas DataFrame (e.g. a sample, ddf.sample(frac=...).compute())")


@dataclass(frozen=True, eq=False)
class Plan:
    """The built model and how it runs: ``path``, the resolved ``parameterization``, the
    ``implementation`` of the log-density ("compiled" callback, "op" / "graph" for the marginal
    PyMC model, "pytensor" for the others), and the pieces the fit needs afterwards."""

    path: str
    parameterization: str
    implementation: str
    built: BuiltModel
    compiled: object = None
    stats: object = None
    n_cells: int | None = None


def check_choice(parameterization: str) -> str:
    if parameterization not in PARAMETERIZATION_CHOICES:
        raise SpecError(f"unknown parameterization {parameterization!r}; choose one of "
                        f"{', '.join(PARAMETERIZATION_CHOICES)}")
    return parameterization


def choose_path(design, marginalize: bool | None) -> str:
    """``marginal``, ``cells`` or ``explicit`` (see the module docstring)."""
    path = choose_model_path(design, marginalize)
    if path == PATH_EXPLICIT and can_aggregate(design) and design.factors:
        return PATH_CELLS
    return path


def resolve_parameterization(path: str, parameterization: str) -> str:
    """The parameterization a path uses for ``parameterization`` ("auto": adaptive on cells,
    non-centred on the explicit model; the marginal path has no group effects to write)."""
    check_choice(parameterization)
    if path == PATH_MARGINAL:
        return INTEGRATED
    if parameterization == "auto":
        return "adaptive" if path == PATH_CELLS else "noncentered"
    if parameterization == "adaptive" and path != PATH_CELLS:
        raise SpecError("parameterization='adaptive' is for bernoulli, binomial and poisson "
                        "models (their rows aggregate into cells); use 'noncentered' or "
                        "'centered' for this model")
    return parameterization


def make_plan(design, priors: dict | None, parameterization: str, marginalize: bool | None,
              sampler: str) -> Plan:
    """Build the model of ``design`` for ``sampler`` (see the module docstring)."""
    check_choice(parameterization)
    path = choose_path(design, marginalize)
    if path == PATH_EXPLICIT and isinstance(design, SummaryDesign):
        raise SpecError(PARTITIONED_PATHS)
    how = resolve_parameterization(path, parameterization)
    if getattr(design, "residuals", None) is not None:
        return residual_plan(design, priors, path, how, sampler)
    if path == PATH_MARGINAL:
        stats = marginal_stats(design)
        pymc_face = "graph" if sampler == "numpyro" else "op"
        built = assemble_marginal_model(design, priors, stats=stats, implementation=pymc_face)
        if sampler == "nutpie":
            compiled = (CompiledCrossed(built, stats, design) if isinstance(stats, CrossedStats)
                        else CompiledMarginal(built, stats))
            return Plan(path, how, "compiled", built, compiled, stats)
        return Plan(path, how, pymc_face, built, stats=stats)
    if path == PATH_CELLS:
        cells = aggregate(design)
        data = cell_data(cells, design)
        constants = pilot(data) if how == "adaptive" else None
        built = assemble_cell_model(design, data, constants, priors, how)
        if sampler == "nutpie" and how in COMPILED_PARAMETERIZATIONS:
            compiled = CompiledCells(built, data, constants, design, how)
            return Plan(path, how, "compiled", built, compiled, n_cells=cells.n_cells)
        return Plan(path, how, "pytensor", built, n_cells=cells.n_cells)
    return Plan(path, how, "pytensor", assemble_model(design, priors, how))


def residual_plan(design, priors: dict | None, path: str, how: str, sampler: str) -> Plan:
    """:func:`make_plan` for a design with a residual structure (marginal or explicit)."""
    if path == PATH_MARGINAL:
        stats = serial_data(design)
        pymc_face = "graph" if sampler == "numpyro" else "op"
        built = assemble_residual_marginal_model(design, priors, stats=stats,
                                                 implementation=pymc_face)
        if sampler == "nutpie":
            return Plan(path, how, "compiled", built, CompiledSerialMarginal(built, stats), stats)
        return Plan(path, how, pymc_face, built, stats=stats)
    return Plan(path, how, "pytensor", assemble_residual_explicit_model(design, priors, how))
