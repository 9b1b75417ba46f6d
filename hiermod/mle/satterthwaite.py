"""Satterthwaite degrees of freedom for the fixed effects of a linear mixed model (lmerTest)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .pls import LmmProblem, PLSState


def varpar_hessian(problem: LmmProblem, st: PLSState, sigma: float, reml: bool,
                   perturbed: list[tuple[float, PLSState, PLSState]]) -> np.ndarray:
    """Hessian of the deviance in the variance parameters (θ, σ), at (θ̂, σ̂).

    The θ–θ block is differenced from the analytic gradient (``perturbed`` holds the PLS
    solutions at θ̂ ± h_k e_k); the rows involving σ are analytic.
    """
    K = len(st.theta)
    H = np.zeros((K + 1, K + 1))
    for k, (h, sp, sm) in enumerate(perturbed):
        gp, gm = problem.grad_vp(sp, sigma, reml), problem.grad_vp(sm, sigma, reml)
        H[:K, k] = (gp[:K] - gm[:K]) / (2 * h)
    _, dr2 = problem._dlogdet_dr2(st, reml)
    H[:K, K] = H[K, :K] = -2.0 * dr2 / sigma**3
    H[K, K] = 6.0 * st.r2 / sigma**4 - 2.0 * problem.nu(reml) / sigma**2
    return 0.5 * (H + H.T)


def pseudo_inverse_pd(H: np.ndarray, rel_tol: float = 1e-8) -> np.ndarray:
    """Inverse of H over its positive eigenvalues (directions of flat or negative curvature,
    such as a variance parameter on its boundary, are dropped)."""
    vals, vecs = np.linalg.eigh(H)
    keep = vals > rel_tol * max(vals.max(), 1e-300)
    return (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T


@dataclass(frozen=True, eq=False)
class Satterthwaite:
    """What Satterthwaite tests of linear combinations of β need (lmerTest's ``vcov_varpar``
    and ``Jac_list``).

    Attributes
    ----------
    vcov : ndarray (p, p)
        V = σ̂²(R_XᵀR_X)⁻¹, the covariance of β̂.
    jacobian : ndarray (K + 1, p, p)
        ∂V/∂τ_k for τ = (θ, σ).
    varpar_cov : ndarray (K + 1, K + 1)
        A = 2H⁻¹, the asymptotic covariance of τ̂.
    """

    vcov: np.ndarray
    jacobian: np.ndarray
    varpar_cov: np.ndarray
    name: str = "Satterthwaite"

    def df(self, C: np.ndarray) -> np.ndarray:
        """ν = 2(cᵀVc)² / (gᵀAg), g = ∂(cᵀVc)/∂τ, for each row c of C."""
        C = np.atleast_2d(C)
        var = np.einsum("ip,pq,iq->i", C, self.vcov, C)
        grads = np.einsum("ip,kpq,iq->ik", C, self.jacobian, C)
        return 2.0 * var**2 / np.einsum("ia,ab,ib->i", grads, self.varpar_cov, grads)

    def f_test(self, L: np.ndarray, beta: np.ndarray) -> dict[str, float]:
        """Joint F test of Lβ = 0 as lmerTest's ``contest(joint = TRUE)``.

        Notes
        -----
        With LVL' = PDP' (eigen-decomposition, rank q), the q independent t statistics of the
        rotated contrasts P'L have Satterthwaite df ν_m; F = Σ t_m²/q and the denominator df
        is 2E/(E − q), E = Σ ν_m/(ν_m − 2) (2 when some ν_m ≤ 2; ν itself when q = 1, the
        mean when all ν_m are equal).
        """
        L = np.atleast_2d(L)
        d, P = np.linalg.eigh(L @ self.vcov @ L.T)
        order = np.argsort(d)[::-1]
        d, P = d[order], P[:, order]
        keep = d > max(np.finfo(float).eps ** 0.5 * d[0], 0.0)
        PtL = (P.T @ L)[keep]
        d = d[keep]
        q = len(d)
        F = float(np.sum((PtL @ beta) ** 2 / d) / q)
        nu = self.df(PtL)
        ddf = fstat_ddf(nu)
        return {"F": F, "ndf": float(q), "ddf": ddf, "p": float(stats.f.sf(F, q, ddf))}


def fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """lmerTest's ``get_Fstat_ddf``: the df of an F built from independent t's with df ν."""
    nu = np.asarray(nu, float)
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2)))
    return 2 * E / (E - len(nu))


def satterthwaite(problem: LmmProblem, st: PLSState, sigma: float, reml: bool,
                  perturbed: list[tuple[float, PLSState, PLSState]]) -> Satterthwaite:
    """The Satterthwaite ingredients at (θ̂, σ̂).

    Parameters
    ----------
    problem, st : LmmProblem, PLSState
        The problem and its solution at θ̂.
    sigma : float
        σ̂.
    reml : bool
        Whether the deviance is the REML criterion.
    perturbed : list
        :meth:`LmmProblem.perturbed` at θ̂.

    Returns
    -------
    Satterthwaite

    Notes
    -----
    Kuznetsova, Brockhoff & Christensen (2017, lmerTest, JSS 82(13)): with τ = (θ, σ) and
    V(τ) = σ²(R_XᵀR_X)⁻¹(θ) the covariance of β̂, A = 2H⁻¹ the asymptotic covariance of τ̂
    (H the Hessian of the deviance or REML criterion in τ) and g = ∂(cᵀVc)/∂τ,

    .. math::  \\nu = \\frac{2 (c^T V c)^2}{g^T A g}.

    ∂V/∂θ_k is a central difference, ∂V/∂σ = 2σ(R_XᵀR_X)⁻¹.
    """
    K = len(st.theta)
    H = varpar_hessian(problem, st, sigma, reml, perturbed)
    A = 2.0 * pseudo_inverse_pd(H)
    jac = np.zeros((K + 1,) + st.Sinv.shape)
    for k, (h, sp, sm) in enumerate(perturbed):
        jac[k] = sigma**2 * (sp.Sinv - sm.Sinv) / (2 * h)
    jac[K] = 2.0 * sigma * st.Sinv
    return Satterthwaite(sigma**2 * st.Sinv, jac, A)


def satterthwaite_df(problem: LmmProblem, st: PLSState, sigma: float, reml: bool,
                     perturbed: list[tuple[float, PLSState, PLSState]],
                     contrasts: np.ndarray | None = None) -> np.ndarray:
    """Satterthwaite df of each fixed effect (or each row of ``contrasts``), as lmerTest
    (see :func:`satterthwaite`)."""
    C = np.eye(len(st.beta)) if contrasts is None else np.atleast_2d(contrasts)
    return satterthwaite(problem, st, sigma, reml, perturbed).df(C)
