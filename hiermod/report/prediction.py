"""Predictions for new data: existing groups use their posterior effects, new groups a draw
from the population N(0, Σ), zero, or an error.

New data are encoded exactly as the training data: the fixed part through the Design's
formulae matrix (``evaluate_new_data``), so categorical codings and stateful transforms
(``cwc``, ``cgm``, ``center``, ``scale``) reuse what was learned on the training data; the
level-2 predictors of a new group are read from the new data, and its mean of a ``cwc`` /
``gmean`` predictor is the training groups' mean (or its own rows' mean, see
:mod:`hiermod.transforms`).

Population-level predictions need no group at all: ``groups="zero"`` sets every group effect
to 0 (lme4's ``re.form = NA``: the prediction for a typical group), ``groups="average"``
averages the expected value over the distribution of group effects (the population-averaged,
or marginal, mean; for a logit model the share of successes over all groups, which differs
from the typical group's probability).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..errors import DataError, format_rows
from ..families import get_family
from ..frame import factor_labels, used_columns
from ..transforms import new_group_means as group_means_of_new_groups
from . import _posterior as P
from .ppc import default_seed

NEW_GROUPS = ("sample", "zero", "refuse")
KINDS = ("both", "mean", "outcome", "link")
#: which group effects a prediction includes (see :func:`predict`)
GROUPS = ("fitted", "zero", "average")
#: Gauss–Hermite nodes of the population average (exact to ~1e-10 for the logistic curve at
#: the group sds of practice)
N_QUADRATURE = 40


@dataclass(frozen=True)
class Predictions:
    """What :func:`predict` returns.

    ``table``: one row per row of the new data (same index): the new data's model columns,
    ``new_group`` (True where a grouping factor has a level unseen in fitting), and the
    summaries asked for by ``kind``: ``mean, sd, lower, upper`` of the expected value
    E[y] = g⁻¹(η) (the success probability for binomial models), ``y_mean, y_lower, y_upper``
    of posterior predictive draws of the outcome, ``eta_mean, eta_lower, eta_upper`` of the
    linear predictor.
    ``draws``: DataTree with the group ``predictions`` (variables ``mu`` (η), ``expected``
    and ``y``; dims chain, draw, obs; obs numbers the new data's rows in order).
    ``new_levels``: factor -> levels of the new data not seen in fitting.
    """

    table: pd.DataFrame
    draws: xr.DataTree
    new_levels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def _repr_html_(self) -> str:  # notebooks show the table
        return self.table._repr_html_()


@dataclass(frozen=True)
class NewDesign:
    """New data encoded like the training data."""

    X: np.ndarray
    Zs: tuple[np.ndarray, ...]
    labels: tuple[np.ndarray, ...]  # per factor: level label of each row
    trials: np.ndarray | None


def required_columns(design, need_outcome_draws: bool, groups: str = "fitted") -> dict[str, str]:
    """column -> role, for the columns new data must have (without the grouping columns when
    the prediction includes no group's own effect, unless a predictor uses them)."""
    spec = design.spec
    roles = used_columns(spec)
    if groups != "fitted":
        roles = {c: r for c, r in roles.items() if r != "grouping factor"}
    roles.pop(spec.response.name, None)
    if spec.response.trials:
        roles.pop(spec.response.trials, None)
    if spec.response.failures:
        roles.pop(spec.response.failures, None)
    if need_outcome_draws and design.family == "binomial":
        if spec.response.trials:
            roles[spec.response.trials] = "trials (needed to draw the outcome)"
        else:
            roles[spec.response.name] = "successes (trials = successes + failures)"
            roles[spec.response.failures] = "failures (trials = successes + failures)"
    return roles


def _evaluate(matrix, newdata: pd.DataFrame, where: str) -> np.ndarray:
    try:
        return np.asarray(matrix.evaluate_new_data(newdata)).astype(float)
    except DataError:
        raise
    except Exception as exc:  # formulae raises ValueError / KeyError / others; add context
        raise DataError(f"cannot encode the new data for the {where}: {exc}") from exc


def encode_newdata(design, newdata: pd.DataFrame, need_outcome_draws: bool = False,
                   groups: str = "fitted", new_group_means: str = "training") -> NewDesign:
    """Encode new data with the training data's codings and transforms.

    ``groups`` other than "fitted" needs no grouping columns (``labels`` are then empty);
    ``new_group_means`` says where ``cwc`` / ``gmean`` take the mean of a group unseen in
    fitting (:func:`hiermod.transforms.new_group_means`).

    Raises
    ------
    DataError
        Not a DataFrame, no rows, missing columns (named, with their role), missing values
        (columns and rows), a categorical level the fixed part did not see.
    """
    if not isinstance(newdata, pd.DataFrame):
        raise DataError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}")
    if len(newdata) == 0:
        raise DataError("newdata has no rows")
    roles = required_columns(design, need_outcome_draws, groups)
    missing = [c for c in roles if c not in newdata.columns]
    if missing:
        cols = ", ".join(f"'{c}' ({roles[c]})" for c in missing)
        raise DataError(f"newdata lacks the column{'s' if len(missing) > 1 else ''} {cols}; it "
                        f"has {', '.join(map(str, newdata.columns)) or 'no columns'}")
    na = newdata[list(roles)].isna()
    if na.any().any():
        parts = [f"'{c}' ({format_rows(list(newdata.index[na[c]]))})" for c in roles
                 if na[c].any()]
        raise DataError(f"newdata has missing values in {'; '.join(parts)}")
    if design.fixed_matrix is None and design.fixed_terms:
        raise DataError("this Design keeps no formulae matrix to encode new data with")
    with group_means_of_new_groups(new_group_means):
        X = (_evaluate(design.fixed_matrix, newdata, "fixed effects") if design.fixed_terms
             else np.zeros((len(newdata), 0)))
        Zs, labels = [], []
        for fd, mats in zip(design.factors, design.factor_matrices, strict=True):
            Z = np.hstack([_evaluate(m, newdata, f"varying effects of '{fd.name}'")
                           for m in mats])
            Zs.append(Z)
            if groups == "fitted":
                labels.append(factor_labels(newdata, fd.name).to_numpy(dtype=object))
    trials = None
    spec = design.spec
    if need_outcome_draws and design.family == "binomial":
        if spec.response.trials:
            trials = pd.to_numeric(newdata[spec.response.trials]).to_numpy(dtype=float)
        else:
            trials = (pd.to_numeric(newdata[spec.response.name])
                      + pd.to_numeric(newdata[spec.response.failures])).to_numpy(dtype=float)
    return NewDesign(X=X, Zs=tuple(Zs), labels=tuple(labels), trials=trials)


def population_draws(dt, fd, n_new: int, rng: np.random.Generator) -> np.ndarray:
    """u ~ N(0, Σ_g^(s)) for n_new new levels per posterior draw s: (chain, draw, n_new, q)."""
    sd = P.group_sds(dt, fd)
    cov = P.group_cov(dt, fd)
    with np.errstate(invalid="ignore", divide="ignore"):
        R = cov / (sd[..., :, None] * sd[..., None, :])
    R = np.where(np.isfinite(R), R, np.eye(fd.q))
    L = np.linalg.cholesky(R + 1e-10 * np.eye(fd.q)) * sd[..., :, None]
    z = rng.standard_normal(sd.shape[:2] + (n_new, fd.q))
    return np.einsum("cdab,cdnb->cdna", L, z)


@dataclass(frozen=True)
class LinearPredictor:
    """η per draw for new data, (chain, draw, n), and what the population average needs."""

    eta: np.ndarray
    is_new: np.ndarray
    new_levels: dict[str, tuple[str, ...]]
    #: per draw and row, the variance of Σ_g z_g u_g over the groups' distribution (for
    #: ``groups="average"``), else None
    group_variance: np.ndarray | None = None


def linear_predictor(dt, design, enc: NewDesign, newdata: pd.DataFrame, groups: str = "fitted",
                     new_groups: str = "sample",
                     rng: np.random.Generator | None = None) -> LinearPredictor:
    """η = Xβ + Σ_g Z_g u_g for encoded new data under the ``groups`` / ``new_groups`` policy of
    :func:`predict`."""
    beta = P.fixed(dt, design)
    eta = (beta @ enc.X.T if beta.shape[-1]
           else np.zeros(beta.shape[:2] + (len(newdata),)))
    new_levels: dict[str, tuple[str, ...]] = {}
    is_new = np.zeros(len(newdata), dtype=bool)
    if groups == "zero":
        return LinearPredictor(eta, is_new, new_levels)
    if groups == "average":
        var = np.zeros_like(eta)
        for fd, Z in zip(design.factors, enc.Zs, strict=True):
            var = var + np.einsum("na,cdab,nb->cdn", Z, P.group_cov(dt, fd), Z)
        return LinearPredictor(eta, is_new, new_levels, var)
    rng = np.random.default_rng(0) if rng is None else rng
    for fd, Z, labels in zip(design.factors, enc.Zs, enc.labels, strict=True):
        lookup = {lvl: j for j, lvl in enumerate(fd.levels)}
        idx = np.array([lookup.get(lab, -1) for lab in labels])
        unseen = idx < 0
        fresh = tuple(dict.fromkeys(labels[unseen]))
        if fresh:
            new_levels[fd.name] = fresh
            is_new |= unseen
            if new_groups == "refuse":
                raise DataError(
                    f"newdata has level(s) of '{fd.name}' not seen in fitting: "
                    f"{', '.join(repr(s) for s in fresh[:10])}"
                    f"{' ...' if len(fresh) > 10 else ''} "
                    f"({format_rows(list(newdata.index[unseen]))}); new_groups='refuse' predicts "
                    "for existing groups only: use new_groups='sample' to draw their effects "
                    "from the population, or 'zero' for the population average")
        u = P.group_effects(dt, fd)
        if fresh and new_groups == "sample":
            u = np.concatenate([u, population_draws(dt, fd, len(fresh), rng)], axis=2)
        elif fresh:
            u = np.concatenate([u, np.zeros(u.shape[:2] + (len(fresh), fd.q))], axis=2)
        fresh_idx = {lvl: fd.n_levels + k for k, lvl in enumerate(fresh)}
        idx = np.where(unseen, [fresh_idx.get(lab, -1) for lab in labels], idx)
        eta = eta + P.group_contribution(u, idx, Z)
    return LinearPredictor(eta, is_new, new_levels)


def population_average(family, eta: np.ndarray, variance: np.ndarray,
                       n_nodes: int = N_QUADRATURE) -> np.ndarray:
    """E[g⁻¹(η + s ε)], ε ~ N(0, 1), s² = ``variance``, by Gauss–Hermite quadrature.

    Notes
    -----
    With nodes x_k and weights w_k of ∫ e^{−x²} f(x) dx,
    E[f(η + s ε)] = Σ_k w_k / √π · f(η + √2 s x_k); the sum is exact for the identity link and
    converges fast for the smooth logistic and exponential curves.
    """
    if family.link == "identity":
        return family.inverse_link(eta)
    x, w = np.polynomial.hermite.hermgauss(n_nodes)
    s = np.sqrt(2.0 * np.maximum(variance, 0.0))
    out = np.zeros_like(eta, dtype=float)
    for xk, wk in zip(x, w, strict=True):
        out += wk * family.inverse_link(eta + s * xk)
    return out / np.sqrt(np.pi)


def check_policies(new_groups: str, kind: str, groups: str) -> None:
    if new_groups not in NEW_GROUPS:
        raise ValueError(f"new_groups must be one of {', '.join(NEW_GROUPS)}, got {new_groups!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if groups not in GROUPS:
        raise ValueError(f"groups must be one of {', '.join(GROUPS)}, got {groups!r}")


SCALES = ("response", "link")


def expected_draws(dt, design, newdata: pd.DataFrame, groups: str = "fitted",
                   new_groups: str = "sample", random_seed: int | None = None,
                   new_group_means: str = "training", scale: str = "response") -> np.ndarray:
    """Draws of E[y] (the probability for binomial models; η with ``scale="link"``),
    (chain, draw, rows of newdata), under the policies of :func:`predict`: the building block
    of the marginal means, contrasts and slopes of :mod:`hiermod.report.marginal_effects`.

    On the link scale the population average of η is x β, the same as ``groups="zero"``."""
    check_policies(new_groups, "mean", groups)
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    enc = encode_newdata(design, newdata, groups=groups, new_group_means=new_group_means)
    rng = np.random.default_rng(default_seed(dt, random_seed))
    lp = linear_predictor(dt, design, enc, newdata, groups, new_groups, rng)
    if scale == "link":
        return lp.eta
    family = get_family(design.family)
    if lp.group_variance is not None:
        return population_average(family, lp.eta, lp.group_variance)
    return family.inverse_link(lp.eta)


def predict(dt: xr.DataTree, design, newdata: pd.DataFrame, new_groups: str = "sample",
            kind: str = "both", prob: float = 0.95,
            random_seed: int | None = None, groups: str = "fitted",
            new_group_means: str = "training") -> Predictions:
    """Posterior predictions for new data (rows of existing and of new groups, or of the
    population).

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    newdata : pandas.DataFrame
        Must have every predictor and grouping column of the model (not the outcome, except
        to build the trials of a ``cbind(s, f)`` binomial model); with ``groups`` "zero" or
        "average", the grouping columns only where a predictor uses them (``cwc(x, g)``).
    new_groups : {"sample", "zero", "refuse"}
        Levels of a grouping factor unseen in fitting: "sample" draws their effects from
        N(0, Σ_g) at each posterior draw (a prediction for a new group, the default); "zero"
        sets them to 0 (the population average at the given predictors); "refuse" raises a
        DataError naming the unknown levels and the rows.
    kind : {"both", "mean", "outcome", "link"}
        Which summaries the table has: the expected value and the outcome (default), the
        expected value only, the outcome only, or the linear predictor only.
    prob : float
        Probability of the equal-tailed intervals.
    random_seed : int, optional
        For the new groups' effects and the outcome draws (default: the posterior's seed).
    groups : {"fitted", "zero", "average"}
        "fitted" (default): each row's groups with their posterior effects (new levels as
        ``new_groups`` says). "zero": no group effects, Xβ alone — lme4's ``re.form = NA``,
        the prediction for a typical group (effects 0). "average": the expected value averaged
        over the groups' distribution N(0, Σ_g), the population-averaged mean (see Notes);
        its outcome draws come from a new group per row.
    new_group_means : {"training", "newdata"}
        Where ``cwc(x, g)`` and ``gmean(x, g)`` take the mean of x of a group unseen in
        fitting: the mean of the training groups' means (default), or the mean of the group's
        own rows in ``newdata`` (when they are the whole group).

    Returns
    -------
    Predictions
        ``.table`` (pandas), ``.draws`` (DataTree with group ``predictions``),
        ``.new_levels``.

    Raises
    ------
    DataError
        Missing columns or values in newdata, unknown categorical levels, or unknown groups
        with ``new_groups="refuse"``.

    Notes
    -----
    Per posterior draw s, for a row i of group j (one level per factor g):

    .. math::

        \\eta_i^{(s)} = x_i \\beta^{(s)} + \\sum_g z_{gi} u_{g,j}^{(s)}, \\qquad
        u_{g,j}^{(s)} = \\begin{cases} \\text{posterior draw} & j \\text{ seen in fitting} \\\\
        \\sim N(0, \\Sigma_g^{(s)}) & j \\text{ new, "sample"} \\\\
        0 & j \\text{ new, "zero"} \\end{cases}

    All rows of one new group share its draw u_{g,j}^{(s)}. E[y] = g⁻¹(η); the outcome is
    drawn from the family given E[y] (and σ^(s)). Intervals for a new group are wider than for
    a well-observed group: they carry the between-group variance Σ_g.

    The population-averaged mean (``groups="average"``) is, per draw,

    .. math::

        \\bar\\mu_i^{(s)} = \\int g^{-1}(x_i\\beta^{(s)} + z_i u)\\,
        N(u \\mid 0, \\Sigma^{(s)})\\,du
        = E\\left[g^{-1}(x_i\\beta^{(s)} + v_i^{1/2}\\varepsilon)\\right],\\quad
        v_i = \\sum_g z_{gi}\\Sigma_g^{(s)} z_{gi}^\\top,

    a one-dimensional integral computed by Gauss–Hermite quadrature
    (:func:`population_average`). For the identity link it equals x_i β; for a logit model it
    is pulled towards 1/2 relative to the typical group's g⁻¹(x_i β).

    Examples
    --------
    >>> new = pd.DataFrame({"floor": [0, 1], "county": ["AITKIN", "NEW COUNTY"]})  # doctest: +SKIP
    >>> fit.predict(new).table                                                    # doctest: +SKIP
    >>> fit.predict(pd.DataFrame({"floor": [0, 1]}), groups="zero").table        # doctest: +SKIP
    """
    check_policies(new_groups, kind, groups)
    P.check_prob(prob)
    want_y = kind in ("both", "outcome")
    enc = encode_newdata(design, newdata, need_outcome_draws=want_y, groups=groups,
                         new_group_means=new_group_means)
    rng = np.random.default_rng(default_seed(dt, random_seed))
    family = get_family(design.family)
    lp = linear_predictor(dt, design, enc, newdata, groups, new_groups, rng)
    eta = lp.eta
    if lp.group_variance is not None:
        expected = population_average(family, eta, lp.group_variance)
    else:
        expected = family.inverse_link(eta)

    roles = required_columns(design, want_y, groups)
    table = newdata[[c for c in newdata.columns if c in roles]].copy()
    if groups == "fitted":
        table["new_group"] = lp.is_new
    variables = {names.LINPRED: eta, names.EXPECTED: expected}
    if kind in ("both", "mean"):
        _add_summary(table, "", expected, prob, with_sd=True)
    if kind == "link":
        _add_summary(table, "eta_", eta, prob)
    if want_y:
        s = P.sigma(dt, design)
        mean_y = expected
        if groups == "average":  # a new group per row: its effects drawn, then the outcome
            z = rng.standard_normal(eta.shape)
            mean_y = family.inverse_link(eta + np.sqrt(lp.group_variance) * z)
        y = family.draw(mean_y, rng, sigma=None if s is None else s[..., None],
                        trials=enc.trials)
        variables[names.OUTCOME] = np.asarray(y, dtype=float)
        _add_summary(table, "y_", variables[names.OUTCOME], prob)
    table.attrs.update({"interval_prob": prob, "new_groups": new_groups, "kind": kind,
                        "groups": groups})
    obs = {names.OBS_DIM: np.arange(len(newdata))}
    ds = xr.Dataset({k: P.sample_dataarray(v, dt, dims=(names.OBS_DIM,), coords=obs)
                     for k, v in variables.items()})
    ds.attrs.update({"new_groups": new_groups, "groups": groups,
                     "random_seed": default_seed(dt, random_seed)})
    draws = xr.DataTree.from_dict({f"/{names.PREDICTIONS}": ds})
    return Predictions(table=table, draws=draws, new_levels=lp.new_levels)


def _add_summary(table: pd.DataFrame, prefix: str, x: np.ndarray, prob: float,
                 with_sd: bool = False) -> None:
    lo, hi = P.quantiles(x, prob)
    table[f"{prefix}mean"] = x.mean(axis=(0, 1))
    if with_sd:
        table[f"{prefix}sd"] = P.flat_draws(x).std(axis=0, ddof=1)
    table[f"{prefix}lower"] = lo
    table[f"{prefix}upper"] = hi


def trajectory_grid(data: pd.DataFrame, design, x: str, factor: str | None = None,
                    n_points: int = 20) -> pd.DataFrame:
    """Each group of ``factor`` over an even grid of ``x`` (its own observed range), the other
    model columns held at the group's first row (level-2 predictors are constant anyway)."""
    fd = P.pick_factor(design, factor)
    if x not in data.columns:
        raise DataError(f"no column '{x}' in the data; columns: {', '.join(map(str, data.columns))}")
    labels = factor_labels(data, fd.name).to_numpy(dtype=object)
    rows = []
    for lvl in fd.levels:
        g = data[labels == lvl]
        if g.empty:
            continue
        grid = np.linspace(float(g[x].min()), float(g[x].max()), n_points)
        frame = g.iloc[[0] * n_points].reset_index(drop=True)
        frame[x] = grid
        frame["level"] = lvl
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def trajectories(dt: xr.DataTree, design, data: pd.DataFrame, x: str,
                 factor: str | None = None, n_points: int = 20,
                 prob: float = 0.95) -> pd.DataFrame:
    """Fitted curves of every group along a predictor (e.g. Days in sleepstudy).

    Parameters
    ----------
    dt, design : the fit.
    data : pandas.DataFrame
        The training data (``fit.data``).
    x : str
        Column along which to trace each group's fitted expected value.
    factor : str, optional
        Grouping factor (default the first).
    n_points : int
    prob : float

    Returns
    -------
    pandas.DataFrame
        Columns: ``level`` (the group), the model columns, ``mean``, ``sd``, ``lower``,
        ``upper`` of E[y], one row per group and grid value; attrs x, factor.

    Notes
    -----
    E[y | x, group j] = g⁻¹(x β + z u_j) with the group's posterior effects, from
    :func:`predict` with ``new_groups="refuse"`` and ``kind="mean"``.
    """
    fd = P.pick_factor(design, factor)
    grid = trajectory_grid(data, design, x, fd.name, n_points)
    table = predict(dt, design, grid, new_groups="refuse", kind="mean", prob=prob).table
    table.insert(0, "level", grid["level"].to_numpy())
    table.attrs.update({"x": x, "factor": fd.name})
    return table
