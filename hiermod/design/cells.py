"""Exact aggregation of a binomial, bernoulli or poisson design into cells.

Rows with the same fixed-effect row, the same group of every factor and the same varying-effect
rows share one linear predictor η, so their likelihood depends on the data only through sums:

    binomial / bernoulli:  Π_i p^{y_i} (1 − p)^{n_i − y_i}  ∝  p^{Σy} (1 − p)^{Σn − Σy}
    poisson:               Π_i e^{y_i η − e^η} / y_i!      ∝  e^{(Σy) η − m e^η}

(m rows in the cell). A cell is therefore one binomial observation with Σy successes out of Σn
trials, or one poisson count Σy with exposure m (mean m·e^η). The posterior is the same as the
row-level model's — the two log-likelihoods differ by a constant (the binomial coefficients,
−Σ log y_i!) — and a model on the cells costs O(cells), not O(rows), per gradient. The map
``cell_of_row`` keeps every row's cell, so pointwise quantities (the log-likelihood for LOO,
residuals) are still computed per original row, from the row's own data and its cell's η.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..families import get_family
from .summary import SummaryDesign

#: families whose rows aggregate into cells, and the family of a cell
CELL_FAMILY = {"bernoulli": "binomial", "binomial": "binomial", "poisson": "poisson"}


@dataclass(frozen=True, eq=False)
class Cells:
    """A design's cells: per cell the fixed-effect row ``X``, per factor the level ``index`` and
    varying-effect row ``Z``, the outcome sum ``y`` and ``n`` (binomial: trials; poisson: the
    number of rows, the exposure). ``family`` is the cells' family ("binomial" or "poisson")."""

    family: str
    X: np.ndarray
    Z: tuple[np.ndarray, ...]
    index: tuple[np.ndarray, ...]
    y: np.ndarray
    n: np.ndarray
    cell_of_row: np.ndarray | None
    n_rows: int
    #: the number of rows in each cell
    count: np.ndarray | None = None

    @property
    def n_cells(self) -> int:
        return len(self.y)

    def loglik_constant(self, design) -> float:
        """Row-level log-likelihood − cell-level log-likelihood (free of the parameters):
        log Π binomial coefficients of the rows − log of the cells' (binomial), or
        −Σ log y_i! + Σ_cells (y_c log m_c ... ) (poisson), so that the two agree exactly."""
        rows = get_family(design.family).loglik_constant(design.y, design.trials)
        cells = get_family(self.family).loglik_constant(
            self.y, self.n if self.family == "binomial" else None)
        if self.family == "poisson":  # the cell's mean is m·e^η: y_c log m is not in the rows'
            cells += float(np.sum(self.y * np.log(self.n)))
        return rows - cells


def can_aggregate(design) -> bool:
    """Whether the design's family sums into cells."""
    return design.family in CELL_FAMILY


def aggregate(design, merge: bool = True) -> Cells:
    """The cells of a bernoulli, binomial or poisson design (see the module docstring).

    Parameters
    ----------
    design : Design
    merge : bool, default True
        With False every row is its own cell (the row-level model, for comparisons).

    Returns
    -------
    Cells
        Cells in order of first appearance of their rows.

    Raises
    ------
    ValueError
        For a gaussian design (its rows do not sum into cells).

    Examples
    --------
    >>> d = hm.make_design(hm.parse_formula("cbind(incidence, size - incidence) ~ period + "
    ...                    "(1 | herd)", family="binomial"), hm.datasets.load("cbpp"))
    >>> cells = aggregate(d)
    >>> cells.n_rows, cells.n_cells          # every cbpp row is its own (herd, period) cell
    (56, 56)
    """
    if not can_aggregate(design):
        raise ValueError(f"a {design.family} design does not aggregate into cells")
    if isinstance(design, SummaryDesign):  # summed partition by partition already
        return design.cells
    key = (cell_key(design.X, [fd.index for fd in design.factors],
                    [fd.Z for fd in design.factors]) if merge
           else np.arange(design.n_obs, dtype=float)[:, None])
    rows, cell = first_appearance(key)
    n_cells = len(rows)
    y = np.bincount(cell, weights=design.y, minlength=n_cells)
    if design.family == "poisson":
        n = np.bincount(cell, minlength=n_cells).astype(float)
    else:
        trials = np.ones(design.n_obs) if design.trials is None else design.trials
        n = np.bincount(cell, weights=trials, minlength=n_cells)
    return Cells(family=CELL_FAMILY[design.family], X=design.X[rows],
                 Z=tuple(fd.Z[rows] for fd in design.factors),
                 index=tuple(fd.index[rows] for fd in design.factors), y=y, n=n,
                 cell_of_row=cell, n_rows=design.n_obs,
                 count=np.bincount(cell, minlength=n_cells).astype(float))


def cell_key(X: np.ndarray, indexes, Zs) -> np.ndarray:
    """One row per observation (or cell) that identifies its cell: the fixed-effect row, then
    per factor the level and the varying-effect row."""
    parts = [X]
    for index, Z in zip(indexes, Zs, strict=True):
        parts += [np.asarray(index)[:, None].astype(float), Z]
    return np.hstack(parts)


def first_appearance(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the first row of each distinct key row, in order of appearance; each row's cell)."""
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[inverse.ravel()]


def merge_cells(a: Cells, b: Cells) -> Cells:
    """The cells of the rows of ``a`` followed by those of ``b`` (two parts of one data set,
    in order): cells with the same key are summed, in order of first appearance — the cells
    :func:`aggregate` makes of all the rows at once. No row map is kept (``cell_of_row`` None).
    """
    X = np.vstack([a.X, b.X])
    Zs = [np.vstack([za, zb]) for za, zb in zip(a.Z, b.Z, strict=True)]
    idx = [np.concatenate([ia, ib]) for ia, ib in zip(a.index, b.index, strict=True)]
    rows, cell = first_appearance(cell_key(X, idx, Zs))
    n_cells = len(rows)
    return Cells(family=a.family, X=X[rows], Z=tuple(z[rows] for z in Zs),
                 index=tuple(i[rows] for i in idx),
                 y=np.bincount(cell, weights=np.concatenate([a.y, b.y]), minlength=n_cells),
                 n=np.bincount(cell, weights=np.concatenate([a.n, b.n]), minlength=n_cells),
                 cell_of_row=None, n_rows=a.n_rows + b.n_rows,
                 count=np.bincount(cell, weights=np.concatenate([a.count, b.count]),
                                   minlength=n_cells))
