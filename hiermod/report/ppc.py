"""Posterior predictive draws, pointwise log-likelihood, and posterior predictive checks.

Both the replicated outcomes and the log-likelihood are computed in numpy from the posterior
and the family (no PyMC graph is needed), and stored in the DataTree under the group names
ArviZ expects: ``posterior_predictive`` and ``log_likelihood`` (variable ``y``, dims
``chain, draw, obs``).

The statistics checked by default depend on the family: the mean and sd (and, overall, the
min and max) of a gaussian or count outcome; the proportion of ones (the mean) of a 0/1
outcome, whose min and max are 0 and 1 in almost every replication and whose sd is a
function of its mean. Per-group checks replicate each group with *new* effects drawn from
N(0, Σ) by default (the mixed predictive check of Marshall & Spiegelhalter 2007): with the
group's fitted effect, its replicated mean follows its observed mean by construction and the
check nearly always passes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..families import get_family
from . import _posterior as P
from .residual_draws import conditional_log_likelihood, replicated_outcomes

STATISTICS = {
    "mean": lambda a, axis: np.mean(a, axis=axis),
    "sd": lambda a, axis: np.std(a, axis=axis, ddof=1),
    "min": lambda a, axis: np.min(a, axis=axis),
    "max": lambda a, axis: np.max(a, axis=axis),
    "median": lambda a, axis: np.median(a, axis=axis),
}


def default_seed(dt, random_seed: int | None) -> int:
    """The given seed, else the seed the posterior was sampled with (reproducible), else 0."""
    if random_seed is not None:
        return int(random_seed)
    return int(P.posterior(dt).attrs.get("random_seed", 0))


def _obs_dataset(values: np.ndarray, dt) -> xr.Dataset:
    da = P.sample_dataarray(values, dt, dims=(names.OBS_DIM,),
                            coords={names.OBS_DIM: np.arange(values.shape[-1])})
    return xr.Dataset({names.OUTCOME: da})


def expected_value(dt, design, eta: np.ndarray | None = None) -> np.ndarray:
    """g⁻¹(η) per draw and observation (the success probability for binomial), (chain, draw, obs)."""
    eta = P.linear_predictor(dt, design) if eta is None else eta
    return get_family(design.family).inverse_link(eta)


def log_likelihood(dt: xr.DataTree, design) -> xr.Dataset:
    """Pointwise log-likelihood log p(y_i | θ^(s)), dims (chain, draw, obs).

    Notes
    -----
    log N(y_i | η_i, σ) for gaussian models; log Bernoulli / Binomial(y_i | n_i,
    logit⁻¹ η_i); log Poisson(y_i | exp η_i); η = Xβ + Σ_g Z_g u_g[j], conditional on the group
    effects. PSIS-LOO on it therefore leaves out one observation, not one group. With a
    residual structure (correlated residuals within units, or an sd per row) it is
    log p(y_i | y_−i, u, θ), the same quantity for a non-factorizing likelihood
    (:func:`hiermod.report.residual_draws.conditional_log_likelihood`).
    """
    if design.residuals is not None:
        return _obs_dataset(conditional_log_likelihood(dt, design), dt)
    family = get_family(design.family)
    mean = expected_value(dt, design)
    s = P.sigma(dt, design)
    ll = family.log_likelihood(design.y, mean, sigma=None if s is None else s[..., None],
                               trials=design.trials)
    return _obs_dataset(np.asarray(ll, dtype=float), dt)


def posterior_predictive(dt: xr.DataTree, design, random_seed: int | None = None) -> xr.Dataset:
    """One replicated outcome vector per posterior draw, dims (chain, draw, obs).

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    random_seed : int, optional
        Default: the seed the posterior was sampled with, so repeated calls agree.

    Notes
    -----
    y_rep^(s) ~ p(y | θ^(s)) with the groups' fitted effects (replications of the same groups);
    with a residual structure the residuals are drawn correlated within units
    (:func:`hiermod.report.residual_draws.replicated_outcomes`).
    """
    family = get_family(design.family)
    rng = np.random.default_rng(default_seed(dt, random_seed))
    if design.residuals is not None:
        return _obs_dataset(replicated_outcomes(dt, design, rng), dt)
    mean = expected_value(dt, design)
    s = P.sigma(dt, design)
    yrep = family.draw(mean, rng, sigma=None if s is None else s[..., None], trials=design.trials)
    return _obs_dataset(np.asarray(yrep, dtype=float), dt)


def add_log_likelihood(dt: xr.DataTree, design, overwrite: bool = False) -> xr.DataTree:
    """Store :func:`log_likelihood` as the group ``log_likelihood`` of ``dt`` (in place)."""
    if overwrite or names.LOG_LIKELIHOOD not in dt.children:
        dt[names.LOG_LIKELIHOOD] = xr.DataTree(log_likelihood(dt, design))
    return dt


def add_posterior_predictive(dt: xr.DataTree, design, random_seed: int | None = None,
                             overwrite: bool = False) -> xr.DataTree:
    """Store :func:`posterior_predictive` as the group ``posterior_predictive`` (in place)."""
    if overwrite or names.POSTERIOR_PREDICTIVE not in dt.children:
        dt[names.POSTERIOR_PREDICTIVE] = xr.DataTree(posterior_predictive(dt, design,
                                                                          random_seed))
    return dt


PREDICTIVE_GROUPS = (names.POSTERIOR_PREDICTIVE, names.PRIOR_PREDICTIVE)


def replicated(dt: xr.DataTree, design, random_seed: int | None = None,
               group: str = names.POSTERIOR_PREDICTIVE) -> np.ndarray:
    """y_rep (chain, draw, obs): the stored group if present, else fresh posterior draws (prior
    draws must be stored: :func:`hiermod.sample_prior_predictive`)."""
    if group not in PREDICTIVE_GROUPS:
        raise ValueError(f"group must be one of {', '.join(PREDICTIVE_GROUPS)}, got {group!r}")
    if group in dt.children:
        return np.asarray(dt[group][names.OUTCOME].values, dtype=float)
    if group == names.PRIOR_PREDICTIVE:
        raise ValueError("the DataTree has no 'prior_predictive' group: make one with "
                         "fit.prior_predictive() (hiermod.sample_prior_predictive)")
    return posterior_predictive(dt, design, random_seed)[names.OUTCOME].values


#: the statistics checked when none are asked for: overall, and per group
DEFAULT_STATS = {"bernoulli": (("mean",), ("mean",)), "binomial": (("mean", "sd"), ("mean",))}
GAUSSIAN_LIKE = (("mean", "sd", "min", "max"), ("mean", "sd"))
GROUP_REPLICATES = ("new", "fitted")


def default_stats(design, per_group: bool = False) -> tuple[str, ...]:
    """The statistics a family's checks use by default (see the module docstring)."""
    return DEFAULT_STATS.get(design.family, GAUSSIAN_LIKE)[int(per_group)]


def _check_stats(stats, design=None, per_group: bool = False) -> tuple[str, ...]:
    if stats is None:
        return default_stats(design, per_group)
    stats = (stats,) if isinstance(stats, str) else tuple(stats)
    bad = [s for s in stats if s not in STATISTICS]
    if bad:
        raise ValueError(f"unknown statistic(s) {bad}; choose from {', '.join(STATISTICS)}")
    if design is not None and design.family == "bernoulli":
        flat = [s for s in stats if s in ("min", "max", "median")]
        if flat:
            raise ValueError(f"the {', '.join(flat)} of a 0/1 outcome is 0 or 1 in nearly every "
                             "replication, so its check says nothing: check the proportion of "
                             "ones (stats='mean'), per group (fit.ppc_groups()), or the "
                             "calibration (hiermod.report.calibration)")
    return stats


def ppc_overall(dt: xr.DataTree, design, stats=None,
                prob: float = 0.95, random_seed: int | None = None,
                group: str = names.POSTERIOR_PREDICTIVE) -> pd.DataFrame:
    """Test statistics of the observed outcome against their posterior predictive distribution.

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    stats : sequence of {"mean", "sd", "min", "max", "median"}, optional
        Default: mean, sd, min and max; the mean (the proportion of ones) alone for a 0/1
        outcome, for which min, max and median are refused (they are 0 or 1 in almost every
        replication).
    prob : float
    random_seed : int, optional
        Used only if ``dt`` has no ``posterior_predictive`` group.
    group : {"posterior_predictive", "prior_predictive"}
        Check against replications from the posterior (default) or from the prior (a prior
        predictive check: the tree of :func:`hiermod.sample_prior_predictive`).

    Returns
    -------
    pandas.DataFrame
        One row per statistic; columns observed, rep_mean, rep_lower, rep_upper, p_value.

    Notes
    -----
    Posterior predictive p-value (Gelman, Meng & Stern 1996):
    p = Pr(T(y_rep) ≥ T(y) | y), estimated by the fraction of draws. Values near 0 or 1 flag
    a feature of the data the model does not reproduce.
    """
    P.check_prob(prob)
    stats = _check_stats(stats, design)
    yrep = replicated(dt, design, random_seed, group)
    rows = {}
    for s in stats:
        t_obs = float(STATISTICS[s](design.y, None))
        t_rep = STATISTICS[s](yrep, -1)
        lo, hi = P.quantiles(t_rep, prob)
        rows[s] = {"observed": t_obs, "rep_mean": float(t_rep.mean()), "rep_lower": float(lo),
                   "rep_upper": float(hi), "p_value": float(np.mean(t_rep >= t_obs))}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "statistic"
    table.attrs.update({"interval_prob": prob, "group": group})
    return table


def _group_stat(values: np.ndarray, index: np.ndarray, J: int, stat: str) -> np.ndarray:
    """Per-group mean or sd along the last axis (values (..., n)) -> (..., J); every level of
    0..J-1 occurs in ``index`` (levels come from the data)."""
    order = np.argsort(index, kind="stable")
    n = np.bincount(index, minlength=J).astype(float)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(int)
    v = values[..., order]
    mean = np.add.reduceat(v, starts, axis=-1) / n
    if stat == "mean":
        return mean
    dev2 = (v - np.repeat(mean, n.astype(int), axis=-1)) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.add.reduceat(dev2, starts, axis=-1) / (n - 1)
    return np.sqrt(np.where(n > 1, var, np.nan))


def mixed_replicates(dt: xr.DataTree, design, fd, random_seed: int | None = None) -> np.ndarray:
    """y_rep (chain, draw, obs) with the effects of factor ``fd`` drawn anew from N(0, Σ) at
    each draw (the other factors keep their fitted effects): replications of *new* groups with
    the same sizes and predictors (the mixed predictive distribution)."""
    family = get_family(design.family)
    rng = np.random.default_rng(np.random.SeedSequence([default_seed(dt, random_seed), 0x6D]))
    eta = P.linear_predictor(dt, design)
    eta = eta - P.group_contribution(P.group_effects(dt, fd), fd.index, fd.Z)
    cov = P.group_cov(dt, fd)
    L = np.linalg.cholesky(cov + 1e-12 * np.eye(fd.q))
    u_new = np.einsum("cdab,cdjb->cdja", L, rng.standard_normal(cov.shape[:2]
                                                               + (fd.n_levels, fd.q)))
    eta = eta + P.group_contribution(u_new, fd.index, fd.Z)
    s = P.sigma(dt, design)
    y = family.draw(family.inverse_link(eta), rng, sigma=None if s is None else s[..., None],
                    trials=design.trials)
    return np.asarray(y, dtype=float)


def ppc_groups(dt: xr.DataTree, design, factor: str | None = None, stats=None,
               prob: float = 0.95, random_seed: int | None = None,
               groups: str = "new") -> pd.DataFrame:
    """Per-group posterior predictive checks of the group means and sds.

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    factor : str, optional
        Grouping factor (default the first).
    stats : sequence of {"mean", "sd"}, optional
        Default: mean and sd; the mean (the proportion of ones) alone for 0/1 and binomial
        outcomes.
    prob : float
    random_seed : int, optional
    groups : {"new", "fitted"}
        "new" (default): each group is replicated with effects drawn anew from N(0, Σ), so
        the check asks whether the group is a plausible member of the population of groups
        (a mixed predictive check). "fitted": with its posterior effects (the replications of
        ``fit.posterior_predictive()``), which reproduce each group's mean by construction.

    Returns
    -------
    pandas.DataFrame
        Index: the factor's levels (named after the factor); columns n, and for each statistic
        s: ``obs_<s>``, ``rep_<s>`` (posterior predictive mean), ``rep_<s>_lower``,
        ``rep_<s>_upper``, ``p_<s>`` (Pr(T_j(y_rep) ≥ T_j(y))) and ``outside_<s>`` (the
        observed statistic lies outside the interval). ``attrs["outside"]`` counts them.

    Notes
    -----
    T_j(y) is the mean (or sd) of the outcome in group j. With ``groups="new"``, per
    posterior draw s: u_j^rep ~ N(0, Σ^(s)) and y_rep ~ p(y | β^(s), u^rep, σ^(s)) on the
    group's own rows (Marshall & Spiegelhalter 2007); the check is then sensitive to a group
    whose effect is unusual for the population, to non-normal effects and, through the sd, to
    unequal residual spread. A well-fitting model has about (1 − prob) of the groups outside
    their intervals; sds of groups with one observation are NaN.
    """
    P.check_prob(prob)
    if groups not in GROUP_REPLICATES:
        raise ValueError(f"groups must be one of {', '.join(GROUP_REPLICATES)}, got {groups!r}")
    stats = _check_stats(stats, design, per_group=True)
    bad = [s for s in stats if s not in ("mean", "sd")]
    if bad:
        raise ValueError(f"per-group checks support 'mean' and 'sd', got {bad}")
    fd = P.pick_factor(design, factor)
    yrep = (replicated(dt, design, random_seed) if groups == "fitted"
            else mixed_replicates(dt, design, fd, random_seed))
    cols: dict[str, np.ndarray] = {"n": fd.sizes}
    outside = {}
    for s in stats:
        obs = _group_stat(design.y[None, :], fd.index, fd.n_levels, s)[0]
        rep = _group_stat(yrep, fd.index, fd.n_levels, s)
        ok = np.isfinite(obs)  # an sd needs two observations
        rep = np.where(ok, rep, 0.0)
        lo, hi = P.quantiles(rep, prob)
        out = ok & ((obs < lo) | (obs > hi))
        cols[f"obs_{s}"] = obs
        cols[f"rep_{s}"] = np.where(ok, rep.mean(axis=(0, 1)), np.nan)
        cols[f"rep_{s}_lower"] = np.where(ok, lo, np.nan)
        cols[f"rep_{s}_upper"] = np.where(ok, hi, np.nan)
        cols[f"p_{s}"] = np.where(ok, np.mean(rep >= np.where(ok, obs, 0.0), axis=(0, 1)), np.nan)
        cols[f"outside_{s}"] = out
        outside[s] = int(out.sum())
    table = pd.DataFrame(cols, index=pd.Index(list(fd.levels), name=fd.name))
    table.attrs.update({"factor": fd.name, "interval_prob": prob, "outside": outside,
                        "groups": groups})
    return table
