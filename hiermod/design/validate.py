"""The columns a spec uses, checked and given one plain type each before any matrix is built.

Every column the model reads is one of five kinds, and nothing else gets through:

========  ==============================================  ==================================
kind      pandas dtypes                                   as a predictor
========  ==============================================  ==================================
number    int*, float*, nullable Int64 / Float64,         a slope
          object columns holding only numbers
bool      bool, nullable boolean, object of True/False    a slope (0/1)
text      object / string columns holding only strings    a factor (levels in byte order)
category  pandas Categorical (ordered or not)             a factor (levels in category order)
========  ==============================================  ==================================

A column that mixes kinds (``1`` and ``"1"``), holds other objects (dates, lists, complex
numbers) or infinite values is refused with a :class:`~hiermod.errors.DataError` naming the
column and rows, since any choice hiermod made for it would be silent: merging ``1`` with
``"1"``, or a date with its text. Text that reads as numbers in a term of its own is a factor
(the quoted-is-factor convention of CSV files) and a :class:`DataWarning` says so, unless the
column is a Categorical, which states the intent. Nullable dtypes become their numpy
counterparts once missing rows are gone, and unused categories are dropped, so that the
design never holds an all-zero column for a level no row has.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from scipy import linalg

from .. import names
from ..errors import DataError, SpecError, format_rows
from ..frame import bare_columns, expression_columns, labels_collide, reads_as_numbers
from .checks import show, warn

KINDS = ("number", "bool", "text", "category")
#: the largest magnitude of a number a model may use (its square stays finite)
MAGNITUDE_MAX = 1e150
#: lme4's tolerance for the rank of the fixed-effects matrix (``checkRankX``)
RANK_TOL = 1e-7


# --- the frame and its column names ---------------------------------------------------------


def check_frame(data) -> None:
    """A DataFrame with rows."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise DataError("data has no rows")


def check_roles(spec, roles: dict[str, str]) -> None:
    """Column names that would change the model's meaning: a predictor called 'Intercept'
    (it would replace the intercept's row) and the outcome used again on the right."""
    if names.INTERCEPT in roles:
        raise SpecError(f"a column named '{names.INTERCEPT}' is used in the formula; hiermod "
                        "names the intercept so, and the two would be confused: rename the "
                        "column")
    outcome = spec.response.name
    right = expression_columns(spec.fixed) + [c for g in spec.groups
                                              for c in expression_columns(g.expr)
                                              + g.factor.split(":")]
    if outcome in right or outcome in (spec.response.trials, spec.response.failures):
        raise SpecError(f"the outcome '{outcome}' is also used on the right of '~' (or as the "
                        "trials): a model cannot predict a column from itself")


def used_frame(data: pd.DataFrame, roles: dict[str, str]) -> pd.DataFrame:
    """The model's columns (names checked to exist already), each present once."""
    dup = [c for c in roles if int(np.sum(data.columns == c)) > 1]
    if dup:
        raise DataError(f"the data have several columns named {', '.join(map(repr, dup))}; "
                        "column names must be unique: rename them")
    return data.loc[:, list(roles)].copy()


# --- kinds ----------------------------------------------------------------------------------


#: pandas' inferred type of an object column -> its kind, where that settles it (the rest,
#: mixed or unusual values, are looked at one by one)
FAST_KINDS = {"string": "text", "empty": "text", "integer": "number", "floating": "number",
              "mixed-integer-float": "number", "boolean": "bool"}


def value_kind(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, numbers.Real):
        return "number"
    if isinstance(v, str):
        return "text"
    return type(v).__name__


def column_kind(s: pd.Series) -> str:
    """The kind of a column (one of KINDS), or the name of an unsupported type."""
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dt):
        return "bool"
    if pd.api.types.is_integer_dtype(dt) or pd.api.types.is_float_dtype(dt):
        return "number"
    if isinstance(dt, pd.StringDtype):  # pandas' text dtypes hold str (or missing) only
        return "text"
    if dt.kind == "O":
        inferred = pd.api.types.infer_dtype(s, skipna=True)  # one C pass
        if inferred in FAST_KINDS:
            return FAST_KINDS[inferred]
        kinds = set(s.dropna().map(value_kind))
        return kinds.pop() if len(kinds) == 1 else ("text" if not kinds else "mixed")
    if pd.api.types.is_string_dtype(dt):
        return "text"
    return str(dt)


def mixed_message(s: pd.Series, col: str, role: str) -> str:
    values = s.dropna()
    kinds = values.map(value_kind)
    examples = [f"{show(values[kinds == k].iloc[0])} ({k}, {format_rows([values.index[kinds == k][0]])})"
                for k in dict.fromkeys(kinds)]
    return (f"the {role} '{col}' mixes types: {'; '.join(examples[:4])}. hiermod does not merge "
            f"or guess (1 and '1' would become one level): make it one type, e.g. "
            f"data['{col}'] = data['{col}'].astype(str)")


def check_kinds(frame: pd.DataFrame, roles: dict[str, str]) -> dict[str, str]:
    """column -> kind; a DataError for a column of mixed or unsupported types."""
    kinds = {}
    for col, role in roles.items():
        s = frame[col]
        kind = column_kind(s)
        if kind == "mixed":
            raise DataError(mixed_message(s, col, role))
        if kind == "category":
            cats = column_kind(pd.Series(s.cat.categories, dtype=object))
            if cats not in ("number", "bool", "text"):
                raise DataError(f"the categories of the {role} '{col}' mix types "
                                f"({', '.join(show(c) for c in s.cat.categories[:4])}): make "
                                "them one type")
        elif kind not in KINDS:
            raise DataError(f"the {role} '{col}' has values of type {kind}, which hiermod "
                            "cannot use: convert it to numbers (a slope), or to text / a "
                            f"Categorical (a factor), e.g. data['{col}'].astype(str)")
        kinds[col] = kind
    return kinds


def plain(s: pd.Series, kind: str) -> pd.Series:
    """The column with numpy dtypes (no missing values left): numbers as int64 / float64,
    bools as bool, text as object, categoricals without unused categories."""
    if kind == "category":
        return s.cat.remove_unused_categories()
    if kind == "bool":
        return s.astype(bool)
    if kind == "number":
        if s.dtype == object:
            return pd.to_numeric(s)
        if isinstance(s.dtype, pd.api.extensions.ExtensionDtype):
            return s.astype(s.dtype.numpy_dtype)
        return s
    return s.astype(object)


def check_finite(s: pd.Series, col: str, role: str) -> None:
    """Finite numbers of a size whose squares and sums stay finite (|v| <= 1e150)."""
    if s.dtype.kind not in "iuf":
        return
    values = s.to_numpy().astype(float)
    bad = ~np.isfinite(values)
    if bad.any():
        vals = ", ".join(sorted({str(v) for v in values[bad]}))
        raise DataError(f"the {role} '{col}' holds non-finite values ({vals}) in "
                        f"{format_rows(list(s.index[bad]))}: every value a model uses "
                        "must be a finite number; fix or drop those rows")
    huge = np.abs(values) > MAGNITUDE_MAX
    if huge.any():
        raise DataError(f"the {role} '{col}' holds values as large as "
                        f"{np.max(np.abs(values)):.3g} ({format_rows(list(s.index[huge]))}): "
                        "their squares overflow; rescale the column (divide by a power of ten, "
                        "or standardize it)")


def prepare(frame: pd.DataFrame, spec, roles: dict[str, str],
            kinds: dict[str, str]) -> pd.DataFrame:
    """The used columns (no missing values left) with plain types, finite numbers, grouping
    labels that keep every value apart, and a warning for numbers written as text in a term
    of their own."""
    out = frame.copy()
    for col, kind in kinds.items():
        out[col] = plain(out[col], kind)
        check_finite(out[col], col, roles[col])
    bare = set(bare_columns(spec.fixed)).union(*(bare_columns(g.expr) for g in spec.groups))
    for col in sorted(bare & set(kinds), key=list(kinds).index):
        if kinds[col] in ("text", "category") and out[col].nunique() < 2:
            raise DataError(f"the predictor '{col}' is a factor with a single level "
                            f"({show(out[col].iloc[0])}) in the rows used: it has no contrast "
                            "to estimate; drop it from the formula")
        if kinds[col] == "text" and reads_as_numbers(out[col]):
            levels = out[col].nunique()
            examples = ", ".join(show(v) for v in out[col].unique()[:3])
            warn(f"the predictor '{col}' holds numbers written as text ({examples}, ...): it is "
                 f"used as a factor with {levels} levels. For a slope convert it "
                 f"(data['{col}'] = pd.to_numeric(data['{col}'])); to keep it a factor without "
                 f"this warning make it a Categorical (data['{col}'].astype('category'))")
    for factor in spec.factors:
        for col in factor.split(":"):
            if labels_collide(out, col):
                raise DataError(f"the grouping factor '{col}' has distinct values with the same "
                                "label; make its values one type (e.g. text)")
    return out


# --- the fixed-effects matrix ----------------------------------------------------------------


def check_matrix(M: np.ndarray, terms: tuple[str, ...], rows: np.ndarray, where: str) -> None:
    """Every column of a model matrix finite (a transformation outside its domain, such as
    log of a value <= 0, gives NaN or -inf)."""
    bad = ~np.isfinite(M)
    if not bad.any():
        return
    k = int(np.flatnonzero(bad.any(axis=0))[0])
    vals = ", ".join(sorted({str(v) for v in M[bad[:, k], k]}))
    raise DataError(f"the {where} column '{terms[k]}' is not finite ({vals}) in "
                    f"{format_rows(list(rows[bad[:, k]]))}: a function outside its domain (log "
                    "or sqrt of values <= 0, ...) or an extreme value; transform the data so "
                    "that every row gives a finite number, or drop those rows")


def check_identifiable(X: np.ndarray, terms: tuple[str, ...]) -> None:
    """The fixed effects are identifiable: X has full column rank.

    Raises
    ------
    DataError
        Naming an all-zero column (an empty cell of an interaction), a predictor constant
        next to the intercept, more fixed effects than rows, or collinear columns.

    Notes
    -----
    The rank is that of a column-pivoted QR decomposition of X with columns scaled to unit
    root mean square (after dividing by their largest magnitude, so no square overflows), counting |R_kk| > 1e-7·|R_11| as lme4's ``checkRankX`` does. A dependent
    column k (pivoted past the rank) solves R₁₁ c = r_k; the terms with |c| > 1e-6 are the ones
    it is a combination of.
    """
    n, p = X.shape
    if p == 0:
        return
    empty = np.zeros(p)
    top = check_column_ranges(terms, n, X.min(axis=0) if n else empty,
                              X.max(axis=0) if n else empty)
    check_rank(X / top, terms)


def check_column_ranges(terms: tuple[str, ...], n: int, low: np.ndarray, high: np.ndarray
                        ) -> np.ndarray:
    """The checks of :func:`check_identifiable` that need only the row count and each
    column's range (so data in partitions can make them): more rows than fixed effects, no
    all-zero column, no constant predictor next to the intercept. Returns each column's
    largest magnitude."""
    p = len(terms)
    if n < p:
        raise DataError(f"{p} fixed effects ({', '.join(terms)}) but only {n} rows: a "
                        "model needs more rows than fixed effects")
    top = np.maximum(np.abs(low), np.abs(high))
    zero = [terms[k] for k in np.flatnonzero(top == 0)]
    if zero:
        raise DataError(f"the fixed-effect column(s) {', '.join(map(repr, zero))} are 0 in "
                        "every row (no row has that level or combination of levels): drop the "
                        "term, or merge the empty levels")
    if names.INTERCEPT in terms:
        const = [k for k in range(p) if terms[k] != names.INTERCEPT and low[k] == high[k]]
        if const:
            k = const[0]
            raise DataError(f"the predictor '{terms[k]}' has the same value ({low[k]:g}) in "
                            "every row, so its effect cannot be told apart from the intercept: "
                            "drop it")
    return top


def check_rank(M: np.ndarray, terms: tuple[str, ...]) -> None:
    """The rank test of :func:`check_identifiable` on ``M``: the fixed-effects matrix (each
    column divided by its largest magnitude), or any matrix with the same cross-product
    MᵀM up to a factor per column — a square root of XᵀX when the rows are not at hand.

    Raises
    ------
    DataError
        Naming the collinear columns.
    """
    p = M.shape[1]
    _, R, piv = linalg.qr(M / np.sqrt(np.mean(M**2, axis=0)), mode="economic",
                          pivoting=True)
    d = np.abs(np.diag(R))
    rank = int(np.sum(d > RANK_TOL * d[0]))
    if rank == p:
        return
    k = rank  # the first dependent column, in pivoted order
    c = linalg.solve_triangular(R[:rank, :rank], R[:rank, k])
    involved = [terms[piv[k]]] + [terms[piv[j]] for j in np.flatnonzero(np.abs(c) > 1e-6)]
    involved = [t for t in terms if t in involved]  # in formula order
    raise DataError(f"the fixed-effect columns {', '.join(map(repr, involved))} are collinear "
                    "(one is a linear combination of the others), so their effects cannot be "
                    f"told apart ({p - rank} of {p} columns redundant): drop or combine "
                    "predictors")
