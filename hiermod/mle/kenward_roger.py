"""Kenward–Roger: the small-sample adjusted covariance of β̂ and its denominator df (pbkrtest).

Computed through the blocked cross-products of the REML engine (Z'Z, Z'X, X'X and A⁻¹ in J
blocks), never through the n × n marginal covariance Σ: with one grouping factor every
quantity is a sum over the J groups of q × q products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .pls import LmmProblem


@dataclass(frozen=True, eq=False)
class KenwardRoger:
    """What Kenward–Roger tests need, at the REML estimate.

    Attributes
    ----------
    phi : ndarray (p, p)
        The unadjusted covariance of β̂, Φ = (X'Σ̂⁻¹X)⁻¹ (lme4's ``vcov``).
    vcov : ndarray (p, p)
        The adjusted covariance Φ_A (pbkrtest's ``vcovAdj``).
    P : ndarray (r, p, p)
        P_i = −X'Σ⁻¹G_iΣ⁻¹X for each covariance parameter (random-effect variances and
        covariances, then σ²).
    W : ndarray (r, r)
        2·IE⁻¹, IE the (doubled) expected REML information of the covariance parameters.
    """

    phi: np.ndarray
    vcov: np.ndarray
    P: np.ndarray
    W: np.ndarray
    name: str = "Kenward-Roger"

    def _a1_a2(self, L: np.ndarray) -> tuple[float, float]:
        theta = L.T @ np.linalg.solve(L @ self.phi @ L.T, L)
        U = np.einsum("ab,ibc,cd->iad", theta @ self.phi, self.P, self.phi)  # Θ Φ P_i Φ
        tr = np.trace(U, axis1=1, axis2=2)
        cross = np.einsum("iab,jba->ij", U, U)
        return float(tr @ self.W @ tr), float(np.sum(self.W * cross))

    def ddf(self, L: np.ndarray) -> tuple[float, float]:
        """Denominator df and F scaling of the test of Lβ = 0 (pbkrtest's ``Lb_ddf`` /
        ``.KR_adjust``)."""
        L = np.atleast_2d(L)
        q = np.linalg.matrix_rank(L)
        A1, A2 = self._a1_a2(L)
        B = (A1 + 6 * A2) / (2 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        d = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / d, (q - g) / d, (q + 2 - g) / d
        V0, V1, V2 = 1 + c1 * B, 1 - c2 * B, 1 - c3 * B
        V0 = 0.0 if abs(V0) < 1e-10 else V0
        num = 1 - A2 / q
        ratio = 1.0 if abs(num) < 1e-14 and abs(V1) < 1e-14 else num / V1
        rho = ratio**2 * V0 / (q * V2)
        df2 = 4 + (q + 2) / (q * rho - 1)
        scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
        return float(df2), float(scaling)

    def df(self, C: np.ndarray) -> np.ndarray:
        """Denominator df of each row c of C (the t test of cβ = 0)."""
        return np.array([self.ddf(c[None])[0] for c in np.atleast_2d(C)])

    def f_test(self, L: np.ndarray, beta: np.ndarray) -> dict[str, float]:
        """Joint test of Lβ = 0: F (scaled), ndf, ddf, p (pbkrtest's ``KRmodcomp``)."""
        L = np.atleast_2d(L)
        q = int(np.linalg.matrix_rank(L))
        ddf, scaling = self.ddf(L)
        Lb = L @ beta
        wald = float(Lb @ np.linalg.solve(L @ self.vcov @ L.T, Lb))
        F = scaling * wald / q
        return {"F": F, "ndf": float(q), "ddf": ddf, "p": float(stats.f.sf(F, q, ddf)),
                "F_scaling": scaling}


def blocked_system(problem: LmmProblem, st) -> tuple[np.ndarray, ...]:
    """Z'Z, Z'X (blocked: (J, m, m), (J, m, p)), Λ (m, m) and A⁻¹ (J, m, m) at a PLS state.

    One grouping factor: J levels of q. Several: one block of all m = Σ J_g q_g effects (A⁻¹
    from the Schur-complement factorization, dense: meant for m up to a few thousand).
    """
    if problem.schur is None:
        return problem.ZtZ, problem.ZtX, st.lam, st.Ainv
    part = problem.schur.part
    inv = st.factor.solve(np.eye(part.size))[np.ix_(part.perm, part.perm)]
    return problem.bz.crossprod(), problem.ZtX, problem.tmap.lam(st.theta), inv[None]


def covariance_positions(problem: LmmProblem) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each covariance parameter of the random effects (pbkrtest's order is irrelevant:
    per factor and block, the lower triangle), the (row, column) positions inside a block of
    the blocked layout where ∂Cov(b)/∂γ has a 1."""
    bz = problem.bz
    out = []
    for g, fd in enumerate(problem.design.factors):
        for block in fd.blocks:
            for jb, b in enumerate(block):
                for a in block[jb:]:
                    pairs = [(a, b)] if a == b else [(a, b), (b, a)]
                    if bz.by_level:
                        rows = np.array([x for x, _ in pairs])
                        cols = np.array([y for _, y in pairs])
                    else:
                        base = bz.offsets[g] + np.arange(fd.n_levels) * fd.q
                        rows = np.concatenate([base + x for x, _ in pairs])
                        cols = np.concatenate([base + y for _, y in pairs])
                    out.append((rows, cols))
    return out


def _scatter(M: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """E M for E with ones at (rows, cols): row x of the result is Σ M[y] over (x, y)."""
    out = np.zeros_like(M)
    np.add.at(out, (slice(None), rows), M[:, cols])
    return out


def kenward_roger(problem: LmmProblem, st, sigma: float) -> KenwardRoger:
    """Kenward–Roger's adjusted covariance Φ_A of β̂ and the ingredients of its df.

    Parameters
    ----------
    problem, st : LmmProblem and its PLS state at the REML estimate θ̂
    sigma : float
        σ̂ (REML).

    Returns
    -------
    KenwardRoger

    Notes
    -----
    Kenward & Roger (1997); Halekoh & Højsgaard (2014, pbkrtest, JSS 59(9)). The marginal
    covariance is linear in the covariance parameters γ (the variances and covariances of
    each block of random effects, and σ²): Σ = Σ_i γ_i G_i, G_i = Z E_i Z' (E_i has ones where
    γ_i sits in Cov(b)) or I (σ²). With Φ = (X'Σ⁻¹X)⁻¹,

    .. math::

        P_i = −X'Σ^{-1}G_iΣ^{-1}X,\\quad Q_{ij} = X'Σ^{-1}G_iΣ^{-1}G_jΣ^{-1}X,\\quad
        IE_{ij} = \\mathrm{tr}(Σ^{-1}G_iΣ^{-1}G_j) − 2\\,\\mathrm{tr}(ΦQ_{ij})
                  + \\mathrm{tr}(ΦP_iΦP_j),

    W = 2 IE⁻¹ and Φ_A = Φ + 2Φ [Σ_ij W_ij (Q_ij − P_iΦP_j)] Φ (the second-derivative term
    R_ij vanishes: Σ is linear in γ). Everything is reduced to the random-effects space with
    Σ = σ²T⁻¹, T = I − ZUZ', U = ΛA⁻¹Λ' (Woodbury): writing M = Z'TZ, N = Z'TX,

    .. math::

        \\mathrm{tr}(Σ^{-1}G_iΣ^{-1}G_j) = σ^{-4}\\mathrm{tr}(E_iME_jM),\\quad
        P_i = −σ^{-4}N'E_iN,\\quad Q_{ij} = σ^{-6}N'E_iME_jN,

    and, for σ² (G = I), the same with Z'T²Z = M − Z'ZUM, Z'T²X = N − Z'ZUN,
    X'T²X = X'TX − X'ZUN, X'T³X = X'T²X − X'ZU Z'T²X and tr(T²) = n − 2 tr(UZ'Z) +
    tr((UZ'Z)²). With one grouping factor M, U and Z'Z are block diagonal, so each of these is
    a sum over groups of q × q products: O(J q³ + r² J q² + r² p²) for r covariance parameters.
    """
    ZZ, ZX, lam, Ainv = blocked_system(problem, st)
    s2 = sigma**2
    U = lam @ Ainv @ lam.T
    ZZU = ZZ @ U
    M = ZZ - ZZU @ ZZ
    N = ZX - ZZU @ ZX
    ZT2Z = M - ZZU @ M
    ZT2X = N - ZZU @ N
    XTX = st.S
    UZX = U @ ZX
    XT2X = XTX - np.einsum("jmp,jmq->pq", UZX, N)
    XT3X = XT2X - np.einsum("jmp,jmq->pq", UZX, ZT2X)
    UZZ = U @ ZZ
    trT2 = problem.n - 2 * np.trace(UZZ, axis1=1, axis2=2).sum() + np.einsum(
        "jab,jba->", UZZ, UZZ)
    pos = covariance_positions(problem)
    R = len(pos)
    EN = [_scatter(N, r, c) for r, c in pos]
    EM = [_scatter(M, r, c) for r, c in pos]
    K = np.zeros((R + 1, R + 1))
    Q = np.zeros((R + 1, R + 1) + XTX.shape)
    P = np.zeros((R + 1,) + XTX.shape)
    for i in range(R):
        P[i] = -np.einsum("jmp,jmq->pq", N, EN[i]) / s2**2
        for k in range(i, R):
            K[i, k] = np.einsum("jab,jba->", EM[i], EM[k]) / s2**2
            Q[i, k] = np.einsum("jmp,jmn,jnq->pq", EN[i], M, EN[k]) / s2**3
        rows, cols = pos[i]
        K[i, R] = ZT2Z[:, cols, rows].sum() / s2**2
        Q[i, R] = np.einsum("jmp,jmq->pq", EN[i], ZT2X) / s2**3
    P[R] = -XT2X / s2**2
    K[R, R] = trT2 / s2**2
    Q[R, R] = XT3X / s2**3
    phi = s2 * st.Sinv
    n_par = R + 1
    IE = np.zeros((n_par, n_par))
    for i in range(n_par):
        PhiP = phi @ P[i]
        for k in range(i, n_par):
            IE[i, k] = IE[k, i] = (K[i, k] - 2 * np.sum(phi * Q[i, k])
                                   + np.sum(PhiP * (P[k] @ phi)))
    condition = np.min(np.abs(np.linalg.eigvalsh(IE)))
    W = 2 * (np.linalg.inv(IE) if condition > 1e-10 else np.linalg.pinv(IE))
    W = 0.5 * (W + W.T)
    UU = np.zeros_like(phi)
    for i in range(n_par - 1):
        for k in range(i + 1, n_par):
            UU += W[i, k] * (Q[i, k] - P[i] @ phi @ P[k])
    UU = UU + UU.T
    for i in range(n_par):
        UU += W[i, i] * (Q[i, i] - P[i] @ phi @ P[i])
    vcov = phi + 2 * phi @ UU @ phi
    return KenwardRoger(phi, 0.5 * (vcov + vcov.T), P, W)
