"""The first pass over the partitions: every row-wise check, and what the encoding needs from
all the rows (:mod:`.encode`): the column kinds, the grouping factors' levels, the levels of
factor predictors and the ingredients of stateful transforms.

Each partition is checked by the pandas path's own checks and a failure names the partition
and its rows; the results of all partitions are merged pairwise (small: unique values and
sums), and the checks that need all the rows at once (kinds that differ between partitions, a
factor predictor with one level, a constant outcome) are made on the merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError
from ..frame import bare_columns, expression_columns, reads_as_numbers
from .encode import Context, clean, level_keys, outcome
from .states import ingredients, merge_ingredients

#: template rows kept from the first partition that has rows
TEMPLATE_ROWS = 20


@dataclass
class Scan:
    """The first pass's result for one partition, or for several merged (``partitions``)."""

    partitions: tuple[int, ...]
    n_rows: int = 0
    n_dropped: int = 0
    dropped_labels: dict = field(default_factory=dict)  # partition -> first labels
    kinds: dict = field(default_factory=dict)  # column -> {kind: first partition}
    levels: dict = field(default_factory=dict)  # factor -> {label: numeric key or None}
    values: dict = field(default_factory=dict)  # factor predictor -> set of values
    numbers_as_text: dict = field(default_factory=dict)  # column -> all partitions say so
    y_range: tuple[float, float] = (np.inf, -np.inf)
    states: dict | None = None
    warnings: dict = field(default_factory=dict)  # message -> first partition
    template: pd.DataFrame | None = None


def predictor_columns(spec, roles: dict, bare: bool = False) -> tuple[str, ...]:
    """The columns the fixed and varying parts read (``bare``: as terms of their own, not as
    a function's argument), in the roles' order."""
    read = bare_columns if bare else expression_columns
    used = set().union(*(read(e) for e in [spec.fixed] + [g.expr for g in spec.groups]))
    return tuple(c for c in roles if c in used)


@dataclass(frozen=True)
class ScanContext:
    ctx: Context
    predictors: tuple[str, ...]
    bare: tuple[str, ...]
    calls: dict


def scan_partition(part: pd.DataFrame, k: int, sc: ScanContext) -> Scan:
    """Check one partition and collect what the encoding needs from it."""
    notes: list[str] = []
    frame, kinds, dropped, labels = clean(part, k, sc.ctx, notes)
    y, _ = outcome(frame, sc.ctx.spec, k, notes)
    out = Scan((k,), n_rows=len(frame), n_dropped=dropped,
               dropped_labels={k: labels} if dropped else {},
               kinds={c: {kind: k} for c, kind in kinds.items()},
               warnings=dict.fromkeys(notes, k))
    if not len(frame):
        return out
    out.y_range = (float(np.min(y)), float(np.max(y)))
    out.levels = {f: level_keys(frame, f) for f in sc.ctx.spec.factors}
    for col in sc.predictors:
        if kinds[col] in ("text", "category"):
            out.values[col] = set(frame[col].unique())
            if col in sc.bare and kinds[col] == "text":
                out.numbers_as_text[col] = reads_as_numbers(frame[col])
    out.states = ingredients(sc.calls, frame) if sc.calls else None
    out.template = frame.head(TEMPLATE_ROWS)
    return out


def merge_scans(a: Scan, b: Scan) -> Scan:
    """Two parts' scans as one (a's partitions come before b's)."""
    kinds = {c: dict(a.kinds.get(c, {})) for c in set(a.kinds) | set(b.kinds)}
    for c, got in b.kinds.items():
        for kind, k in got.items():
            kinds[c].setdefault(kind, k)
    levels = {f: {**a.levels.get(f, {}), **b.levels.get(f, {})}
              for f in set(a.levels) | set(b.levels)}
    values = {c: a.values.get(c, set()) | b.values.get(c, set())
              for c in set(a.values) | set(b.values)}
    text = {c: a.numbers_as_text.get(c, True) and b.numbers_as_text.get(c, True)
            for c in set(a.numbers_as_text) | set(b.numbers_as_text)}
    if a.states is None or b.states is None:
        states = a.states if b.states is None else b.states
    else:
        states = merge_ingredients(a.states, b.states)
    return Scan(a.partitions + b.partitions, a.n_rows + b.n_rows, a.n_dropped + b.n_dropped,
                {**a.dropped_labels, **b.dropped_labels}, kinds, levels, values, text,
                (min(a.y_range[0], b.y_range[0]), max(a.y_range[1], b.y_range[1])), states,
                {**b.warnings, **a.warnings}, a.template if a.template is not None
                else b.template)


def check_scan(scan: Scan, roles: dict) -> dict[str, str]:
    """The checks that need every partition: one kind per column (else a DataError naming
    the partitions), some rows left. Returns column -> kind."""
    kinds = {}
    for col, got in scan.kinds.items():
        if len(got) > 1:
            where = "; ".join(f"{kind} in partition {k}" for kind, k in
                              sorted(got.items(), key=lambda kv: kv[1]))
            raise DataError(f"the {roles[col]} '{col}' has values of different types in "
                            f"different partitions ({where}): hiermod does not merge or guess; "
                            f"make it one type, e.g. ddf['{col}'] = ddf['{col}'].astype(str)")
        kinds[col] = next(iter(got))
    if scan.n_rows == 0:
        raise DataError("the Dask DataFrame has no rows" if not scan.n_dropped else
                        f"every row ({scan.n_dropped}) has a missing value in the model's "
                        "columns: no rows are left after dropping them")
    return {c: kinds[c] for c in roles}
