"""Stateful formula transforms over partitions: what each learns from the data, learnt from
sums over all partitions and set on the formula's matrices before any partition is encoded.

A stateful transform learns its parameters on the data a model is fitted to
(:mod:`hiermod.transforms`; formulae's ``center`` / ``scale``). On data in partitions each
partition must use the parameters of *all* the rows, or the design would change from one
partition to the next. The parameters are means, so they are computed from sums:

==============================  ===================================  ==========================
transform                       learns                               from, per partition
==============================  ===================================  ==========================
``cwc(x, g)``, ``gmean(x, g)``  x̄_j per group (label ``str(g)``)    Σx and n per group
``cgm(x)``, ``center(x)``       x̄                                    n, Σx, Σx²
``scale(x)``, ``standardize``   x̄ and sd(x) (divisor n)              n, Σx, Σx²
==============================  ===================================  ==========================

The sums are exact (:mod:`hiermod.exactsum`), as they are when the transforms learn from all
the rows at once, so the learnt states are the same to the last bit.

Other stateful transforms (``poly``, ``bs``) and ``C()`` (its levels come from the data) are
refused for Dask data with a message saying what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulae import model_description

from ..errors import SpecError
from ..exactsum import ColumnSums, ExactSum
from ..transforms import SAFE_NAMESPACE, Center, Cgm, Cwc, GroupMean, Scale, safe_environment

#: what each allowed stateful transform learns
RULES = {Cwc: "group_mean", GroupMean: "group_mean", Cgm: "mean", Center: "mean",
         Scale: "mean_sd"}


@dataclass(frozen=True, eq=False)
class GroupSums:
    """Exact Σx and n per group label (labels sorted), added up across partitions."""

    labels: np.ndarray
    sums: ExactSum
    counts: np.ndarray

    @classmethod
    def of(cls, x, g) -> GroupSums:
        labels, index = np.unique(np.asarray(g).astype(str), return_inverse=True)
        return cls(labels, ExactSum.of(np.asarray(x, dtype=float), index, len(labels)),
                   np.bincount(index, minlength=len(labels)))

    def __add__(self, other: GroupSums) -> GroupSums:
        labels = np.union1d(self.labels, other.labels)
        ia, ib = np.searchsorted(labels, self.labels), np.searchsorted(labels, other.labels)
        counts = np.zeros(len(labels), dtype=np.int64)
        counts[ia] += self.counts
        counts[ib] += other.counts
        return GroupSums(labels, self.sums.spread(ia, len(labels))
                         + other.sums.spread(ib, len(labels)), counts)

    def means(self) -> pd.Series:
        """As :func:`hiermod.transforms.group_means` on all the rows."""
        return pd.Series(self.sums.values() / self.counts, index=self.labels)


def lazy_nodes(obj):
    """Every node of a formulae expression tree (calls, operators, variables, values)."""
    yield obj
    for child in list(getattr(obj, "args", ()) or ()) + list((getattr(obj, "kwargs", None)
                                                             or {}).values()):
        yield from lazy_nodes(child)


def term_calls(terms):
    """The top-level lazy calls of formulae terms (an iterable of Term / Intercept objects)."""
    for term in terms:
        for comp in getattr(term, "components", ()):
            call = getattr(comp, "call", None)
            if call is not None:
                yield call


def is_stateful(callee) -> bool:
    return bool(getattr(SAFE_NAMESPACE.get(callee), "__stateful_transform__", False))


def stateful_calls(expressions) -> dict[str, object]:
    """The stateful calls of formula expressions, keyed by their text ('cwc(x, g)').

    Raises
    ------
    SpecError
        For ``C()``, a stateful transform other than those of the module docstring, or one
        nested inside another.
    """
    allowed = ", ".join(sorted(n for n, f in SAFE_NAMESPACE.items() if f in RULES))
    found = {}
    for expr in expressions:
        for top in term_calls(model_description(expr).terms):
            for node in lazy_nodes(top):
                callee = getattr(node, "callee", None)
                if callee == "C":
                    raise SpecError(f"C() in '{expr}' takes its levels from the data, which on "
                                    "Dask data differ between partitions: make the column text "
                                    "or a pandas Categorical instead (ddf[col].astype(str))")
                if not is_stateful(callee):
                    continue
                if SAFE_NAMESPACE[callee] not in RULES:
                    raise SpecError(f"{callee}() in '{expr}' is not available for Dask data "
                                    f"(only {allowed} learn their state from sums): compute "
                                    "the column beforehand, e.g. with ddf.assign(...)")
                if any(is_stateful(getattr(n, "callee", None))
                       for a in node.args for n in lazy_nodes(a)):
                    raise SpecError(f"'{node}' in '{expr}' nests one stateful transform inside "
                                    "another, which hiermod cannot learn from Dask data in one "
                                    "pass: compute the inner column beforehand")
                found[str(node)] = node
    return found


def ingredients(calls: dict[str, object], frame: pd.DataFrame) -> dict[str, object]:
    """What each stateful call learns from, on one partition's rows (module docstring)."""
    env = safe_environment()
    out = {}
    for key, call in calls.items():
        args = [a.eval(frame, env) for a in call.args]
        x = np.asarray(args[0], dtype=float)
        if RULES[SAFE_NAMESPACE[call.callee]] == "group_mean":
            out[key] = GroupSums.of(x, args[1])
        else:
            out[key] = ColumnSums.of(x[:, None])
    return out


def merge_ingredients(a: dict, b: dict) -> dict:
    return {key: a[key] + b[key] for key in a}


def learnt_states(calls: dict[str, object], merged: dict[str, object]) -> dict[str, dict]:
    """The attributes each stateful transform object gets, from the merged ingredients."""
    states = {}
    for key, call in calls.items():
        cls = SAFE_NAMESPACE[call.callee]
        got = merged[key]
        if RULES[cls] == "group_mean":
            states[key] = {"means": got.means()}
        elif cls is Cgm:
            states[key] = {"mean": float(got.means()[0])}
        elif cls is Center:
            states[key] = {"mean": np.float64(got.means()[0]), "params_set": True}
        else:
            states[key] = {"mean": np.float64(got.means()[0]), "std": np.float64(got.sds()[0]),
                           "params_set": True}
    return states


def set_states(matrix, states: dict[str, dict]) -> None:
    """Give the stateful transform objects of a formulae matrix their learnt state, in place."""
    if matrix is None:
        return
    for top in term_calls(matrix.terms.values()):
        for node in lazy_nodes(top):
            obj = getattr(node, "stateful_transform", None)
            if obj is not None and str(node) in states:
                for name, value in states[str(node)].items():
                    setattr(obj, name, value)
