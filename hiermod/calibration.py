"""Simulation-based calibration of hiermod's samplers (Talts, Betancourt, Simpson, Vehtari &
Gelman 2018).

If parameters θ* are drawn from the prior, data y from the model given θ*, and the model is
fitted to y with the same prior, then θ* is a draw from the posterior given y; so the rank of
θ* among L posterior draws is uniform on 0..L, and a central interval of probability p contains
θ* in a share p of the simulations. A sampler (or a model implementation) that gets the
posterior wrong shows as ranks that are not uniform — a ∪ shape for posteriors too narrow, a ∩
for too wide, a slope for a shifted one — and as coverage away from p.

Here the design's predictors and groups stay as given; the priors are the model's defaults on
the given data (or the user's), fixed once and used both to simulate and in every fit
(default priors scale with the data, so they must not be recomputed on each simulated
outcome). θ* and y are drawn together from the explicit PyMC model
(:func:`hiermod.prior_predictive.sample_prior_predictive`); each simulated data set is fitted
on the path the options choose (the compiled marginal path, the explicit model, the cells
path), on ``dask.distributed`` (:func:`hiermod.batch.run_batch`).

Checked parameters: the fixed effects, the group-level sds and correlations and σ. Ranks are
of θ* among L = 99 posterior draws taken at equal steps through the chains (which thins them),
tested for uniformity by a χ² test on 10 bins of 10 ranks; coverage is of the equal-tailed 50%
and 90% intervals of all the draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from . import names
from .batch import run_batch, task_seeds
from .design import make_design
from .errors import SpecError
from .fitting import as_spec
from .plan import check_choice, make_plan
from .prior_predictive import sample_prior_predictive
from .priors import default_priors
from .sample import SamplerSettings, sample
from .simulate import with_outcome

#: posterior draws each true value is ranked among (ranks 0..L), and the histogram's bins
N_RANKED = 99
N_BINS = 10
#: central intervals whose coverage is reported
LEVELS = (0.5, 0.9)


def parameter_values(ds, design) -> dict[str, np.ndarray]:
    """label -> values (..., ) of the checked parameters in a prior or posterior Dataset
    (fixed terms, 'sd(t | g)', 'corr(a, b | g)', 'sigma'), dims after the last two flattened."""
    out = {}

    def flat(name):
        v = np.asarray(ds[name].values, dtype=float)
        return v.reshape(-1, *v.shape[2:])

    if names.FIXED in ds:
        beta = flat(names.FIXED)
        for k, t in enumerate(design.fixed_terms):
            out[t] = beta[:, k]
    for fd in design.factors:
        sd = flat(names.group_sd(fd.name))
        for a, t in enumerate(fd.terms):
            out[names.sd_label(fd.name, t)] = sd[:, a]
        corr_name = names.group_corr(fd.name)
        if corr_name in ds:
            corr = flat(corr_name)
            for a, b in fd.pairs():
                out[names.corr_label(fd.name, fd.terms[a], fd.terms[b])] = corr[:, a, b]
    if names.SIGMA in ds:
        out[names.SIGMA] = flat(names.SIGMA)
    return out


@dataclass(frozen=True)
class SbcTask:
    """One simulation: the design with its simulated outcome's values, θ*, the fit's options."""

    design: object
    y: np.ndarray
    truth: dict
    priors: dict
    settings: SamplerSettings
    parameterization: str
    marginalize: bool | None


def run_sbc_task(task: SbcTask) -> dict:
    """Fit one simulated data set; the ranks of θ* and whether each interval covers it."""
    design = with_outcome(task.design, task.y)
    plan = make_plan(design, task.priors, task.parameterization, task.marginalize,
                     task.settings.sampler)
    tree = sample(plan.built.model, task.settings, plan.compiled).tree
    post = parameter_values(tree["posterior"].to_dataset(), design)
    S = len(next(iter(post.values())))
    pick = np.round(np.linspace(0, S - 1, N_RANKED)).astype(int)
    out = {"path": plan.path, "divergences": int(np.asarray(
        tree["sample_stats"]["diverging"].values).sum())}
    for label, true in task.truth.items():
        draws = post[label]
        out[f"rank|{label}"] = int(np.sum(draws[pick] < true))
        for level in LEVELS:
            lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
            out[f"in{round(100 * level)}|{label}"] = bool(lo <= true <= hi)
    return out


@dataclass(frozen=True, eq=False)
class SBC:
    """The results of :func:`sbc`: ``ranks`` (simulations × parameters, 0..``n_ranked``),
    ``covered`` (level -> simulations × parameters, booleans), ``truth`` (θ* per simulation),
    the fits' ``divergences``, the ``path`` fitted, failures and wall time."""

    ranks: pd.DataFrame
    covered: dict
    truth: pd.DataFrame
    divergences: pd.Series
    path: str
    n_ranked: int
    failures: pd.DataFrame
    seconds: float

    def summary(self) -> pd.DataFrame:
        """Per parameter: coverage of the 50% and 90% intervals with their Monte Carlo SEs
        and the χ² test of uniform ranks (10 bins), plus a row 'all' pooling the ranks of
        every parameter (their tests are not independent: read it as a summary)."""
        rows = {}
        cols = list(self.ranks.columns)
        for label in [*cols, "all"]:
            r = (self.ranks[label] if label != "all"
                 else pd.Series(self.ranks.to_numpy().ravel()))
            row = {"n": int(r.notna().sum())}
            for level in LEVELS:
                key = f"coverage_{round(100 * level)}"
                c = (self.covered[level][label] if label != "all"
                     else pd.Series(self.covered[level].to_numpy().ravel()))
                p = float(c.mean())
                row[key] = p
                row[key + "_se"] = float(np.sqrt(p * (1 - p) / max(len(c), 1)))
            row["chi2"], row["p_uniform"] = rank_uniformity(r.to_numpy(), self.n_ranked)
            rows[label] = row
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "parameter"
        return out


def rank_uniformity(ranks: np.ndarray, n_ranked: int = N_RANKED, bins: int = N_BINS
                    ) -> tuple[float, float]:
    """χ² statistic and p-value of ranks 0..n_ranked against the uniform, in ``bins`` bins of
    equal width ((n_ranked + 1) must be a multiple of bins)."""
    ranks = np.asarray(ranks, dtype=int)
    counts = np.bincount(ranks * bins // (n_ranked + 1), minlength=bins)
    res = stats.chisquare(counts)
    return float(res.statistic), float(res.pvalue)


def sbc(model, data: pd.DataFrame, family: str | None = None, *, n_sims: int = 200,
        priors: dict | None = None, draws: int = 500, tune: int = 500, chains: int = 2,
        sampler: str = "nutpie", marginalize: bool | None = None,
        parameterization: str = "auto", random_seed: int | None = None, client=None,
        progress: bool | None = None) -> SBC:
    """Simulation-based calibration of a model as hiermod fits it.

    Parameters
    ----------
    model : str or Spec
        The model (an lme4 formula or a Spec).
    data : pandas.DataFrame
        Gives the design (predictors, groups, trials); the outcome column's values are
        replaced by simulated ones.
    family : str, optional
    n_sims : int
        Simulations (each one fit).
    priors : dict, optional
        Overrides of the default priors; the resulting priors are fixed for every simulation.
    draws, tune, chains, sampler, marginalize, parameterization
        The fits' settings (as :func:`hiermod.fit`); ``marginalize=False`` checks the explicit
        model of a gaussian design, None the path hiermod chooses.
    random_seed : int, optional
        Seeds the prior draws and every fit.
    client : distributed.Client or str, optional
        Where the fits run (default a LocalCluster).
    progress : bool, optional

    Returns
    -------
    SBC
        ``summary()`` gives per parameter the coverage of the 50% and 90% intervals and the
        rank-uniformity test; :func:`hiermod.plots.plot_sbc_ranks` draws the histograms.
    """
    if not isinstance(n_sims, (int, np.integer)) or n_sims < 2:
        raise SpecError(f"n_sims must be a whole number >= 2, got {n_sims!r}")
    check_choice(parameterization)
    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, sampler=sampler,
                               progressbar=False, cores=1)
    settings.check()
    spec = as_spec(model, family)
    design = make_design(spec, data)
    fixed_priors = {**default_priors(design), **(priors or {})}
    seeds = task_seeds(random_seed, n_sims + 1)
    prior = sample_prior_predictive(design, fixed_priors, draws=n_sims, random_seed=seeds[0])
    truths = parameter_values(prior[names.PRIOR].to_dataset(), design)
    ys = np.asarray(prior[names.PRIOR_PREDICTIVE][names.OUTCOME].values, dtype=float)
    ys = ys.reshape(-1, design.n_obs)
    tasks = [SbcTask(design, ys[i], {k: float(v[i]) for k, v in truths.items()}, fixed_priors,
                     SamplerSettings(**{**vars(settings), "random_seed": seeds[i + 1]}),
                     parameterization, marginalize)
             for i in range(n_sims)]
    batch = run_batch(run_sbc_task, tasks, client, progress=progress, label="sbc", warm=True)
    res = batch.to_frame()
    labels = list(truths)
    ranks = res[[f"rank|{k}" for k in labels]].set_axis(labels, axis=1).astype(int)
    covered = {lv: res[[f"in{round(100 * lv)}|{k}" for k in labels]].set_axis(labels, axis=1)
               .astype(bool) for lv in LEVELS}
    truth = pd.DataFrame(truths).loc[res.index]
    path = str(res["path"].iloc[0]) if len(res) else ""
    return SBC(ranks, covered, truth, res["divergences"], path, N_RANKED,
               batch.failure_table(), batch.seconds)
