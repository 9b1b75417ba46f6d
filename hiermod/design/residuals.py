"""The residual structure of a Design: units, times and the residual-sd model, checked.

With a :class:`~hiermod.formula.residuals.ResidualSpec` the residuals of one unit (a level of
the correlation's unit column) have covariance

    Ω_u = S_u R_u(φ) S_u,    S_u = diag(σ_i),    log σ_i = log σ + v_iᵀδ,

with R_u the AR(1) (corr φ^|t_i − t_k|, integer t), CAR(1) (real t) or compound-symmetry
correlation, or I without a correlation; residuals of different units are independent. v_i
are the columns of the ``sigma=`` model: a dummy per non-reference level of a factor (one sd
per level, nlme's ``varIdent``), or a numeric variable (log σ linear in it, nlme's
``varExp``). Every check on the data happens here, before any model exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import names
from ..errors import DataError, SpecError, format_rows
from ..formula.residuals import ResidualSpec
from ..frame import factor_codes
from .checks import numeric_column


@dataclass(frozen=True, eq=False)
class ResidualDesign:
    """Numbers of a residual structure, aligned with the Design's rows.

    Attributes
    ----------
    spec : ResidualSpec
    kind : {"ar1", "car1", "cs"} or None
        The correlation (None: independent residuals, possibly heteroskedastic).
    unit : ndarray (n,)
        Unit code of each row (every row its own unit without a correlation).
    unit_levels : tuple of str
    time : ndarray (n,)
        The time of each row (ar1 / car1); zeros otherwise.
    V : ndarray (n, r)
        Columns of the residual-sd model (log σ_i = log σ + V_i δ).
    variance_columns : tuple of (column, level or None)
        What each column of V is: the dummy of ``level`` of a factor, or a numeric variable.
    variance_levels : tuple of (column, levels)
        The levels of each factor of the sd model, reference (σ itself) first.
    """

    spec: ResidualSpec
    kind: str | None
    unit: np.ndarray
    unit_levels: tuple[str, ...]
    time: np.ndarray
    V: np.ndarray
    variance_columns: tuple[tuple[str, str | None], ...] = ()
    variance_levels: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def r(self) -> int:
        """Number of residual-sd coefficients δ."""
        return self.V.shape[1]

    @property
    def n_units(self) -> int:
        return len(self.unit_levels)

    @property
    def has_correlation(self) -> bool:
        return self.kind is not None

    @property
    def corr_label(self) -> str | None:
        """Summary row of φ ('phi(time | id)'), None without a correlation."""
        c = self.spec.correlation
        return None if c is None else names.residual_corr_label(c.kind, c.group, c.time)

    @property
    def sigma_terms(self) -> tuple[str, ...]:
        """Coordinates of δ ('treat=B', 'time')."""
        return tuple(names.sigma_term(c, lvl) for c, lvl in self.variance_columns)

    @property
    def sigma_labels(self) -> tuple[str, ...]:
        """Summary rows of the residual-sd model, one per δ: 'sigma[treat=B]' (the sd at that
        level, σ·exp(δ)) or 'log_sigma[time]' (the slope δ itself)."""
        return tuple(names.sigma_level_label(c, lvl) if lvl is not None
                     else names.sigma_slope_label(c) for c, lvl in self.variance_columns)

    @property
    def reference_labels(self) -> dict[str, str]:
        """Factor of the sd model -> the row that σ itself is ('sigma[Sex=Female]')."""
        return {c: names.sigma_level_label(c, lv[0]) for c, lv in self.variance_levels}

    def row_order(self, block: np.ndarray | None = None) -> np.ndarray:
        """Rows sorted by (block, unit, time): the order the kernels work in."""
        keys = [self.time, self.unit] + ([] if block is None else [block])
        return np.lexsort(keys)


def _unit_codes(data: pd.DataFrame, group: str) -> tuple[np.ndarray, tuple[str, ...]]:
    return factor_codes(data, group)


def _check_time(rows, time: np.ndarray, unit: np.ndarray, levels, kind: str, column: str) -> None:
    bad = ~np.isfinite(time)
    if bad.any():
        raise DataError(f"the time '{column}' of {kind}() is not finite in "
                        f"{format_rows(list(rows[bad]))}")
    if kind == "ar1":
        frac = np.abs(time - np.round(time)) > 1e-8 * np.maximum(1.0, np.abs(time))
        if frac.any():
            raise DataError(f"ar1({column} | ...) needs whole-number occasions; '{column}' has "
                            f"fractional values in {format_rows(list(rows[frac]))}: use "
                            f"car1({column} | ...) for continuous time")
    order = np.lexsort((time, unit))
    same = (np.diff(unit[order]) == 0) & (np.diff(time[order]) == 0)
    if same.any():
        k = int(np.flatnonzero(same)[0])
        a, b = order[k], order[k + 1]
        n_dup = int(same.sum())
        raise DataError(f"{kind}(): unit {levels[unit[a]]!r} has two rows at {column} = "
                        f"{time[a]:g} ({format_rows([rows[a], rows[b]])}; {n_dup} such "
                        f"pair{'s' if n_dup > 1 else ''} in all): each time may occur once per "
                        "unit")


def _check_nested(rows, unit: np.ndarray, unit_levels, factors, kind: str, group: str) -> None:
    """Every unit lies inside one level of every grouping factor."""
    for fd in factors:
        pairs = np.unique(np.stack([unit, fd.index]), axis=1)
        counts = np.bincount(pairs[0], minlength=len(unit_levels))
        if np.any(counts > 1):
            u = int(np.flatnonzero(counts > 1)[0])
            lv = [fd.levels[j] for j in pairs[1][pairs[0] == u][:3]]
            first = [rows[np.flatnonzero((unit == u) & (fd.index == fd.levels.index(x)))[0]]
                     for x in lv]
            raise DataError(f"{kind}({group}): the unit {unit_levels[u]!r} has rows in several "
                            f"levels of the grouping factor '{fd.name}' ({', '.join(map(repr, lv))}; "
                            f"{format_rows(first)}). Residuals are correlated within a unit, so "
                            "each unit must lie inside one level of every grouping factor "
                            f"(e.g. correlation by '{fd.name}' itself)")


def _check_identifiable(unit: np.ndarray, n_units: int, factors, group: str) -> None:
    """cs(g) next to a varying intercept by the same units is one covariance twice."""
    for fd in factors:
        if names.INTERCEPT not in fd.terms or fd.n_levels != n_units:
            continue
        if len(np.unique(np.stack([unit, fd.index]), axis=1)[0]) == n_units:
            raise SpecError(f"cs({group}) and a varying intercept by '{fd.name}' give every "
                            "pair of a unit's residuals the same extra covariance: their split "
                            "is not identified (nlme stops on a ridge). Use one of them: drop "
                            f"the correlation, or write the varying part without an intercept, "
                            f"e.g. (0 + time | {fd.name})")


def _variance_columns(data: pd.DataFrame, spec, rows):
    cols, what, levels = [], [], []
    for term in spec.terms:
        x = data[term.column]
        categorical = term.categorical
        if categorical is None:
            categorical = not pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x)
        if categorical:
            codes, lv = factor_codes(data, term.column)
            if len(lv) < 2:
                raise DataError(f"sigma: the factor '{term.column}' has a single level "
                                f"({lv[0]!r}): a residual sd per level needs two or more")
            for k in range(1, len(lv)):
                cols.append((codes == k).astype(float))
                what.append((term.column, lv[k]))
            levels.append((term.column, tuple(lv)))
        else:
            v = numeric_column(data, term.column, "residual-sd variable")
            if not np.ptp(v) > 0:
                raise DataError(f"sigma: the variable '{term.column}' is constant; log σ needs "
                                "a variable that changes")
            cols.append(v)
            what.append((term.column, None))
    V = np.column_stack(cols) if cols else np.zeros((len(data), 0))
    return V, tuple(what), tuple(levels)


def make_residual_design(spec: ResidualSpec, data: pd.DataFrame, factors=()) -> ResidualDesign:
    """Check the data against a residual structure and build its numbers.

    Parameters
    ----------
    spec : ResidualSpec
    data : pandas.DataFrame
        The model's rows (after dropping missing values), in the Design's order.
    factors : tuple of FactorDesign
        The grouping factors: each unit must lie inside one level of each.

    Raises
    ------
    DataError
        A non-numeric or non-finite time, fractional occasions for ar1, a time repeated within
        a unit, a unit spread over several levels of a grouping factor, a one-level or
        constant variable in the sd model.
    SpecError
        cs(g) together with a varying intercept by the same units (not identified).
    """
    rows = np.asarray(data.index)
    n = len(data)
    corr = spec.correlation
    if corr is None:
        unit, unit_levels = np.arange(n), tuple(str(r) for r in rows)
        time = np.zeros(n)
        kind = None
    else:
        kind = corr.kind
        unit, unit_levels = _unit_codes(data, corr.group)
        _check_nested(rows, unit, unit_levels, factors, kind, corr.group)
        if corr.time is not None:
            time = numeric_column(data, corr.time, f"time of {kind}()")
            _check_time(rows, time, unit, unit_levels, kind, corr.time)
        else:
            time = np.zeros(n)
        if kind == "cs":
            _check_identifiable(unit, len(unit_levels), factors, corr.group)
    if spec.variance is not None:
        V, what, levels = _variance_columns(data, spec.variance, rows)
    else:
        V, what, levels = np.zeros((n, 0)), (), ()
    return ResidualDesign(spec=spec, kind=kind, unit=np.asarray(unit, dtype=np.int64),
                          unit_levels=tuple(unit_levels), time=np.asarray(time, dtype=float),
                          V=V, variance_columns=what, variance_levels=levels)
