"""K-fold cross-validation by refitting: one fit per fold, in parallel processes.

:func:`kfold` makes the folds (:func:`hiermod.report.kfold.fold_ids`), describes each refit as
a small picklable :class:`FoldTask` and runs :func:`fit_fold` on each, in a process pool when
``n_jobs > 1``. :func:`fit_fold` is the unit of work: it fits the training rows and scores the
held-out ones, and needs nothing but its task, so any runner (a process pool here, a cluster
scheduler elsewhere) can call it.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .batch import run_batch
from .errors import SamplingError
from .fitting import fit
from .formula import Spec
from .frame import factor_labels
from .plan import INTEGRATED
from .report.kfold import FOLDS, FoldResult, KFold, fold_ids, heldout_log_density, kfold_summary
from .result import Fit


@dataclass(frozen=True)
class FoldTask:
    """Everything one refit needs (picklable: a Spec, a data frame, plain settings)."""

    fold: int
    spec: Spec
    data: pd.DataFrame
    test: np.ndarray  # boolean mask of the held-out rows
    units: np.ndarray  # unit label of every held-out row
    fit_kwargs: dict = field(default_factory=dict)
    priors: dict = field(default_factory=dict)
    random_seed: int = 0


def fit_fold(task: FoldTask) -> FoldResult:
    """Fit the training rows of one fold and score its held-out rows.

    Returns
    -------
    FoldResult
        The held-out units' elpd (log posterior-mean density of each unit), the number of
        held-out rows, the wall time of the refit and its sampling problems, if any.
    """
    t0 = time.perf_counter()
    train, test = task.data.loc[~task.test], task.data.loc[task.test]
    refit = fit(task.spec, train, priors=task.priors or None, random_seed=task.random_seed,
                **task.fit_kwargs)
    density = heldout_log_density(refit.idata, refit.design, test, units=task.units,
                                  random_seed=task.random_seed)
    return FoldResult(task.fold, density.units, density.elpd(), int(task.test.sum()),
                      time.perf_counter() - t0, tuple(refit.diagnostics().problems))


def fold_tasks(model: Fit, K: int = 10, folds: str = "grouped", factor: str | None = None,
               random_seed: int | None = None, **fit_kwargs) -> list[FoldTask]:
    """The K refits of a fit's model (its data, priors and sampler settings unless given)."""
    if folds not in FOLDS:
        raise ValueError(f"folds must be one of {', '.join(FOLDS)}, got {folds!r}")
    data = model.data.reset_index(drop=True)
    seed = model.seed if random_seed is None else random_seed
    seed = 0 if seed is None else int(seed)
    ids = fold_ids(data, model.design, K, folds, factor, seed)
    s = model.settings
    kwargs = {"draws": s.draws, "tune": s.tune, "chains": s.chains, "sampler": s.sampler,
              "target_accept": s.target_accept, "max_treedepth": s.max_treedepth,
              "parameterization": ("auto" if model.parameterization == INTEGRATED
                                   else model.parameterization), "progressbar": False,
              "marginalize": None, **fit_kwargs}
    fd_name = None
    if folds == "grouped" and model.design.factors:
        fd_name = (factor or model.design.factors[0].name)
        units_all = factor_labels(data, fd_name).to_numpy(dtype=object)
    else:
        units_all = np.asarray(data.index)
    seeds = np.random.SeedSequence(seed).generate_state(K)
    return [FoldTask(k, model.spec, data, ids == k, units_all[ids == k], dict(kwargs),
                     dict(model.user_priors), int(seeds[k])) for k in range(K)]


def kfold(model: Fit, K: int = 10, folds: str = "grouped", factor: str | None = None,
          n_jobs: int | None = None, random_seed: int | None = None, client=None,
          **fit_kwargs) -> KFold:
    """K-fold cross-validation of a fitted model by K refits.

    Parameters
    ----------
    model : Fit
        The fit whose model, data, priors and sampler settings are refitted.
    K : int
        Number of folds.
    folds : {"grouped", "stratified", "random"}
        "grouped" (default): hold out whole groups of ``factor``, scoring predictions for new
        groups; "stratified": spread each group's rows over the folds, scoring new
        observations in existing groups (what PSIS-LOO estimates); "random".
    factor : str, optional
        The grouping factor (default the first).
    n_jobs : int, optional
        Refits run at once, each in its own process (default: as many as the CPUs allow,
        at most K); each refit's chains then share ``cores // n_jobs`` cores. 1 runs them in
        this process, one after the other. The processes are started fresh ("spawn"), so a
        script that calls this must guard its top level with ``if __name__ == "__main__":``
        (notebooks need nothing); each pays for importing hiermod (a few seconds), which
        pays off when refits take longer than that (GLMMs, large data).
    random_seed : int, optional
        Seeds the folds and the refits (default: the fit's seed); results do not depend on
        ``n_jobs``.
    client : distributed.Client, str or "local", optional
        Run the refits on ``dask.distributed`` instead (:func:`hiermod.batch.run_batch`): a
        Client, a scheduler address, or "local" for a LocalCluster started for the call;
        ``n_jobs`` is then not used. A failed refit raises a SamplingError naming it.
    **fit_kwargs
        Overrides of the refits' settings (draws, tune, chains, ...).

    Returns
    -------
    KFold
        elpd, its se, the units' elpd (``pointwise``) and the refits' times.

    Notes
    -----
    elpd_kfold = Σ_k Σ_{unit ∈ fold k} log (1/S) Σ_s p(y_unit | θ_{-k}^(s)), θ_{-k} the
    posterior of the fit without fold k. A held-out group's effects are integrated over the
    refit's N(0, Σ) (exactly for gaussian models, by quasi-Monte Carlo otherwise; see
    :func:`hiermod.report.kfold.heldout_log_density`). Where PSIS-LOO is reliable (Pareto
    k < 0.7), stratified K-fold estimates the same elpd, slightly lower because each refit
    sees (K − 1)/K of the data.

    Examples
    --------
    >>> cv = hm.kfold(fit, K=10, folds="grouped")          # doctest: +SKIP
    >>> cv.elpd, cv.se                                      # doctest: +SKIP
    """
    tasks = fold_tasks(model, K, folds, factor, random_seed, **fit_kwargs)
    used = factor or (model.design.factors[0].name if model.design.factors else None)
    if client is not None:
        for t in tasks:
            t.fit_kwargs.setdefault("cores", 1)
        batch = run_batch(fit_fold, tasks, None if client == "local" else client,
                          label="kfold", warm=True)
        if batch.failures:
            raise SamplingError("K-fold refits failed: " + "; ".join(
                f"fold {f.task}: {f.error}: {f.message}" for f in batch.failures))
        return kfold_summary(batch.results, folds, used if folds != "random" else None)
    cpus = os.cpu_count() or 1
    n_jobs = min(K, cpus) if n_jobs is None else int(n_jobs)
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive whole number, got {n_jobs!r}")
    if n_jobs == 1:
        results = [fit_fold(t) for t in tasks]
    else:
        cores = max(1, cpus // n_jobs)
        for t in tasks:
            t.fit_kwargs.setdefault("cores", cores)
        context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        with cf.ProcessPoolExecutor(max_workers=n_jobs, mp_context=context) as pool:
            results = list(pool.map(fit_fold, tasks))
    return kfold_summary(results, folds, used if folds != "random" else None)
