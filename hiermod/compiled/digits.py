"""The integer digits of doubles and their exact sums by bin: the compiled core of
:mod:`hiermod.exactsum` (which explains the representation)."""

from __future__ import annotations

import math

import numba
import numpy as np

#: bits per digit
D = 26
#: magnitudes below this are treated as 0
TINY = 2.0**-900
#: Veltkamp's splitting constant for doubles (2^27 + 1)
SPLIT = 2.0**27 + 1.0


#: 2^(kD) at index k + POW_OFFSET, k in [−40, 39]: every power :func:`split_digit` needs
#: (|x| ≥ TINY and finite: t = ⌈e/D⌉ in [−34, 40], powers 1 − t ... 3 − t and t − 2, t − 1)
POW_OFFSET = 40
POWERS = np.array([math.ldexp(1.0, (k - POW_OFFSET) * D) for k in range(2 * POW_OFFSET)])


@numba.njit(cache=True, nogil=True)
def digit_position(x: float, bits: int) -> int:
    """t = ⌈e / D⌉ for x = m 2ᵉ (0.5 ≤ |m| < 1; 0 for |x| < TINY), from ``bits``, x's IEEE bit
    pattern as an int64."""
    if abs(x) < TINY:
        return 0
    biased = (bits >> 52) & 0x7FF
    e = 0 if biased == 0 else biased - 1022  # frexp's exponent
    return (e + D - 1) // D if e > 0 else -((-e) // D)


@numba.njit(cache=True, nogil=True)
def split_digit(x: float, bits: int):
    """(t, q₁, q₂, q₃): x = Σᵢ qᵢ 2^((t−i)D) exactly, integers |qᵢ| < 2ᴰ (0 for |x| < TINY);
    t from :func:`digit_position`. Every step is exact: products with powers of two and
    differences of nearby doubles."""
    t = digit_position(x, bits)
    if abs(x) < TINY:
        x = 0.0
    q1 = np.trunc(x * POWERS[POW_OFFSET + 1 - t])  # x / 2^((t-1)D), truncated
    r = x - q1 * POWERS[POW_OFFSET + t - 1]
    q2 = np.trunc(r * POWERS[POW_OFFSET + 2 - t])
    r = r - q2 * POWERS[POW_OFFSET + t - 2]
    q3 = r * POWERS[POW_OFFSET + 3 - t]  # an integer already
    return t, np.int64(q1), np.int64(q2), np.int64(q3)


@numba.njit(cache=True, nogil=True)
def split_digits(x):
    """:func:`split_digit` of every element: (t, (q₁, q₂, q₃)) as int64 arrays."""
    x = np.ascontiguousarray(x)
    bits = x.view(np.int64)
    n = len(x)
    t = np.empty(n, np.int64)
    q = np.empty((3, n), np.int64)
    for i in range(n):
        t[i], q[0, i], q[1, i], q[2, i] = split_digit(x[i], bits[i])
    return t, (q[0], q[1], q[2])


@numba.njit(cache=True, nogil=True)
def two_product(a: float, b: float):
    """(p, e) with p = fl(a·b) and a·b = p + e exactly (Dekker; |a|, |b| < 2¹⁰⁰⁰; no fused
    multiply-add: numba keeps IEEE semantics without fastmath)."""
    p = a * b
    ca, cb = SPLIT * a, SPLIT * b
    ah = ca - (ca - a)
    bh = cb - (cb - b)
    al, bl = a - ah, b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


@numba.njit(cache=True, nogil=True)
def two_products(a, b):
    """(2, n): the rows p and e of :func:`two_product` for every pair a[i], b[i]."""
    n = len(a)
    out = np.empty((2, n))
    for i in range(n):
        out[0, i], out[1, i] = two_product(a[i], b[i])
    return out


@numba.njit(cache=True, nogil=True)
def digit_sums(values, bins, n_bins):
    """(low, digits (n_bins, width)): the digits of every element of ``values`` (k, n) — each
    row binned by ``bins`` (n) — added by bin and position in int64 (exact for up to 2³⁷
    terms per bin: 2³⁷ · 2²⁶ < 2⁶³)."""
    k, n = values.shape
    flat = np.ascontiguousarray(values).reshape(k * n)
    bits = flat.view(np.int64)
    t_min, t_max = 0, 0
    for i in range(k * n):
        t = digit_position(flat[i], bits[i])
        if i == 0 or t < t_min:
            t_min = t
        if i == 0 or t > t_max:
            t_max = t
    low = t_min - 3
    width = t_max - low
    acc = np.zeros(n_bins * width, np.int64)
    for r in range(k):
        for i in range(n):
            j = r * n + i
            t, q1, q2, q3 = split_digit(flat[j], bits[j])
            pos = bins[i] * width + t - 1 - low
            acc[pos] += q1
            acc[pos - 1] += q2
            acc[pos - 2] += q3
    return low, acc.reshape((n_bins, width))
