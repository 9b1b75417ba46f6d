"""How the fixed effects are sampled: an intercept at the predictors' means and the slopes.

With the intercept at position k₀ of the fixed terms and the slopes' column means m, the
sampled coordinates are c = (α, b) — α the intercept at the predictors' means, b the slopes —
and the fixed effects on the original scale are

    β = B c,    B = [e_α − m·e_b ; e_b]  (β_k₀ = α − mᵀb, β_slopes = b),

so that X β = W c with W = X B: the intercept column of W is 1 and its slope columns are
centred. Every path uses this one map: the PyMC models (β = B c), the marginal sufficient
statistics (W = X B) and the compiled callbacks' posterior (β = B c per draw). The means are
exact sums rounded once (:mod:`hiermod.exactsum`), the same however the rows are split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import names
from ..exactsum import exact_mean


@dataclass(frozen=True, eq=False)
class Centring:
    """``intercept``: index of the intercept among the fixed terms (None without one);
    ``slopes``: indices of the other terms in sampled order; ``B``: β = B c."""

    intercept: int | None
    slopes: tuple[int, ...]
    means: np.ndarray
    B: np.ndarray

    @property
    def order(self) -> tuple[int, ...]:
        """Fixed-term index of each sampled coordinate."""
        return ((self.intercept,) if self.intercept is not None else ()) + self.slopes


def centring(X: np.ndarray, fixed_terms: tuple[str, ...]) -> Centring:
    """The centring map of a design's fixed part (see the module docstring)."""
    slopes = [k for k, t in enumerate(fixed_terms) if t != names.INTERCEPT]
    has_intercept = names.INTERCEPT in fixed_terms
    means = exact_mean(X[:, slopes]) if slopes and has_intercept else np.zeros(0)
    return centring_at(fixed_terms, means)


def centring_at(fixed_terms: tuple[str, ...], means: np.ndarray) -> Centring:
    """The centring map with the slopes' column ``means`` given (in fixed-term order, the
    intercept left out; ignored without an intercept), e.g. combined from sums over parts of
    the rows."""
    p = len(fixed_terms)
    k0 = fixed_terms.index(names.INTERCEPT) if names.INTERCEPT in fixed_terms else None
    slopes = tuple(k for k in range(p) if k != k0)
    B = np.zeros((p, p))
    if k0 is None:
        B[list(slopes), list(range(p))] = 1.0
        return Centring(None, slopes, np.zeros(0), B)
    means = np.asarray(means, dtype=float)
    B[k0, 0] = 1.0
    for i, k in enumerate(slopes, start=1):
        B[k, i] = 1.0
        B[k0, i] = -means[i - 1]
    return Centring(k0, slopes, means, B)
