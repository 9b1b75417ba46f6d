"""How the effects of several grouping factors split into a block-diagonal part and a dense part.

With one grouping factor, Z'Z and Λ'Z'ZΛ + I are block diagonal (one block per level). With
several (crossed or nested) they are not, and factorizing them as one dense matrix costs
O((Σ_g J_g q_g)³) per evaluation. Ordering the effects as

* part 1: the levels of a *root* factor r together with the levels of every factor nested in r
  (each level of a nested factor sits inside one level of r), one block per level of r, padded
  to a common size b;
* part 2: the effects of the remaining factors (m₂ of them),

makes the top-left block A₁₁ block diagonal: J_r blocks of b × b. The rest is handled by the
Schur complement of A₁₁ (:mod:`hiermod.mle.schur`), an m₂ × m₂ dense matrix. The root is the
factor that minimises the cost of that algebra, ≈ m₂³/3 + J_r b m₂² + J_r b³: the factor with
the most effects when factors are crossed (148 primary × 19 secondary schools: m₂ = 19), the
outermost one when they are nested (school / class: every class is inside its school's block
and m₂ = 0).

Padding positions carry Λ = 0 and A = I, so they change neither log|A| nor any solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..design import FactorDesign


def nested_in(inner: FactorDesign, outer: FactorDesign) -> bool:
    """Whether every level of ``inner`` lies inside a single level of ``outer``."""
    pairs = np.unique(inner.index.astype(np.int64) * outer.n_levels + outer.index)
    return len(pairs) == inner.n_levels


def _block_layout(factors, root: int, members: list[int]) -> tuple[np.ndarray, list, int]:
    """Block (root level) and offset inside the block of every level of the part-1 factors.

    Returns the root level of each level of each member, the local offsets, and the block size.
    """
    r = factors[root]
    fill = np.full(r.n_levels, r.q)  # next free position in each block
    local = {root: np.arange(r.n_levels)[:, None] * 0}  # root effects start at 0
    block_of = {root: np.arange(r.n_levels)}
    for g in members:
        if g == root:
            continue
        fd = factors[g]
        first = np.full(fd.n_levels, -1)
        first[fd.index[::-1]] = np.arange(len(fd.index))[::-1]  # first row of each level
        blk = r.index[first]
        off = np.zeros(fd.n_levels, int)
        for lv in range(fd.n_levels):  # levels in order: positions within a block grow
            off[lv] = fill[blk[lv]]
            fill[blk[lv]] += fd.q
        local[g] = off[:, None]
        block_of[g] = blk
    return block_of, local, int(fill.max())


def _cost(m2: int, J: int, b: int) -> float:
    return m2**3 / 3.0 + J * b * m2**2 + J * b**3


@dataclass(frozen=True, eq=False)
class Partition:
    """Several grouping factors' effects in internal order: J blocks of b, then m₂ dense.

    Attributes
    ----------
    root : int
        The factor whose levels make the blocks.
    part1, part2 : tuple of int
        Factors in the block part (root first, then those nested in it) and in the dense part.
    J, b, m2 : int
        Number of blocks, their (padded) size, size of the dense part; N₁ = J b.
    perm : ndarray (m,)
        Internal position of each effect of the dense layout (factors one after another, level
        by level, term by term: :class:`hiermod.mle.layout.BlockedZ`'s order).
    Z1, Z2 : scipy.sparse.csr_matrix
        n × N₁ and n × m₂ parts of Z in internal order.
    """

    root: int
    part1: tuple[int, ...]
    part2: tuple[int, ...]
    J: int
    b: int
    m2: int
    perm: np.ndarray
    Z1: sp.csr_matrix
    Z2: sp.csr_matrix
    row_block: np.ndarray | None = None  # (n,) block of each row
    row_cols1: np.ndarray | None = None  # (n, k1) local positions of its part-1 entries
    row_vals1: np.ndarray | None = None  # (n, k1) their values
    row_cols2: np.ndarray | None = None  # (n, k2) part-2 positions (whole level blocks)
    row_vals2: np.ndarray | None = None  # (n, k2) their values

    @property
    def N1(self) -> int:
        return self.J * self.b

    @property
    def size(self) -> int:
        return self.N1 + self.m2

    @classmethod
    def choose(cls, factors: tuple[FactorDesign, ...], n: int) -> Partition:
        """The cheapest root (see the module docstring) and the layout it gives."""
        best = None
        for r, fr in enumerate(factors):
            members = [r] + [g for g, fd in enumerate(factors)
                             if g != r and fd.n_levels >= fr.n_levels and nested_in(fd, fr)]
            _, _, b = _block_layout(factors, r, members)
            m2 = sum(fd.n_levels * fd.q for g, fd in enumerate(factors) if g not in members)
            cost = _cost(m2, fr.n_levels, b)
            if best is None or cost < best[0]:
                best = (cost, r, members)
        _, root, members = best
        return cls.build(factors, n, root, members)

    @classmethod
    def build(cls, factors, n: int, root: int, members: list[int]) -> Partition:
        block_of, local, b = _block_layout(factors, root, members)
        J = factors[root].n_levels
        part2 = tuple(g for g in range(len(factors)) if g not in members)
        sizes = [fd.n_levels * fd.q for fd in factors]
        dense_offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
        perm = np.zeros(sum(sizes), int)
        off2 = 0
        part2_offset = {}
        for g in part2:
            part2_offset[g] = off2
            off2 += sizes[g]
        N1 = J * b
        for g, fd in enumerate(factors):
            dense = dense_offsets[g] + np.arange(sizes[g])
            if g in block_of:
                pos = (block_of[g][:, None] * b + local[g] + np.arange(fd.q)[None, :]).ravel()
            else:
                pos = N1 + part2_offset[g] + np.arange(sizes[g])
            perm[dense] = pos
        rows1, cols1, vals1, rows2, cols2, vals2 = [], [], [], [], [], []
        per_row1, per_val1, per_row2, per_val2 = [], [], [], []
        for g, fd in enumerate(factors):
            cols = perm[dense_offsets[g] + fd.index[:, None] * fd.q + np.arange(fd.q)[None, :]]
            rows = np.repeat(np.arange(n), fd.q)
            if g in block_of:
                rows1.append(rows)
                cols1.append(cols.ravel())
                vals1.append(fd.Z.ravel())
                per_row1.append(cols % b)
                per_val1.append(fd.Z)
            else:
                rows2.append(rows)
                cols2.append(cols.ravel() - N1)
                vals2.append(fd.Z.ravel())
                per_row2.append(cols - N1)
                per_val2.append(fd.Z)
        empty = np.zeros((n, 0))

        def csr(rows, cols, vals, width):
            if not rows:
                return sp.csr_matrix((n, width))
            return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                         np.concatenate(cols))), shape=(n, width))

        return cls(root, tuple(members), part2, J, b, off2, perm, csr(rows1, cols1, vals1, N1),
                   csr(rows2, cols2, vals2, off2), row_block=factors[root].index,
                   row_cols1=np.hstack(per_row1), row_vals1=np.hstack(per_val1),
                   row_cols2=np.hstack(per_row2) if per_row2 else empty.astype(int),
                   row_vals2=np.hstack(per_val2) if per_val2 else empty)

    # --- cross-products ---------------------------------------------------------------------

    def crossprod(self, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Z'WZ in parts: D₁₁ (J, b, b) (block diagonal), C₁₂ (J, b, m₂), D₂₂ (m₂, m₂)."""
        Z1w = self.Z1 if w is None else self.Z1.multiply(w[:, None]).tocsr()
        D = (Z1w.T @ self.Z1).tocoo()
        D11 = np.zeros((self.J, self.b, self.b))
        np.add.at(D11, (D.row // self.b, D.row % self.b, D.col % self.b), D.data)
        C12 = np.asarray((Z1w.T @ self.Z2).todense()).reshape(self.J, self.b, self.m2)
        Z2w = self.Z2 if w is None else self.Z2.multiply(w[:, None]).tocsr()
        D22 = np.asarray((Z2w.T @ self.Z2).todense())
        return D11, C12, D22

    def tmul(self, V: np.ndarray) -> np.ndarray:
        """Z'V in internal order: (m,) for V (n,), (m, k) for V (n, k)."""
        return np.concatenate([self.Z1.T @ V, self.Z2.T @ V])

    def mul(self, b: np.ndarray) -> np.ndarray:
        """Z b for b in internal order."""
        return self.Z1 @ b[:self.N1] + self.Z2 @ b[self.N1:]

    def to_internal(self, dense: np.ndarray) -> np.ndarray:
        """A dense-layout vector (m,) or matrix (m, k) in internal order (padding 0)."""
        out = np.zeros((self.size,) + dense.shape[1:])
        out[self.perm] = dense
        return out

    def to_dense(self, internal: np.ndarray) -> np.ndarray:
        """Internal order -> the dense layout (padding dropped)."""
        return internal[self.perm]
