"""Resampling on ``dask.distributed``: leave-one-group-out cross-validation and the parametric
bootstrap of a REML / ML fit, on the batch runner (:func:`hiermod.batch.run_batch`).

Both reuse the single-fit units of their serial versions: a fold is
:func:`hiermod.kfold_cv.fit_fold` (grouped K-fold with K = the number of groups holds out one
group per fold), a bootstrap replicate :func:`hiermod.mle.bootstrap.bootstrap_replicate`; only
where they run changes. K-fold itself runs on a cluster with ``hm.kfold(..., client=...)``.
"""

from __future__ import annotations

import numpy as np

from .batch import run_batch
from .errors import SpecError
from .kfold_cv import kfold
from .mle import RemlFit
from .mle.bootstrap import Bootstrap, bootstrap_replicate, replicate_inputs, replicate_seeds
from .report.kfold import KFold
from .result import Fit


def leave_one_group_out(model: Fit, factor: str | None = None, client="local",
                        random_seed: int | None = None, **fit_kwargs) -> KFold:
    """Leave-one-group-out cross-validation: one refit per group of ``factor``, each scoring
    the held-out group as a new group (its effects integrated over N(0, Σ)).

    Parameters
    ----------
    model : Fit
    factor : str, optional
        The grouping factor (default the first).
    client : distributed.Client, str or "local"
        Where the refits run (default a LocalCluster started for the call).
    random_seed : int, optional
    **fit_kwargs
        Overrides of the refits' settings (draws, tune, chains, ...).

    Returns
    -------
    KFold
        As :func:`hiermod.kfold` with K = the number of groups.
    """
    if not model.design.factors:
        raise SpecError("leave-one-group-out needs a grouping factor; the model has none")
    fd = model.design.factor(factor) if factor else model.design.factors[0]
    return kfold(model, K=fd.n_levels, folds="grouped", factor=fd.name,
                 random_seed=random_seed, client=client, **fit_kwargs)


def _replicate(task) -> np.ndarray:
    design, method, theta, beta, sigma, seed = task
    return bootstrap_replicate(design, method, theta, beta, sigma, seed)


def parametric_bootstrap(fit: RemlFit, nsim: int = 500, random_seed=None, client=None,
                         progress: bool | None = None) -> Bootstrap:
    """The parametric bootstrap of a gaussian REML / ML fit (lme4's ``bootMer``), its
    replicates run on ``dask.distributed``.

    Parameters
    ----------
    fit : RemlFit
        Gaussian, fitted by REML or ML; replicates are refitted by the same method.
    nsim : int
    random_seed : int, optional
        The replicates are those of :func:`hiermod.mle.bootstrap.bootstrap` with the same seed.
    client : distributed.Client or str, optional
        Default: a LocalCluster started for the call.
    progress : bool, optional

    Returns
    -------
    Bootstrap
        A failed replicate is NaN (as in the serial version), counted in ``n_failed``.
    """
    if not isinstance(fit, RemlFit) or fit.family != "gaussian":
        raise SpecError("the parametric bootstrap takes a gaussian RemlFit (hm.reml)")
    labels, estimate, args = replicate_inputs(fit)
    tasks = [(*args, s) for s in replicate_seeds(random_seed, nsim)]
    batch = run_batch(_replicate, tasks, client, progress=progress, label="bootstrap")
    reps = np.array([r if r is not None else np.full(len(labels), np.nan)
                     for r in batch.results])
    return Bootstrap(labels, estimate, reps, random_seed, fit.method)
