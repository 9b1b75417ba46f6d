"""Sufficient statistics of a gaussian model with several grouping factors (crossed or nested).

The random effects of all factors are one vector: first the J₁ q₁ effects of the *eliminated*
factor (the one with the most effects, kept block diagonal), then the m₂ = Σ_{g≥2} J_g q_g
effects of the others (the *dense* part). With W = X B and y shifted as in
:mod:`hiermod.marginal.suffstats`, the marginal log-density needs only

    WᵀW, Wᵀy, yᵀy, n                                    pooled
    Z₁ⱼᵀZ₁ⱼ (J₁, q₁, q₁), Z₁ⱼᵀW (J₁, q₁, p), Z₁ⱼᵀy (J₁, q₁)   per level of the eliminated factor
    Z₁ⱼᵀZ₂ (J₁, q₁, m₂)                                 its cross-products with the rest
    Z₂ᵀZ₂ (m₂, m₂), Z₂ᵀW (m₂, p), Z₂ᵀy (m₂)               the rest, dense

computed once by sparse products in O(n), so an evaluation costs O(J₁ m₂ q₁² + m₂³), whatever
the number of rows (:mod:`hiermod.marginal.crossed_kernel`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .suffstats import group_sums


@dataclass(frozen=True, eq=False)
class CrossedStats:
    """See the module docstring; ``order`` lists the design's factors, eliminated one first;
    ``rest`` describes the dense part: per factor (offset in m₂, J_g, q_g)."""

    order: tuple[int, ...]
    n: int
    yty: float
    WtW: np.ndarray
    Wty: np.ndarray
    Z1tZ1: np.ndarray
    Z1tW: np.ndarray
    Z1ty: np.ndarray
    Z1tZ2: np.ndarray
    Z2tZ2: np.ndarray
    Z2tW: np.ndarray
    Z2ty: np.ndarray
    rest: tuple[tuple[int, int, int], ...]
    offset: np.ndarray
    B: np.ndarray

    @property
    def m2(self) -> int:
        return self.Z2tZ2.shape[0]

    @property
    def p(self) -> int:
        return self.WtW.shape[0]

    def theta_from_beta(self, beta: np.ndarray) -> np.ndarray:
        """θ from draws of β on the original scale (..., p)."""
        return beta @ np.linalg.inv(self.B).T - self.offset


def factor_matrix(fd, n: int) -> sp.csr_matrix:
    """Z of one factor as an n × (J q) sparse matrix (level-major, then term)."""
    rows = np.repeat(np.arange(n), fd.q)
    cols = (fd.index[:, None] * fd.q + np.arange(fd.q)[None, :]).ravel()
    return sp.csr_matrix((fd.Z.ravel(), (rows, cols)), shape=(n, fd.n_levels * fd.q))


def elimination_order(design) -> tuple[int, ...]:
    """The factor with the most effects first, then the others in the design's order."""
    sizes = [fd.n_levels * fd.q for fd in design.factors]
    first = int(np.argmax(sizes))
    return (first, *[g for g in range(len(sizes)) if g != first])


def crossed_stats(design) -> CrossedStats:
    """The sufficient statistics of a gaussian design with two or more grouping factors."""
    cen = design.centring
    W = design.X @ cen.B
    p = W.shape[1]
    offset = np.zeros(p)
    shift = 0.0
    if cen.intercept is not None:
        shift = float(np.mean(design.y))
        offset[0] = shift
    y = np.asarray(design.y, float) - shift
    n = len(y)
    order = elimination_order(design)
    f1 = design.factors[order[0]]
    Z1 = factor_matrix(f1, n)
    rest, blocks, start = [], [], 0
    for g in order[1:]:
        fd = design.factors[g]
        rest.append((start, fd.n_levels, fd.q))
        blocks.append(factor_matrix(fd, n))
        start += fd.n_levels * fd.q
    Z2 = sp.hstack(blocks, format="csr")
    J1, q1 = f1.n_levels, f1.q
    Z1tZ1 = np.empty((J1, q1, q1))
    for a in range(q1):
        for b in range(a, q1):
            Z1tZ1[:, a, b] = Z1tZ1[:, b, a] = group_sums(f1.index, f1.Z[:, a] * f1.Z[:, b], J1)
    return CrossedStats(
        order=order, n=n, yty=float(y @ y), WtW=W.T @ W, Wty=W.T @ y, Z1tZ1=Z1tZ1,
        Z1tW=np.asarray(Z1.T @ W).reshape(J1, q1, p),
        Z1ty=np.asarray(Z1.T @ y).reshape(J1, q1),
        Z1tZ2=np.asarray((Z1.T @ Z2).todense()).reshape(J1, q1, start),
        Z2tZ2=np.asarray((Z2.T @ Z2).todense()), Z2tW=np.asarray(Z2.T @ W),
        Z2ty=np.asarray(Z2.T @ y), rest=tuple(rest), offset=offset, B=cen.B)
