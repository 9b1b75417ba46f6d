"""Spec + DataFrame -> Design: the numbers every back end (PyMC, REML, reports) works from.

The fixed part gives ``X`` (n × p) with formulae's column names ("Intercept", "floor",
"sector[Public]", "meanses:cses"). Each grouping factor g gives a ``FactorDesign``: its level
index j[i] for every row, the varying-effects columns Z_g (n × q_g) and the blocks of terms
whose effects are correlated. The model is

    η_i = X_i β + Σ_g Z_g,i · u_g,j[i],     u_g,j ~ N(0, Σ_g)

with Σ_g block-diagonal over the blocks. All checks on the data happen here, before any
sampling: unknown columns, missing values, non-numeric or out-of-range outcomes, single-level
grouping factors.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from formulae import design_matrices

from . import names
from .errors import DataError, SpecError, format_rows
from .spec.types import GroupSpec, Spec
from .transforms import SAFE_NAMESPACE, safe_environment


class DataWarning(UserWarning):
    """Something in the data a user should know about that does not stop the fit."""


#: warnings point at the user's call, not at hiermod's own files
_PACKAGE_DIR = (str(Path(__file__).resolve().parent),)


@dataclass(frozen=True, eq=False)
class FactorDesign:
    """Varying effects of one grouping factor."""

    name: str
    terms: tuple[str, ...]
    Z: np.ndarray
    index: np.ndarray
    levels: tuple[str, ...]
    blocks: tuple[tuple[int, ...], ...]

    @property
    def q(self) -> int:
        return len(self.terms)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def sizes(self) -> np.ndarray:
        """n_j, the number of observations in each level."""
        return np.bincount(self.index, minlength=self.n_levels)

    @property
    def correlated(self) -> bool:
        return any(len(b) > 1 for b in self.blocks)


@dataclass(frozen=True, eq=False)
class Design:
    """Numeric design of a multilevel model (immutable hand-off between stages)."""

    spec: Spec
    y: np.ndarray
    X: np.ndarray
    fixed_terms: tuple[str, ...]
    factors: tuple[FactorDesign, ...]
    trials: np.ndarray | None = None
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    dropped_rows: tuple = ()
    level2_terms: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fixed_matrix: object = None  # formulae CommonEffectsMatrix, to encode new data alike
    factor_matrices: tuple = ()  # per factor: formulae matrices of its varying-effects columns

    @property
    def n_obs(self) -> int:
        return len(self.y)

    @property
    def family(self) -> str:
        return self.spec.family

    def factor(self, name: str) -> FactorDesign:
        for f in self.factors:
            if f.name == name:
                return f
        raise KeyError(f"no grouping factor '{name}'; factors: {[f.name for f in self.factors]}")

    def level2(self, factor: str) -> tuple[str, ...]:
        """Fixed-effect terms that are constant within the levels of ``factor``."""
        return dict(self.level2_terms).get(factor, ())

    @property
    def has_intercept(self) -> bool:
        return names.INTERCEPT in self.fixed_terms


# --- column discovery and data checks -----------------------------------------------------

_NAME = re.compile(r"(?<![A-Za-z0-9_.])([A-Za-z_][A-Za-z0-9_.]*)(?![A-Za-z0-9_.]*\s*\()")


def expression_columns(expr: str) -> list[str]:
    """Column names referred to by a formula expression (function names excluded)."""
    return [m.group(1) for m in _NAME.finditer(expr)
            if m.group(1) not in SAFE_NAMESPACE]


def used_columns(spec: Spec) -> dict[str, str]:
    """column -> the role it plays (for error messages), in formula order."""
    roles: dict[str, str] = {spec.response.name: "outcome"}
    if spec.response.trials:
        roles.setdefault(spec.response.trials, "trials")
    if spec.response.failures:
        roles.setdefault(spec.response.failures, "failures")
    for col in expression_columns(spec.fixed):
        roles.setdefault(col, "fixed-effect predictor")
    for g in spec.groups:
        for col in expression_columns(g.expr):
            roles.setdefault(col, f"varying-effect predictor of '{g.factor}'")
        for col in g.factor.split(":"):
            roles.setdefault(col, "grouping factor")
    return roles


def check_columns(data: pd.DataFrame, roles: dict[str, str]) -> None:
    missing = [c for c in roles if c not in data.columns]
    if missing:
        cols = ", ".join(f"'{c}' ({roles[c]})" for c in missing)
        raise DataError(f"unknown column{'s' if len(missing) > 1 else ''} {cols}; the data have "
                        f"columns: {', '.join(map(str, data.columns))}")


def handle_missing(data: pd.DataFrame, cols: list[str], dropna: bool) -> tuple[pd.DataFrame, tuple]:
    """Raise on missing values in the model's columns, or drop those rows when ``dropna``."""
    na = data[cols].isna()
    bad = na.any(axis=1)
    if not bad.any():
        return data, ()
    if not dropna:
        parts = [f"'{c}' ({format_rows(list(data.index[na[c]]))})" for c in cols if na[c].any()]
        raise DataError(f"missing values in {'; '.join(parts)}. Fill them in, or pass "
                        "dropna=True to drop those rows (the fit then reports how many)")
    dropped = tuple(data.index[bad])
    warnings.warn(f"dropped {len(dropped)} of {len(data)} rows with missing values "
                  f"({format_rows(list(dropped))})", DataWarning, skip_file_prefixes=_PACKAGE_DIR)
    return data.loc[~bad], dropped


def numeric_column(data: pd.DataFrame, col: str, role: str) -> np.ndarray:
    values = pd.to_numeric(data[col], errors="coerce")
    bad = values.isna() & data[col].notna()
    if bad.any():
        examples = ", ".join(repr(v) for v in data[col][bad].unique()[:3])
        raise DataError(f"the {role} '{col}' must be numeric; non-numeric values ({examples}) in "
                        f"{format_rows(list(data.index[bad]))}")
    return values.to_numpy(dtype=float)


def check_outcome(spec: Spec, data: pd.DataFrame, y: np.ndarray, trials: np.ndarray | None) -> None:
    col, family = spec.response.name, spec.family
    idx = data.index

    def fail(what: str, mask: np.ndarray) -> None:
        raise DataError(f"the outcome '{col}' of a {family} model {what}; offending "
                        f"{format_rows(list(idx[mask]))}")

    if family == "bernoulli":
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            vals = ", ".join(f"{v:g}" for v in pd.unique(y[bad])[:3])
            fail(f"must be 0 or 1, found {vals}", bad)
    elif family in ("binomial", "poisson"):
        bad = (y < 0) | (y != np.round(y))
        if bad.any():
            fail("must be whole numbers >= 0", bad)
    if family == "binomial":
        assert trials is not None
        bad_t = (trials < 1) | (trials != np.round(trials))
        if bad_t.any():
            raise DataError(f"the number of trials must be a whole number >= 1; offending "
                            f"{format_rows(list(idx[bad_t]))}")
        over = y > trials
        if over.any():
            fail("has more successes than trials", over)


def factor_codes(data: pd.DataFrame, factor: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Level index and level labels of a grouping factor ('a:b' interacts columns).

    Numeric ids sort numerically, strings in byte order (as lme4 does in the C locale).
    """
    cols = factor.split(":")
    keys = [data[c] for c in cols]
    parts = []
    for k in keys:
        if pd.api.types.is_numeric_dtype(k):
            parts.append(k.map(lambda v: repr(v) if not float(v).is_integer() else str(int(v))))
        else:
            parts.append(k.astype(str))
    label = parts[0] if len(parts) == 1 else parts[0].str.cat(parts[1:], sep=":")
    if len(cols) == 1 and pd.api.types.is_numeric_dtype(keys[0]):
        order = pd.Series(keys[0].to_numpy(), index=label.to_numpy()).groupby(level=0).first()
        levels = tuple(order.sort_values(kind="stable").index)
    else:
        levels = tuple(sorted(label.unique(), key=lambda s: s.encode()))
    lookup = {lvl: i for i, lvl in enumerate(levels)}
    return label.map(lookup).to_numpy(dtype=np.int64), levels


def check_factor(data: pd.DataFrame, fd: FactorDesign) -> None:
    if fd.n_levels < 2:
        raise DataError(f"the grouping factor '{fd.name}' has a single level "
                        f"({fd.levels[0]!r}): a varying effect needs at least two groups")
    if fd.n_levels >= len(data):
        raise DataError(f"every level of the grouping factor '{fd.name}' has one observation "
                        f"({fd.n_levels} levels, {len(data)} rows): its effects cannot be told "
                        "apart from the residual")
    singles = np.flatnonzero(fd.sizes == 1)
    if len(singles) and fd.q > 1:
        rows = [data.index[fd.index == j][0] for j in singles]
        warnings.warn(f"{len(singles)} level(s) of '{fd.name}' have a single observation "
                      f"({', '.join(fd.levels[j] for j in singles[:10])}; {format_rows(rows)}): "
                      f"their varying slopes are informed by the prior and the other groups only",
                      DataWarning, skip_file_prefixes=_PACKAGE_DIR)


# --- formulae ---------------------------------------------------------------------------------


def _formulae_matrix(expr: str, data: pd.DataFrame, where: str):
    try:
        dm = design_matrices(expr, data, na_action="error", env=safe_environment())
    except DataError:
        raise
    except Exception as exc:  # formulae raises many types; rewrap with context
        raise SpecError(f"cannot build the {where} from '{expr}': {exc}") from exc
    return dm.common


def matrix_columns(common, n_rows: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """The matrix and its column names; formulae gives ``None`` for an empty part ('0')."""
    if common is None:
        return np.zeros((n_rows, 0)), ()
    frame = common.as_dataframe()
    return np.asarray(frame, dtype=float), tuple(str(c) for c in frame.columns)


def factor_design(spec_groups: list[GroupSpec], data: pd.DataFrame, factor: str):
    """Merge all terms of one factor into one FactorDesign (block-diagonal covariance)."""
    cols, terms, blocks, mats = [], [], [], []
    for g in spec_groups:
        common = _formulae_matrix(g.expr, data, f"varying effects of '{factor}'")
        Z, t = matrix_columns(common, len(data))
        dup = set(t) & set(terms)
        if dup:
            raise SpecError(f"the term(s) {sorted(dup)} vary by '{factor}' twice; "
                            "list each varying effect once")
        start = len(terms)
        idx = tuple(range(start, start + len(t)))
        blocks.extend([idx] if g.correlated else [(i,) for i in idx])
        cols.append(Z)
        terms.extend(t)
        mats.append(common)
    index, levels = factor_codes(data, factor)
    fd = FactorDesign(name=factor, terms=tuple(terms), Z=np.hstack(cols), index=index,
                      levels=levels, blocks=tuple(blocks))
    return fd, tuple(mats)


def level2_terms(X: np.ndarray, terms: tuple[str, ...], fd: FactorDesign) -> tuple[str, ...]:
    """Fixed terms constant within every level of the factor (level-2 predictors)."""
    out = []
    for k, term in enumerate(terms):
        if term == names.INTERCEPT:
            continue
        x = X[:, k]
        lo = np.full(fd.n_levels, np.inf)
        hi = np.full(fd.n_levels, -np.inf)
        np.minimum.at(lo, fd.index, x)
        np.maximum.at(hi, fd.index, x)
        scale = max(np.ptp(x), 1e-300)
        if np.all(hi - lo <= 1e-9 * scale):
            out.append(term)
    return tuple(out)


def make_design(spec: Spec, data: pd.DataFrame, dropna: bool = False) -> Design:
    """Check the data against the spec and build the numeric design.

    Parameters
    ----------
    spec : Spec
        From :func:`hiermod.parse_formula` (or the level-wise / TOML front ends).
    data : pandas.DataFrame
    dropna : bool, default False
        Drop rows with missing values in the model's columns (reported by a warning and
        recorded in ``Design.dropped_rows``) instead of raising.

    Raises
    ------
    DataError
        Unknown column, missing values, non-numeric outcome, 0/1 outcome that isn't, successes
        above trials, a grouping factor with a single level.
    SpecError
        A term formulae cannot build.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise DataError("data has no rows")
    roles = used_columns(spec)
    check_columns(data, roles)
    if spec.levels is not None:
        from .spec.levels import check_levels

        check_levels(spec, data)
    data, dropped = handle_missing(data, list(roles), dropna)
    y = numeric_column(data, spec.response.name, "outcome")
    trials = None
    if spec.response.trials:
        trials = numeric_column(data, spec.response.trials, "number of trials")
    elif spec.response.failures:
        trials = y + numeric_column(data, spec.response.failures, "number of failures")
    check_outcome(spec, data, y, trials)

    fixed_common = _formulae_matrix(spec.fixed, data, "fixed effects")
    X, fixed_terms = matrix_columns(fixed_common, len(data))
    factors, mats = [], []
    for factor in spec.factors:
        fd, m = factor_design([g for g in spec.groups if g.factor == factor], data, factor)
        check_factor(data, fd)
        factors.append(fd)
        mats.append(m)
    l2 = tuple((fd.name, level2_terms(X, fixed_terms, fd)) for fd in factors)
    return Design(spec=spec, y=y, X=X, fixed_terms=fixed_terms, factors=tuple(factors),
                  trials=trials, rows=np.asarray(data.index), dropped_rows=dropped,
                  level2_terms=l2, fixed_matrix=fixed_common, factor_matrices=tuple(mats))
