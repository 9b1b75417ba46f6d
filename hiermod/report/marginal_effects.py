"""Marginal means, contrasts, slopes and odds ratios, draw by draw (emmeans / marginaleffects).

Every quantity is a function of the expected value E[y] = g⁻¹(η) (the probability of a logit
model) at chosen rows of predictors, computed at each posterior draw by
:func:`hiermod.report.prediction.expected_draws` and summarised at the end, so its interval is
the posterior's, with no delta method:

* :func:`reference_grid` — emmeans' reference grid: every level of each categorical predictor,
  numeric predictors at their means (or at given values);
* :func:`marginal_means` — E[y] in each cell of ``by``, averaged over the grid's other factors
  with equal (or proportional) weights, or over the observed rows set to each cell
  (``grid="data"``, marginaleffects' counterfactual ``avg_predictions``);
* :func:`comparisons` — differences, ratios or odds ratios between the cells, pairwise or
  against a reference level;
* :func:`slopes` — dE[y]/dx by central differences, averaged over the observed rows (the average
  marginal effect) or at the reference grid;
* :func:`odds_ratios` — exp(β) of the fixed effects with their intervals.

What the group effects contribute is chosen by ``groups`` (see
:func:`hiermod.report.predict`): "zero" gives the conditional mean of a typical group (effects
at 0; lme4's ``re.form = NA``), "average" the population-averaged mean (integrated over the
groups' distribution), "fitted" each observed row's own groups (``grid="data"`` only). For a
logit model the two population-level answers differ: the average of the probabilities over
the groups is pulled towards 1/2 relative to the probability of the typical group.

Averages are taken on the scale asked for (``scale="response"``: the average of the
probabilities, as marginaleffects does; ``"link"``: the average of η); emmeans averages on
the link scale and back-transforms, which for a non-linear link is a different number.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataError
from ..frame import expression_columns, used_columns
from . import _posterior as P
from .prediction import expected_draws

GRIDS = ("reference", "data")
WEIGHTS = ("equal", "proportional")
COMPARISONS = ("difference", "ratio", "odds_ratio")
PAIRS = ("pairwise", "reference", "consecutive")
#: the level given to grouping columns a predictor needs (cwc(x, g)) in a population grid
GRID_GROUP = "(new group)"


def grouping_columns(design) -> set[str]:
    """The data columns the grouping factors are made of ('a:b' -> a, b)."""
    return {c for f in design.spec.factors for c in f.split(":")}


def predictor_columns(design) -> list[str]:
    """The data columns the predictors use, in formula order: neither the outcome (and its
    trials) nor a grouping column."""
    r = design.spec.response
    skip = {r.name, r.trials, r.failures} | grouping_columns(design)
    return [c for c in used_columns(design.spec) if c not in skip]


def is_categorical(x: pd.Series) -> bool:
    """Text, categorical and boolean columns are factors; numbers are covariates."""
    return not pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x)


def levels_of(x: pd.Series) -> list:
    """The levels of a categorical column in the order formulae codes them."""
    if isinstance(x.dtype, pd.CategoricalDtype):
        return list(x.cat.categories)
    return sorted(x.dropna().unique())


def _as_tuple(by) -> tuple[str, ...]:
    if by is None:
        return ()
    return (by,) if isinstance(by, str) else tuple(by)


def _check_data(data) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame) or data.empty:
        raise DataError("data must be the (non-empty) data frame the model was fitted to "
                        "(fit.data)")
    return data


def reference_grid(design, data: pd.DataFrame, at: dict | None = None) -> pd.DataFrame:
    """emmeans' reference grid: one row per combination of the predictors' values.

    Parameters
    ----------
    design : Design
    data : pandas.DataFrame
        The data the model was fitted to (``fit.data``): the levels and means come from it.
    at : dict, optional
        Column -> value or list of values, overriding the defaults.

    Returns
    -------
    pandas.DataFrame
        Every level of each categorical predictor (text, categorical or boolean columns),
        each numeric predictor at its mean over the rows; grouping columns that a predictor
        needs (``cwc(x, g)``) hold the placeholder level :data:`GRID_GROUP` (a new group).

    Examples
    --------
    >>> import hiermod as hm
    >>> cbpp = hm.datasets.load("cbpp")
    >>> d = hm.make_design(hm.parse_formula("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                                     family="binomial"), cbpp)
    >>> reference_grid(d, cbpp)["period"].tolist()
    ['1', '2', '3', '4']
    """
    data = _check_data(data)
    at = dict(at or {})
    values = {}
    for col in predictor_columns(design):
        if col in at:
            values[col] = list(np.atleast_1d(at.pop(col)))
        elif is_categorical(data[col]):
            values[col] = levels_of(data[col])
        else:
            values[col] = [float(data[col].mean())]
    unknown = [c for c in at if c not in grouping_columns(design)]
    if unknown:
        raise DataError(f"at= names {', '.join(repr(c) for c in unknown)}, not a predictor of "
                        f"the model; its predictors: {', '.join(values) or '(none)'}")
    grid = pd.DataFrame(list(itertools.product(*values.values())), columns=list(values))
    if not values:
        grid = pd.DataFrame(index=[0])
    for col in sorted(grouping_columns(design) & columns_in_predictors(design)):
        grid[col] = at.get(col, GRID_GROUP)
    return grid


def columns_in_predictors(design) -> set[str]:
    """Columns named inside the fixed part or a varying-effects expression (a grouping column
    used by ``cwc(x, g)`` is one)."""
    spec = design.spec
    return {c for expr in (spec.fixed, *(g.expr for g in spec.groups))
            for c in expression_columns(expr)}


@dataclass(frozen=True)
class MarginalMeans:
    """What :func:`marginal_means` returns: ``table`` (one row per cell: the ``by`` columns,
    mean, sd, lower, upper), ``draws`` (chain, draw, cell) and how they were made."""

    table: pd.DataFrame
    draws: np.ndarray
    by: tuple[str, ...]
    scale: str
    groups: str
    prob: float

    def _repr_html_(self) -> str:  # notebooks show the table
        return self.table._repr_html_()

    def compare(self, variable: str | None = None, pairs: str = "pairwise",
                comparison: str = "difference", prob: float | None = None) -> pd.DataFrame:
        """:func:`comparisons` of these marginal means."""
        return comparisons(self, variable, pairs, comparison, prob)


def _cells(frame: pd.DataFrame, by: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    """(unique cells of the ``by`` columns in order of appearance, cell index of each row)."""
    if not by:
        return pd.DataFrame(index=[0]), np.zeros(len(frame), dtype=int)
    keys = pd.MultiIndex.from_frame(frame[list(by)])
    codes, uniques = pd.factorize(keys, sort=True)
    return pd.DataFrame(list(uniques), columns=list(by)), codes


def _weights(grid: pd.DataFrame, data: pd.DataFrame, codes: np.ndarray, n_cells: int,
             by: tuple[str, ...], weights: str) -> np.ndarray:
    """(rows, cells) averaging weights of the grid's rows within each cell."""
    w = np.ones(len(grid))
    if weights == "proportional":
        others = [c for c in grid.columns if c not in by and c in data.columns
                  and is_categorical(data[c])]
        if others:
            freq = data.groupby(others, observed=True).size()
            keys = pd.MultiIndex.from_frame(grid[others]) if len(others) > 1 else grid[others[0]]
            w = freq.reindex(keys).fillna(0.0).to_numpy(dtype=float)
    W = np.zeros((len(grid), n_cells))
    W[np.arange(len(grid)), codes] = w
    total = W.sum(axis=0)
    if np.any(total == 0):
        raise DataError("a cell of the marginal means has no weight: no row of the data has "
                        "those levels (use weights='equal')")
    return W / total


def _check_by(design, data: pd.DataFrame, by: tuple[str, ...]) -> None:
    preds = predictor_columns(design)
    bad = [b for b in by if b not in preds]
    if bad:
        raise DataError(f"by= names {', '.join(repr(b) for b in bad)}, not a predictor of the "
                        f"model; its predictors: {', '.join(preds) or '(none)'}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _summary_table(cells: pd.DataFrame, x: np.ndarray, prob: float,
                   positive_above: float = 0.0) -> pd.DataFrame:
    lo, hi = P.quantiles(x, prob)
    flat = P.flat_draws(x)
    table = cells.reset_index(drop=True).copy()
    table["mean"] = flat.mean(axis=0)
    table["sd"] = flat.std(axis=0, ddof=1)
    table["lower"], table["upper"] = lo, hi
    table.attrs["interval_prob"] = prob
    return table


def marginal_means(dt: xr.DataTree, design, data: pd.DataFrame, by=None,
                   at: dict | None = None, grid: str = "reference", groups: str = "zero",
                   weights: str = "equal", scale: str = "response", prob: float = 0.95,
                   random_seed: int | None = None) -> MarginalMeans:
    """Estimated marginal means: E[y] in each cell of ``by``, averaged over the rest.

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    data : pandas.DataFrame
        The data the model was fitted to (``fit.data``).
    by : str or list of str, optional
        Predictors whose cells get a mean each (default: one overall mean). A numeric ``by``
        needs its values in ``at`` with ``grid="reference"``.
    at : dict, optional
        Column -> value(s) fixed in the grid (or, with ``grid="data"``, set in every row).
    grid : {"reference", "data"}
        "reference": emmeans' reference grid (:func:`reference_grid`), the other factors'
        levels averaged with ``weights``. "data": every observed row set to each cell
        (counterfactual g-computation), averaged over the rows.
    groups : {"zero", "average", "fitted"}
        The group effects: 0 (a typical group, the conditional mean), averaged over their
        distribution (the population-averaged mean), or each row's own (``grid="data"``).
    weights : {"equal", "proportional"}
        Averaging over the reference grid: equal weights for every level combination of the
        other factors (emmeans' default), or in proportion to their frequency in the data.
    scale : {"response", "link"}
    prob : float
    random_seed : int, optional
        Only for new-group draws (unused by the default ``groups``).

    Returns
    -------
    MarginalMeans
        ``.table`` with the ``by`` columns and mean, sd, lower, upper; ``.draws`` (chain,
        draw, cell) for :func:`comparisons`.

    Notes
    -----
    With E_r^(s) the expected value of grid row r at draw s and w_rc the weight of row r in
    cell c (Σ_r w_rc = 1), the marginal mean of cell c is m_c^(s) = Σ_r w_rc E_r^(s); its
    summary is over the draws s. With ``grid="data"``, m_c^(s) = (1/n) Σ_i E[y | x_i with
    the ``by`` columns set to c]^(s).

    Examples
    --------
    >>> fit.marginal_means(by="livch", groups="average")          # doctest: +SKIP
    """
    P.check_prob(prob)
    _check_choice("grid", grid, GRIDS)
    _check_choice("weights", weights, WEIGHTS)
    data = _check_data(data)
    by = _as_tuple(by)
    _check_by(design, data, by)
    if grid == "reference":
        if groups == "fitted":
            raise ValueError("groups='fitted' needs the observed rows' groups: use grid='data', "
                             "or groups='zero' / 'average' on the reference grid")
        g = reference_grid(design, data, at)
        cells, codes = _cells(g, by)
        E = expected_draws(dt, design, g, groups=groups, scale=scale, random_seed=random_seed)
        draws = E @ _weights(g, data, codes, len(cells), by, weights)
    else:
        cells = _data_cells(data, by, at)
        out = []
        for _, cell in cells.iterrows():
            frame = _counterfactual(data, {**(at or {}), **cell.to_dict()})
            E = expected_draws(dt, design, frame, groups=groups, scale=scale,
                               random_seed=random_seed)
            out.append(E.mean(axis=-1))
        draws = np.stack(out, axis=-1)
    table = _summary_table(cells, draws, prob)
    table.attrs.update({"by": list(by), "scale": scale, "groups": groups, "grid": grid})
    return MarginalMeans(table, draws, by, scale, groups, prob)


def _data_cells(data: pd.DataFrame, by: tuple[str, ...], at: dict | None) -> pd.DataFrame:
    """The cells of ``by`` for ``grid="data"``: the values in ``at``, else the levels of a
    categorical column; a numeric ``by`` must be given in ``at``."""
    at = at or {}
    values = {}
    for b in by:
        if b in at:
            values[b] = list(np.atleast_1d(at[b]))
        elif is_categorical(data[b]):
            values[b] = levels_of(data[b])
        else:
            raise DataError(f"by='{b}' is numeric: give the values to compare in at= "
                            f"(e.g. at={{'{b}': [0, 1]}})")
    if not values:
        return pd.DataFrame(index=[0])
    return pd.DataFrame(list(itertools.product(*values.values())), columns=list(values))


def _counterfactual(data: pd.DataFrame, values: dict) -> pd.DataFrame:
    frame = data.copy()
    for col, v in values.items():
        if col not in frame.columns:
            raise DataError(f"'{col}' is not a column of the data")
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = pd.Categorical([v] * len(frame), categories=frame[col].cat.categories)
        else:
            frame[col] = v
    return frame


# --- contrasts -------------------------------------------------------------------------------


def _pairs(n: int, pairs: str) -> list[tuple[int, int]]:
    """(b, a) index pairs: the contrast is cell b against cell a."""
    if pairs == "pairwise":
        return [(b, a) for a in range(n) for b in range(a + 1, n)]
    if pairs == "reference":
        return [(b, 0) for b in range(1, n)]
    return [(b, b - 1) for b in range(1, n)]


def _compare(xb: np.ndarray, xa: np.ndarray, comparison: str) -> np.ndarray:
    if comparison == "difference":
        return xb - xa
    if comparison == "ratio":
        return xb / xa
    with np.errstate(divide="ignore", invalid="ignore"):
        return (xb / (1 - xb)) / (xa / (1 - xa))


def comparisons(means: MarginalMeans, variable: str | None = None, pairs: str = "pairwise",
              comparison: str = "difference", prob: float | None = None) -> pd.DataFrame:
    """Contrasts between the marginal means of the levels of one variable, draw by draw.

    Parameters
    ----------
    means : MarginalMeans
        From :func:`marginal_means` (with ``by``).
    variable : str, optional
        The ``by`` variable whose levels are compared (default the first); the contrasts are
        made within each cell of the other ``by`` variables.
    pairs : {"pairwise", "reference", "consecutive"}
        Every pair (later level against earlier), each level against the first, or each
        against the one before.
    comparison : {"difference", "ratio", "odds_ratio"}
        m_b − m_a, m_b / m_a, or the odds ratio [m_b/(1 − m_b)] / [m_a/(1 − m_a)] of two
        probabilities (response scale).
    prob : float, optional
        Default: that of ``means``.

    Returns
    -------
    pandas.DataFrame
        Columns ``contrast`` ("b - a", "b / a" or "odds(b) / odds(a)"), the other ``by``
        variables, mean, sd, lower, upper and ``p_positive`` (posterior probability that the
        difference is > 0, or the ratio > 1).

    Notes
    -----
    The contrast is computed at each draw from the draws of the two marginal means, so its
    interval carries their posterior correlation. On the link scale with ``groups="zero"``
    the difference of two levels of a factor is its regression coefficient (for a model
    without interactions), the log odds ratio of a logit model.
    """
    prob = means.prob if prob is None else prob
    P.check_prob(prob)
    _check_choice("pairs", pairs, PAIRS)
    _check_choice("comparison", comparison, COMPARISONS)
    if not means.by:
        raise ValueError("comparisons need marginal means with by=...")
    variable = means.by[0] if variable is None else variable
    if variable not in means.by:
        raise ValueError(f"variable '{variable}' is not one of the marginal means' by "
                         f"variables {list(means.by)}")
    if comparison == "odds_ratio" and means.scale != "response":
        raise ValueError("odds ratios compare probabilities: use marginal means on "
                         "scale='response'")
    cells = means.table[list(means.by)]
    others = [b for b in means.by if b != variable]
    blocks = cells.groupby(others, sort=False).groups.values() if others else [cells.index]
    symbol = {"difference": "{b} - {a}", "ratio": "{b} / {a}",
              "odds_ratio": "odds({b}) / odds({a})"}[comparison]
    rows, draws = [], []
    for idx in blocks:
        idx = list(idx)
        for b, a in _pairs(len(idx), pairs):
            ib, ia = idx[b], idx[a]
            x = _compare(means.draws[..., ib], means.draws[..., ia], comparison)
            row = {"contrast": symbol.format(b=cells.loc[ib, variable], a=cells.loc[ia, variable])}
            row.update({o: cells.loc[ib, o] for o in others})
            rows.append(row)
            draws.append(x)
    if not draws:
        raise ValueError(f"'{variable}' has a single level in the marginal means: nothing to "
                         "compare")
    x = np.stack(draws, axis=-1)
    table = _summary_table(pd.DataFrame(rows), x, prob)
    threshold = 0.0 if comparison == "difference" else 1.0
    table["p_positive"] = (P.flat_draws(x) > threshold).mean(axis=0)
    table.attrs.update({"variable": variable, "comparison": comparison, "scale": means.scale,
                        "groups": means.groups})
    return table


# --- slopes ----------------------------------------------------------------------------------


def slopes(dt: xr.DataTree, design, data: pd.DataFrame, variable: str, by=None,
           at: dict | None = None, grid: str = "data", groups: str = "zero",
           scale: str = "response", prob: float = 0.95, step: float | None = None,
           random_seed: int | None = None) -> pd.DataFrame:
    """dE[y]/dx of a numeric predictor, averaged over the data rows or at the reference grid.

    Parameters
    ----------
    dt, design, data : the fit and the data it was fitted to.
    variable : str
        A numeric predictor (it may enter through transforms: ``I(age**2)``, ``cwc(x, g)``).
    by : str or list of str, optional
        Categorical predictors: one slope per cell (the rows with those levels with
        ``grid="data"``, the grid's cells otherwise).
    at : dict, optional
        Values fixed in the grid or set in every row.
    grid : {"data", "reference"}
        "data": the average marginal effect (AME) over the observed rows; "reference": at
        the reference grid (the other factors averaged with equal weights).
    groups : {"zero", "average", "fitted"}
        As in :func:`marginal_means`.
    scale : {"response", "link"}
    prob : float
    step : float, optional
        Half-width h of the central difference (default 10⁻⁴ × sd of ``variable``).

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, mean, sd, lower, upper, ``p_positive``.

    Notes
    -----
    Per draw and row, [E(x + h) − E(x − h)] / (2h), then averaged within each cell; the error
    of the difference is O(h²). On the link scale of a model linear in x this is β_x; for a
    logit model on the response scale it is β_x p(1 − p) per row.
    """
    P.check_prob(prob)
    _check_choice("grid", grid, GRIDS)
    data = _check_data(data)
    by = _as_tuple(by)
    _check_by(design, data, by)
    if variable not in predictor_columns(design):
        raise DataError(f"'{variable}' is not a predictor of the model; its predictors: "
                        f"{', '.join(predictor_columns(design))}")
    if is_categorical(data[variable]):
        raise DataError(f"'{variable}' is categorical: compare its levels with "
                        "marginal_means(..., by=...) and comparisons() instead of a slope")
    h = step if step is not None else 1e-4 * (float(data[variable].std()) or 1.0)
    if grid == "reference":
        if groups == "fitted":
            raise ValueError("groups='fitted' needs the observed rows' groups: use grid='data'")
        frame = reference_grid(design, data, at)
        cells, codes = _cells(frame, by)
        W = _weights(frame, data, codes, len(cells), by, "equal")
    else:
        frame = _counterfactual(data, at or {})
        cells, codes = _cells(frame, by)
        W = np.zeros((len(frame), len(cells)))
        W[np.arange(len(frame)), codes] = 1.0
        W /= W.sum(axis=0)
    x = frame[variable].astype(float)
    up = expected_draws(dt, design, frame.assign(**{variable: x + h}), groups=groups,
                        scale=scale, random_seed=random_seed)
    down = expected_draws(dt, design, frame.assign(**{variable: x - h}), groups=groups,
                          scale=scale, random_seed=random_seed)
    draws = ((up - down) / (2 * h)) @ W
    table = _summary_table(cells, draws, prob)
    table["p_positive"] = (P.flat_draws(draws) > 0).mean(axis=0)
    table.attrs.update({"variable": variable, "scale": scale, "groups": groups, "grid": grid})
    return table


# --- odds ratios -------------------------------------------------------------------------------


def ratio_name(family) -> str:
    """What exp(β) is for the family's link: an odds ratio (logit), a rate ratio (log)."""
    return {"logit": "odds ratio", "log": "rate ratio"}.get(family.link, "exp(coefficient)")


def odds_ratios(dt: xr.DataTree, design, prob: float = 0.95,
                intercept: bool = False) -> pd.DataFrame:
    """exp(β) of every fixed effect: odds ratios of a logit model, rate ratios of a log link.

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    prob : float
    intercept : bool
        Include exp(Intercept) (the baseline odds or rate).

    Returns
    -------
    pandas.DataFrame
        Index ``term``; columns ``ratio`` (what the numbers are: "odds ratio", "rate ratio"),
        median, mean, lower, upper (the equal-tailed interval: exp of β's, as exp is
        monotone) and ``p_above_1``, the posterior probability that the ratio exceeds 1.
    """
    P.check_prob(prob)
    beta = P.fixed(dt, design)
    terms = [(k, t) for k, t in enumerate(design.fixed_terms)
             if intercept or t != "Intercept"]
    if not terms:
        raise ValueError("the model has no fixed effect besides the intercept")
    what = ratio_name(design.likelihood)
    rows = {}
    for k, t in terms:
        r = np.exp(beta[..., k]).ravel()
        lo, hi = P.quantiles(r, prob, axis=0)
        rows[t] = {"ratio": what, "median": float(np.median(r)), "mean": float(r.mean()),
                   "lower": float(lo), "upper": float(hi), "p_above_1": float(np.mean(r > 1))}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "term"
    table.attrs["interval_prob"] = prob
    return table


__all__ = ["MarginalMeans", "comparisons", "marginal_means", "odds_ratios", "reference_grid",
           "slopes"]
