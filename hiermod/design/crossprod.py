"""Sums of products of a gaussian design's rows: the sufficient statistics of the exact paths.

For y = W c + Z u + ε (W = X B the fixed-effects columns in sampled coordinates,
:mod:`hiermod.design.centring`) the marginal density and the REML criterion depend on the rows
only through

    WᵀW, Wᵀy, yᵀy, n                                 pooled
    Z_jᵀZ_j, Z_jᵀW_j, Z_jᵀy_j                        per group (one grouping factor)
    Z₁ⱼᵀZ₁ⱼ, Z₁ⱼᵀW, Z₁ⱼᵀy, Z₁ⱼᵀZ₂, Z₂ᵀZ₂, Z₂ᵀW, Z₂ᵀy    several factors (the first eliminated)

(:mod:`hiermod.marginal.suffstats`, :mod:`hiermod.marginal.crossed_stats`), with W's slope
columns centred at their means m and y shifted by ȳ so that no sum suffers cancellation.

They are computed in two steps. :func:`row_sums` takes the *raw* sums of products of the
columns of X, Z and y — per level of each factor, per pair of levels of two factors, pooled —
exactly (:mod:`hiermod.exactsum`), so that sums over parts of the rows (the partitions of a Dask
DataFrame) add up to the sums over all of them bit for bit (:meth:`RowSums.__add__`). The
statistics then come from the raw sums by centring them exactly and rounding once:

    Σ(x_a − m_a)(x_b − m_b) = Σx_a x_b − m_b Σx_a − m_a Σx_b + n m_a m_b,
    Σ z (x − m) = Σ z x − m Σ z,   Σ z (y − ȳ) = Σ z y − ȳ Σ z,

with m and ȳ the exact means rounded (the intercept column of W is 1 and not centred; without
an intercept nothing is). Columns are named by their formula terms, so a term that is both
fixed and varying ('x' in ``y ~ x + (1 + x | g)``) is summed once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import names
from ..exactsum import ExactSum
from .centring import Centring

ONE = ("one",)
OUTCOME = ("y",)


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


@dataclass(frozen=True, eq=False)
class CrossedStats:
    """Sufficient statistics of several grouping factors (:mod:`hiermod.marginal.crossed_stats`);
    ``order`` lists the design's factors, eliminated one first; ``rest`` describes the dense
    part: per factor (offset in m₂, J_g, q_g)."""

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


def elimination_order(factors) -> tuple[int, ...]:
    """The factor with the most effects first, then the others in the design's order."""
    sizes = [fd.n_levels * fd.q for fd in factors]
    first = int(np.argmax(sizes))
    return (first, *[g for g in range(len(sizes)) if g != first])


# --- raw sums ------------------------------------------------------------------------------


def column_key(term: str) -> tuple:
    """The name of a model column: the intercept is the column of ones."""
    return ONE if term == names.INTERCEPT else ("term", term)


def pair(u: tuple, v: tuple) -> tuple:
    return (u, v) if u <= v else (v, u)


def level_keys(fd, fixed_terms) -> tuple:
    """Products summed per level of a factor: Z with Z, X, y and 1."""
    z = [column_key(t) for t in fd.terms]
    x = [column_key(t) for t in fixed_terms]
    keys = [pair(z[a], z[b]) for a in range(len(z)) for b in range(a, len(z))]
    keys += [pair(za, c) for za in z for c in [*x, OUTCOME, ONE]]
    return tuple(dict.fromkeys(keys))


def pooled_keys(fixed_terms, factors) -> tuple:
    """Products summed over all rows: X with X, y and 1; y with y and 1; the count; each Z
    column with itself and 1 (the scales of the default priors)."""
    x = [column_key(t) for t in fixed_terms]
    keys = [pair(x[a], x[b]) for a in range(len(x)) for b in range(a, len(x))]
    keys += [pair(c, OUTCOME) for c in x] + [pair(c, ONE) for c in x]
    keys += [pair(OUTCOME, OUTCOME), pair(OUTCOME, ONE), pair(ONE, ONE)]
    for fd in factors:
        for t in fd.terms:
            keys += [pair(column_key(t), column_key(t)), pair(column_key(t), ONE)]
    return tuple(dict.fromkeys(keys))


def product_sum(key: tuple, columns: dict, n: int, bins: np.ndarray, n_bins: int) -> ExactSum:
    """The exact sums, by bin, of the column product ``key`` over n rows."""
    u, v = key
    if u == ONE and v == ONE:
        return ExactSum.of(np.ones(n), bins, n_bins)
    if u == ONE or v == ONE:
        return ExactSum.of(columns[v if u == ONE else u], bins, n_bins)
    return ExactSum.of_products(columns[u], columns[v], bins, n_bins)


def summed_by(keys: tuple, columns: dict, n: int, index: np.ndarray | None,
              n_bins: int) -> ExactSum:
    """Exact sums of the products ``keys``, bins (bin index × len(keys) + key)."""
    K = len(keys)
    out = ExactSum.zeros(n_bins * K)
    base = (np.zeros(n, dtype=np.int64) if index is None
            else np.asarray(index, dtype=np.int64)) * K
    for k, key in enumerate(keys):
        out = out + product_sum(key, columns, n, base + k, n_bins * K)
    return out


@dataclass(frozen=True, eq=False)
class RowSums:
    """Exact raw sums of products of a gaussian design's rows (see the module docstring):
    ``pooled`` (bins: ``pooled_keys``), per factor ``levels[g]`` (bins: level × ``level_keys``)
    and, with several factors, ``pairs[(g, h)]`` (g < h; bins: level of g × level of h ×
    term of g × term of h) of z_g z_h."""

    n: int
    pooled_keys: tuple
    pooled: ExactSum
    level_keys: tuple
    levels: tuple
    pairs: dict

    def __add__(self, other: RowSums) -> RowSums:
        return RowSums(self.n + other.n, self.pooled_keys, self.pooled + other.pooled,
                       self.level_keys, tuple(a + b for a, b in zip(self.levels, other.levels,
                                                                     strict=True)),
                       {k: self.pairs[k] + other.pairs[k] for k in self.pairs})

    def level_sum(self, g: int, key: tuple) -> ExactSum:
        """Per level of factor g: the exact sum of the product ``key``."""
        keys = self.level_keys[g]
        K, k = len(keys), keys.index(key)
        J = self.levels[g].n_bins // K
        return self.levels[g].take(np.arange(J) * K + k)

    def pooled_sum(self, key: tuple) -> ExactSum:
        """Over all rows: the exact sum of the product ``key`` (one bin)."""
        return self.pooled.take([self.pooled_keys.index(key)])


def row_sums(X: np.ndarray, fixed_terms, y: np.ndarray, factors) -> RowSums:
    """The exact raw sums of a gaussian design's rows (X, y and the factors' Z and index)."""
    n = len(y)
    columns = {OUTCOME: np.asarray(y, dtype=float)}
    for k, t in enumerate(fixed_terms):
        columns.setdefault(column_key(t), np.asarray(X[:, k], dtype=float))
    for fd in factors:
        for a, t in enumerate(fd.terms):
            columns.setdefault(column_key(t), np.asarray(fd.Z[:, a], dtype=float))
    pk = pooled_keys(fixed_terms, factors)
    lk = tuple(level_keys(fd, fixed_terms) for fd in factors)
    pairs = {}
    if len(factors) > 1:
        for g in range(len(factors)):
            for h in range(g + 1, len(factors)):
                pairs[(g, h)] = pair_sums(factors[g], factors[h], n)
    return RowSums(n, pk, summed_by(pk, columns, n, None, 1), lk,
                   tuple(summed_by(keys, columns, n, fd.index, fd.n_levels)
                         for keys, fd in zip(lk, factors, strict=True)), pairs)


def pair_sums(f: object, h: object, n: int) -> ExactSum:
    """Σ z_f,a z_h,b per pair of levels (j of f, l of h) and pair of terms (a, b)."""
    qf, qh = f.q, h.q
    n_bins = f.n_levels * h.n_levels * qf * qh
    out = ExactSum.zeros(n_bins)
    cell = (np.asarray(f.index, np.int64) * h.n_levels + np.asarray(h.index, np.int64))
    for a in range(qf):
        for b in range(qh):
            out = out + ExactSum.of_products(f.Z[:, a], h.Z[:, b], cell * (qf * qh) + a * qh + b,
                                             n_bins)
    return out


# --- statistics from raw sums ----------------------------------------------------------------


def centre_values(centring) -> np.ndarray:
    """The value each column of W is centred at: 0 for the intercept, the slopes' means."""
    out = np.zeros(len(centring.order))
    if centring.intercept is not None:
        out[1:] = centring.means
    return out


def column_means(sums: RowSums, fixed_terms) -> tuple[np.ndarray, float]:
    """(the mean of every fixed-effect column, ȳ): exact sums rounded, divided by n."""
    xs = np.array([sums.pooled_sum(pair(column_key(t), ONE)).values()[0]
                   for t in fixed_terms])
    return xs / sums.n, float(sums.pooled_sum(pair(OUTCOME, ONE)).values()[0] / sums.n)


def _n_times(n: int, a: float, b: float) -> ExactSum:
    """n·a·b exactly (one bin)."""
    return ExactSum.of_products([a], [b]).scale(float(n))


def centred_pooled(sums: RowSums, w_terms, c: np.ndarray, shift: float
                   ) -> tuple[np.ndarray, np.ndarray, float]:
    """(WᵀW, Wᵀy, yᵀy) of the centred columns (see the module docstring)."""
    n, p = sums.n, len(w_terms)
    keys = [column_key(t) for t in w_terms]
    S1 = [sums.pooled_sum(pair(k, ONE)) for k in keys]
    Sy = sums.pooled_sum(pair(OUTCOME, ONE))
    WtW = np.empty((p, p))
    for i in range(p):
        for j in range(i, p):
            v = (sums.pooled_sum(pair(keys[i], keys[j])) - S1[i].scale(c[j])
                 - S1[j].scale(c[i]) + _n_times(n, c[i], c[j]))
            WtW[i, j] = WtW[j, i] = v.values()[0]
    Wty = np.array([(sums.pooled_sum(pair(keys[i], OUTCOME)) - S1[i].scale(shift)
                     - Sy.scale(c[i]) + _n_times(n, c[i], shift)).values()[0]
                    for i in range(p)])
    yty = (sums.pooled_sum(pair(OUTCOME, OUTCOME)) - Sy.scale(2.0 * shift)
           + _n_times(n, shift, shift)).values()[0]
    return WtW, Wty, float(yty)


def centred_levels(sums: RowSums, g: int, z_terms, w_terms, c: np.ndarray, shift: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ZᵀZ, ZᵀW, Zᵀy) per level of factor g: (J, q, q), (J, q, p), (J, q)."""
    z = [column_key(t) for t in z_terms]
    w = [column_key(t) for t in w_terms]
    q, p = len(z), len(w)
    J = sums.levels[g].n_bins // len(sums.level_keys[g])
    ZtZ = np.empty((J, q, q))
    ZtW = np.empty((J, q, p))
    Zty = np.empty((J, q))
    for a in range(q):
        ones = sums.level_sum(g, pair(z[a], ONE))
        for b in range(a, q):
            ZtZ[:, a, b] = ZtZ[:, b, a] = sums.level_sum(g, pair(z[a], z[b])).values()
        for i in range(p):
            ZtW[:, a, i] = (sums.level_sum(g, pair(z[a], w[i])) - ones.scale(c[i])).values()
        Zty[:, a] = (sums.level_sum(g, pair(z[a], OUTCOME)) - ones.scale(shift)).values()
    return ZtZ, ZtW, Zty


def centring_shift(sums: RowSums, centring) -> float:
    """ȳ with an intercept (the exact mean), else 0."""
    return column_means(sums, ())[1] if centring.intercept is not None else 0.0


def one_factor_stats(sums: RowSums, fixed_terms, factor, centring) -> GroupStats:
    """:class:`GroupStats` of the design's only factor from its raw sums (``centring`` the
    design's, at the exact means)."""
    w_terms = [fixed_terms[k] for k in centring.order]
    c, shift = centre_values(centring), centring_shift(sums, centring)
    WtW, Wty, yty = centred_pooled(sums, w_terms, c, shift)
    ZtZ, ZtW, Zty = centred_levels(sums, 0, factor.terms, w_terms, c, shift)
    offset = np.zeros(len(w_terms))
    if centring.intercept is not None:
        offset[0] = shift
    return GroupStats(factor=factor.name, n=sums.n, yty=yty, WtW=WtW, Wty=Wty, ZtZ=ZtZ,
                      ZtW=ZtW, Zty=Zty, offset=offset, B=centring.B)


def several_factor_stats(sums: RowSums, fixed_terms, factors, centring,
                         order: tuple[int, ...]) -> CrossedStats:
    """:class:`CrossedStats` from the raw sums, factors eliminated in ``order``."""
    w_terms = [fixed_terms[k] for k in centring.order]
    c, shift = centre_values(centring), centring_shift(sums, centring)
    p = len(w_terms)
    WtW, Wty, yty = centred_pooled(sums, w_terms, c, shift)
    first = order[0]
    f1 = factors[first]
    Z1tZ1, Z1tW, Z1ty = centred_levels(sums, first, f1.terms, w_terms, c, shift)
    rest, start = [], 0
    for g in order[1:]:
        rest.append((start, factors[g].n_levels, factors[g].q))
        start += factors[g].n_levels * factors[g].q
    m2, J1, q1 = start, f1.n_levels, f1.q
    Z2tZ2 = np.zeros((m2, m2))
    Z2tW = np.empty((m2, p))
    Z2ty = np.empty(m2)
    Z1tZ2 = np.zeros((J1, q1, m2))
    for (o, J, q), g in zip(rest, order[1:], strict=True):
        ZZ, ZW, Zy = centred_levels(sums, g, factors[g].terms, w_terms, c, shift)
        rows = o + np.arange(J * q)
        Z2tW[rows] = ZW.reshape(J * q, p)
        Z2ty[rows] = Zy.reshape(J * q)
        for j in range(q):
            for k in range(q):
                Z2tZ2[o + np.arange(J) * q + j, o + np.arange(J) * q + k] = ZZ[:, j, k]
        Z1tZ2[:, :, o:o + J * q] = pair_block(sums, first, g, factors).transpose(
            0, 2, 1, 3).reshape(J1, q1, J * q)
    for (o, J, q), g in zip(rest, order[1:], strict=True):
        for (o2, J2, q2), h in zip(rest, order[1:], strict=True):
            if g < h:
                block = pair_block(sums, g, h, factors)  # (J, J2, q, q2)
                M = block.transpose(0, 2, 1, 3).reshape(J * q, J2 * q2)
                Z2tZ2[o:o + J * q, o2:o2 + J2 * q2] = M
                Z2tZ2[o2:o2 + J2 * q2, o:o + J * q] = M.T
    offset = np.zeros(p)
    if centring.intercept is not None:
        offset[0] = shift
    return CrossedStats(order=tuple(order), n=sums.n, yty=yty, WtW=WtW, Wty=Wty, Z1tZ1=Z1tZ1,
                        Z1tW=Z1tW, Z1ty=Z1ty, Z1tZ2=Z1tZ2, Z2tZ2=Z2tZ2, Z2tW=Z2tW, Z2ty=Z2ty,
                        rest=tuple(rest), offset=offset, B=centring.B)


def pair_block(sums: RowSums, g: int, h: int, factors) -> np.ndarray:
    """Σ z_g z_h per pair of levels and terms, (J_g, J_h, q_g, q_h) for any two factors."""
    a, b = min(g, h), max(g, h)
    fa, fb = factors[a], factors[b]
    block = sums.pairs[(a, b)].values().reshape(fa.n_levels, fb.n_levels, fa.q, fb.q)
    return block if g == a else block.transpose(1, 0, 3, 2)


def raw_stats(sums: RowSums, fixed_terms, factor) -> GroupStats:
    """The uncentred cross-products XᵀX, Xᵀy, yᵀy, ZᵀZ, ZᵀX, Zᵀy (X in formula order) of one
    grouping factor, from the raw sums (REML / ML, :class:`hiermod.mle.LmmProblem`)."""
    p = len(fixed_terms)
    identity = Centring(None, tuple(range(p)), np.zeros(0), np.eye(p))
    return one_factor_stats(sums, fixed_terms, factor, identity)


def second_moments(sums: RowSums, factors) -> tuple[np.ndarray, ...]:
    """Per factor: ZᵀZ / n over all rows (q × q), from the raw sums."""
    out = []
    for g, fd in enumerate(factors):
        keys = [column_key(t) for t in fd.terms]
        M = np.empty((fd.q, fd.q))
        for a in range(fd.q):
            for b in range(a, fd.q):
                M[a, b] = M[b, a] = sums.level_sum(g, pair(keys[a], keys[b])).total().values()[0]
        out.append(M / sums.n)
    return tuple(out)
