"""Per-group sufficient statistics of a gaussian model with one grouping factor.

For the model y_j = W_j c + Z_j u_j + ε_j (j = 1..J groups, ε ~ N(0, σ² I); c the fixed effects
in sampled coordinates and W = X B, :mod:`hiermod.design.centring`) the marginal log-density
of y, once u is integrated out, depends on the data only through

    WᵀW (p×p), Wᵀy (p), yᵀy, n                     (pooled over all rows)
    Z_jᵀZ_j (J×q×q), Z_jᵀW_j (J×q×p), Z_jᵀy_j (J×q)   (one per group)

(see :mod:`hiermod.marginal.kernel`). They are computed once, in O(n (q² + q p)) time and
O(J q (q + p)) memory, so that everything downstream costs O(J), not O(n).

Notes
-----
To keep the residual sum of squares free of cancellation, W has centred slope columns and y
is shifted by ȳ when the model has an intercept: y − W c = (y − ȳ) − W θ with θ = c − ȳ e_α,
so ``theta = c - stats.offset``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class GroupStats:
    """Sufficient statistics of one grouping factor (see the module docstring)."""

    factor: str
    n: int
    yty: float
    WtW: np.ndarray  # (p, p)
    Wty: np.ndarray  # (p,)
    ZtZ: np.ndarray  # (J, q, q)
    ZtW: np.ndarray  # (J, q, p)
    Zty: np.ndarray  # (J, q)
    offset: np.ndarray  # (p,): θ = c − offset
    B: np.ndarray  # (p, p): β = B c

    @property
    def p(self) -> int:
        return self.WtW.shape[0]

    @property
    def q(self) -> int:
        return self.ZtZ.shape[1]

    @property
    def n_groups(self) -> int:
        return self.ZtZ.shape[0]

    def theta_from_beta(self, beta: np.ndarray) -> np.ndarray:
        """θ from draws of β on the original scale (..., p)."""
        return beta @ np.linalg.inv(self.B).T - self.offset


def group_sums(index: np.ndarray, weights: np.ndarray, n_groups: int) -> np.ndarray:
    """Σ_{i in group j} weights_i, for every group j (one bincount, O(n))."""
    return np.bincount(index, weights=weights, minlength=n_groups)


def centred_outcome(design) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W = X B, y − ȳ, offset): the fixed-effect rows in sampled coordinates and the outcome
    shifted by its mean when the model has an intercept (θ = c − offset; module Notes)."""
    cen = design.centring
    W = design.X @ cen.B
    offset = np.zeros(W.shape[1])
    shift = 0.0
    if cen.intercept is not None:
        shift = float(np.mean(design.y))
        offset[0] = shift
    return W, np.asarray(design.y, dtype=float) - shift, offset


def group_stats(design, factor=None) -> GroupStats:
    """Compute the sufficient statistics of ``design`` for one grouping factor.

    Parameters
    ----------
    design : Design
        A gaussian design.
    factor : FactorDesign or str, optional
        The factor whose effects are integrated out (default: the design's only factor).

    Returns
    -------
    GroupStats
    """
    if factor is None:
        (fd,) = design.factors
    elif isinstance(factor, str):
        fd = design.factor(factor)
    else:
        fd = factor
    W, y, offset = centred_outcome(design)
    p = W.shape[1]
    Z = np.asarray(fd.Z, dtype=float)
    q, J, idx = fd.q, fd.n_levels, fd.index
    ZtZ = np.empty((J, q, q))
    for a in range(q):
        for b in range(a, q):
            ZtZ[:, a, b] = ZtZ[:, b, a] = group_sums(idx, Z[:, a] * Z[:, b], J)
    ZtW = np.empty((J, q, p))
    for a in range(q):
        for k in range(p):
            ZtW[:, a, k] = group_sums(idx, Z[:, a] * W[:, k], J)
    Zty = np.stack([group_sums(idx, Z[:, a] * y, J) for a in range(q)], axis=1).reshape(J, q)
    return GroupStats(factor=fd.name, n=len(y), yty=float(y @ y), WtW=W.T @ W, Wty=W.T @ y,
                      ZtZ=ZtZ, ZtW=ZtW, Zty=Zty, offset=offset, B=design.centring.B)
