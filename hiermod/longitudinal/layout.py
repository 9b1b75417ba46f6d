"""A Design with a residual structure, laid out for the kernels: rows sorted by (block, unit,
time), with the boundaries of blocks and units and each row's time gap to the row before.

A *block* is a level of the grouping factor whose effects are integrated out (the marginal
covariance is block diagonal over them); without a grouping factor every unit is a block. A
*unit* is a level of the correlation's unit column (``ar1(t | id)``: a level of ``id``); units
are nested in blocks (checked by :func:`hiermod.design.residuals.make_residual_design`).
Without a correlation every row is its own unit.

As in :mod:`hiermod.marginal.suffstats` the fixed effects are in the sampled coordinates
(W = X B, :mod:`hiermod.design.centring`) and the outcome is shifted by its mean when the model
has an intercept, so that ``theta = c - offset``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecError

#: correlation structure -> the kernels' code
KIND_CODES = {None: 0, "ar1": 1, "car1": 2, "cs": 3}


@dataclass(frozen=True, eq=False)
class SerialData:
    """The sorted arrays of one Design (see the module docstring).

    ``order[k]`` is the Design row at sorted position k; ``block_starts`` (B + 1),
    ``unit_starts`` (U + 1) and ``block_units`` (B + 1, the first unit of each block) are
    boundaries in sorted positions / unit numbers; ``gap[k]`` is t_k − t_{k−1} within a unit
    (0 at a unit's first row).
    """

    kind: int
    order: np.ndarray
    block_starts: np.ndarray
    block_units: np.ndarray
    unit_starts: np.ndarray
    gap: np.ndarray
    y: np.ndarray
    W: np.ndarray
    Z: np.ndarray
    V: np.ndarray
    offset: np.ndarray
    B: np.ndarray
    factor: str | None
    n_levels: int

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def p(self) -> int:
        return self.W.shape[1]

    @property
    def q(self) -> int:
        return self.Z.shape[1]

    @property
    def r(self) -> int:
        return self.V.shape[1]

    @property
    def n_blocks(self) -> int:
        return len(self.block_starts) - 1

    def structure(self) -> tuple:
        """(kind, block_starts, block_units, unit_starts, gap): the kernels' first arguments."""
        return (self.kind, self.block_starts, self.block_units, self.unit_starts, self.gap)

    def theta_from_beta(self, beta: np.ndarray) -> np.ndarray:
        """θ from draws of β on the original scale (..., p)."""
        return beta @ np.linalg.inv(self.B).T - self.offset

    def to_sorted(self, values: np.ndarray) -> np.ndarray:
        """Values in Design row order (..., n) -> sorted order."""
        return values[..., self.order]

    def to_rows(self, values: np.ndarray) -> np.ndarray:
        """Values in sorted order (..., n) -> Design row order."""
        out = np.empty_like(values)
        out[..., self.order] = values
        return out


def serial_data(design, factor=None, by_unit: bool = False) -> SerialData:
    """Lay out a gaussian Design that has a residual structure.

    Parameters
    ----------
    design : Design
        With ``design.residuals`` (a plain design has independent residuals with one σ: an
        empty residual structure).
    factor : FactorDesign, str or None
        The grouping factor whose effects are integrated out; default the design's only one
        (none when the design has no grouping factor).
    by_unit : bool
        Integrate nothing out: blocks are units and Z is empty (the likelihood of the model
        with explicit group effects).

    Raises
    ------
    SpecError
        Several grouping factors and none chosen.
    """
    res = design.residuals
    n = design.n_obs
    if by_unit:
        fd = None
    elif factor is None:
        if len(design.factors) > 1:
            raise SpecError("the residual kernels integrate out one grouping factor; the design "
                            f"has {len(design.factors)}")
        fd = design.factors[0] if design.factors else None
    else:
        fd = design.factor(factor) if isinstance(factor, str) else factor
    if res is None:
        unit, time, V, kind = np.arange(n), np.zeros(n), np.zeros((n, 0)), None
    else:
        unit, time, V, kind = res.unit, res.time, res.V, res.kind
    block = fd.index if fd is not None else unit
    order = np.lexsort((time, unit, block))
    u_s, b_s = unit[order], block[order]
    new_unit = np.r_[True, u_s[1:] != u_s[:-1]]
    new_block = np.r_[True, b_s[1:] != b_s[:-1]]
    unit_starts = np.r_[np.flatnonzero(new_unit), n].astype(np.int64)
    block_starts = np.r_[np.flatnonzero(new_block), n].astype(np.int64)
    block_units = np.searchsorted(unit_starts, block_starts).astype(np.int64)
    t_s = time[order]
    gap = np.where(new_unit, 0.0, np.r_[0.0, np.diff(t_s)])
    cen = design.centring
    W = design.X @ cen.B
    offset = np.zeros(W.shape[1])
    shift = 0.0
    if cen.intercept is not None:
        shift = float(np.mean(design.y))
        offset[0] = shift
    Z = fd.Z if fd is not None else np.zeros((n, 0))
    return SerialData(
        kind=KIND_CODES[kind], order=order, block_starts=block_starts, block_units=block_units,
        unit_starts=unit_starts, gap=np.ascontiguousarray(gap, dtype=float),
        y=np.ascontiguousarray(np.asarray(design.y, float)[order] - shift),
        W=np.ascontiguousarray(W[order], dtype=float),
        Z=np.ascontiguousarray(np.asarray(Z, float)[order]),
        V=np.ascontiguousarray(np.asarray(V, float)[order]), offset=offset, B=cen.B,
        factor=None if fd is None else fd.name,
        n_levels=fd.n_levels if fd is not None else len(unit_starts) - 1)
