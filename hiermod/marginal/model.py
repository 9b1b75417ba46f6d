"""Design -> pm.Model with the group effects integrated out (gaussian, one grouping factor).

    y_j ~ N(W_j c, V_j),     V_j = σ² I + Z_j Σ Z_jᵀ,     Σ = L Lᵀ,

where L = blockdiag_b( diag(sd_b) · chol(R_b) ) is the same Cholesky factor as in the model
with explicit group effects (:mod:`hiermod.model`). NUTS then explores β, σ, the sds and the
correlations only; the group effects u_j are drawn afterwards from their exact conditional
posterior (:mod:`.draws`) and stored as ``u_<g>``, as the explicit model stores them.

The likelihood is one ``pm.Potential`` over the sufficient statistics (:mod:`.suffstats`), so
an evaluation costs O(J q³ + J q p) whatever the number of observations. It has three faces,
all held equal by the tests: the numba Op (:mod:`.op`, PyMC's NUTS), the PyTensor graph
(:mod:`.graph`, JAX / numpyro) and, with nutpie, the compiled callback (:mod:`.callback`) that
evaluates the whole log-density without compiling a PyTensor graph.

With several grouping factors (crossed or nested) the groups of one factor are coupled through
the others' effects: the density is then factorised by blocks, the factor with the most
effects block-diagonal and a dense Schur complement for the rest
(:mod:`.crossed_kernel`), still at a cost independent of the number of rows.
"""

from __future__ import annotations

import pymc as pm

from .. import names
from ..design import SummaryDesign
from ..errors import SpecError
from ..model import BuiltModel
from ..model.parts import SIGMA, Recorder, factor_cholesky, factor_scales, fixed_part, model_coords
from ..priors import resolve_priors
from .crossed_faces import crossed_loglik_graph, crossed_loglik_op
from .crossed_stats import CrossedStats, crossed_stats
from .graph import marginal_loglik
from .op import marginal_loglik_op
from .suffstats import GroupStats, group_stats

#: the two ways to build a model; recorded in ``fit.idata.posterior.attrs["model_path"]``
PATH_MARGINAL = "marginal"
PATH_EXPLICIT = "explicit"
MODEL_PATHS = (PATH_MARGINAL, PATH_EXPLICIT)

#: how the PyMC model writes the likelihood: the numba Op (numba and PyMC back ends) or a plain
#: PyTensor graph (every back end, JAX included); one grouping factor, then several
IMPLEMENTATIONS = {"op": (marginal_loglik_op, crossed_loglik_op),
                   "graph": (marginal_loglik, crossed_loglik_graph)}


def marginal_obstacle(design) -> str | None:
    """Why the group effects of ``design`` cannot be integrated out (None when they can).

    With a residual structure (:mod:`.residual_model`) one grouping factor or none can be.
    """
    if design.family != "gaussian":
        return f"the {design.family} family has no closed-form marginal likelihood"
    if getattr(design, "residuals", None) is not None:
        return None if len(design.factors) <= 1 else (
            f"the model has {len(design.factors)} grouping factors "
            f"({', '.join(f.name for f in design.factors)}); with a residual structure one "
            "can be integrated out")
    if not design.factors:
        return "the model has no grouping factor"
    return None


def choose_model_path(design, marginalize: bool | None) -> str:
    """``"marginal"`` or ``"explicit"``.

    ``marginalize=None`` (auto) integrates the group effects out wherever that is exact
    (gaussian outcome, any number of grouping factors — crossed or nested — and of varying
    terms, correlated or not, level-2 predictors, cross-level interactions); otherwise the
    model with explicit group effects is built. ``True`` insists and raises a SpecError where it cannot; ``False``
    always builds the explicit model.
    """
    if marginalize is not None and not isinstance(marginalize, bool):
        raise SpecError(f"marginalize must be True, False or None (auto), got {marginalize!r}")
    if marginalize is False:
        return PATH_EXPLICIT
    obstacle = marginal_obstacle(design)
    if obstacle is None:
        return PATH_MARGINAL
    if marginalize:
        raise SpecError(f"marginalize=True: cannot integrate the group effects out: {obstacle}. "
                        "Use marginalize=None (auto) or False for the usual model")
    return PATH_EXPLICIT


def marginal_stats(design) -> GroupStats | CrossedStats:
    """The sufficient statistics of a gaussian design: per group with one grouping factor,
    with the cross-products of the factors with several (a design summed partition by
    partition carries its own)."""
    if isinstance(design, SummaryDesign):
        return design.stats
    return group_stats(design) if len(design.factors) == 1 else crossed_stats(design)


def assemble_marginal_model(design, priors: dict | None = None,
                            stats: GroupStats | CrossedStats | None = None,
                            implementation: str = "op") -> BuiltModel:
    """:func:`build_marginal_model` with the record of its free variables."""
    if getattr(design, "residuals", None) is not None:
        raise SpecError("the design has a residual structure (correlation= / sigma=): its "
                        "models are built by hiermod.marginal.residual_model (hm.fit does so)")
    obstacle = marginal_obstacle(design)
    if obstacle is not None:
        raise SpecError(f"cannot integrate the group effects out: {obstacle}")
    if implementation not in IMPLEMENTATIONS:
        raise SpecError(f"unknown implementation '{implementation}'; choose one of "
                        f"{', '.join(IMPLEMENTATIONS)}")
    one, several = IMPLEMENTATIONS[implementation]
    resolved = resolve_priors(design, priors)
    stats = marginal_stats(design) if stats is None else stats
    rec = Recorder()
    with pm.Model(coords=model_coords(design, observations=False)) as model:
        _, c = fixed_part(design, resolved, rec)
        Ls = [factor_cholesky(fd, factor_scales(fd, resolved, rec)) for fd in design.factors]
        sigma = resolved.sigma.create(names.SIGMA)
        rec.add(names.SIGMA, SIGMA, [resolved.sigma], shape=())
        theta = None if c is None else c - stats.offset
        if isinstance(stats, CrossedStats):
            loglik = several(stats, theta, Ls[stats.order[0]], [Ls[g] for g in stats.order[1:]],
                             sigma)
        else:
            loglik = one(stats, theta, Ls[0], sigma)
        pm.Potential(names.MARGINAL_LOGLIK, loglik)
    return BuiltModel(model, rec.records)


def build_marginal_model(design, priors: dict | None = None, stats: GroupStats | None = None,
                         implementation: str = "op"):
    """Assemble the PyMC model of a gaussian Design with its group effects integrated out.

    The parameters, their names and their priors are those of :func:`hiermod.build_model`
    (``beta``, ``sigma``, ``sd_<g>``, ``corr_<g>`` and the sampled internals); the likelihood
    is one ``pm.Potential`` over the sufficient statistics (see the module docstring). It has
    no ``u_<g>``: draw them with :func:`hiermod.marginal.draws.draw_group_effects`.

    Parameters
    ----------
    design : Design
        Gaussian, one or more grouping factors.
    priors : dict, optional
        Overrides of the default priors (see :mod:`hiermod.priors`).
    stats : GroupStats or CrossedStats, optional
        Precomputed :func:`marginal_stats` of the design.
    implementation : {"op", "graph"}
        ``"op"`` (default): the numba Op, quicker to compile for nutpie and PyMC's NUTS;
        ``"graph"``: plain PyTensor operations, for back ends without numba (JAX / numpyro).
        Both give the same value to rounding.

    Returns
    -------
    pymc.Model

    Raises
    ------
    SpecError
        If the design cannot be marginalized (the message says why).
    """
    return assemble_marginal_model(design, priors, stats, implementation).model
