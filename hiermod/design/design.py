"""Spec + DataFrame -> Design: the numbers every back end (PyMC, REML, reports) works from.

The fixed part gives ``X`` (n × p) with formulae's column names ("Intercept", "floor",
"sector[Public]", "meanses:cses"). Each grouping factor g gives a ``FactorDesign``: its level
index j[i] for every row, the varying-effects columns Z_g (n × q_g) and the blocks of terms
whose effects are correlated. The model is

    η_i = X_i β + Σ_g Z_g,i · u_g,j[i],     u_g,j ~ N(0, Σ_g)

with Σ_g block-diagonal over the blocks. All checks on the data happen here, before any
sampling: unknown columns, missing values, non-numeric or out-of-range outcomes (the family's
own checks), single-level grouping factors, names that collide with hiermod's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .. import names
from ..errors import SpecError
from ..families import Family, get_family
from ..formula import GroupSpec, Spec, check_levels
from ..frame import constant_within, factor_codes, matrix_columns, model_matrix, used_columns
from .centring import Centring, centring
from .checks import (
    check_columns,
    check_factor,
    event_indicator,
    handle_missing,
    numeric_column,
    yes_no_hint,
)
from .residuals import ResidualDesign, make_residual_design
from .scales import DataScales, scales_of_rows
from .validate import (
    check_frame,
    check_identifiable,
    check_kinds,
    check_matrix,
    check_roles,
    prepare,
    used_frame,
)


class FactorShape:
    """What a grouping factor's ``terms``, ``levels`` and ``blocks`` say, shared by the factors
    of a Design and of a :class:`~hiermod.design.summary.SummaryDesign`."""

    terms: tuple[str, ...]
    levels: tuple[str, ...]
    blocks: tuple[tuple[int, ...], ...]

    @property
    def q(self) -> int:
        return len(self.terms)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def correlated(self) -> bool:
        return any(len(b) > 1 for b in self.blocks)

    def pairs(self) -> list[tuple[int, int]]:
        """(a, b), a < b, of the terms whose correlation is estimated."""
        return [(a, b) for blk in self.blocks for i, a in enumerate(blk) for b in blk[i + 1:]]


@dataclass(frozen=True, eq=False)
class FactorDesign(FactorShape):
    """Varying effects of one grouping factor."""

    name: str
    terms: tuple[str, ...]
    Z: np.ndarray
    index: np.ndarray
    levels: tuple[str, ...]
    blocks: tuple[tuple[int, ...], ...]

    @property
    def sizes(self) -> np.ndarray:
        """n_j, the number of observations in each level."""
        return np.bincount(self.index, minlength=self.n_levels)

    @property
    def second_moment(self) -> np.ndarray:
        """ZᵀZ / n (q × q): the mean of z_i z_iᵀ over the rows."""
        return self.Z.T @ self.Z / self.Z.shape[0]


class DesignShape:
    """What a design's ``spec``, ``fixed_terms``, ``factors`` and ``level2_terms`` say, shared
    by a Design and a :class:`~hiermod.design.summary.SummaryDesign`."""

    spec: Spec
    fixed_terms: tuple[str, ...]
    factors: tuple
    level2_terms: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def likelihood(self) -> Family:
        """The family object (link, checks, IRLS quantities, latent variance, ...)."""
        return get_family(self.spec.family)

    def factor(self, name: str):
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


@dataclass(frozen=True, eq=False)
class Design(DesignShape):
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
    #: the model's columns for the rows used, as checked (:mod:`hiermod.design.validate`):
    #: what a Fit keeps and saves, row for row with y (an index may repeat labels)
    frame: pd.DataFrame | None = field(default=None, repr=False)
    #: the residual structure within units (:mod:`hiermod.design.residuals`), else None
    residuals: ResidualDesign | None = None

    @property
    def n_obs(self) -> int:
        return len(self.y)

    @cached_property
    def centring(self) -> Centring:
        """How the fixed effects are sampled (:mod:`hiermod.design.centring`)."""
        return centring(self.X, self.fixed_terms)

    @property
    def x_mean(self) -> np.ndarray:
        """The mean of each fixed-effect column."""
        return self.X.mean(axis=0)

    @property
    def x_covariance(self) -> np.ndarray:
        """The covariance of the fixed-effect columns over the rows (ddof 1), p × p."""
        p = self.X.shape[1]
        return np.cov(self.X, rowvar=False, ddof=1).reshape(p, p)

    @cached_property
    def data_scales(self) -> DataScales:
        """The scales the default priors read from the data (:mod:`hiermod.design.scales`)."""
        return scales_of_rows(self)


def factor_design(spec_groups: list[GroupSpec], data: pd.DataFrame, factor: str):
    """Merge all terms of one factor into one FactorDesign (block-diagonal covariance)."""
    cols, terms, blocks, mats = [], [], [], []
    for g in spec_groups:
        common = model_matrix(g.expr, data, f"varying effects of '{factor}'")
        Z, t = matrix_columns(common, len(data))
        if not t:
            raise SpecError(f"the varying-effects term ({g.expr} | {factor}) has no columns: "
                            f"give at least one, e.g. (1 | {factor})")
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
    return tuple(term for k, term in enumerate(terms) if term != names.INTERCEPT
                 and constant_within(X[:, k], fd.index, fd.n_levels).all())


def read_outcome(spec: Spec, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """(y, trials) of checked rows: the outcome as numbers (an event's indicator with
    ``event=``), the trials from a trials or failures column (None without)."""
    if spec.response.event is not None:
        y = event_indicator(data, spec.response.name, spec.response.event)
    else:
        hint = yes_no_hint(data, spec.response.name) if spec.family == "bernoulli" else ""
        y = numeric_column(data, spec.response.name, "outcome", hint)
    trials = None
    if spec.response.trials:
        trials = numeric_column(data, spec.response.trials, "number of trials")
    elif spec.response.failures:
        trials = y + numeric_column(data, spec.response.failures, "number of failures")
    return y, trials


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
        Unknown or repeated column, missing or non-finite values, a column of mixed or
        unsupported types (:mod:`hiermod.design.validate`), non-numeric outcome, 0/1 outcome
        that isn't, successes above trials, a constant gaussian outcome, a grouping factor with
        a single level, a model-matrix column that is not finite (log of values <= 0), fixed
        effects that are not identifiable (collinear, constant or all-zero columns); with a
        residual structure, the checks of
        :func:`~hiermod.design.residuals.make_residual_design`.
    SpecError
        A term formulae cannot build; names that collide with hiermod's own (a predictor
        named 'Intercept' or 'sigma', a factor named 'obs', ...); the outcome on both sides.

    Examples
    --------
    >>> import hiermod as hm
    >>> d = hm.make_design(hm.parse_formula("Reaction ~ Days + (Days | Subject)"),
    ...                    hm.datasets.load("sleepstudy"))
    >>> d.fixed_terms, d.factors[0].terms, d.factors[0].n_levels
    (('Intercept', 'Days'), ('Intercept', 'Days'), 18)
    """
    check_frame(data)
    family = get_family(spec.family, spec.link)
    roles = used_columns(spec)
    check_columns(data, roles)
    check_roles(spec, roles)
    data = used_frame(data, roles)
    kinds = check_kinds(data, roles)
    check_levels(spec, data)
    data, dropped = handle_missing(data, list(roles), dropna)
    data = prepare(data, spec, roles, kinds)
    y, trials = read_outcome(spec, data)
    family.check_outcome(y, trials, np.asarray(data.index), spec.response.name)

    fixed_common = model_matrix(spec.fixed, data, "fixed effects")
    X, fixed_terms = matrix_columns(fixed_common, len(data))
    names.check_user_names(fixed_terms, spec.factors)
    rows = np.asarray(data.index)
    check_matrix(X, fixed_terms, rows, "fixed-effects")
    check_identifiable(X, fixed_terms)
    factors, mats = [], []
    for factor in spec.factors:
        fd, m = factor_design([g for g in spec.groups if g.factor == factor], data, factor)
        check_matrix(fd.Z, fd.terms, rows, f"varying-effects (of '{factor}')")
        check_factor(rows, fd.name, fd.index, fd.levels, fd.q)
        factors.append(fd)
        mats.append(m)
    l2 = tuple((fd.name, level2_terms(X, fixed_terms, fd)) for fd in factors)
    residuals = (None if spec.residuals is None
                 else make_residual_design(spec.residuals, data, tuple(factors)))
    return Design(spec=spec, y=y, X=X, fixed_terms=fixed_terms, factors=tuple(factors),
                  trials=trials, rows=rows, dropped_rows=dropped, level2_terms=l2,
                  fixed_matrix=fixed_common, factor_matrices=tuple(mats), frame=data,
                  residuals=residuals)
