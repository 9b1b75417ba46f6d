"""Transformations a formula (or a spec file) may use, and nothing else.

Centering (Enders & Tofighi 2007; Snijders & Bosker ch. 4):

* ``cwc(x, g)``   centering within cluster: x_ij − x̄_j (the pure within-group part)
* ``cgm(x)``      centering at the grand mean: x_ij − x̄
* ``gmean(x, g)`` the group mean x̄_j, a level-2 predictor (contextual effect next to cwc)

They are *stateful*: the means are learned on the data the model is fitted to and reused for
new data, so a prediction for an existing group uses that group's fitted mean.

A group that is new in the new data has no fitted mean. By default it is given the mean of the
training groups' means (the centre of the distribution of group means), so that
``cwc(x, g)`` = x − that mean still moves with x: a one-row prediction for a new group is not
flat in x. Where the new data hold a whole new group (all its units), its own mean over those
rows is what the model means; :func:`new_group_means` ("newdata") switches to it, and
``predict(..., new_group_means="newdata")`` uses that switch.

``cgm(x)`` centres at the mean over the *rows* of the fitted data. For a level-2 variable
(constant within groups) that is the size-weighted mean of the groups' values, not the mean over
groups; to centre a level-2 variable at the mean over groups, make the column before fitting
(``df["w_c"] = df["w"] - df.groupby("g")["w"].first().mean()``).

Time in growth models:

* ``pw(t, k1, k2, ...)`` piecewise-linear time with knots k1 < k2 < ...: one column per
  segment, each coefficient the slope within its segment (continuous at the knots)
* ``since(t, g)``  time since the unit's first occasion: t_ij − min_j t (stateful, as cwc;
  a new unit counts from its own first occasion)
* ``poly(t, d)`` orthogonal polynomials; ``I(age - 8)`` centres time at a chosen value
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import pandas as pd
from formulae.environment import Environment
from formulae.transforms import TRANSFORMS

from .errors import DataError
from .exactsum import ExactSum, exact_mean, mean_sd

#: where a group unseen in fitting takes its mean of x from (see the module docstring)
NEW_GROUP_MEANS = ("training", "newdata")
_new_group_means: ContextVar[str] = ContextVar("hiermod_new_group_means", default="training")


@contextmanager
def new_group_means(source: str) -> Iterator[None]:
    """Inside the block, ``cwc`` and ``gmean`` give a group unseen in fitting the mean of its own
    rows in the new data (``"newdata"``) or the mean of the training groups' means
    (``"training"``, the default outside any block).

    Raises
    ------
    ValueError
        ``source`` not one of :data:`NEW_GROUP_MEANS`.
    """
    if source not in NEW_GROUP_MEANS:
        raise ValueError(f"new_group_means must be one of {', '.join(NEW_GROUP_MEANS)}, "
                         f"got {source!r}")
    token = _new_group_means.set(source)
    try:
        yield
    finally:
        _new_group_means.reset(token)


class _GroupMeans:
    """Learn per-group means of x on first call; reuse them afterwards. A group unseen in
    fitting gets the mean of the fitted groups' means, or with :func:`new_group_means`
    ("newdata") the mean of its own rows. ``statistic`` names another per-group summary
    (pandas' aggregation name); ``own_for_new`` gives new groups their own summary always."""

    __stateful_transform__ = True
    statistic = "mean"
    own_for_new = False

    def __init__(self) -> None:
        self.means: pd.Series | None = None

    def group_means(self, x, g) -> np.ndarray:
        if self.statistic == "mean":  # exact, as from partitions (group_means)
            own = group_means(x, g)
        g = pd.Series(np.asarray(g).astype(str))
        if self.statistic != "mean":
            own = pd.Series(np.asarray(x, dtype=float)).groupby(g).agg(self.statistic)
        if self.means is None:
            self.means = own
        known = self.means.reindex(g).to_numpy()
        if self.own_for_new or _new_group_means.get() == "newdata":
            fresh = own.reindex(g).to_numpy()
        else:
            fresh = np.full(len(g), float(self.means.mean()))
        return np.where(np.isnan(known), fresh, known)


def group_means(x, g) -> pd.Series:
    """x̄_j per group label str(g): exact sums (:mod:`hiermod.exactsum`) over the count, so
    that means learnt from partitions of the rows are the same to the last bit."""
    labels, index = np.unique(np.asarray(g).astype(str), return_inverse=True)
    sums = ExactSum.of(np.asarray(x, dtype=float), index, len(labels)).values()
    return pd.Series(sums / np.bincount(index, minlength=len(labels)), index=labels)


class Cwc(_GroupMeans):
    """x − x̄_j: centering within cluster."""

    def __call__(self, x, g):
        return np.asarray(x, dtype=float) - self.group_means(x, g)


class GroupMean(_GroupMeans):
    """x̄_j: the group mean of x, constant within groups."""

    def __call__(self, x, g):
        return self.group_means(x, g)


class Since(_GroupMeans):
    """t − min_j t: time since each group's first occasion (learned on the fitted data; new
    groups use their own first occasion)."""

    statistic = "min"
    own_for_new = True

    def __call__(self, t, g):
        return np.asarray(t, dtype=float) - self.group_means(t, g)


def pw(x, *knots) -> np.ndarray:
    """Piecewise-linear time: for knots k_1 < ... < k_K the K + 1 columns
    min(x, k_1), clip(x − k_1, 0, k_2 − k_1), ..., max(x − k_K, 0), so that the coefficient of
    each column is the slope within its segment and the curve is continuous at the knots.

    Examples
    --------
    >>> pw(np.array([0.0, 2.0, 5.0]), 3)
    array([[0., 0.],
           [2., 0.],
           [3., 2.]])
    """
    x = np.asarray(x, dtype=float)
    if not knots:
        raise DataError("pw(x, k1, ...) needs at least one knot, e.g. pw(time, 3)")
    k = [float(v) for v in knots]
    if any(b <= a for a, b in zip(k, k[1:], strict=False)):
        raise DataError(f"pw(): the knots must increase, got {k}")
    cols = [np.minimum(x, k[0])]
    for a, b in zip(k, k[1:], strict=False):
        cols.append(np.clip(x - a, 0.0, b - a))
    cols.append(np.maximum(x - k[-1], 0.0))
    return np.column_stack(cols)


class Cgm:
    """x − x̄: centering at the grand mean of the fitted data."""

    __stateful_transform__ = True

    def __init__(self) -> None:
        self.mean: float | None = None

    def __call__(self, x):
        x = np.asarray(x, dtype=float)
        if self.mean is None:
            self.mean = float(exact_mean(x))
        return x - self.mean


class Center(TRANSFORMS["center"]):
    """formulae's ``center`` with the mean of exact sums (:mod:`hiermod.exactsum`)."""

    def __call__(self, x):
        if not self.params_set:
            self.mean = np.float64(exact_mean(np.asarray(x, dtype=float)))
            self.params_set = True
        return x - self.mean


class Scale(TRANSFORMS["scale"]):
    """formulae's ``scale`` / ``standardize`` with the mean and sd of exact sums."""

    def __call__(self, x):
        if not self.params_set:
            mean, sd = mean_sd(x)
            self.mean, self.std = np.float64(mean), np.float64(sd)
            self.params_set = True
        return (x - self.mean) / self.std


#: The only names a formula can call; formulae resolves calls in this namespace alone.
SAFE_NAMESPACE = {
    "cwc": Cwc,
    "cgm": Cgm,
    "gmean": GroupMean,
    "center": Center,
    "scale": Scale,
    "standardize": Scale,
    "poly": TRANSFORMS["poly"],
    "C": TRANSFORMS["C"],
    "I": TRANSFORMS["I"],
    "log": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "log1p": np.log1p,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sin": np.sin,  # cyclic time: sin(6.283185 * t) + cos(6.283185 * t)
    "cos": np.cos,
    "pw": pw,
    "since": Since,
}


def safe_environment() -> Environment:
    """A formulae environment holding :data:`SAFE_NAMESPACE` and nothing else."""
    return Environment([dict(SAFE_NAMESPACE)])


def numeric_values(x: pd.Series, fn: str, col: str) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x):
        raise DataError(f"{fn}() needs a numeric column; '{col}' is not numeric")
    return x.to_numpy(dtype=float)


def _center(x):
    return x - np.nanmean(x)


def _scale(x):
    sd = np.nanstd(x)
    if not sd > 0:
        raise DataError("standardize()/scale() of a constant column")
    return (x - np.nanmean(x)) / sd


#: Functions a model file's [transform] entry may use: name -> (argument roles,
#: implementation), each a name a formula may call too; evaluated once on the file's data.
COLUMN_TRANSFORMS: dict[str, tuple[tuple[str, ...], object]] = {
    "cwc": (("x", "group"), lambda x, g: Cwc()(x, g)),
    "gmean": (("x", "group"), lambda x, g: GroupMean()(x, g)),
    "cgm": (("x",), lambda x: Cgm()(x)),
    "center": (("x",), _center),
    "scale": (("x",), _scale),
    "standardize": (("x",), _scale),
    "log": (("x",), np.log),
    "log2": (("x",), np.log2),
    "log10": (("x",), np.log10),
    "log1p": (("x",), np.log1p),
    "exp": (("x",), np.exp),
    "sqrt": (("x",), np.sqrt),
    "abs": (("x",), np.abs),
    "sin": (("x",), np.sin),
    "cos": (("x",), np.cos),
    "since": (("x", "group"), lambda x, g: Since()(x, g)),
    "C": (("x",), None),  # make a factor (categorical) of a column
}
