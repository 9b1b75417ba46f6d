"""Simulation-based power analysis of a fixed effect (R's simr, on hiermod's fits).

For each design in the grid (number of groups × group size) the observed design is extended
(:func:`hiermod.simulate.extend`), outcomes are simulated ``nsim`` times from the fitted model's
parameters (:class:`hiermod.simulate.Truth`, any of them set by label), each simulated data set
is refitted and the effect tested:

* ``method="reml"``: REML (gaussian) or Laplace ML (binomial, bernoulli, poisson) on the same
  design with the new outcome — no formula is re-parsed and nothing compiles, so a fit takes
  milliseconds — and the t test with Satterthwaite or Kenward–Roger df (gaussian) or the
  Wald z test; the effect counts as detected when p < α;
* ``method="bayes"``: hiermod's Bayesian fit (the compiled marginal or cells path, default
  priors of each data set); the effect counts as detected when the posterior probability of
  its sign, max(P(β > 0), P(β < 0)), is at least 1 − α/2 — the Bayesian counterpart of a
  two-sided test at level α.

Power is the share of detections among the fits that ran; its Monte Carlo standard error is
√(p(1 − p)/n) and the interval is Clopper–Pearson's (as simr's). The fits run on
``dask.distributed`` (:func:`hiermod.batch.run_batch`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from . import names
from .batch import run_batch, task_seeds
from .design import make_design
from .errors import SpecError
from .mle import RemlFit, fit_glmm, fit_lmm
from .plan import make_plan
from .result import Fit
from .sample import SamplerSettings, sample
from .simulate import (
    Truth,
    extend,
    simulate_outcome,
    truth_of_posterior,
    truth_of_reml,
    with_outcome,
)

METHODS = ("reml", "bayes")


@dataclass(frozen=True)
class PowerTask:
    """One simulation: the extended design, the truth, the test, a seed."""

    point: int
    design: object
    truth: Truth
    term: str
    method: str
    alpha: float
    ddf: str
    seed: int
    settings: SamplerSettings | None = None
    priors: dict | None = None


def run_power_task(task: PowerTask) -> dict:
    """Simulate one outcome, refit, test the term (module docstring)."""
    rng = np.random.default_rng(task.seed)
    design = with_outcome(task.design, simulate_outcome(task.design, task.truth, rng))
    k = design.fixed_terms.index(task.term)
    if task.method == "reml":
        fit = (fit_lmm(design, "REML", ddf=task.ddf) if design.family == "gaussian"
               else fit_glmm(design, "ML"))
        est, se = float(fit.beta[k]), float(fit.se[k])
        z = est / se
        p = float(2 * (stats.t.sf(abs(z), fit.df[k]) if fit.df is not None
                       else stats.norm.sf(abs(z))))
        return {"point": task.point, "detected": p < task.alpha, "estimate": est, "se": se,
                "p": p, "converged": bool(fit.converged)}
    plan = make_plan(design, task.priors, "auto", None, task.settings.sampler)
    settings = SamplerSettings(**{**vars(task.settings), "random_seed": task.seed})
    tree = sample(plan.built.model, settings, plan.compiled).tree
    b = np.asarray(tree["posterior"][names.FIXED].values[..., k], dtype=float).ravel()
    prob = float(max(np.mean(b > 0), np.mean(b < 0)))
    return {"point": task.point, "detected": prob >= 1 - task.alpha / 2,
            "estimate": float(b.mean()), "se": float(b.std(ddof=1)), "p": 1 - prob,
            "converged": True}


def power(fit, term: str, n_groups=None, group_size=None, nsim: int = 200,
          method: str = "reml", alpha: float = 0.05, ddf: str = "satterthwaite",
          factor: str | None = None, parameters: dict | None = None,
          random_seed: int | None = None, client=None, progress: bool | None = None,
          draws: int = 500, tune: int = 500, chains: int = 2, priors: dict | None = None
          ) -> pd.DataFrame:
    """Power to detect a fixed effect, by simulation, over a grid of designs.

    Parameters
    ----------
    fit : RemlFit or Fit
        Supplies the model, the data to extend and the true parameters (REML estimates or
        posterior means).
    term : str
        The fixed effect to test ("treat", a cross-level interaction "ses:sector[Public]").
    n_groups, group_size : int or list of int, optional
        Numbers of groups of ``factor`` and rows per group to try (default: as observed);
        every combination is simulated.
    nsim : int
        Simulations per design.
    method : {"reml", "bayes"}
        The test (module docstring).
    alpha : float
        Level of the test.
    ddf : {"satterthwaite", "kenward-roger"}
        Denominator df of the REML t test (gaussian models).
    factor : str, optional
        The grouping factor to extend (default: the model's first).
    parameters : dict, optional
        True values to set by label, e.g. ``{"treat": 0.3, "sd(Intercept | school)": 0.5,
        "sigma": 1.0}`` (simr's ``fixef<-``, ``VarCorr<-``, ``sigma<-``).
    random_seed : int, optional
        Seeds every simulation (results do not depend on the cluster).
    client : distributed.Client or str, optional
        Where the fits run (:func:`hiermod.batch.run_batch`; default a LocalCluster).
    progress : bool, optional
    draws, tune, chains, priors
        Settings of the Bayesian fits (``method="bayes"``).

    Returns
    -------
    pandas.DataFrame
        One row per design: ``n_groups``, ``group_size`` (the mean when rows per group are as
        observed), ``power``, ``mc_se``, ``lower`` / ``upper`` (95% Clopper–Pearson),
        ``nsim`` (fits that ran), ``n_failed``, ``n_not_converged``, ``effect`` (the true
        value), ``mean_estimate``, ``mean_se``; ``attrs`` hold the settings and the seconds.

    Examples
    --------
    >>> pilot = hm.reml("y ~ treat + (1 | cluster)", data)                # doctest: +SKIP
    >>> hm.power(pilot, "treat", n_groups=[20, 40, 60], nsim=500,
    ...          parameters={"treat": 0.3})                               # doctest: +SKIP
    """
    if method not in METHODS:
        raise SpecError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not 0 < alpha < 1:
        raise SpecError(f"alpha must be between 0 and 1, got {alpha!r}")
    if ddf not in ("satterthwaite", "kenward-roger"):
        raise SpecError(f"ddf must be 'satterthwaite' or 'kenward-roger', got {ddf!r}")
    if not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise SpecError(f"nsim must be a whole number >= 1, got {nsim!r}")
    design, frame, truth = source_of(fit)
    if term not in design.fixed_terms:
        raise SpecError(f"unknown term {term!r}; the fixed terms are "
                        f"{', '.join(design.fixed_terms)}")
    if not design.factors:
        raise SpecError("the model has no grouping factor to extend")
    factor = factor or design.factors[0].name
    design.factor(factor)  # a KeyError naming the factors
    truth = truth.set(design, parameters)
    grid = list(itertools.product(_as_list(n_groups), _as_list(group_size)))
    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, progressbar=False,
                               cores=1)
    designs = [make_design(design.spec, extend(frame, factor, n, m)) for n, m in grid]
    seeds = iter(task_seeds(random_seed, nsim * len(grid)))
    tasks = [PowerTask(i, d, truth, term, method, alpha, ddf, next(seeds), settings, priors)
             for i, d in enumerate(designs) for _ in range(nsim)]
    batch = run_batch(run_power_task, tasks, client, progress=progress, label="power",
                      warm=method == "bayes")
    results = batch.to_frame()
    failed = pd.Series([t.point for t in (tasks[f.task] for f in batch.failures)],
                       dtype=float)
    rows = []
    for i, ((n, m), d) in enumerate(zip(grid, designs, strict=True)):
        got = results[results["point"] == i] if len(results) else results
        k = len(got)
        hits = int(got["detected"].sum()) if k else 0
        p = hits / k if k else np.nan
        lo, hi = clopper_pearson(hits, k)
        fd = d.factor(factor)
        rows.append({"n_groups": fd.n_levels,
                     "group_size": float(m) if m is not None else float(fd.sizes.mean()),
                     "power": p, "mc_se": float(np.sqrt(p * (1 - p) / k)) if k else np.nan,
                     "lower": lo, "upper": hi, "nsim": k, "n_failed": int((failed == i).sum()),
                     "n_not_converged": int((~got["converged"].astype(bool)).sum()) if k else 0,
                     "effect": truth.fixed[term],
                     "mean_estimate": float(got["estimate"].mean()) if k else np.nan,
                     "mean_se": float(got["se"].mean()) if k else np.nan})
    out = pd.DataFrame(rows)
    out.attrs.update(term=term, method=method, alpha=alpha, ddf=ddf if method == "reml" else None,
                     factor=factor, seconds=batch.seconds, workers=batch.n_workers,
                     failures=batch.failure_table())
    return out


def source_of(fit) -> tuple[object, pd.DataFrame, Truth]:
    """(design, data frame, truth) of a RemlFit or a Fit."""
    if isinstance(fit, RemlFit):
        if fit.design is None:
            raise SpecError("this RemlFit has no design to simulate from")
        return fit.design, fit.design.frame, truth_of_reml(fit)
    if isinstance(fit, Fit):
        if fit.data is None:
            raise SpecError("this Fit keeps no rows (fitted from a Dask DataFrame): power "
                            "analysis extends the observed design; fit a pilot sample")
        return fit.design, fit.data, truth_of_posterior(fit.idata, fit.design)
    raise SpecError(f"fit must be a RemlFit (hm.reml) or a Fit (hm.fit), got "
                    f"{type(fit).__name__}")


def _as_list(value) -> list:
    if value is None:
        return [None]
    return [int(v) for v in np.atleast_1d(value)]


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of k successes in n trials."""
    if n == 0:
        return np.nan, np.nan
    a = (1 - level) / 2
    lo = stats.beta.ppf(a, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(1 - a, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def analytic_power_crt(effect: float, n_clusters: int, cluster_size: int, icc: float,
                       total_sd: float = 1.0, alpha: float = 0.05) -> float:
    """Power of a balanced two-arm cluster-randomised trial by the normal approximation:
    SE(Δ) = √(4 s² (1 + (n − 1)ρ) / (J n)) with the design effect 1 + (n − 1)ρ.

    Notes
    -----
    J clusters (half per arm) of n units, outcome variance s² = τ² + σ², ICC ρ = τ²/s²;
    power = Φ(|Δ|/SE − z₁₋α/₂) + Φ(−|Δ|/SE − z₁₋α/₂) (e.g. Donner & Klar 2000, ch. 5).
    """
    se = np.sqrt(4 * total_sd**2 * (1 + (cluster_size - 1) * icc) / (n_clusters * cluster_size))
    z = stats.norm.ppf(1 - alpha / 2)
    d = abs(effect) / se
    return float(stats.norm.cdf(d - z) + stats.norm.cdf(-d - z))
