"""Model checks beyond the predictive p-values: residuals against fitted values, binned
residuals and calibration of 0/1 and binomial outcomes, and the QQ plot of the group effects
(performance / brms style).

All are conditional on each group's fitted effects (in-sample): a model that overfits looks
well calibrated here; :func:`hiermod.kfold` checks predictions for held-out groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from ..families import get_family
from . import _posterior as P
from .ppc import expected_value


def _fitted(dt, design) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E[y] per draw in outcome units (chain, draw, n), its posterior mean, the posterior
    mean of Var(y | θ))."""
    family = get_family(design.family)
    mean = expected_value(dt, design)
    fitted = family.outcome_mean(mean, design.trials)
    s = P.sigma(dt, design)
    var = family.variance(mean, sigma=None if s is None else s[..., None], trials=design.trials)
    return fitted, fitted.mean(axis=(0, 1)), np.asarray(var).mean(axis=(0, 1))


def residuals(dt: xr.DataTree, design) -> pd.DataFrame:
    """Fitted values and residuals of every observation.

    Returns
    -------
    pandas.DataFrame
        One row per observation (index: the data's row labels); columns ``observed``,
        ``fitted`` (posterior mean of E[y], in the outcome's units: counts for binomial),
        ``residual`` (observed − fitted), ``pearson`` (residual / √Var(y)), ``fitted_link``
        (posterior mean of η).

    Notes
    -----
    Var(y) is the family's: σ² (gaussian), n p (1 − p) (binomial), μ (Poisson), averaged over
    the draws. Residuals of a 0/1 outcome fall on two curves (y = 0 and y = 1); read them
    through :func:`binned_residuals` instead.
    """
    _, fitted, var = _fitted(dt, design)
    eta = P.linear_predictor(dt, design).mean(axis=(0, 1))
    resid = design.y - fitted
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = resid / np.sqrt(var)
    return pd.DataFrame({"observed": design.y, "fitted": fitted, "residual": resid,
                         "pearson": pearson, "fitted_link": eta},
                        index=pd.Index(design.rows, name="row"))


def _equal_count_bins(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index of each value: n_bins bins of (nearly) equal counts along x."""
    order = np.argsort(x, kind="stable")
    bins = np.empty(len(x), dtype=int)
    bins[order] = np.arange(len(x)) * n_bins // len(x)
    return bins


def _n_bins(n: int, n_bins: int | None) -> int:
    k = int(np.ceil(np.sqrt(n))) if n_bins is None else int(n_bins)
    if not 1 <= k <= n:
        raise ValueError(f"n_bins must be between 1 and the number of observations ({n}), "
                         f"got {n_bins!r}")
    return k


def binned_residuals(dt: xr.DataTree, design, n_bins: int | None = None) -> pd.DataFrame:
    """Average residuals in bins of the fitted value, with their ±2 SE band (Gelman & Hill).

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    n_bins : int, optional
        Number of bins of equal counts (default ⌈√n⌉, as ``performance::binned_residuals``).

    Returns
    -------
    pandas.DataFrame
        One row per bin (index ``bin``); columns n, ``fitted`` (mean fitted value, as a
        proportion y/n for binomial outcomes), ``residual`` (mean of observed − fitted in the
        same units), ``bound`` (2 SE) and ``outside`` (|residual| > bound).

    Notes
    -----
    Gelman & Hill (2007, sec. 5.6): with p̂_i the fitted probability and r_i = y_i − p̂_i, a
    bin B of the sorted fitted values has mean residual r̄_B and standard error
    √(Σ_{i∈B} Var(y_i)) / |B| (= √(p̄(1 − p̄)/|B|) for 0/1 outcomes with equal p). About 95% of
    the bins should lie within ±2 SE; a pattern of bins outside (all low at the ends, say)
    points at a missing transformation or interaction.
    """
    _, fitted, var = _fitted(dt, design)
    n = 1.0 if design.trials is None else design.trials
    p, y, v = fitted / n, design.y / n, var / n**2  # proportions for binomial outcomes
    k = _n_bins(design.n_obs, n_bins)
    bins = _equal_count_bins(p, k)
    frame = pd.DataFrame({"bin": bins, "fitted": p, "r": y - p, "v": v})
    g = frame.groupby("bin")
    table = pd.DataFrame({"n": g.size(), "fitted": g["fitted"].mean(), "residual": g["r"].mean(),
                          "bound": 2 * np.sqrt(g["v"].sum()) / g.size()})
    table["outside"] = table["residual"].abs() > table["bound"]
    return table


def jeffreys_interval(k: np.ndarray, n: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray]:
    """The Jeffreys interval of a binomial proportion, Beta(k + ½, n − k + ½) quantiles."""
    a = (1 - prob) / 2
    lo = np.where(k > 0, stats.beta.ppf(a, k + 0.5, n - k + 0.5), 0.0)
    hi = np.where(k < n, stats.beta.ppf(1 - a, k + 0.5, n - k + 0.5), 1.0)
    return lo, hi


def calibration(dt: xr.DataTree, design, n_bins: int = 10, prob: float = 0.95) -> pd.DataFrame:
    """Observed proportion against predicted probability, in bins of the prediction.

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
        Of a bernoulli or binomial model.
    n_bins : int
        Bins of (nearly) equal counts of the posterior mean probability.
    prob : float

    Returns
    -------
    pandas.DataFrame
        One row per bin (index ``bin``); columns n (observations), trials, ``predicted``
        (posterior mean of the bin's mean probability) with ``predicted_lower`` /
        ``predicted_upper`` (its posterior interval), ``observed`` (successes / trials) with
        ``observed_lower`` / ``observed_upper`` (Jeffreys interval). ``attrs`` hold the Brier
        score (0/1 outcomes) and the mean predicted and observed proportions.

    Notes
    -----
    A calibrated model has observed ≈ predicted in every bin (points on the diagonal). The
    predicted probability of a bin at draw s is the trials-weighted mean of p_i^(s) over its
    observations, so its interval is a posterior interval; the observed proportion's interval
    is the binomial sampling interval of the bin.
    """
    if design.family not in ("bernoulli", "binomial"):
        raise ValueError(f"calibration checks predicted probabilities of 0/1 or binomial "
                         f"outcomes; the model is {design.family}: use residuals() or "
                         "binned_residuals()")
    P.check_prob(prob)
    p = expected_value(dt, design)  # (chain, draw, n) probabilities
    n = np.ones(design.n_obs) if design.trials is None else design.trials
    k = _n_bins(design.n_obs, n_bins)
    bins = _equal_count_bins(p.mean(axis=(0, 1)), k)
    W = np.zeros((design.n_obs, k))
    W[np.arange(design.n_obs), bins] = n
    trials = W.sum(axis=0)
    pred = (p @ W) / trials
    successes = design.y @ (W > 0)
    lo, hi = P.quantiles(pred, prob)
    olo, ohi = jeffreys_interval(successes, trials, prob)
    table = pd.DataFrame({"n": np.bincount(bins, minlength=k), "trials": trials,
                          "predicted": pred.mean(axis=(0, 1)), "predicted_lower": lo,
                          "predicted_upper": hi, "observed": successes / trials,
                          "observed_lower": olo, "observed_upper": ohi},
                         index=pd.RangeIndex(k, name="bin"))
    pbar = p.mean(axis=(0, 1))
    table.attrs.update({"interval_prob": prob, "mean_predicted": float(pbar @ n / n.sum()),
                        "mean_observed": float(design.y.sum() / n.sum())})
    if design.family == "bernoulli":
        table.attrs["brier"] = float(np.mean((design.y - pbar) ** 2))
    return table


def blom(n: int) -> np.ndarray:
    """Normal quantiles at Blom's plotting positions (i − 3/8) / (n + 1/4)."""
    return stats.norm.ppf((np.arange(1, n + 1) - 0.375) / (n + 0.25))


def group_effects_qq(dt: xr.DataTree, design, factor: str | None = None,
                     term: str | None = None, prob: float = 0.95) -> pd.DataFrame:
    """QQ table of a factor's group effects against the normal distribution they are given.

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    factor : str, optional
        Grouping factor (default the first).
    term : str, optional
        Varying term (default the factor's first, usually the intercept).
    prob : float

    Returns
    -------
    pandas.DataFrame
        One row per rank (index ``rank``, 1 = smallest): ``theoretical`` (standard normal
        quantile at Blom's position), ``mean``, ``lower``, ``upper`` (posterior mean and
        interval of the rank-th smallest standardized effect u^(s)/τ^(s)), and the level
        whose posterior mean has that rank (a column named after the factor).

    Notes
    -----
    At each draw s the effects u_j^(s) are divided by that draw's τ^(s) and sorted; under the
    model they are a sample from N(0, 1), so the points lie on the identity line up to the
    interval. Posterior *means* of u_j would not do: they are shrunk, so their spread is
    smaller than τ by design. Heavy tails (points beyond the line at both ends) or skew
    suggest a non-normal distribution of groups, or outlying groups (named in the table).
    """
    P.check_prob(prob)
    fd = P.pick_factor(design, factor)
    term = fd.terms[0] if term is None else term
    if term not in fd.terms:
        raise ValueError(f"'{term}' is not a varying term of '{fd.name}'; its terms: "
                         f"{', '.join(fd.terms)}")
    a = fd.terms.index(term)
    u = P.group_effects(dt, fd)[..., a]
    tau = P.group_sds(dt, fd)[..., a]
    z = np.sort(u / tau[..., None], axis=-1)
    lo, hi = P.quantiles(z, prob)
    order = np.argsort(u.mean(axis=(0, 1)), kind="stable")
    table = pd.DataFrame({"theoretical": blom(fd.n_levels), "mean": z.mean(axis=(0, 1)),
                          "lower": lo, "upper": hi,
                          fd.name: np.asarray(fd.levels, dtype=object)[order]},
                         index=pd.RangeIndex(1, fd.n_levels + 1, name="rank"))
    table.attrs.update({"factor": fd.name, "term": term, "interval_prob": prob})
    return table


__all__ = ["binned_residuals", "calibration", "group_effects_qq", "residuals"]
