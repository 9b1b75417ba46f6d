"""Satterthwaite degrees of freedom for the fixed effects of a linear mixed model (lmerTest)."""

from __future__ import annotations

import numpy as np

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


def satterthwaite_df(problem: LmmProblem, st: PLSState, sigma: float, reml: bool,
                     perturbed: list[tuple[float, PLSState, PLSState]],
                     contrasts: np.ndarray | None = None) -> np.ndarray:
    """Satterthwaite df of each fixed effect (or each row of ``contrasts``), as lmerTest.

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
    contrasts : ndarray (k, p), optional
        Linear combinations c of β; the identity (one per fixed effect) by default.

    Returns
    -------
    ndarray (k,)

    Notes
    -----
    Kuznetsova, Brockhoff & Christensen (2017, lmerTest, JSS 82(13)): with τ = (θ, σ) and
    V(τ) = σ²(R_XᵀR_X)⁻¹(θ) the covariance of β̂, A = 2H⁻¹ the asymptotic covariance of τ̂
    (H the Hessian of the deviance or REML criterion in τ) and g = ∂(cᵀVc)/∂τ,

    .. math::  \\nu = \\frac{2 (c^T V c)^2}{g^T A g}.

    ∂V/∂θ_k is a central difference, ∂V/∂σ = 2σ(R_XᵀR_X)⁻¹.
    """
    C = np.eye(len(st.beta)) if contrasts is None else np.atleast_2d(contrasts)
    K = len(st.theta)
    H = varpar_hessian(problem, st, sigma, reml, perturbed)
    A = 2.0 * pseudo_inverse_pd(H)
    var = sigma**2 * np.einsum("ip,pq,iq->i", C, st.Sinv, C)
    grads = np.zeros((len(C), K + 1))
    for k, (h, sp, sm) in enumerate(perturbed):
        dV = sigma**2 * (sp.Sinv - sm.Sinv) / (2 * h)
        grads[:, k] = np.einsum("ip,pq,iq->i", C, dV, C)
    grads[:, K] = 2.0 * var / sigma
    denom = np.einsum("ia,ab,ib->i", grads, A, grads)
    return 2.0 * var**2 / denom
