"""Parametric bootstrap of a gaussian REML / ML fit (lme4's ``bootMer`` with ``use.u = FALSE``).

Each replicate draws new group effects and residuals from the fitted model,
y* = Xβ̂ + Zb* + ε*, b* = σ̂Λ_θ̂u*, u* ~ N(0, I), ε* ~ N(0, σ̂²I), refits the model by the same
criterion and records the sds, correlations, σ and fixed effects.

:func:`bootstrap_replicate` is one self-contained refit (plain arguments, a seed; picklable), so
any runner can map it over seeds: :func:`bootstrap` uses a process pool.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context

import numpy as np
import pandas as pd
from scipy import stats

from ..compiled.blas import blas_threads
from ..design import Design
from .layout import BlockedZ, make_theta_map
from .pls import LmmProblem
from .profile import SdCorMap


def simulate_response(design: Design, theta: np.ndarray, beta: np.ndarray, sigma: float,
                      rng: np.random.Generator) -> np.ndarray:
    """One draw of y from the fitted model, with new group effects (lme4's ``simulate``)."""
    bz = BlockedZ.from_factors(design.factors, design.n_obs)
    lam = make_theta_map(design, bz).lam(theta)
    u = rng.standard_normal((bz.J, bz.m))
    b = sigma * u @ lam.T
    return design.X @ beta + bz.mul(b) + sigma * rng.standard_normal(design.n_obs)


def bootstrap_replicate(design: Design, method: str, theta: np.ndarray, beta: np.ndarray,
                        sigma: float, seed) -> np.ndarray:
    """Simulate one response from (θ, β, σ), refit by ``method`` ("REML" or "ML") and return
    the sds / correlations / σ (lme4's order) and the fixed effects; NaN where the refit
    fails."""
    rng = np.random.default_rng(seed)
    sim = replace(design, y=simulate_response(design, theta, beta, sigma, rng))
    reml = method == "REML"
    problem = LmmProblem(sim)
    try:
        opt = problem.minimize(reml, start=theta)
        st = problem.solve(opt.x)
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        return np.full(len(theta) + 1 + len(beta), np.nan)
    s = float(np.sqrt(st.r2 / problem.nu(reml)))
    return np.concatenate([SdCorMap.build(problem).to_sv(opt.x, s), st.beta])


def _chunk(design, method, theta, beta, sigma, seeds) -> np.ndarray:
    with blas_threads(True):
        return np.array([bootstrap_replicate(design, method, theta, beta, sigma, s)
                         for s in seeds])


def replicate_seeds(random_seed, nsim: int) -> list[np.random.SeedSequence]:
    """One independent seed per replicate, whatever the number of workers."""
    return np.random.SeedSequence(random_seed).spawn(nsim)


def replicate_inputs(fit) -> tuple[tuple[str, ...], np.ndarray, tuple]:
    """(labels, the fit's own values, the arguments of :func:`bootstrap_replicate` before the
    seed) of a gaussian RemlFit."""
    problem = LmmProblem(fit.design)
    labels = SdCorMap.build(problem).labels + tuple(fit.fixed_terms)
    vt = fit.varcorr_table()["estimate"]
    estimate = np.array([vt[lb] for lb in labels[:len(fit.theta) + 1]] + list(fit.beta))
    args = (fit.design, fit.method, np.asarray(fit.theta), np.asarray(fit.beta),
            float(fit.sigma))
    return labels, estimate, args


@dataclass(frozen=True, eq=False)
class Bootstrap:
    """Replicates (nsim × parameters) of a parametric bootstrap and what made them."""

    labels: tuple[str, ...]
    estimate: np.ndarray
    replicates: np.ndarray
    random_seed: object
    method: str

    @property
    def n_failed(self) -> np.ndarray:
        return np.isnan(self.replicates).sum(axis=0)

    def percentile_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Percentile intervals as ``boot::boot.ci(type = "perc")`` (interpolation on the
        normal quantile scale between order statistics, boot's ``norm.inter``)."""
        alpha = np.array([(1 - level) / 2, (1 + level) / 2])
        rows = [(label, est, *norm_inter(col[np.isfinite(col)], alpha))
                for label, est, col in zip(self.labels, self.estimate, self.replicates.T,
                                           strict=True)]
        return pd.DataFrame(rows, columns=["parameter", "estimate", "lower", "upper"]
                            ).set_index("parameter")

    def summary(self) -> pd.DataFrame:
        """Mean, sd and failures of each parameter's replicates."""
        with np.errstate(invalid="ignore"):
            return pd.DataFrame({"mean": np.nanmean(self.replicates, axis=0),
                                 "sd": np.nanstd(self.replicates, axis=0, ddof=1),
                                 "n_failed": self.n_failed},
                                index=pd.Index(self.labels, name="parameter"))


def norm_inter(t: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """boot's ``norm.inter``: quantiles of t at ``alpha`` from order statistics k = (R + 1)α,
    interpolated on the normal quantile scale."""
    t = np.sort(t)
    R = len(t)
    out = np.empty(len(alpha))
    for i, a in enumerate(alpha):
        rk = (R + 1) * a
        k = int(np.floor(rk + 1e-10))
        if abs(rk - round(rk)) < 1e-10 and 1 <= round(rk) <= R:
            out[i] = t[int(round(rk)) - 1]
        elif k == 0:
            out[i] = t[0]
        elif k >= R:
            out[i] = t[-1]
        else:
            lo, hi = stats.norm.ppf(k / (R + 1)), stats.norm.ppf((k + 1) / (R + 1))
            w = (stats.norm.ppf(a) - lo) / (hi - lo)
            out[i] = t[k - 1] + w * (t[k] - t[k - 1])
    return out


def bootstrap(fit, nsim: int = 500, random_seed=None, n_jobs: int | None = None) -> Bootstrap:
    """Parametric bootstrap of a gaussian fit, replicates run in parallel.

    Parameters
    ----------
    fit : RemlFit
        A gaussian REML or ML fit; the replicates are refitted by the same method.
    nsim : int
        Number of replicates.
    random_seed : int or None
        Seed of the replicate seeds (``numpy.random.SeedSequence``); the replicates do not
        depend on ``n_jobs``.
    n_jobs : int, optional
        Worker processes (default: the number of CPUs, at most 8). 1 runs in this process.

    Returns
    -------
    Bootstrap
        ``labels`` as :meth:`RemlFit.varcorr_table` (sds, correlations, "sigma") then the fixed
        terms; ``estimate`` the fit's own values.
    """
    labels, estimate, args = replicate_inputs(fit)
    seeds = replicate_seeds(random_seed, nsim)
    n_jobs = min(os.cpu_count() or 1, 8) if n_jobs is None else max(1, int(n_jobs))
    if n_jobs == 1 or nsim < 20:
        reps = _chunk(*args, seeds)
    else:
        chunks = [c for c in np.array_split(np.arange(nsim), 4 * n_jobs) if len(c)]
        with ProcessPoolExecutor(n_jobs, mp_context=get_context("spawn")) as pool:
            parts = pool.map(_chunk, *zip(*[(*args, [seeds[i] for i in c]) for c in chunks],
                                          strict=True))
            reps = np.vstack(list(parts))
    return Bootstrap(labels, estimate, reps, random_seed, fit.method)
