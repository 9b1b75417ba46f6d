"""REML and ML fits of a gaussian Design (lme4's ``lmer``)."""

from __future__ import annotations

import numpy as np

from ..compiled.blas import blas_threads
from ..design import Design
from ..errors import SpecError
from .ddf import between_within_ddf, check_ddf, residual_ddf
from .kenward_roger import kenward_roger
from .linalg import large_system
from .optimize import check_convergence
from .pls import LmmProblem
from .result import GroupEffects, RemlFit, boundary_report, varcomps_from_theta
from .satterthwaite import satterthwaite

METHODS = ("REML", "ML")


def check_method(method: str, family: str) -> str:
    """Normalise ``method`` ('reml' -> 'REML') and check it suits the family."""
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise SpecError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    method = method.upper()
    if method == "REML" and family != "gaussian":
        raise SpecError(f"method='REML' needs a gaussian model; a {family} model is fitted by "
                        "maximum likelihood (Laplace approximation, as glmer): use method='ML'")
    return method


def split_effects(design: Design, problem: LmmProblem, blocked_mode: np.ndarray,
                  blocked_var: np.ndarray) -> tuple[GroupEffects, ...]:
    """Blocked (J, m) modes and conditional variances -> one GroupEffects per factor."""
    modes = problem.bz.split(blocked_mode)
    variances = problem.bz.split(blocked_var)
    return tuple(GroupEffects(fd.name, fd.levels, fd.terms, b, np.sqrt(np.maximum(v, 0.0)))
                 for fd, b, v in zip(design.factors, modes, variances, strict=True))


def fit_lmm(design: Design, method: str = "REML", start: np.ndarray | None = None,
            optimize: bool = True, ddf: str = "satterthwaite") -> RemlFit:
    """Fit a gaussian multilevel model by REML or ML, as lme4's ``lmer`` does.

    Parameters
    ----------
    design : Design
        From :func:`hiermod.make_design`, family "gaussian", at least one grouping factor.
    method : {"REML", "ML"}
    start : ndarray, optional
        Starting θ (lme4's order); by default T_g = I for every factor.
    optimize : bool, default True
        With False, evaluate everything at ``start`` without optimising (e.g. at another
        program's θ̂, to compare the downstream computations); the convergence check then
        reports whether ``start`` is an optimum.
    ddf : {"satterthwaite", "kenward-roger", "between-within", "residual"}
        Denominator df of the t and F tests of the fixed effects (``RemlFit.df``,
        :meth:`RemlFit.fixed_table`, :meth:`RemlFit.contrast`, :meth:`RemlFit.f_test`):
        Satterthwaite (lmerTest's default), Kenward–Roger (REML only; the SEs are then those
        of the adjusted covariance Φ_A, :mod:`hiermod.mle.kenward_roger`), the between–within
        count (one grouping factor) or n − p (:mod:`hiermod.mle.ddf`).

    Returns
    -------
    RemlFit

    Raises
    ------
    SpecError
        Non-gaussian design, unknown method, or a design without varying effects.

    Notes
    -----
    The profiled deviance (ML) or REML criterion of :class:`~hiermod.mle.pls.LmmProblem` is
    minimised over θ with the diagonal elements of each relative covariance factor bounded
    below by 0. Then σ̂² = r²/ν (ν = n − p for REML, n for ML), cov(β̂) = σ̂²(R_XᵀR_X)⁻¹, the
    conditional modes are b̂ = Λ_θû with conditional covariance σ̂²Λ_θ(L_θL_θᵀ)⁻¹Λ_θᵀ
    (β held at β̂, as lme4's ``condVar``), and the Satterthwaite df come from
    :func:`~hiermod.mle.satterthwaite.satterthwaite_df`.

    Examples
    --------
    >>> import hiermod as hm
    >>> from hiermod.mle import fit_lmm
    >>> d = hm.make_design(hm.parse_formula("Reaction ~ Days + (Days | Subject)"),
    ...                    hm.datasets.load("sleepstudy"))
    >>> round(fit_lmm(d).fixef["Days"], 3)
    10.467
    """
    if design.family != "gaussian":
        raise SpecError(f"fit_lmm fits gaussian models; this design is {design.family!r}: use "
                        "fit_glmm")
    method = check_method(method, design.family)
    if not design.factors:
        raise SpecError("the model has no varying effects (no '(... | group)' term): REML/ML "
                        "of a multilevel model needs at least one grouping factor")
    ddf = check_ddf(ddf, method)
    with blas_threads(large_system(design)):
        return _fit(design, method, start, optimize, ddf)


def _fit(design: Design, method: str, start: np.ndarray | None, optimize: bool,
         ddf: str) -> RemlFit:
    reml = method == "REML"
    problem = LmmProblem(design)
    tmap = problem.tmap
    if optimize:
        opt = problem.minimize(reml, start)
        theta, free, n_evals = opt.x, opt.free, opt.n_evals
    else:
        if start is None:
            raise SpecError("optimize=False needs the θ to evaluate at, as start")
        theta = np.asarray(start, float)
        free, n_evals = theta > tmap.lower, 0
    st = problem.solve(theta)
    sigma = float(np.sqrt(st.r2 / problem.nu(reml)))
    criterion = problem.profiled(st, reml)
    perturbed = problem.perturbed(theta)

    H = None
    if free.any():
        K = len(theta)
        H = np.zeros((K, K))
        for k, (h, sp, sm) in enumerate(perturbed):
            H[:, k] = (problem.gradient(sp, reml) - problem.gradient(sm, reml)) / (2 * h)
        H = 0.5 * (H + H.T)[np.ix_(free, free)]
    converged, message = check_convergence(problem.gradient(st, reml), H, free)
    inference = fixed_inference(ddf, problem, st, sigma, reml, perturbed)

    varcomps = varcomps_from_theta(design, tmap, theta, sigma)
    singular, boundary, why = boundary_report(design, tmap, theta, varcomps)
    ranef = split_effects(design, problem, problem.conditional_modes(st),
                          problem.conditional_cov(st, sigma**2))
    return RemlFit(
        method=method, family="gaussian", formula=design.spec.formula,
        fixed_terms=design.fixed_terms, beta=st.beta, vcov=sigma**2 * st.Sinv,
        df=inference.df(np.eye(problem.p)),
        sigma=sigma, theta=theta, varcomps=varcomps, ranef=ranef, loglik=-0.5 * criterion,
        criterion=criterion, n_obs=problem.n, n_params=problem.p + len(theta) + 1,
        converged=converged, convergence_message=message, singular=singular,
        boundary=boundary, singular_message=why, n_evals=n_evals + 2 * len(theta) + 1,
        design=design, inference=inference)


def fixed_inference(ddf: str, problem: LmmProblem, st, sigma: float, reml: bool, perturbed):
    """The covariance of β̂ and the df rule of the t / F tests, for the chosen ``ddf``."""
    if ddf == "kenward-roger":
        return kenward_roger(problem, st, sigma)
    if ddf == "satterthwaite":
        return satterthwaite(problem, st, sigma, reml, perturbed)
    vcov = sigma**2 * st.Sinv
    if ddf == "residual":
        return residual_ddf(problem.design, vcov)
    return between_within_ddf(problem.design, vcov)
