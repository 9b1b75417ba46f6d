"""Sufficient statistics of a gaussian model with several grouping factors (crossed or nested).

The random effects of all factors are one vector: first the J₁ q₁ effects of the *eliminated*
factor (the one with the most effects, kept block diagonal), then the m₂ = Σ_{g≥2} J_g q_g
effects of the others (the *dense* part). With W = X B and y shifted as in
:mod:`hiermod.marginal.suffstats`, the marginal log-density needs only

    WᵀW, Wᵀy, yᵀy, n                                    pooled
    Z₁ⱼᵀZ₁ⱼ (J₁, q₁, q₁), Z₁ⱼᵀW (J₁, q₁, p), Z₁ⱼᵀy (J₁, q₁)   per level of the eliminated factor
    Z₁ⱼᵀZ₂ (J₁, q₁, m₂)                                 its cross-products with the rest
    Z₂ᵀZ₂ (m₂, m₂), Z₂ᵀW (m₂, p), Z₂ᵀy (m₂)               the rest, dense

computed once in O(n) as exact sums, so an evaluation costs O(J₁ m₂ q₁² + m₂³), whatever
the number of rows (:mod:`hiermod.marginal.crossed_kernel`).
"""

from __future__ import annotations

from ..design.crossprod import CrossedStats, elimination_order, row_sums, several_factor_stats


def crossed_stats(design) -> CrossedStats:
    """The sufficient statistics of a gaussian design with two or more grouping factors
    (exact sums rounded once, :mod:`hiermod.design.crossprod`)."""
    sums = row_sums(design.X, design.fixed_terms, design.y, design.factors)
    return several_factor_stats(sums, design.fixed_terms, design.factors, design.centring,
                                elimination_order(design.factors))
