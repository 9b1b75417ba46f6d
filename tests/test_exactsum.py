"""Exact sums (hiermod.exactsum): against math.fsum and exact rational arithmetic, and the
property everything else rests on — the same double however the terms are ordered or split.

math.fsum returns the correctly rounded sum of doubles, and Fraction arithmetic is exact, so
both are independent references; every comparison is equality."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from hiermod.compiled.digits import split_digits, two_product
from hiermod.exactsum import ColumnSums, ExactSum, exact_mean


def wide(rng, n):
    """Values over 40 orders of magnitude, both signs: a naive float sum loses most bits."""
    return rng.normal(size=n) * 10.0 ** rng.integers(-20, 20, n)


def test_sums_are_correctly_rounded_and_do_not_depend_on_order_or_split():
    rng = np.random.default_rng(0)
    x = wide(rng, 20_000)
    exact = math.fsum(x)
    assert ExactSum.of(x).values()[0] == exact
    cancel = np.array([1e20, 1.0, -1e20])  # a float sum loses the 1
    assert float(np.sum(cancel)) == 0.0 and ExactSum.of(cancel).values()[0] == 1.0
    for trial in range(3):
        perm = rng.permutation(len(x))
        parts = np.array_split(x[perm], rng.integers(2, 9))
        total = ExactSum.zeros(1)
        for p in parts[::-1]:
            total = total + ExactSum.of(p)
        assert total.values()[0] == exact


def test_binned_sums_and_negative_totals():
    rng = np.random.default_rng(1)
    x = -np.abs(wide(rng, 5000))
    bins = rng.integers(0, 37, len(x))
    got = ExactSum.of(x, bins, 37).values()
    assert np.array_equal(got, [math.fsum(x[bins == j]) for j in range(37)])
    assert ExactSum.of(x, bins, 37).total().values()[0] == math.fsum(x)


def test_digits_reconstruct_every_double_exactly():
    rng = np.random.default_rng(2)
    x = np.concatenate([wide(rng, 1000), [0.0, -0.0, 5e-300, 1e300, 2.0**-1000]])
    t, qs = split_digits(x)
    for i in range(len(x)):
        value = sum(Fraction(int(q[i])) * Fraction(2) ** int((t[i] - k) * 26)
                    for k, q in enumerate(qs, start=1))
        expected = 0 if abs(x[i]) < 2.0**-900 else Fraction(float(x[i]))
        assert value == expected
        assert all(abs(q[i]) < 2**26 for q in qs)


def test_products_and_scaling_are_exact():
    rng = np.random.default_rng(3)
    a, b = wide(rng, 300), rng.normal(size=300)
    p, e = np.array([two_product(ai, bi) for ai, bi in zip(a, b, strict=True)]).T
    assert all(Fraction(float(pi)) + Fraction(float(ei)) == Fraction(float(ai)) * Fraction(float(bi))
               for ai, bi, pi, ei in zip(a, b, p, e, strict=True))
    exact = sum(Fraction(float(ai)) * Fraction(float(bi)) for ai, bi in zip(a, b, strict=True))
    assert ExactSum.of_products(a, b).values()[0] == float(exact)
    bins = rng.integers(0, 7, len(a))
    binned = ExactSum.of_products(a, b, bins, 7).values()
    assert list(binned) == [float(sum((Fraction(float(ai)) * Fraction(float(bi))
                                       for ai, bi, j in zip(a, b, bins, strict=True) if j == k),
                                      Fraction(0))) for k in range(7)]
    m = 0.1234567891
    scaled = ExactSum.of(a).scale(m).values()[0]
    assert scaled == float(sum(Fraction(float(v)) for v in a) * Fraction(m))


def test_column_sums_give_numpy_means_and_sds_to_rounding():
    rng = np.random.default_rng(4)
    X = rng.normal(1000.0, 0.01, size=(5000, 3))  # large mean, small spread
    cs = ColumnSums.of(X)
    np.testing.assert_allclose(cs.means(), X.mean(axis=0), rtol=1e-13)  # numpy's own error
    np.testing.assert_allclose(cs.sds(), X.std(axis=0), rtol=1e-9)
    halves = ColumnSums.of(X[:1234]) + ColumnSums.of(X[1234:])
    assert np.array_equal(halves.sds(), cs.sds()) and np.array_equal(halves.means(), cs.means())
    assert exact_mean(X[:, 0]) == cs.means()[0]


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_single_term(n):
    x = np.full(n, 3.5)
    assert ExactSum.of(x).values()[0] == 3.5 * n
