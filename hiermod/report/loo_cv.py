"""PSIS-LOO cross-validation (via ArviZ) of one fit, and the comparison of several."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from .ppc import log_likelihood


def with_log_likelihood(dt: xr.DataTree, design) -> xr.DataTree:
    """``dt`` itself if it holds a ``log_likelihood`` group, else a shallow copy with one added."""
    if names.LOG_LIKELIHOOD in dt.children:
        return dt
    groups = {f"/{name}": dt[name].to_dataset() for name in dt.children}
    groups[f"/{names.LOG_LIKELIHOOD}"] = log_likelihood(dt, design)
    return xr.DataTree.from_dict(groups)


def loo(dt: xr.DataTree, design, pointwise: bool = True):
    """PSIS-LOO of a fit (``arviz.loo``), with the pointwise log-likelihood made if missing.

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    pointwise : bool
        Keep elpd_i and the Pareto k of each observation (``result.pareto_k``).

    Returns
    -------
    arviz_stats ELPDData
        ``elpd``, ``se``, ``p``, ``warning``, ``good_k``, and with ``pointwise`` ``elpd_i``,
        ``pareto_k`` (dims obs).

    Notes
    -----
    elpd_loo = Σ_i log p(y_i | y_−i), estimated by Pareto-smoothed importance sampling
    (Vehtari, Gelman & Gabry 2017). The likelihood is conditional on the group effects, so
    this predicts a new observation in an existing group; Pareto k > ``good_k`` (about 0.7)
    marks observations whose estimate is unreliable (often those alone in their group).
    """
    return az.loo(with_log_likelihood(dt, design), pointwise=pointwise, var_name=names.OUTCOME)


def pareto_k_table(loo_result) -> pd.DataFrame:
    """Counts of observations by Pareto-k band: good (≤ good_k), bad (≤ 1), very bad (> 1)."""
    k = np.asarray(loo_result.pareto_k).ravel()
    good_k = float(loo_result.good_k)
    bands = {f"(-inf, {good_k:.2f}]": k <= good_k, f"({good_k:.2f}, 1]": (k > good_k) & (k <= 1),
             "(1, inf)": k > 1}
    return pd.DataFrame({"count": {b: int(m.sum()) for b, m in bands.items()},
                         "share": {b: float(m.mean()) for b, m in bands.items()}})


def _tree_of(model) -> xr.DataTree:
    """A Fit (``.idata``, ``.design``) or a DataTree that already holds log_likelihood."""
    if hasattr(model, "idata") and hasattr(model, "design"):
        return with_log_likelihood(model.idata, model.design)
    if isinstance(model, xr.DataTree):
        if names.LOG_LIKELIHOOD not in model.children:
            raise ValueError("a DataTree given to compare_fits needs a 'log_likelihood' group; "
                             "pass the Fit instead, or add it with "
                             "hiermod.report.add_log_likelihood")
        return model
    raise TypeError(f"compare_fits takes Fits or DataTrees, got {type(model).__name__}")


def compare_fits(fits: dict, method: str = "stacking", reference: str | None = None):
    """Compare fits of the same outcome by PSIS-LOO (``arviz.compare``).

    Parameters
    ----------
    fits : dict of str -> Fit or DataTree
        Named models fitted to the same observations.
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        How the model weights are computed.
    reference : str, optional
        Model against which ``elpd_diff`` is computed (default the best).

    Returns
    -------
    pandas.DataFrame
        arviz's comparison table, best model first: rank, elpd, p, elpd_diff, weight, se,
        dse, warning.

    Raises
    ------
    ValueError
        Fewer than two fits, or fits of different numbers of observations.

    Examples
    --------
    >>> hm.compare_fits({"null": null, "floor": fit_vi, "slopes": fit_vis})   # doctest: +SKIP
    """
    if not isinstance(fits, dict) or len(fits) < 2:
        raise ValueError("compare_fits needs a dict of at least two named fits")
    trees = {str(name): _tree_of(m) for name, m in fits.items()}
    sizes = {name: t[names.LOG_LIKELIHOOD][names.OUTCOME].sizes[names.OBS_DIM]
             for name, t in trees.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the fits have different numbers of observations ({sizes}); LOO "
                         "comparisons need the same data")
    return az.compare(trees, method=method, var_name=names.OUTCOME, reference=reference,
                      round_to="none")
