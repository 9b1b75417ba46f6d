"""The second pass over the partitions: each partition's rows encoded as a Design
(:mod:`.encode`) and reduced to sums, and the sums of all partitions merged pairwise.

Per partition: the row count, exact column sums of y, X and every factor's Z
(:class:`~hiermod.exactsum.ColumnSums`: means and the default priors' scales), the exact sum of
the trials, each column's range and its range within each group (level-2 predictors), the
group sizes, and

* gaussian: the exact raw sums of products of :func:`hiermod.design.crossprod.row_sums`, which
  add up across partitions bit for bit, so the sufficient statistics made from them are the
  pandas path's;
* bernoulli, binomial, poisson: the partition's cells (:func:`hiermod.design.aggregate`),
  merged by :func:`hiermod.design.cells.merge_cells` in partition order (so the cells come in
  the order of their first row, as from all the rows at once; their sums of whole numbers are
  exact).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..design import aggregate
from ..design.cells import merge_cells
from ..design.crossprod import row_sums
from ..exactsum import ColumnSums, ExactSum
from .encode import Encoder, clean

STATS, CELLS = "stats", "cells"


@dataclass(frozen=True)
class SumContext:
    encoder: Encoder
    kind: str  # STATS or CELLS


@dataclass(frozen=True, eq=False)
class PartSums:
    """Sums over the rows of one partition, or of several merged."""

    n: int
    y: ColumnSums
    trials: ExactSum | None
    x: ColumnSums
    x_low: np.ndarray
    x_high: np.ndarray
    z: tuple[ColumnSums, ...]
    counts: tuple[np.ndarray, ...]
    group_low: tuple[np.ndarray, ...]
    group_high: tuple[np.ndarray, ...]
    rows: object = None  # RowSums (gaussian)
    cells: object = None  # Cells (bernoulli, binomial, poisson)


def group_range(index: np.ndarray, X: np.ndarray, J: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group and column of X: the smallest and largest value (inf, −inf for no rows)."""
    lo = np.full((J, X.shape[1]), np.inf)
    hi = np.full((J, X.shape[1]), -np.inf)
    np.minimum.at(lo, index, X)
    np.maximum.at(hi, index, X)
    return lo, hi


def sum_partition(part, k: int, sc: SumContext) -> PartSums | None:
    """The sums of one partition's rows (None for a partition left without rows)."""
    frame = clean(part, k, sc.encoder.ctx)[0]
    if not len(frame):
        return None
    d = sc.encoder.design(frame, k)
    ranges = [group_range(fd.index, d.X, fd.n_levels) for fd in d.factors]
    out = PartSums(
        n=d.n_obs, y=ColumnSums.of(d.y),
        trials=None if d.trials is None else ExactSum.of(d.trials),
        x=ColumnSums.of(d.X), x_low=d.X.min(axis=0), x_high=d.X.max(axis=0),
        z=tuple(ColumnSums.of(fd.Z) for fd in d.factors),
        counts=tuple(fd.sizes for fd in d.factors),
        group_low=tuple(r[0] for r in ranges), group_high=tuple(r[1] for r in ranges))
    if sc.kind == CELLS:
        return replace(out, cells=aggregate(d))
    return replace(out, rows=row_sums(d.X, d.fixed_terms, d.y, d.factors))


def merge_sums(a: PartSums | None, b: PartSums | None) -> PartSums | None:
    """The sums of two parts (a's rows before b's)."""
    if a is None or b is None:
        return a if b is None else b
    return PartSums(
        n=a.n + b.n, y=a.y + b.y, trials=None if a.trials is None else a.trials + b.trials,
        x=a.x + b.x, x_low=np.minimum(a.x_low, b.x_low), x_high=np.maximum(a.x_high, b.x_high),
        z=tuple(za + zb for za, zb in zip(a.z, b.z, strict=True)),
        counts=tuple(ca + cb for ca, cb in zip(a.counts, b.counts, strict=True)),
        group_low=tuple(np.minimum(la, lb) for la, lb in zip(a.group_low, b.group_low,
                                                               strict=True)),
        group_high=tuple(np.maximum(ha, hb) for ha, hb in zip(a.group_high, b.group_high,
                                                                strict=True)),
        rows=None if a.rows is None else a.rows + b.rows,
        cells=None if a.cells is None else merge_cells(a.cells, b.cells))
