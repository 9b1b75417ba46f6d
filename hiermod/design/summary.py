"""A design whose rows stay where they are: the sums the exact paths need, and no rows.

Data larger than memory (a Dask DataFrame, :mod:`hiermod.partitioned`) are checked and summed
partition by partition; what comes back is a :class:`SummaryDesign`: the spec, the fixed terms,
the grouping factors with their levels and sizes, the centring map, the scales of the default
priors — everything a Design tells the model builders — and, instead of the rows,

* gaussian models: the sufficient statistics (:class:`~hiermod.design.crossprod.GroupStats`
  with one grouping factor, :class:`~hiermod.design.crossprod.CrossedStats` with several), from
  which the marginal model, its compiled callback, the exact draws of the group effects and the
  REML criterion are computed as from a Design;
* bernoulli, binomial and poisson models: the cells (:class:`~hiermod.design.cells.Cells`).

Anything that needs the rows themselves (``design.X``, ``design.y``, a per-observation report)
raises :class:`~hiermod.errors.RowsNotHeldError`, which says so and what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import RowsNotHeldError
from ..formula import Spec
from .centring import Centring
from .design import DesignShape, FactorShape
from .scales import DataScales


def rows_not_held(what: str, source: str) -> RowsNotHeldError:
    return RowsNotHeldError(
        f"this needs {what}, and the design holds no rows: it was summed partition by "
        f"partition from {source}. Reports made from the posterior and the sums work (summary, "
        "ICC, R², design effect, variance components, group effects, contrasts, predictions "
        "for new data, diagnostics); those that go through the rows one by one (posterior "
        "predictive checks, LOO, pooling / shrinkage, residuals, saving with the data) do not. "
        "For them fit a sample that fits in memory (e.g. ddf.sample(frac=...).compute()) or a "
        "subset of the groups")


@dataclass(frozen=True, eq=False)
class FactorSummary(FactorShape):
    """A grouping factor of a :class:`SummaryDesign`: its terms, levels and blocks as in a
    :class:`~hiermod.design.FactorDesign`, and ``sizes`` (n_j) instead of the rows' index."""

    name: str
    terms: tuple[str, ...]
    levels: tuple[str, ...]
    blocks: tuple[tuple[int, ...], ...]
    sizes: np.ndarray
    #: ZᵀZ / n over all rows (q × q)
    second_moment: np.ndarray | None = None
    source: str = "partitioned data"

    @property
    def Z(self):
        raise rows_not_held(f"the varying-effects matrix of '{self.name}' row by row", self.source)

    @property
    def index(self):
        raise rows_not_held(f"the level of every row of '{self.name}'", self.source)


@dataclass(frozen=True, eq=False)
class SummaryDesign(DesignShape):
    """A Design of data summed partition by partition (see the module docstring).

    ``stats`` (gaussian) or ``cells`` (bernoulli, binomial, poisson) replace the rows;
    ``n_obs`` is the number of rows used, ``n_dropped`` the number dropped for missing values
    (``dropna=True``), ``source`` says where the rows are (for messages).
    """

    spec: Spec
    fixed_terms: tuple[str, ...]
    factors: tuple[FactorSummary, ...]
    n_obs: int
    centring: Centring
    data_scales: DataScales
    level2_terms: tuple[tuple[str, tuple[str, ...]], ...] = ()
    stats: object = None
    cells: object = None
    #: gaussian: the exact raw sums of products the statistics came from (REML reads them)
    row_sums: object = None
    fixed_matrix: object = None
    factor_matrices: tuple = ()
    #: the mean of each fixed-effect column and their covariance over the rows (ddof 1)
    x_mean: np.ndarray | None = None
    x_covariance: np.ndarray | None = None
    n_dropped: int = 0
    n_partitions: int = 0
    source: str = "partitioned data"
    dropped_rows: tuple = ()
    #: no residual structure on summed data (refused before summing)
    residuals: None = None

    @property
    def y(self):
        raise rows_not_held("the outcome of every row", self.source)

    @property
    def X(self):
        raise rows_not_held("the fixed-effects matrix row by row", self.source)

    @property
    def trials(self):
        raise rows_not_held("the trials of every row", self.source)

    @property
    def rows(self):
        raise rows_not_held("the row labels", self.source)

    @property
    def frame(self):
        raise rows_not_held("the data frame", self.source)
