"""Per-group sufficient statistics of a gaussian model with one grouping factor.

For the model y_j = X_j β + Z_j u_j + ε_j (j = 1..J groups, ε ~ N(0, σ² I)) the marginal
log-density of y, once u is integrated out, depends on the data only through

    WᵀW (p×p), Wᵀy (p), yᵀy, n                     (pooled over all rows)
    Z_jᵀZ_j (J×q×q), Z_jᵀW_j (J×q×p), Z_jᵀy_j (J×q)   (one per group)

(see :mod:`hiermod.build.marginal`). They are computed once, in O(n (q² + q p)) time and
O(J q (q + p)) memory, so that everything downstream costs O(J), not O(n).

Notes
-----
To keep the residual sum of squares free of cancellation the statistics are taken on a
shifted problem: W is X with every non-intercept column centred at its mean (m) and y is
shifted by ȳ when the model has an intercept. With M⁻¹ the p×p matrix that adds m·b to the
intercept,

    y − X β = (y − ȳ) − W θ,     θ = M⁻¹ β − ȳ e_0,

so ``theta = beta @ stats.to_centred.T - stats.offset`` maps β (any leading batch shape) to θ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import names


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
    to_centred: np.ndarray  # (p, p): θ = to_centred @ β − offset
    offset: np.ndarray  # (p,)

    @property
    def p(self) -> int:
        return self.WtW.shape[0]

    @property
    def q(self) -> int:
        return self.ZtZ.shape[1]

    @property
    def n_groups(self) -> int:
        return self.ZtZ.shape[0]

    def centred(self, beta):
        """θ from β; ``beta`` may be a numpy array (..., p) or a PyTensor vector."""
        return beta @ self.to_centred.T - self.offset


def _group_sums(index: np.ndarray, weights: np.ndarray, n_groups: int) -> np.ndarray:
    """Σ_{i in group j} weights_i, for every group j (one bincount, O(n))."""
    return np.bincount(index, weights=weights, minlength=n_groups)


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
    X = np.asarray(design.X, dtype=float)
    n, p = X.shape
    terms = design.fixed_terms
    k0 = terms.index(names.INTERCEPT) if names.INTERCEPT in terms else None
    slope_idx = [k for k in range(p) if k != k0]

    means = X[:, slope_idx].mean(axis=0) if (k0 is not None and slope_idx) else np.zeros(0)
    to_centred = np.eye(p)
    offset = np.zeros(p)
    shift = 0.0
    if k0 is not None:
        to_centred[k0, slope_idx] = means
        shift = float(np.mean(design.y))
        offset[k0] = shift
    W = X.copy()
    if k0 is not None and slope_idx:
        W[:, slope_idx] -= means
    y = np.asarray(design.y, dtype=float) - shift

    Z = np.asarray(fd.Z, dtype=float)
    q, J, idx = fd.q, fd.n_levels, fd.index
    ZtZ = np.empty((J, q, q))
    for a in range(q):
        for b in range(a, q):
            ZtZ[:, a, b] = ZtZ[:, b, a] = _group_sums(idx, Z[:, a] * Z[:, b], J)
    ZtW = np.empty((J, q, p))
    for a in range(q):
        for k in range(p):
            ZtW[:, a, k] = _group_sums(idx, Z[:, a] * W[:, k], J)
    Zty = np.stack([_group_sums(idx, Z[:, a] * y, J) for a in range(q)], axis=1).reshape(J, q)
    return GroupStats(factor=fd.name, n=n, yty=float(y @ y), WtW=W.T @ W, Wty=W.T @ y,
                      ZtZ=ZtZ, ZtW=ZtW, Zty=Zty, to_centred=to_centred, offset=offset)
