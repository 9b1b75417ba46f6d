"""Fit a binomial, bernoulli or poisson multilevel model by Laplace ML (lme4's ``glmer``)."""

from __future__ import annotations

import numpy as np

from ..compiled.blas import blas_threads
from ..design import Design
from ..errors import SpecError
from .glmm import GlmmProblem, conditional_modes, conditional_var, glm_start
from .linalg import large_system
from .lme4_laplace import Lme4Laplace
from .lmm import check_method, split_effects
from .optimize import check_convergence, fd_hessian, minimize_bounded
from .result import RemlFit, boundary_report, varcomps_from_theta

SE_METHODS = ("exact", "lme4")


def fit_glmm(design: Design, method: str = "ML", start: np.ndarray | None = None,
             se: str = "exact") -> RemlFit:
    """Fit a binomial, bernoulli or poisson multilevel model by Laplace ML, as ``glmer``.

    Parameters
    ----------
    design : Design
        From :func:`hiermod.make_design`, with at least one grouping factor.
    method : {"ML"}
        Only maximum likelihood exists for these families ("REML" raises).
    start : ndarray, optional
        Starting (θ, β); by default T_g = I and β of the GLM without varying effects.
    se : {"exact", "lme4"}
        "exact" (default): vcov(β̂) from the Hessian of the exact Laplace deviance. "lme4":
        from the Hessian of the deviance as glmer evaluates it (early-stopped PIRLS, see
        :mod:`hiermod.mle.lme4_laplace`), which reproduces glmer's reported SEs; they differ
        from the exact ones by up to ~1%. Estimates are the same either way.

    Returns
    -------
    RemlFit
        ``method`` is "Laplace"; ``sigma`` and ``df`` are None (Wald z tests).

    Raises
    ------
    SpecError
        A gaussian design (use :func:`fit_lmm`), method="REML", a non-canonical link.

    Notes
    -----
    θ and β are optimised jointly on the Laplace deviance of :class:`GlmmProblem` (glmer's
    second stage) by a projected Newton method with the analytic gradient. As glmer, the
    covariance of β̂ is the β block of 2H⁻¹, H the Hessian of the deviance in (θ, β)
    (differenced from the gradient), and the conditional SEs of the group effects are the
    square roots of the diagonal of Λ_θ(L_θL_θᵀ)⁻¹Λ_θᵀ at the conditional modes.
    """
    if design.family == "gaussian":
        raise SpecError("fit_glmm fits binomial, bernoulli and poisson models; for a gaussian "
                        "design use fit_lmm")
    if se not in SE_METHODS:
        raise SpecError(f"unknown se={se!r}; choose one of {', '.join(SE_METHODS)}")
    check_method(method, design.family)
    if not design.factors:
        raise SpecError("the model has no varying effects (no '(... | group)' term)")
    with blas_threads(large_system(design)):
        return _fit(design, method, start, se)


def _fit(design: Design, method: str, start: np.ndarray | None, se: str) -> RemlFit:
    problem = GlmmProblem(design)
    tmap, K = problem.tmap, problem.n_theta
    if start is None:
        x0 = np.concatenate([tmap.start(), glm_start(problem)])
    else:
        x0 = np.asarray(start, float)
    lower = np.concatenate([tmap.lower, np.full(problem.p, -np.inf)])
    probe = np.concatenate([tmap.is_diagonal, np.zeros(problem.p, bool)])
    opt = minimize_bounded(problem.deviance_and_grad, x0, lower, probe=probe, check=False)
    x = opt.x
    free = opt.free

    def grad(z):
        return problem.deviance_and_grad(z)[1]

    H = fd_hessian(grad, x, free)
    ps = problem.pirls(*problem.split(x))
    g = problem.gradient(ps)
    converged, message = check_convergence(g, H, free)
    if se == "lme4":
        Hinv = np.linalg.inv(Lme4Laplace(problem).hessian(x))
    else:
        Hinv = np.linalg.inv(H)
    nb = problem.p
    vcov = 2.0 * Hinv[-nb:, -nb:]
    vcov = 0.5 * (vcov + vcov.T)

    theta, beta = problem.split(x)
    varcomps = varcomps_from_theta(design, tmap, theta, 1.0)
    singular, boundary, why = boundary_report(design, tmap, theta, varcomps)
    ranef = split_effects(design, problem, conditional_modes(problem, ps),
                          conditional_var(problem, ps))
    return RemlFit(
        method="Laplace", family=design.family, formula=design.spec.formula,
        fixed_terms=design.fixed_terms, beta=beta, vcov=vcov, df=None, sigma=None,
        theta=theta, varcomps=varcomps, ranef=ranef, loglik=-0.5 * ps.deviance,
        criterion=ps.deviance, n_obs=problem.n, n_params=problem.p + K, converged=converged,
        convergence_message=message, singular=singular, boundary=boundary,
        singular_message=why, n_evals=opt.n_evals + 2 * int(free.sum()) + 1, design=design,
        se_method=se)
