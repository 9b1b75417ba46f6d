"""Exact sums of floating-point numbers, by bin: the same result whatever the order of the terms
and however they are split into parts.

Floating-point addition is not associative, so a sum taken over the partitions of a data set
and then combined differs in its last bits from the sum of all rows at once — and NUTS, being
chaotic, turns a difference of 10⁻¹⁶ in its input into different draws within a few hundred
iterations. hiermod therefore takes every sum that reaches a sampler (sufficient statistics,
means, the scales of the default priors) exactly, and rounds it once at the end: a fit from a
pandas DataFrame and from a Dask DataFrame of the same rows get bit-identical inputs.

Representation. A double x = m·2ᵉ (53-bit m) is cut at the fixed bit positions k·D (D = 26)
into three integer *digits* q₁, q₂, q₃ with |qᵢ| < 2ᴰ and x = Σ qᵢ 2^((t−i)D) exactly
(t = ⌈e / D⌉, so the 53 bits, shifted by at most D − 1, fit in 3D = 78 bits). Digits at the
same position are added in int64, exact for up to 2³⁷ terms per bin (an array in memory holds
fewer: 2³⁷ doubles are 1 TiB). An exact sum is therefore an integer
array (bins × digit positions); two are added by aligning positions. A product of two doubles
is exact as the sum of two doubles (Dekker's TwoProduct), so sums of products are exact too, and
so is scaling an exact sum by a double (:meth:`ExactSum.scale`), which centres sums exactly:
Σ(x − m)(y − ȳ) = Σxy − ȳΣx − mΣy + n m ȳ with no rounding until the end.

Rounding. :meth:`ExactSum.values` brings each bin's digits to its canonical form (sign and
magnitude, every digit in [0, 2ᴰ)) and adds them from the lowest position up: a deterministic
function of the exact value, within two units in the last place of it.

Terms of magnitude below 2⁻⁹⁰⁰ are treated as 0 (their digits would underflow).

References
----------
Dekker, T. J. (1971). A floating-point technique for extending the available precision.
Numerische Mathematik 18, 224–242. Demmel, J. & Nguyen, H. D. (2015). Parallel reproducible
summation. IEEE Transactions on Computers 64(7), 2060–2070.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .compiled.digits import D, digit_sums, two_products


@dataclass(frozen=True, eq=False)
class ExactSum:
    """Exact sums in ``n_bins`` bins: ``digits[b, c]`` counts units of 2^((low + c)·D)."""

    low: int
    digits: np.ndarray  # (n_bins, n_positions) int64

    @property
    def n_bins(self) -> int:
        return self.digits.shape[0]

    @classmethod
    def zeros(cls, n_bins: int) -> ExactSum:
        return cls(0, np.zeros((n_bins, 1), dtype=np.int64))

    @classmethod
    def of(cls, values, bins=None, n_bins: int = 1) -> ExactSum:
        """Σ of ``values`` per bin (``bins`` an integer array like values; all in bin 0 when
        None)."""
        return cls._summed(values, None, bins, n_bins)

    @classmethod
    def of_products(cls, a, b, bins=None, n_bins: int = 1) -> ExactSum:
        """Σ a·b per bin, exactly (each product as the sum of two doubles)."""
        return cls._summed(a, b, bins, n_bins)

    @classmethod
    def _summed(cls, values, other, bins, n_bins: int) -> ExactSum:
        values = np.ascontiguousarray(values, dtype=float).ravel()
        bins = (np.zeros(len(values), dtype=np.int64) if bins is None
                else np.ascontiguousarray(bins, dtype=np.int64).ravel())
        if len(values) == 0:
            return cls.zeros(n_bins)
        terms = (values[None] if other is None else
                 two_products(values, np.ascontiguousarray(other, dtype=float).ravel()))
        low, digits = digit_sums(terms, bins, int(n_bins))
        return cls(int(low), digits)

    def _aligned(self, low: int, width: int) -> np.ndarray:
        out = np.zeros((self.n_bins, width), dtype=np.int64)
        s = self.low - low
        out[:, s:s + self.digits.shape[1]] = self.digits
        return out

    def __add__(self, other: ExactSum) -> ExactSum:
        low = min(self.low, other.low)
        high = max(self.low + self.digits.shape[1], other.low + other.digits.shape[1])
        total = self._aligned(low, high - low) + other._aligned(low, high - low)
        out = ExactSum(low, total)
        return out.normalized() if np.abs(total).max(initial=0) > (1 << 60) else out

    def __neg__(self) -> ExactSum:
        return ExactSum(self.low, -self.digits)

    def __sub__(self, other: ExactSum) -> ExactSum:
        return self + (-other)

    def normalized(self) -> ExactSum:
        """The same sums in canonical form: three more positions on top, every digit but the
        top one in [0, 2ᴰ); the top one is negative exactly when the sum is."""
        d = np.concatenate([self.digits, np.zeros((self.n_bins, 3), dtype=np.int64)], axis=1)
        for c in range(d.shape[1] - 1):
            carry = d[:, c] >> D
            d[:, c] -= carry << D
            d[:, c + 1] += carry
        return ExactSum(self.low, d)

    def total(self) -> ExactSum:
        """One bin: the sum over all bins."""
        return ExactSum(self.low, self.digits.sum(axis=0, keepdims=True))

    def take(self, bins) -> ExactSum:
        """The sums of the given bins, in that order."""
        return ExactSum(self.low, self.digits[np.asarray(bins, dtype=np.int64)])

    def spread(self, positions, n_bins: int) -> ExactSum:
        """The sums placed in bins ``positions`` of ``n_bins`` (the others 0)."""
        d = np.zeros((n_bins, self.digits.shape[1]), dtype=np.int64)
        d[np.asarray(positions, dtype=np.int64)] = self.digits
        return ExactSum(self.low, d)

    def scale(self, factor) -> ExactSum:
        """The exact sums times ``factor`` (a double, or one per bin)."""
        n = self.normalized()
        factor = np.broadcast_to(np.asarray(factor, dtype=float), (self.n_bins,))
        width = n.digits.shape[1]
        v = np.ldexp(n.digits.T.astype(float), ((n.low + np.arange(width)) * D)[:, None])
        # exact: |digit| < 2^53, scaled by powers of two
        return ExactSum.of_products(v, np.broadcast_to(factor, v.shape),
                                    np.broadcast_to(np.arange(self.n_bins), v.shape),
                                    self.n_bins)

    def values(self) -> np.ndarray:
        """Each bin's sum as a double: the canonical digits of its magnitude added from the
        lowest position up, so a deterministic function of the exact sum alone (positions and
        widths that differ only by zero digits give the same double)."""
        d = self.normalized().digits
        negative = d[:, -1] < 0
        if negative.any():
            d = d.copy()
            d[negative] = ExactSum(0, -d[negative]).normalized().digits[:, :d.shape[1]]
        out = np.zeros(self.n_bins)
        for c in range(d.shape[1]):
            out = out + np.ldexp(d[:, c].astype(float), (self.low + c) * D)
        return np.where(negative, -out, out)


def exact_sum(values, axis: int = 0) -> np.ndarray:
    """The exact sum of an array along ``axis`` (0 or the only axis), rounded once."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        return ExactSum.of(values).values()[0]
    v = np.moveaxis(values, axis, 0).reshape(values.shape[axis], -1)
    k = v.shape[1]
    bins = np.broadcast_to(np.arange(k), v.shape)
    return ExactSum.of(v, bins, k).values().reshape(np.moveaxis(values, axis, 0).shape[1:])


def exact_mean(values, axis: int = 0):
    """The exact sum divided by the count (one rounding for the sum, one for the division)."""
    values = np.asarray(values, dtype=float)
    return exact_sum(values, axis) / values.shape[axis]


@dataclass(frozen=True, eq=False)
class ColumnSums:
    """Exact Σx and Σx² (bins: columns) of the columns of a matrix, and the row count: means
    and sums of squared deviations that do not depend on how the rows are split."""

    n: int
    s1: ExactSum
    s2: ExactSum

    @classmethod
    def of(cls, X) -> ColumnSums:
        X = np.asarray(X, dtype=float)
        X = X.reshape(len(X), -1)
        k = X.shape[1]
        bins = np.broadcast_to(np.arange(k), X.shape).ravel()
        return cls(len(X), ExactSum.of(X.ravel(), bins, k),
                   ExactSum.of_products(X.ravel(), X.ravel(), bins, k))

    def __add__(self, other: ColumnSums) -> ColumnSums:
        return ColumnSums(self.n + other.n, self.s1 + other.s1, self.s2 + other.s2)

    def totals(self) -> np.ndarray:
        return self.s1.values()

    def means(self) -> np.ndarray:
        """Σx / n (the exact sum rounded, then divided)."""
        return self.totals() / self.n

    def sq_dev(self) -> np.ndarray:
        """Σ(x − m)² at the rounded means m, exact until rounded: Σx² − 2mΣx + n m²."""
        m = self.means()
        k = len(m)
        nm2 = ExactSum.of_products(m, m, np.arange(k), k).scale(float(self.n))
        return np.maximum((self.s2 - self.s1.scale(2.0 * m) + nm2).values(), 0.0)

    def sds(self) -> np.ndarray:
        """Population sds (divisor n)."""
        return np.sqrt(self.sq_dev() / self.n)


def mean_sd(x) -> tuple[float, float]:
    """Exact-sum mean and population sd of a vector (:class:`ColumnSums`)."""
    cs = ColumnSums.of(np.asarray(x, dtype=float)[:, None])
    return float(cs.means()[0]), float(cs.sds()[0])
