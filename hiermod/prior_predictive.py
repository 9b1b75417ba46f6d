"""Prior predictive draws of a model: what the priors say about the data before seeing them.

The explicit PyMC model of the design (:func:`hiermod.build_model`, the user's priors over the
defaults) is sampled forward by ``pymc.sample_prior_predictive``: its DataTree has the groups
``prior`` (β, the sds, correlations and group effects, σ: the posterior's names and dims),
``prior_predictive`` (y, dims chain, draw, obs) and ``observed_data``. The checks of
:func:`hiermod.report.ppc_overall` and the figure of :func:`hiermod.plots.plot_ppc` read it
with ``group="prior_predictive"``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import names
from .model import build_model


def sample_prior_predictive(design, priors: dict | None = None, draws: int = 500,
                            random_seed: int | None = None) -> xr.DataTree:
    """Draws of the parameters and of the outcome from the prior.

    Parameters
    ----------
    design : Design
    priors : dict, optional
        Overrides of the default priors (as in :func:`hiermod.fit`).
    draws : int
    random_seed : int, optional

    Returns
    -------
    xarray.DataTree
        Groups ``prior``, ``prior_predictive`` (y as floats) and ``observed_data``.

    Notes
    -----
    A prior predictive check asks whether data sets drawn from the priors look like data the
    study could have produced: outcomes of the right order of magnitude, proportions not all
    piled at 0 and 1 (a logit model with wide priors on its coefficients does that). It needs
    no posterior and no sampling by NUTS.
    """
    import pymc as pm

    if not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be a positive whole number, got {draws!r}")
    model = build_model(design, priors)
    tree = pm.sample_prior_predictive(draws=draws, model=model, random_seed=random_seed)
    pp = tree[names.PRIOR_PREDICTIVE].to_dataset()
    pp[names.OUTCOME] = pp[names.OUTCOME].astype(float)
    tree[names.PRIOR_PREDICTIVE] = xr.DataTree(pp)
    obs = xr.Dataset({names.OUTCOME: ((names.OBS_DIM,), np.asarray(design.y, dtype=float))},
                     coords={names.OBS_DIM: np.arange(design.n_obs)})
    tree["observed_data"] = xr.DataTree(obs)
    tree[names.PRIOR].attrs["random_seed"] = -1 if random_seed is None else int(random_seed)
    return tree
