"""Design -> pm.Model with the group effects integrated out (gaussian, one grouping factor).

For one grouping factor with q varying terms and J groups,

    y_j ~ N(X_j β, V_j),     V_j = σ² I + Z_j Σ Z_jᵀ,     Σ = L Lᵀ,

where L = blockdiag_b( diag(sd_b) · chol(R_b) ) is the same Cholesky factor as in the usual
model (:mod:`hiermod.build.model`). NUTS then explores β, σ, the sds and the correlations only;
the group effects u_j are drawn afterwards from their exact conditional posterior
(:mod:`hiermod.conditional`) and stored as ``u_<g>``, as the usual model stores them.

Notes
-----
Write r_j = y_j − X_j β, c_j = Lᵀ Z_jᵀ r_j and

    A_j = I_q + Lᵀ Z_jᵀZ_j L / σ² = C_j C_jᵀ       (q × q, Cholesky factor C_j).

The matrix determinant lemma and the Woodbury identity give

    log|V_j|        = n_j log σ² + log|A_j| = n_j log σ² + 2 Σ_k log (C_j)_kk
    r_jᵀ V_j⁻¹ r_j  = ( r_jᵀ r_j − ‖C_j⁻¹ c_j‖² / σ² ) / σ²

so that

    log p(y | β, Σ, σ) = −½ [ n log 2π + n log σ² + Σ_j log|A_j|
                              + ( Σ_j r_jᵀr_j − Σ_j ‖C_j⁻¹ c_j‖² / σ² ) / σ² ].

Σ_j r_jᵀ r_j = yᵀy − 2 θᵀWᵀy + θᵀWᵀWθ and Z_jᵀ r_j = Z_jᵀy_j − Z_jᵀW_j θ need only the
sufficient statistics of :mod:`hiermod.build.suffstats` (θ is β re-expressed on centred
predictors), so one evaluation of the log-density and its gradient costs O(J q³ + J q p),
whatever the number of observations. Written in terms of L, not Σ⁻¹, the expression stays
finite as a group sd goes to zero (A_j → I).

Three implementations give the same value. With nutpie (the default sampler),
:mod:`hiermod.build.compiled_marginal` evaluates the whole log-density, priors and transforms
included, in one numba C callback cached on disk, so a fit compiles nothing. For the PyMC
model, ``implementation="op"`` (default) computes the likelihood and its hand-derived gradient
in one compiled loop over the groups (:mod:`hiermod.build.marginal_op`): a small graph, several
seconds quicker to compile than the graph version.
``implementation="graph"`` (:func:`marginal_loglik`) writes it in plain PyTensor operations,
so it runs on every back end, JAX / numpyro included: for q ≤ :data:`UNROLL_MAX` the q × q
Cholesky factorisations and triangular solves are written out entry by entry, each entry a
length-J vector (a few fused elementwise loops); larger q uses PyTensor's batched
``cholesky`` and ``solve_triangular``.

With several grouping factors (crossed or nested) the groups of one factor are coupled through
the other's effects, so the marginal density no longer splits group by group;
:func:`choose_model_path` then falls back to the usual model with explicit group effects.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .. import names
from ..errors import SpecError
from ..priors import resolve_priors
from .model import factor_scales, fixed_part, model_coords
from .suffstats import GroupStats, group_stats

#: the two ways to build a model; recorded in ``fit.idata.posterior.attrs["model_path"]``
PATH_MARGINAL = "marginal"
PATH_EXPLICIT = "explicit"
MODEL_PATHS = (PATH_MARGINAL, PATH_EXPLICIT)

#: largest number of varying terms whose q × q algebra is unrolled entry by entry
UNROLL_MAX = 6

#: how the log-likelihood is written: one compiled Op with a hand-written gradient
#: (:mod:`hiermod.build.marginal_op`; numba and PyMC back ends) or a plain PyTensor graph
#: (every back end, JAX included)
IMPLEMENTATIONS = ("op", "graph")

_LOG_2PI = float(np.log(2 * np.pi))


# --- small dense linear algebra on lists of entries (numpy arrays or PyTensor vectors) ---------


def chol_entries(A, sqrt):
    """Cholesky factor of a q × q SPD matrix given as nested lists of entries.

    ``A[i][j]`` (only i ≥ j is read) may be a scalar, a numpy array or a PyTensor tensor; all
    entries share a batch shape and every operation is elementwise over it. Returns C (lower,
    ``C[i][j]`` for j ≤ i) with A = C Cᵀ.
    """
    q = len(A)
    C = [[None] * q for _ in range(q)]
    for j in range(q):
        s = A[j][j]
        for k in range(j):
            s = s - C[j][k] * C[j][k]
        C[j][j] = sqrt(s)
        for i in range(j + 1, q):
            s = A[i][j]
            for k in range(j):
                s = s - C[i][k] * C[j][k]
            C[i][j] = s / C[j][j]
    return C


def forward_entries(C, b):
    """Solve C x = b (C lower triangular, entry lists as in :func:`chol_entries`)."""
    x = []
    for i in range(len(b)):
        s = b[i]
        for k in range(i):
            s = s - C[i][k] * x[k]
        x.append(s / C[i][i])
    return x


def backward_entries(C, b):
    """Solve Cᵀ x = b (C lower triangular)."""
    q = len(b)
    x = [None] * q
    for i in reversed(range(q)):
        s = b[i]
        for k in range(i + 1, q):
            s = s - C[k][i] * x[k]
        x[i] = s / C[i][i]
    return x


# --- the log-density ------------------------------------------------------------------------


def marginal_loglik(stats: GroupStats, theta, L, sigma):
    """log p(y | β, Σ = L Lᵀ, σ) with the group effects integrated out (PyTensor).

    Parameters
    ----------
    stats : GroupStats
    theta : PyTensor vector (p,) or None
        Fixed effects on the centred predictors (``stats.centred(beta)``); None when the model
        has no fixed effects.
    L : PyTensor matrix (q, q)
        Any square root of Σ (L Lᵀ = Σ), e.g. the model's block-diagonal Cholesky factor.
    sigma : PyTensor scalar
        Residual sd.

    Returns
    -------
    PyTensor scalar
        The log-likelihood summed over all groups (see the module's Notes).
    """
    q = stats.q
    s2 = sigma * sigma
    L = pt.as_tensor_variable(L)
    ZtZ = pt.as_tensor_variable(stats.ZtZ)
    if theta is None or stats.p == 0:
        d = pt.as_tensor_variable(stats.Zty)
        rss = pt.as_tensor_variable(stats.yty)
    else:
        theta = pt.as_tensor_variable(theta)
        d = stats.Zty - pt.tensordot(pt.as_tensor_variable(stats.ZtW), theta, axes=[[2], [0]])
        rss = stats.yty - 2.0 * pt.dot(stats.Wty, theta) + pt.dot(theta, pt.dot(stats.WtW, theta))
    SL = pt.tensordot(ZtZ, L, axes=[[2], [0]])  # (J, q, q): Z'Z L
    M = pt.tensordot(SL, L, axes=[[1], [0]])  # (J, q, q): M[j, b, a] = (Lᵀ Z'Z L)[a, b]
    c = pt.dot(d, L)  # (J, q): Lᵀ Z'r per group
    if q <= UNROLL_MAX:
        A = [[M[:, i, j] / s2 + (1.0 if i == j else 0.0) for j in range(q)] for i in range(q)]
        C = chol_entries(A, pt.sqrt)
        g = forward_entries(C, [c[:, i] for i in range(q)])
        logdet = 2.0 * sum(pt.sum(pt.log(C[i][i])) for i in range(q))
        reduction = sum(pt.sum(gi * gi) for gi in g)
    else:
        A = M / s2 + pt.eye(q)
        C = pt.linalg.cholesky(A)
        g = pt.linalg.solve_triangular(C, c[..., None], lower=True)[..., 0]
        logdet = 2.0 * pt.sum(pt.log(pt.diagonal(C, axis1=-2, axis2=-1)))
        reduction = pt.sum(g * g)
    n = stats.n
    return -0.5 * (n * _LOG_2PI + n * pt.log(s2) + logdet + (rss - reduction / s2) / s2)


def factor_cholesky(fd, chols):
    """The q × q block-diagonal factor L from the per-block factors of
    :func:`hiermod.build.model.factor_scales` (L = blockdiag_b( diag(sd_b) · chol(R_b) ))."""
    L = pt.zeros((fd.q, fd.q))
    for block, Lb in chols:
        L = pt.set_subtensor(L[np.ix_(block, block)], Lb)
    return L


# --- which model to build -------------------------------------------------------------------


def marginal_obstacle(design) -> str | None:
    """Why the group effects of ``design`` cannot be integrated out (None when they can)."""
    if design.family != "gaussian":
        return f"the {design.family} family has no closed-form marginal likelihood"
    if design.spec.link not in (None, "identity"):
        return f"the link '{design.spec.link}' is not the identity"
    if len(design.factors) != 1:
        return (f"the model has {len(design.factors)} grouping factors "
                f"({', '.join(f.name for f in design.factors)}); only one can be integrated out "
                "group by group")
    return None


def choose_model_path(design, marginalize: bool | None) -> str:
    """``"marginal"`` or ``"explicit"``.

    ``marginalize=None`` (auto) integrates the group effects out wherever that is exact
    (gaussian outcome, identity link, one grouping factor — any number of varying terms,
    correlated or not, level-2 predictors, cross-level interactions); otherwise the usual model
    with explicit group effects is built. ``True`` insists and raises a SpecError where it
    cannot; ``False`` always builds the usual model.
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


def build_marginal_model(design, priors: dict | None = None, stats: GroupStats | None = None,
                         implementation: str = "op"):
    """Assemble the PyMC model of a gaussian Design with its group effects integrated out.

    The parameters, their names and their priors are those of
    :func:`hiermod.build.build_model` (``beta``, ``sigma``, ``sd_<g>``, ``corr_<g>`` and the
    sampled internals: ``Intercept_centered``, ``b`` and the group sds and correlation
    Cholesky factors made by :func:`hiermod.build.model.factor_scales`); the likelihood is one
    ``pm.Potential`` over the sufficient statistics (see the module's Notes), so the model runs
    on every PyMC sampler back end. It has no ``u_<g>``: draw them with
    :func:`hiermod.conditional.draw_group_effects`.

    Parameters
    ----------
    design : Design
        Gaussian, identity link, one grouping factor.
    priors : dict, optional
        Overrides of the default priors (see :mod:`hiermod.priors`).
    stats : GroupStats, optional
        Precomputed :func:`~hiermod.build.suffstats.group_stats` of the design.
    implementation : {"op", "graph"}
        ``"op"`` (default): the log-likelihood and its gradient in one compiled Op
        (:mod:`hiermod.build.marginal_op`), quicker to compile for nutpie and PyMC's NUTS;
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
    obstacle = marginal_obstacle(design)
    if obstacle is not None:
        raise SpecError(f"cannot integrate the group effects out: {obstacle}")
    if implementation not in IMPLEMENTATIONS:
        raise SpecError(f"unknown implementation '{implementation}'; choose one of "
                        f"{', '.join(IMPLEMENTATIONS)}")
    if implementation == "op":
        from .marginal_op import marginal_loglik_op as loglik
    else:
        loglik = marginal_loglik
    resolved = resolve_priors(design, priors)
    (fd,) = design.factors
    stats = group_stats(design, fd) if stats is None else stats
    with pm.Model(coords=model_coords(design, observations=False)) as model:
        beta, _ = fixed_part(design, resolved, linear_predictor=False)
        L = factor_cholesky(fd, factor_scales(fd, resolved))
        sigma = resolved[names.SIGMA].create(names.SIGMA)
        theta = None if beta is None else stats.centred(beta)
        pm.Potential(names.MARGINAL_LOGLIK, loglik(stats, theta, L, sigma))
    return model
