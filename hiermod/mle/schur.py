"""Λ'Z'WZΛ + I for several grouping factors: a block-diagonal part and its Schur complement.

The effects are ordered as in :class:`hiermod.mle.partition.Partition` (J blocks of b, then a
dense part of m₂), so that

.. math::

    A = Λ'Z'WZΛ + I = \\begin{pmatrix} A_{11} & A_{12} \\\\ A_{21} & A_{22} \\end{pmatrix},

with A₁₁ block diagonal (J blocks b × b). Writing D₁₁, C₁₂, D₂₂ for the parts of Z'WZ and
Λ = Λ₁ ⊕ Λ₂, P = Λ'Z'WZ:

* A₁₁ = Λ₁'D₁₁Λ₁ + I (blockwise), G = A₁₁⁻¹Λ₁'C₁₂, K = (Λ₁'C₁₂)'G, R = D₂₂ − K;
* the Schur complement S = A₂₂ − A₂₁A₁₁⁻¹A₁₂ = I + Λ₂'RΛ₂ (m₂ × m₂, dense);
* log|A| = Σ_j log|A₁₁,j| + log|S|; with B = GΛ₂ = A₁₁⁻¹A₁₂, a solve of A x = r is
  y₁ = A₁₁⁻¹r₁, x₂ = S⁻¹(r₂ − B'r₁), x₁ = y₁ − Bx₂;
* the blocks of the inverse: (A⁻¹)₁₁ = A₁₁⁻¹ + BS⁻¹B', (A⁻¹)₁₂ = −BS⁻¹, (A⁻¹)₂₂ = S⁻¹.

The gradients of the REML criterion and of the Laplace deviance need only the entries of
W = A⁻¹P where Λ has a parameter, all inside the diagonal blocks of one level:

* part 1, block j: W₁₁,j = (A⁻¹)₁₁,jj P₁₁,j − (BS⁻¹)_j Q_j', with Q = C₁₂Λ₂ (because
  P₂₁ = Λ₂'C₁₂');
* part 2: W₂₂ = S⁻¹(P₂₂ − B'P₁₂) = S⁻¹Λ₂'R.

A per-evaluation cost of O(J b³ + J b m₂² + m₂³) instead of O((J b + m₂)³).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..design import Design
from .layout import BlockedZ, ThetaMap
from .linalg import inverse_logdet
from .partition import Partition
from .pls_state import PlsSolution

#: below this many effects in all, one dense factorization is cheaper than the blocked algebra
#: (Penicillin, 30 effects: 0.1 ms dense against 0.4 ms blocked per evaluation; 167 effects:
#: 13 ms against 0.5 ms)
DENSE_MAX = 64


def use_schur(bz: BlockedZ) -> bool:
    """Several grouping factors with at least :data:`DENSE_MAX` effects in all."""
    return not bz.by_level and bz.m >= DENSE_MAX


def _t(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


@dataclass(frozen=True, eq=False)
class SchurLayout:
    """Where each θ_k sits in Λ₁ (J, b, b) and Λ₂ (m₂ × m₂), in internal order.

    ``rows``, ``cols``, ``kidx`` are the internal positions of every entry of Λ holding a θ_k
    (the first ``n1`` of them in part 1).
    """

    part: Partition
    n_theta: int
    rows: np.ndarray
    cols: np.ndarray
    kidx: np.ndarray
    n1: int
    lam2_order: np.ndarray
    lam2_pattern: sp.csr_matrix

    @classmethod
    def build(cls, part: Partition, tmap: ThetaMap) -> SchurLayout:
        r, c = part.perm[tmap.rows], part.perm[tmap.cols]
        in1 = r < part.N1
        order = np.concatenate([np.flatnonzero(in1), np.flatnonzero(~in1)])
        r, c, k = r[order], c[order], tmap.kidx[order]
        n1 = int(in1.sum())
        r2, c2 = r[n1:] - part.N1, c[n1:] - part.N1
        # a CSR pattern of Λ₂ whose data are θ[kidx[n1:]][lam2_order]
        pat = sp.csr_matrix((np.arange(1, len(r2) + 1, dtype=float), (r2, c2)),
                            shape=(part.m2, part.m2))
        lam2_order = pat.data.astype(int) - 1
        return cls(part, tmap.n_theta, r, c, k, n1, lam2_order, pat)

    def lam(self, theta: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
        """Λ₁ (J, b, b) and Λ₂ (sparse m₂ × m₂) at θ."""
        p, n1 = self.part, self.n1
        lam1 = np.zeros((p.J, p.b, p.b))
        r, c = self.rows[:n1], self.cols[:n1]
        lam1[r // p.b, r % p.b, c % p.b] = theta[self.kidx[:n1]]
        lam2 = self.lam2_pattern.copy()
        lam2.data = theta[self.kidx[n1:]][self.lam2_order]
        return lam1, lam2

    def fold(self, values: np.ndarray) -> np.ndarray:
        """Σ over the positions of each θ_k of ``values`` (one per position): (K,)."""
        return np.bincount(self.kidx, weights=values, minlength=self.n_theta)

    def at(self, v1: np.ndarray, M2: np.ndarray | None = None,
           transpose: bool = False) -> np.ndarray:
        """Entries of a matrix at the θ positions: from blocks v1 (J, b, b) for part 1 and a
        dense M2 (m₂ × m₂) for part 2 (or M2 already read at the part-2 positions, 1-d);
        ``transpose`` reads M[c, r] instead of M[r, c]."""
        p, n1 = self.part, self.n1
        r, c = (self.cols, self.rows) if transpose else (self.rows, self.cols)
        out = np.empty(len(self.rows))
        out[:n1] = v1[r[:n1] // p.b, r[:n1] % p.b, c[:n1] % p.b]
        if len(r) > n1:
            out[n1:] = M2 if M2.ndim == 1 else M2[r[n1:] - p.N1, c[n1:] - p.N1]
        return out

    # --- Λ and Z'WZ on internal vectors ------------------------------------------------------

    def lam_mul(self, lam1, lam2, x: np.ndarray, transpose: bool = False) -> np.ndarray:
        """Λx (or Λ'x) for x internal, (m,) or (m, k)."""
        p = self.part
        x1 = x[:p.N1].reshape((p.J, p.b) + x.shape[1:])
        L1 = _t(lam1) if transpose else lam1
        y1 = (L1 @ x1) if x.ndim == 2 else (L1 @ x1[:, :, None])[:, :, 0]
        y2 = (lam2.T if transpose else lam2) @ x[p.N1:]
        return np.concatenate([y1.reshape((p.N1,) + x.shape[1:]), y2])


def zz_mul(part: Partition, D11, C12, D22, x: np.ndarray) -> np.ndarray:
    """(Z'WZ) x for x internal, (m,) or (m, k), from the parts of Z'WZ."""
    x1 = x[:part.N1].reshape((part.J, part.b) + x.shape[1:])
    x2 = x[part.N1:]
    if x.ndim == 1:
        y1 = (D11 @ x1[:, :, None])[:, :, 0] + C12 @ x2
        y2 = np.einsum("jam,ja->m", C12, x1) + D22 @ x2
    else:
        y1 = D11 @ x1 + np.einsum("jam,mk->jak", C12, x2)
        y2 = np.einsum("jam,jak->mk", C12, x1) + D22 @ x2
    return np.concatenate([y1.reshape((part.N1,) + x.shape[1:]), y2])


class SchurFactor:
    """A = Λ'Z'WZΛ + I at one θ, factorized blockwise (see the module Notes)."""

    def __init__(self, lay: SchurLayout, lam1, lam2, D11, C12, D22) -> None:
        part = lay.part
        self.lay, self.lam1, self.lam2 = lay, lam1, lam2
        self.C12 = C12
        eye = np.eye(part.b)
        self.P11 = _t(lam1) @ D11
        self.A11inv, logdet1 = inverse_logdet(self.P11 @ lam1 + eye)
        m2, N1 = part.m2, part.N1
        if m2 == 0:
            self.logdet = logdet1
            self.B = self.Sinv = self.BSinv = self.R = np.zeros((0, 0))
            return
        P12 = _t(lam1) @ C12
        G = (self.A11inv @ P12).reshape(N1, m2)
        self.R = D22 - P12.reshape(N1, m2).T @ G
        RL = (lam2.T @ self.R).T  # R Λ₂ (R symmetric)
        S = np.eye(m2) + lam2.T @ RL
        Sinv, logdet2 = inverse_logdet(S[None])
        self.Sinv = 0.5 * (Sinv[0] + Sinv[0].T)
        self.B = (lam2.T @ G.T).T  # G Λ₂, (N1, m2)
        self.BSinv = self.B @ self.Sinv
        self.logdet = logdet1 + logdet2

    def solve(self, r: np.ndarray) -> np.ndarray:
        """A⁻¹r for r internal, (m,) or (m, k)."""
        part = self.lay.part
        r1 = r[:part.N1].reshape((part.J, part.b) + r.shape[1:])
        y1 = (self.A11inv @ r1) if r.ndim == 2 else (self.A11inv @ r1[:, :, None])[:, :, 0]
        y1 = y1.reshape((part.N1,) + r.shape[1:])
        if part.m2 == 0:
            return y1
        x2 = self.Sinv @ (r[part.N1:] - self.B.T @ r[:part.N1])
        return np.concatenate([y1 - self.B @ x2, x2])

    def inverse_blocks(self) -> np.ndarray:
        """Diagonal blocks (J, b, b) of (A⁻¹)₁₁ = A₁₁⁻¹ + BS⁻¹B'."""
        part = self.lay.part
        if part.m2 == 0:
            return self.A11inv
        shape = (part.J, part.b, part.m2)
        return self.A11inv + self.BSinv.reshape(shape) @ _t(self.B.reshape(shape))

    def w_at_positions(self) -> np.ndarray:
        """W[c, r] at every θ position (r, c), W = A⁻¹Λ'Z'WZ (module Notes)."""
        part, lay = self.lay.part, self.lay
        W1 = self.inverse_blocks() @ self.P11
        W2 = None
        if part.m2:
            Q = (self.lam2.T @ self.C12.reshape(part.N1, part.m2).T).T  # C₁₂Λ₂
            shape = (part.J, part.b, part.m2)
            W1 = W1 - self.BSinv.reshape(shape) @ _t(Q.reshape(shape))
            SL = (self.lam2 @ self.Sinv).T  # S⁻¹Λ₂'
            r, c = lay.rows[lay.n1:] - part.N1, lay.cols[lay.n1:] - part.N1
            W2 = np.einsum("ij,ji->i", SL[c], self.R[:, r])  # W₂₂[c, r]
        return lay.at(W1, W2, transpose=True)

    def leverages(self) -> np.ndarray:
        """h_i = z_iᵀΛA⁻¹Λᵀz_i for every row, from the rows' few nonzeros (O(n(b + k₂)²))."""
        part = self.lay.part
        j = part.row_block
        # (ZΛ)_i on its block: Σ_t z_it Λ₁[j(i)][loc_it, :]
        v1 = np.einsum("it,itb->ib", part.row_vals1, self.lam1[j[:, None], part.row_cols1])
        h = np.einsum("ia,iab,ib->i", v1, self.inverse_blocks()[j], v1)
        if part.m2 == 0:
            return h
        c2 = part.row_cols2
        L2 = self.lam2.toarray()
        v2 = np.einsum("it,its->is", part.row_vals2, L2[c2[:, :, None], c2[:, None, :]])
        h += np.einsum("is,ist,it->i", v2, self.Sinv[c2[:, :, None], c2[:, None, :]], v2)
        BS = self.BSinv.reshape(part.J, part.b, part.m2)[j[:, None], :, c2]  # (n, k2, b)
        return h - 2.0 * np.einsum("ia,isa,is->i", v1, BS, v2)

    def cond_var(self) -> np.ndarray:
        """Diagonal of ΛA⁻¹Λ' (internal order)."""
        part = self.lay.part
        V1 = np.einsum("jab,jbc,jac->ja", self.lam1, self.inverse_blocks(), self.lam1)
        if part.m2 == 0:
            return V1.ravel()
        LS = self.lam2 @ self.Sinv
        V2 = np.asarray(self.lam2.multiply(LS).sum(axis=1)).ravel()
        return np.concatenate([V1.ravel(), V2])


@dataclass(frozen=True, eq=False, kw_only=True)
class SchurState(PlsSolution):
    """:class:`~hiermod.mle.pls_state.PlsSolution` of several grouping factors: ``u`` and
    ``F`` = A⁻¹Λ'Z'X in the internal order of the partition, with the factorization of A."""

    factor: SchurFactor
    F: np.ndarray


class SchurPls:
    """Penalized least squares of a gaussian design with several grouping factors.

    The same algebra as :class:`hiermod.mle.pls.LmmProblem` (whose Notes derive it) with every
    operation on A = Λ'Z'ZΛ + I done through :class:`SchurFactor`.
    """

    def __init__(self, design: Design, bz: BlockedZ, tmap: ThetaMap) -> None:
        self.part = Partition.choose(design.factors, len(design.y))
        self.lay = SchurLayout.build(self.part, tmap)
        self.D11, self.C12, self.D22 = self.part.crossprod()
        self.ZtX = self.part.tmul(design.X)
        self.Zty = self.part.tmul(design.y)

    def solve(self, theta: np.ndarray, XtX, Xty, yty) -> SchurState:
        theta = np.asarray(theta, dtype=float)
        lam1, lam2 = self.lay.lam(theta)
        fac = SchurFactor(self.lay, lam1, lam2, self.D11, self.C12, self.D22)
        rhs = self.lay.lam_mul(lam1, lam2, np.column_stack([self.Zty, self.ZtX]),
                               transpose=True)
        sol = fac.solve(rhs)
        LZy, LZX, Fy, F = rhs[:, 0], rhs[:, 1:], sol[:, 0], sol[:, 1:]
        S = XtX - LZX.T @ F
        Sinv, logdetS = inverse_logdet(S[None])
        Sinv = Sinv[0]
        beta = Sinv @ (Xty - LZX.T @ Fy)
        u = Fy - F @ beta
        r2 = yty - float(u @ LZy) - float(beta @ Xty)
        return SchurState(theta=theta, factor=fac, logdetA=fac.logdet, S=S, Sinv=Sinv,
                          logdetS=logdetS, beta=beta, u=u, r2=r2, F=F)

    def dlogdet_dr2(self, st: SchurState, reml: bool) -> tuple[np.ndarray, np.ndarray]:
        """∂(log|A| (+ log|S| for REML))/∂θ and ∂r²/∂θ."""
        lay, fac = self.lay, st.factor
        zz = (self.part, self.D11, self.C12, self.D22)
        b = lay.lam_mul(fac.lam1, fac.lam2, st.u)
        eZ = self.Zty - zz_mul(*zz, b) - self.ZtX @ st.beta
        dr2 = -2.0 * lay.fold(eZ[lay.rows] * st.u[lay.cols])
        vals = fac.w_at_positions()
        if reml:
            HT = self.ZtX - zz_mul(*zz, lay.lam_mul(fac.lam1, fac.lam2, st.F))
            GF = st.F @ st.Sinv
            vals = vals - np.einsum("ip,ip->i", GF[lay.cols], HT[lay.rows])
        return 2.0 * lay.fold(vals), dr2

    def conditional_modes(self, st: SchurState) -> np.ndarray:
        """b = Λu in the dense layout, (1, m)."""
        fac = st.factor
        return self.part.to_dense(self.lay.lam_mul(fac.lam1, fac.lam2, st.u))[None]

    def conditional_cov(self, st: SchurState, scale2: float) -> np.ndarray:
        """Diagonal of σ²ΛA⁻¹Λ' in the dense layout, (1, m)."""
        return scale2 * self.part.to_dense(st.factor.cond_var())[None]
