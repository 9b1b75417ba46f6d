"""Checks of the data against a spec, each raising a DataError that names the column and the
rows, before any model is built."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, did_you_mean, format_rows


class DataWarning(UserWarning):
    """Something in the data a user should know about that does not stop the fit."""


#: warnings point at the user's call, not at hiermod's own files
PACKAGE_DIR = (str(Path(__file__).resolve().parents[1]),)


def warn(message: str) -> None:
    """A DataWarning attributed to the caller's code."""
    warnings.warn(message, DataWarning, skip_file_prefixes=PACKAGE_DIR)


def show(value, width: int = 24) -> str:
    """A value for a message: its repr, shortened so that no long cell is echoed."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 4] + "...'"


def show_columns(columns, limit: int = 30) -> str:
    """Column names for a message (at most ``limit``, each shortened)."""
    cols = [str(c) if len(str(c)) <= 40 else str(c)[:36] + "..." for c in columns]
    more = f" (and {len(cols) - limit} more)" if len(cols) > limit else ""
    return ", ".join(cols[:limit]) + more


def check_columns(data: pd.DataFrame, roles: dict[str, str]) -> None:
    missing = [c for c in roles if c not in data.columns]
    if missing:
        cols = ", ".join(f"'{c}' ({roles[c]}){did_you_mean(c, data.columns)}" for c in missing)
        raise DataError(f"unknown column{'s' if len(missing) > 1 else ''} {cols}; the data have "
                        f"columns: {show_columns(data.columns)}")


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
    if bad.all():
        raise DataError(f"every row has a missing value in the model's columns "
                        f"({', '.join(repr(c) for c in cols if na[c].any())}): no rows are left "
                        "after dropping them")
    warn(f"dropped {len(dropped)} of {len(data)} rows with missing values "
         f"({format_rows(list(dropped))})")
    return data.loc[~bad], dropped


def numeric_column(data: pd.DataFrame, col: str, role: str, hint: str = "") -> np.ndarray:
    """The column as floats; text that reads as numbers is converted with a warning. ``hint``
    ends the error for a non-numeric column (what to do instead)."""
    raw = data[col]
    if isinstance(raw.dtype, pd.CategoricalDtype):
        raw = raw.astype(object)
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        examples = ", ".join(show(v) for v in raw[bad].unique()[:3])
        raise DataError(f"the {role} '{col}' must be numeric; non-numeric values ({examples}) in "
                        f"{format_rows(list(data.index[bad]))}{hint}")
    if raw.dtype.kind == "O" or pd.api.types.is_string_dtype(raw.dtype):
        warn(f"the {role} '{col}' holds numbers written as text; they are used as numbers. "
             f"Convert the column (pd.to_numeric) to silence this warning")
    return values.to_numpy(dtype=float)


def value_labels(x: pd.Series) -> pd.Series:
    """The text of each value, whole numbers without a decimal point (1.0 -> '1')."""
    if pd.api.types.is_bool_dtype(x):
        return x.map(lambda v: str(bool(v)))
    if pd.api.types.is_numeric_dtype(x):
        return x.map(lambda v: str(int(v)) if float(v).is_integer() else repr(float(v)))
    return x.astype(str)


def event_indicator(data: pd.DataFrame, col: str, event: str) -> np.ndarray:
    """1.0 where the outcome column equals the event level (compared as text), else 0.0.

    Raises
    ------
    DataError
        The column has no such value (the message lists its values, with a suggestion), or it
        has more than two values.
    """
    labels = value_labels(data[col])
    values = sorted(labels.unique())
    if event not in values:
        raise DataError(f"the outcome '{col}' has no value {event!r} to count as the event; its "
                        f"values: {', '.join(repr(v) for v in values[:10])}"
                        f"{did_you_mean(event, values)}")
    if len(values) > 2:
        raise DataError(f"the outcome '{col}' of a yes/no model must have two values; it has "
                        f"{len(values)} ({', '.join(repr(v) for v in values[:10])}): recode it "
                        f"into {event!r} and one other value")
    return (labels == event).to_numpy(dtype=float)


def yes_no_hint(data: pd.DataFrame, col: str) -> str:
    """For a non-numeric bernoulli outcome: how to name its event level."""
    if pd.api.types.is_numeric_dtype(data[col]):
        return ""
    values = sorted(value_labels(data[col].dropna()).unique())
    if len(values) != 2:
        return ""
    return (f". A yes/no outcome needs the value counted as 1: event={values[1]!r} "
            f"(hm.fit(..., event=...), or event = \"{values[1]}\" in a model file's [model])")


def check_factor(rows, name: str, index: np.ndarray, levels: tuple, q: int) -> None:
    """At least two levels, fewer levels than rows; a warning for single-observation levels
    whose varying slopes only the prior informs."""
    sizes = np.bincount(index, minlength=len(levels)) if len(levels) >= 2 else None
    check_level_counts(name, sizes, levels, q, lambda singles: format_rows(
        [rows[np.flatnonzero(index == j)[0]] for j in singles]))


def check_level_counts(name: str, sizes: np.ndarray | None, levels: tuple, q: int,
                       where=None) -> None:
    """:func:`check_factor` from the number of rows of each level (``sizes``; None with fewer
    than two levels); ``where(singles)`` names the rows of single-observation levels in the
    warning (left out when None)."""
    n_levels = len(levels)
    if n_levels < 2:
        raise DataError(f"the grouping factor '{name}' has a single level "
                        f"({levels[0]!r}): a varying effect needs at least two groups")
    n = int(np.sum(sizes))
    if n_levels >= n:
        raise DataError(f"every level of the grouping factor '{name}' has one observation "
                        f"({n_levels} levels, {n} rows): its effects cannot be told "
                        "apart from the residual")
    singles = np.flatnonzero(sizes == 1)
    if len(singles) and q > 1:
        rows = f"; {where(singles)}" if where is not None else ""
        warn(f"{len(singles)} level(s) of '{name}' have a single observation "
             f"({', '.join(levels[j] for j in singles[:10])}{rows}): "
             f"their varying slopes are informed by the prior and the other groups only")
