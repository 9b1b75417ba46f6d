"""One partition's rows as a Design, encoded exactly as :func:`hiermod.make_design` encodes all
the rows at once.

Three things in a Design depend on all the rows and not on a partition's own: the levels of the
grouping factors (their order fixes the index of each group), the levels of factor predictors
(they fix the columns of X) and the state of stateful transforms (:mod:`.states`). The first
pass over the partitions (:mod:`.scan`) collects them; :class:`Encoder` holds them and the
formulae matrices built once on a few template rows with them set, and
:meth:`Encoder.design` turns each partition into a Design of its rows with the global levels —
so X, Z and the group index of every row are what the pandas path gives that row.

The checks of a partition's rows are the pandas path's own (:mod:`hiermod.design.validate`,
:mod:`hiermod.design.checks`, the family's row checks), with the partition named in messages.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import names
from ..design import Design, FactorDesign
from ..design.checks import DataWarning, handle_missing
from ..design.design import factor_design, read_outcome
from ..design.validate import check_finite, check_kinds, check_matrix, plain
from ..families import get_family
from ..frame import _numeric_key, factor_labels, matrix_columns, model_matrix
from .frames import in_partition
from .states import set_states


@dataclass(frozen=True)
class Context:
    """What every partition's work needs: the spec, the model's columns and their roles,
    ``dropna``, and (from the first pass on) the column kinds."""

    spec: object
    roles: dict
    dropna: bool
    kinds: dict | None = None


def clean(part: pd.DataFrame, k: int, ctx: Context, record: list | None = None
          ) -> tuple[pd.DataFrame, dict, int, list]:
    """A partition's model columns checked and given plain types, rows with missing values
    dropped (``dropna``) or refused: (frame, kinds, rows dropped, their labels (≤ 10))."""
    with in_partition(k), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        data = part.loc[:, list(ctx.roles)]
        kinds = check_kinds(data, ctx.roles)
        na = data.isna().any(axis=1).to_numpy()
        dropped, labels = 0, []
        if na.any():
            if not ctx.dropna:
                handle_missing(data, list(ctx.roles), False)  # raises, naming the rows
            dropped, labels = int(na.sum()), list(data.index[na][:10])
            data = data.loc[~na]
        data = data.copy()
        for col, kind in kinds.items():
            data[col] = plain(data[col], kind)
            check_finite(data[col], col, ctx.roles[col])
    if record is not None:
        record.extend(str(w.message) for w in caught)
    return data, kinds, dropped, labels


def outcome(frame: pd.DataFrame, spec, k: int, record: list | None = None
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """(y, trials) of a partition's cleaned rows, checked row by row by the family."""
    with in_partition(k), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        y, trials = read_outcome(spec, frame)
        get_family(spec.family, spec.link).check_outcome_rows(y, trials, np.asarray(frame.index),
                                                              spec.response.name)
    if record is not None:
        record.extend(str(w.message) for w in caught)
    return y, trials


@dataclass(frozen=True)
class FactorLevels:
    """A grouping factor's levels over all partitions; ``numeric`` holds the sorted values of
    a single numeric column (the index is then found by search), None otherwise."""

    name: str
    levels: tuple[str, ...]
    numeric: np.ndarray | None = None

    def index(self, frame: pd.DataFrame) -> np.ndarray:
        """The level index of every row."""
        cols = self.name.split(":")
        if self.numeric is not None:
            return np.searchsorted(self.numeric, frame[cols[0]].to_numpy(dtype=float))
        lookup = pd.Series(np.arange(len(self.levels)), index=pd.Index(self.levels))
        if len(cols) == 1 and not _numeric_key(frame[cols[0]]):
            labels = factor_labels(frame, self.name)
            return lookup.reindex(labels.to_numpy()).to_numpy(dtype=np.int64)
        group = frame.groupby(cols, sort=False, observed=True).ngroup().to_numpy()
        first = frame[cols].drop_duplicates()
        codes = lookup.reindex(factor_labels(first, self.name).to_numpy()).to_numpy(np.int64)
        return codes[group]


def level_keys(frame: pd.DataFrame, factor: str) -> dict[str, float | None]:
    """The labels of a grouping factor's values in a partition -> their numeric value (single
    numeric column) or None (:func:`hiermod.frame.factor_codes` orders levels so)."""
    cols = factor.split(":")
    first = frame[cols].drop_duplicates()
    labels = factor_labels(first, factor).to_numpy()
    if len(cols) == 1 and _numeric_key(first[cols[0]]):
        return dict(zip(labels, first[cols[0]].to_numpy(dtype=float), strict=True))
    return dict.fromkeys(labels)


def merged_levels(factor: str, keys: dict) -> FactorLevels:
    """The factor's levels, ordered as :func:`hiermod.frame.factor_codes` orders them."""
    numeric = [v for v in keys.values() if v is not None]
    if len(numeric) == len(keys) and keys:
        order = sorted(keys, key=lambda lbl: keys[lbl])
        return FactorLevels(factor, tuple(order), np.array([keys[lbl] for lbl in order]))
    return FactorLevels(factor, tuple(sorted(keys, key=lambda s: s.encode())))


@dataclass
class Encoder:
    """The formulae matrices of the fixed and varying parts, built on template rows with the
    global levels and transform states, and the grouping factors' levels."""

    spec: object
    ctx: Context
    fixed_matrix: object
    fixed_terms: tuple[str, ...]
    factors: tuple[FactorDesign, ...]  # template factors: name, terms, blocks
    factor_matrices: tuple
    levels: tuple[FactorLevels, ...]
    states: dict = field(default_factory=dict)

    @classmethod
    def build(cls, spec, ctx: Context, template: pd.DataFrame, categories: dict,
              levels: tuple[FactorLevels, ...], states: dict) -> Encoder:
        """Matrices on ``template`` rows whose factor predictors carry every level
        (``categories``: column -> levels, in formulae's order)."""
        frame = template.copy()
        for col, cats in categories.items():
            frame[col] = pd.Categorical(frame[col], categories=list(cats), ordered=True)
        fixed = model_matrix(spec.fixed, frame, "fixed effects")
        set_states(fixed, states)
        _, terms = matrix_columns(fixed, len(frame))
        names.check_user_names(terms, spec.factors)
        factors, mats = [], []
        for factor in spec.factors:
            fd, m = factor_design([g for g in spec.groups if g.factor == factor], frame, factor)
            for mat in m:
                set_states(mat, states)
            factors.append(fd)
            mats.append(m)
        return cls(spec, ctx, fixed, terms, tuple(factors), tuple(mats), tuple(levels), states)

    def design(self, frame: pd.DataFrame, k: int) -> Design:
        """The Design of a partition's cleaned rows (global levels, transform states)."""
        enc = copy.deepcopy(self)  # formulae objects keep per-evaluation data
        y, trials = outcome(frame, self.spec, k)
        n, rows = len(frame), np.asarray(frame.index)
        with in_partition(k):
            X = (matrix_columns(enc.fixed_matrix.evaluate_new_data(frame), n)[0]
                 if enc.fixed_matrix is not None else np.zeros((n, 0)))
            check_matrix(X, self.fixed_terms, rows, "fixed-effects")
            factors = []
            for fd, mats, lv in zip(enc.factors, enc.factor_matrices, self.levels, strict=True):
                Z = np.hstack([matrix_columns(m.evaluate_new_data(frame), n)[0] for m in mats])
                check_matrix(Z, fd.terms, rows, f"varying-effects (of '{fd.name}')")
                factors.append(FactorDesign(name=fd.name, terms=fd.terms, Z=Z,
                                            index=lv.index(frame), levels=lv.levels,
                                            blocks=fd.blocks))
        return Design(spec=self.spec, y=y, X=X, fixed_terms=self.fixed_terms,
                      factors=tuple(factors), trials=trials, rows=rows)
