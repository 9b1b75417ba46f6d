"""Data-frame helpers shared by the front ends, the design and the reports: the columns a spec
uses, grouping-factor codes, formulae model matrices, constancy within groups and nesting.

numpy / pandas / formulae only; nothing here knows about models.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from formulae import design_matrices

from .errors import DataError, SpecError
from .transforms import SAFE_NAMESPACE, safe_environment

#: a name in a formula: a letter (any script) or '_', then letters, digits, '_' or '.'
_NAME = re.compile(r"(?<![\w.])([^\W\d][\w.]*)(?![\w.]*\s*\()")


#: a plain decimal number written as text: '12', '-0.5', '1e3' (not 'nan' or 'inf')
NUMBER_TEXT = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def reads_as_numbers(values: pd.Series) -> bool:
    """Whether a column of text holds only plain numbers (missing values aside)."""
    values = values.dropna()
    return len(values) > 0 and bool(values.map(
        lambda v: isinstance(v, str) and NUMBER_TEXT.fullmatch(v) is not None).all())


def expression_columns(expr: str) -> list[str]:
    """Column names referred to by a formula expression (function names excluded)."""
    return [m.group(1) for m in _NAME.finditer(expr) if m.group(1) not in SAFE_NAMESPACE]


def bare_columns(expr: str) -> list[str]:
    """The columns an expression uses as terms of their own (``x`` in ``x + log(z)``), not as
    arguments of a function: the ones whose type decides between a slope and a factor."""
    out = []
    for m in _NAME.finditer(expr):
        depth = expr.count("(", 0, m.start()) - expr.count(")", 0, m.start())
        if depth == 0 and m.group(1) not in SAFE_NAMESPACE:
            out.append(m.group(1))
    return out


def used_columns(spec) -> dict[str, str]:
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
    residuals = getattr(spec, "residuals", None)
    if residuals is not None:
        for col, role in residuals.columns().items():
            roles.setdefault(col, role)
    return roles


def _numeric_key(k: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(k) and not pd.api.types.is_bool_dtype(k)


def _value_labels(k: pd.Series) -> np.ndarray:
    """The label of each value: whole numbers without a decimal point, other numbers by
    ``repr``, anything else as text."""
    if _numeric_key(k):
        return np.array([repr(v) if not float(v).is_integer() else str(int(v)) for v in k],
                        dtype=object)
    return k.astype(str).to_numpy(dtype=object)


def coded_labels(data: pd.DataFrame, factor: str) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """(codes, labels, values): each row's code, each code's label ('a:b' interacts columns)
    and, for one column, each code's value. Labels are made once per distinct value, not
    per row."""
    codes, labels, values = None, None, None
    for c in factor.split(":"):
        cc, uniq = pd.factorize(data[c], use_na_sentinel=False)
        values = pd.Series(uniq)
        lab = _value_labels(values)
        if codes is None:
            codes, labels = cc, lab
            continue
        both, pairs = pd.factorize(codes * len(lab) + cc)
        labels = np.array([f"{labels[u // len(lab)]}:{lab[u % len(lab)]}" for u in pairs],
                          dtype=object)
        codes, values = both, None
    return codes.astype(np.int64), labels, values


def factor_labels(data: pd.DataFrame, factor: str) -> pd.Series:
    """The level label of every row of a grouping factor ('a:b' interacts columns): whole
    numbers without a decimal point, other numbers by ``repr``, anything else as text."""
    codes, labels, _ = coded_labels(data, factor)
    return pd.Series(labels[codes], index=data.index, dtype=object)


def labels_collide(data: pd.DataFrame, column: str) -> bool:
    """Whether distinct values of ``column`` get the same label (e.g. 1 and '1')."""
    _, labels, _ = coded_labels(data, column)
    return len(set(labels)) < len(labels)


def factor_codes(data: pd.DataFrame, factor: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Level index and level labels of a grouping factor ('a:b' interacts columns).

    Numeric ids sort numerically, strings in byte order (as lme4 does in the C locale).
    """
    cols = factor.split(":")
    codes, labels, values = coded_labels(data, factor)
    if len(cols) == 1 and _numeric_key(data[cols[0]]):
        first = {}
        for lab, v in zip(labels, values, strict=True):
            first.setdefault(lab, v)
        levels = tuple(lab for lab, _ in sorted(first.items(), key=lambda kv: (kv[1], kv[0])))
    else:
        levels = tuple(sorted(set(labels), key=lambda s: s.encode()))
    lookup = {lvl: i for i, lvl in enumerate(levels)}
    return np.array([lookup[lab] for lab in labels], dtype=np.int64)[codes], levels


def model_matrix(expr: str, data: pd.DataFrame, where: str):
    """formulae's common-effects matrix of ``expr`` on ``data``, with hiermod's safe functions
    (None for an empty part such as '0')."""
    try:
        dm = design_matrices(expr, data, na_action="error", env=safe_environment())
    except (DataError, SpecError):
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


def constant_within(x: np.ndarray, index: np.ndarray, n_groups: int,
                    rtol: float = 1e-9) -> np.ndarray:
    """Per group: True where every column of x (n,) or (n, k) is constant within the group
    (range ≤ rtol · the column's overall range)."""
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    ok = np.ones(n_groups, bool)
    for col in x.T:
        lo = np.full(n_groups, np.inf)
        hi = np.full(n_groups, -np.inf)
        np.minimum.at(lo, index, col)
        np.maximum.at(hi, index, col)
        scale = max(float(np.ptp(col)), 1e-300)
        ok &= (hi - lo) <= rtol * scale
    return ok


def outer_groups(inner: np.ndarray, outer: np.ndarray, n_inner: int) -> np.ndarray:
    """For each inner group, how many outer groups its rows fall in (1 everywhere: nested)."""
    pairs = np.unique(np.stack([inner, outer]), axis=1)
    return np.bincount(pairs[0], minlength=n_inner)


def is_nested(inner: np.ndarray, outer: np.ndarray, n_inner: int) -> bool:
    """Whether every inner group lies inside one outer group."""
    return bool(np.all(outer_groups(inner, outer, n_inner) <= 1))
