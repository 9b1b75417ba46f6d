"""Maximum likelihood for binomial, bernoulli and poisson multilevel models by the Laplace
approximation (lme4's ``glmer`` with nAGQ = 1)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..design import Design
from ..errors import SpecError
from ..families import Bound, EtaStats, get_family
from ..glm import irls
from .glmm_schur import SchurGlmm
from .layout import BlockedZ, make_theta_map
from .linalg import inverse_logdet
from .pirls import pirls_loop
from .schur import use_schur


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


def glm_family(design: Design) -> Bound:
    """The design's family bound to its outcome, checked to be one the Laplace fit supports."""
    family = get_family(design.family, design.spec.link)
    if family.has_sigma:
        raise SpecError("the Laplace ML fit is for binomial, bernoulli and poisson models; "
                        "fit a gaussian design with fit_lmm")
    trials = design.trials if family.has_trials else None
    return Bound(family, np.asarray(design.y, float), trials)


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
        self.family: Bound = glm_family(design)
        self.X = design.X
        self.n, self.p = design.X.shape
        self.bz = BlockedZ.from_factors(design.factors, self.n)
        self.tmap = make_theta_map(design, self.bz)
        self.const = self.family.constant()
        #: several grouping factors: the block-diagonal + Schur-complement algebra
        self.schur = SchurGlmm(design.factors, self.n, self.tmap, self.X, self.family,
                               self.const) if use_schur(self.bz) else None
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
        if self.schur is not None:
            return self.schur.pirls(theta, beta, u0, tol, max_iter)
        lam = self.tmap.lam(theta)
        offset = self.X @ beta
        u = self._u if u0 is None else u0

        def eta_of(v):
            return offset + self.bz.mul(v @ lam.T)

        def newton_step(v, eta):
            st = self.family.stats(eta)
            A = lam.T @ self.bz.crossprod(st.weight) @ lam + self._eye
            grad = self.bz.tmul(st.score) @ lam - v
            return (grad / A[:, :, 0] if A.shape[1] == 1 else
                    np.linalg.solve(A, grad[:, :, None])[:, :, 0])

        eta = eta_of(u)
        u, eta = pirls_loop(u, eta, self._pdev(eta, u), newton_step, eta_of, self._pdev, tol,
                            max_iter)
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
        if self.schur is not None:
            return ps.factor.leverages()
        bz = self.bz
        if bz.by_level:
            fd = bz.factors[0]
            ZL = fd.Z @ ps.lam
            return np.einsum("ia,iab,ib->i", ZL, ps.Ainv[fd.index], ZL)
        ZL = np.asarray(bz.Zfull @ ps.lam)
        return np.sum((ZL @ ps.Ainv[0]) * ZL, axis=1)

    def gradient(self, ps: PirlsState) -> np.ndarray:
        """Analytic gradient of the Laplace deviance in (θ, β) (see the class Notes)."""
        if self.schur is not None:
            return self.schur.gradient(ps)
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


def conditional_modes(problem: GlmmProblem, ps) -> np.ndarray:
    """b = Λu* in blocks (J, m) (several factors: the dense layout, (1, m))."""
    if problem.schur is not None:
        return problem.schur.conditional_modes(ps)
    return ps.u @ ps.lam.T


def conditional_var(problem: GlmmProblem, ps) -> np.ndarray:
    """Diagonal of ΛA⁻¹Λ' at the conditional modes, in the layout of :func:`conditional_modes`."""
    if problem.schur is not None:
        return problem.schur.conditional_var(ps)
    return np.diagonal(ps.lam @ ps.Ainv @ ps.lam.T, axis1=1, axis2=2)


def glm_start(problem: GlmmProblem, max_iter: int = 25) -> np.ndarray:
    """β of the GLM without varying effects (IRLS), a start for the GLMM."""
    return irls(problem.X, problem.family, max_iter=max_iter).coef
