"""Maximum likelihood for binomial, bernoulli and poisson multilevel models by the Laplace
approximation (lme4's ``glmer`` with nAGQ = 1)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..design import Design
from ..errors import SpecError
from .glm_family import EtaStats, GlmFamily, glm_family
from .layout import BlockedZ, make_theta_map
from .lmm import check_method, split_effects
from .optimize import check_convergence, fd_hessian, minimize_bounded
from .pls import inverse_logdet
from .result import RemlFit, boundary_report, varcomps_from_theta


@dataclass(frozen=True, eq=False)
class PirlsState:
    """The conditional mode u* at (θ, β) and what the Laplace deviance needs there."""

    u: np.ndarray
    eta: np.ndarray
    stats: EtaStats
    lam: np.ndarray
    Ainv: np.ndarray
    LZWZ: np.ndarray
    logdetA: float
    deviance: float


class GlmmProblem:
    """Laplace deviance of a GLMM as a function of (θ, β), with its analytic gradient.

    Parameters
    ----------
    design : Design
        Family binomial, bernoulli or poisson, at least one grouping factor.

    Notes
    -----
    With b = Λ_θu, u ~ N(0, I), η = Xβ + ZΛ_θu and ℓ(η) the conditional log-likelihood, PIRLS
    finds u* = argmin_u −2ℓ(η) + ‖u‖² by Newton steps (A δ = Λ'Z's − u with the score s and
    A = Λ'Z'WZΛ + I, W the Fisher weights; step halving). The Laplace approximation to −2 log
    of the marginal likelihood is (Bates et al. 2015, glmer with nAGQ = 1)

    .. math::  D(θ, β) = −2ℓ(η^*) + ‖u^*‖² + \\log|A(η^*)|.

    For canonical links ∂s/∂η = −W, and the implicit-function theorem gives the gradient
    (v = W'∘h, h_i = z_iᵀΛA⁻¹Λᵀz_i the leverages, W' = ∂W/∂η, c = A⁻¹Λ'Z'v):

    .. math::

        ∂D/∂β = −2X's + X'(v − W∘ZΛc),\\qquad
        ∂D/∂θ_k = \\mathrm{tr}\\big(E_k^T[−2\\,Z's\\,u^T + 2\\,(A^{-1}Λ'Z'WZ)^T
                 + Z'(v − W∘ZΛc)\\,u^T + Z's\\,c^T]\\big),

    with Λ = Σ θ_k E_k and the outer products summed over blocks.
    """

    def __init__(self, design: Design) -> None:
        self.design = design
        self.family: GlmFamily = glm_family(design)
        self.X = design.X
        self.n, self.p = design.X.shape
        self.bz = BlockedZ.from_factors(design.factors, self.n)
        self.tmap = make_theta_map(design, self.bz)
        self.const = self.family.constant()
        self._eye = np.eye(self.bz.m)
        self._u = np.zeros((self.bz.J, self.bz.m))

    @property
    def n_theta(self) -> int:
        return self.tmap.n_theta

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        K = self.n_theta
        return x[:K], x[K:]

    # --- PIRLS --------------------------------------------------------------------------------

    def _pdev(self, eta: np.ndarray, u: np.ndarray) -> float:
        return -2.0 * self.family.loglik(eta) + float(np.sum(u * u))

    def pirls(self, theta: np.ndarray, beta: np.ndarray, u0: np.ndarray | None = None,
              tol: float = 1e-7, max_iter: int = 100) -> PirlsState:
        """Conditional modes u* at (θ, β) by penalized iteratively reweighted least squares.

        Newton steps with step halving, from ``u0`` (default: the last modes found). Stops
        after a full step smaller than ``tol``·(1 + max|u|): Newton's quadratic convergence then
        leaves an error of order tol², far below what the deviance and its gradient resolve.
        """
        lam = self.tmap.lam(theta)
        offset = self.X @ beta
        u = self._u if u0 is None else u0
        eta = offset + self.bz.mul(u @ lam.T)
        pdev = self._pdev(eta, u)
        for _ in range(max_iter):
            st = self.family.stats(eta)
            LZWZ = lam.T @ self.bz.crossprod(st.weight)
            A = LZWZ @ lam + self._eye
            grad = self.bz.tmul(st.score) @ lam - u
            delta = (grad / A[:, :, 0] if A.shape[1] == 1 else
                     np.linalg.solve(A, grad[:, :, None])[:, :, 0])
            t = 1.0
            while True:
                un = u + t * delta
                etan = offset + self.bz.mul(un @ lam.T)
                pn = self._pdev(etan, un)
                if pn <= pdev + 1e-12 * abs(pdev) or t < 1e-8:
                    break
                t *= 0.5
            step = float(np.max(np.abs(t * delta)))
            done = (t == 1.0 and step < tol * (1.0 + float(np.max(np.abs(un))))) or step < 1e-12
            u, eta, pdev = un, etan, pn
            if done:
                break
        st = self.family.stats(eta)
        LZWZ = lam.T @ self.bz.crossprod(st.weight)
        Ainv, logdetA = inverse_logdet(LZWZ @ lam + self._eye)
        self._u = u
        dev = -2.0 * (self.family.loglik(eta) + self.const) + float(np.sum(u * u)) + logdetA
        return PirlsState(u, eta, st, lam, Ainv, LZWZ, logdetA, dev)

    # --- Laplace deviance and gradient ---------------------------------------------------------

    def deviance(self, x: np.ndarray) -> float:
        theta, beta = self.split(x)
        return self.pirls(theta, beta).deviance

    def deviance_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        theta, beta = self.split(x)
        ps = self.pirls(theta, beta)
        return ps.deviance, self.gradient(ps)

    def leverages(self, ps: PirlsState) -> np.ndarray:
        """h_i = z_iᵀΛA⁻¹Λᵀz_i."""
        bz = self.bz
        if bz.by_level:
            fd = bz.factors[0]
            ZL = fd.Z @ ps.lam
            return np.einsum("ia,iab,ib->i", ZL, ps.Ainv[fd.index], ZL)
        ZL = np.asarray(bz.Zfull @ ps.lam)
        return np.sum((ZL @ ps.Ainv[0]) * ZL, axis=1)

    def gradient(self, ps: PirlsState) -> np.ndarray:
        """Analytic gradient of the Laplace deviance in (θ, β) (see the class Notes)."""
        st = ps.stats
        v = st.dweight * self.leverages(ps)
        zs = self.bz.tmul(st.score)
        c = (ps.Ainv @ (self.bz.tmul(v) @ ps.lam)[:, :, None])[:, :, 0]
        resid = v - st.weight * self.bz.mul(c @ ps.lam.T)
        g_beta = -2.0 * self.X.T @ st.score + self.X.T @ resid
        r = self.bz.tmul(resid)
        direct = (ps.Ainv @ ps.LZWZ).sum(axis=0).T
        M = -2.0 * zs.T @ ps.u + 2.0 * direct + r.T @ ps.u + zs.T @ c
        return np.concatenate([self.tmap.fold(M), g_beta])


def glm_start(problem: GlmmProblem, max_iter: int = 25) -> np.ndarray:
    """β of the GLM without varying effects (IRLS), a start for the GLMM."""
    X, fam = problem.X, problem.family
    eta = fam.start_eta()
    beta = np.linalg.lstsq(X, eta, rcond=None)[0]
    for _ in range(max_iter):
        eta = X @ beta
        st = fam.stats(eta)
        step = np.linalg.solve(X.T @ (X * st.weight[:, None]), X.T @ st.score)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


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
        :mod:`hiermod.reml.lme4_laplace`), which reproduces glmer's reported SEs; they differ
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
        from .lme4_laplace import Lme4Laplace

        Hinv = np.linalg.inv(Lme4Laplace(problem).hessian(x))
    else:
        Hinv = np.linalg.inv(H)
    nb = problem.p
    vcov = 2.0 * Hinv[-nb:, -nb:]
    vcov = 0.5 * (vcov + vcov.T)

    theta, beta = problem.split(x)
    varcomps = varcomps_from_theta(design, tmap, theta, 1.0)
    singular, boundary, why = boundary_report(design, tmap, theta, varcomps)
    modes = ps.u @ ps.lam.T
    condvar = np.diagonal(ps.lam @ ps.Ainv @ ps.lam.T, axis1=1, axis2=2)
    ranef = split_effects(design, problem, modes, condvar)
    return RemlFit(
        method="Laplace", family=design.family, formula=design.spec.formula,
        fixed_terms=design.fixed_terms, beta=beta, vcov=vcov, df=None, sigma=None,
        theta=theta, varcomps=varcomps, ranef=ranef, loglik=-0.5 * ps.deviance,
        criterion=ps.deviance, n_obs=problem.n, n_params=problem.p + K, converged=converged,
        convergence_message=message, singular=singular, boundary=boundary,
        singular_message=why, n_evals=opt.n_evals + 2 * int(free.sum()) + 1, design=design,
        se_method=se)
