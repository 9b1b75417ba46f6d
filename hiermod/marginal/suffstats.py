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
so ``theta = c - stats.offset``. The sums are exact and rounded once, so they do not depend on
the order of the rows or on how they are split into partitions.
"""

from __future__ import annotations

from ..design.crossprod import GroupStats, one_factor_stats, row_sums


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
        Exact sums rounded once (:mod:`hiermod.design.crossprod`, where the arithmetic lives,
        shared with designs summed partition by partition).
    """
    if factor is None:
        (fd,) = design.factors
    elif isinstance(factor, str):
        fd = design.factor(factor)
    else:
        fd = factor
    sums = row_sums(design.X, design.fixed_terms, design.y, (fd,))
    return one_factor_stats(sums, design.fixed_terms, fd, design.centring)
