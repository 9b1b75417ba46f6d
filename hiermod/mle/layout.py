"""How the varying effects of a Design are laid out for REML / ML: θ, Λ_θ and Z in blocks.

lme4 writes the random effects as b = Λ_θ u with u ~ N(0, σ² I) and Λ_θ block diagonal: one
copy of a lower-triangular q_g × q_g factor T_g per level of each grouping factor g. The
covariance matrix of the effects of one level is Σ_g = σ² T_g T_gᵀ; θ holds the free elements
of the T_g (column by column, lower triangle, one triangle per correlated block of terms).

Everything downstream works on a *blocked* form of the random-effects vector: J blocks of m
effects each, with the same m × m matrix Λ for every block.

* one grouping factor: a block per level (J = number of levels, m = q_g), so Z'Z, Λ'Z'ZΛ + I
  and its Cholesky factor are block diagonal and cost J small m × m factorizations;
* several grouping factors (crossed or nested): a single dense block (J = 1, m = Σ_g J_g q_g)
  holding Λ = ⊕_g (I_{J_g} ⊗ T_g).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..design import Design, FactorDesign


@dataclass(frozen=True, eq=False)
class ThetaMap:
    """Where each element of θ sits in the factors T_g and in the block matrix Λ.

    Attributes
    ----------
    n_theta : int
        Number of covariance parameters K.
    lower : ndarray (K,)
        Lower bounds: 0 for diagonal elements of a T_g, -inf for the others.
    factor_of, row_of, col_of : ndarray (K,)
        Factor number and (row, column) inside T_g of each θ_k.
    rows, cols, kidx : ndarray
        Positions (rows[i], cols[i]) of Λ (m × m) that hold θ[kidx[i]].
    """

    n_theta: int
    lower: np.ndarray
    factor_of: np.ndarray
    row_of: np.ndarray
    col_of: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    kidx: np.ndarray
    m: int

    @property
    def is_diagonal(self) -> np.ndarray:
        return self.row_of == self.col_of

    def start(self) -> np.ndarray:
        """lme4's starting value: T_g = I (θ = 1 on the diagonal, 0 elsewhere)."""
        return np.where(self.is_diagonal, 1.0, 0.0)

    def lam(self, theta: np.ndarray) -> np.ndarray:
        """The m × m block Λ_θ shared by all blocks."""
        out = np.zeros((self.m, self.m))
        out[self.rows, self.cols] = theta[self.kidx]
        return out

    def fold(self, block_matrix: np.ndarray) -> np.ndarray:
        """Σ over the positions of each θ_k of an m × m matrix's entries: (K,)."""
        return np.bincount(self.kidx, weights=block_matrix[self.rows, self.cols],
                           minlength=self.n_theta)

    def factor_cholesky(self, theta: np.ndarray, g: int, q: int) -> np.ndarray:
        """T_g (q × q) of factor number g."""
        T = np.zeros((q, q))
        sel = self.factor_of == g
        T[self.row_of[sel], self.col_of[sel]] = theta[sel]
        return T


def theta_positions(factors: tuple[FactorDesign, ...]) -> tuple[np.ndarray, ...]:
    """Factor, row and column (inside T_g) of each θ_k: factor by factor, block by block, the
    lower triangle column by column (lme4's order within a term)."""
    fac, row, col = [], [], []
    for g, fd in enumerate(factors):
        for block in fd.blocks:
            for jb, b in enumerate(block):
                for a in block[jb:]:
                    fac.append(g)
                    row.append(a)
                    col.append(b)
    return np.array(fac, int), np.array(row, int), np.array(col, int)


@dataclass(frozen=True, eq=False)
class BlockedZ:
    """Z in J blocks of m columns: weighted cross-products and products with Z.

    Built by :meth:`from_factors`. With one grouping factor the rows are kept sorted by level
    so that Z'WZ and Z'v are segment sums (``np.add.reduceat``); with several, Z is a sparse
    n × m matrix and Z'WZ one dense m × m block.
    """

    factors: tuple[FactorDesign, ...]
    n: int
    J: int
    m: int
    offsets: tuple[int, ...]  # start of each factor's effects (dense layout)
    Zfull: sp.csr_matrix | None = None  # n × m, several factors
    order: np.ndarray | None = None  # rows sorted by level (one factor)
    starts: np.ndarray | None = None  # first sorted row of each level
    Zsorted: np.ndarray | None = None  # Z[order]
    zz: np.ndarray | None = None  # (n, m*m) products z_i z_iᵀ in level order

    @property
    def by_level(self) -> bool:
        """One block per level of a single grouping factor (else one dense block)."""
        return self.Zfull is None

    @classmethod
    def of_sums(cls, factors, n: int) -> BlockedZ:
        """The layout of one grouping factor without its rows (a design summed partition by
        partition): its cross-products come from the design's sums, not from Z."""
        (fd,) = factors
        return cls(factors, n, fd.n_levels, fd.q, (0,))

    @classmethod
    def from_factors(cls, factors: tuple[FactorDesign, ...], n: int) -> BlockedZ:
        if len(factors) == 1:
            fd = factors[0]
            J, m = fd.n_levels, fd.q
            order = np.argsort(fd.index, kind="stable")
            starts = np.searchsorted(fd.index[order], np.arange(J))
            Zs = fd.Z[order]
            zz = (Zs[:, :, None] * Zs[:, None, :]).reshape(n, m * m)
            return cls(factors, n, J, m, (0,), order=order, starts=starts, Zsorted=Zs, zz=zz)
        blocks, offsets, start = [], [], 0
        for fd in factors:
            q, J = fd.q, fd.n_levels
            rows = np.repeat(np.arange(n), q)
            cols = (fd.index[:, None] * q + np.arange(q)[None, :]).ravel()
            blocks.append(sp.csr_matrix((fd.Z.ravel(), (rows, cols)), shape=(n, J * q)))
            offsets.append(start)
            start += J * q
        Zfull = sp.hstack(blocks, format="csr")
        return cls(factors, n, 1, start, tuple(offsets), Zfull=Zfull)

    # --- products ---------------------------------------------------------------------------

    def crossprod(self, w: np.ndarray | None = None) -> np.ndarray:
        """Z'WZ in blocks, (J, m, m)."""
        if self.by_level:  # sums over the rows of each level
            zz = self.zz if w is None else self.zz * w[self.order, None]
            return np.add.reduceat(zz, self.starts, axis=0).reshape(self.J, self.m, self.m)
        Zw = self.Zfull if w is None else self.Zfull.multiply(w[:, None]).tocsr()
        return (self.Zfull.T @ Zw).toarray()[None]

    def tmul(self, V: np.ndarray) -> np.ndarray:
        """Z'V for V (n,) -> (J, m) or V (n, k) -> (J, m, k)."""
        if self.by_level:
            Z, Vs = self.Zsorted, V[self.order]
            if V.ndim == 1:
                return np.add.reduceat(Z * Vs[:, None], self.starts, axis=0)
            k = V.shape[1]
            prod = (Z[:, :, None] * Vs[:, None, :]).reshape(self.n, self.m * k)
            return np.add.reduceat(prod, self.starts, axis=0).reshape(self.J, self.m, k)
        return np.asarray(self.Zfull.T @ V)[None]

    def mul(self, b: np.ndarray) -> np.ndarray:
        """Z b for blocked b (J, m) -> (n,)."""
        if self.by_level:
            fd = self.factors[0]
            if self.m == 1:
                return fd.Z[:, 0] * b[fd.index, 0]
            return np.einsum("ia,ia->i", fd.Z, b[fd.index])
        return self.Zfull @ b[0]

    def split(self, blocked: np.ndarray) -> list[np.ndarray]:
        """Blocked (J, m) values -> one (J_g, q_g) array per factor."""
        if self.by_level:
            return [blocked]
        out = []
        for fd, o in zip(self.factors, self.offsets, strict=True):
            out.append(blocked[0, o:o + fd.n_levels * fd.q].reshape(fd.n_levels, fd.q))
        return out


def make_theta_map(design: Design, bz: BlockedZ) -> ThetaMap:
    """θ positions in T_g and in the shared block Λ of the blocked layout."""
    fac, row, col = theta_positions(design.factors)
    K = len(fac)
    if bz.by_level:
        rows, cols, kidx = row, col, np.arange(K)
    else:
        rs, cs, ks = [], [], []
        for k in range(K):
            fd = design.factors[fac[k]]
            base = bz.offsets[fac[k]] + np.arange(fd.n_levels) * fd.q
            rs.append(base + row[k])
            cs.append(base + col[k])
            ks.append(np.full(fd.n_levels, k))
        rows, cols, kidx = np.concatenate(rs), np.concatenate(cs), np.concatenate(ks)
    lower = np.where(row == col, 0.0, -np.inf)
    return ThetaMap(K, lower, fac, row, col, rows, cols, kidx, bz.m)
