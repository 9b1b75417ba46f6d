"""Posterior summaries of the group effects u_j (or of each group's own coefficients)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from . import _posterior as P
from .shrinkage import group_coefficient_draws


def group_effects(dt: xr.DataTree, design, factor: str | None = None, term: str | None = None,
                  coefficient: bool = False, prob: float = 0.95) -> pd.DataFrame:
    """Mean, sd and interval of each group's varying effect, sorted for a caterpillar plot.

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    factor : str, optional
        Grouping factor (default the first).
    term : str, optional
        One varying term (default all of the factor's terms).
    coefficient : bool
        False: the deviations u_j (mean 0 over the population). True: the group's own
        coefficient, fixed effect + u_j (with the level-2 predictors at the group's values;
        see :mod:`hiermod.report.shrinkage`).
    prob : float

    Returns
    -------
    pandas.DataFrame
        Index (term, <factor>): the level index is named after the grouping factor; columns
        n, mean, sd, lower, upper, ``p_positive`` (posterior probability of a value > 0). Rows
        of each term sorted by the posterior mean.

    Notes
    -----
    Each group's interval is its marginal posterior; intervals overlapping is not a test of
    two groups differing (use the draws of their difference for that).
    """
    P.check_prob(prob)
    fd = P.pick_factor(design, factor)
    x = group_coefficient_draws(dt, design, fd) if coefficient else P.group_effects(dt, fd)
    terms = fd.terms if term is None else (term,)
    for t in terms:
        if t not in fd.terms:
            raise ValueError(f"'{t}' is not a varying term of '{fd.name}'; its terms: "
                             f"{', '.join(fd.terms)}")
    lo, hi = P.quantiles(x, prob)
    flat = P.flat_draws(x)
    frames = []
    for t in terms:
        a = fd.terms.index(t)
        frame = pd.DataFrame({
            "n": fd.sizes, "mean": flat[:, :, a].mean(axis=0),
            "sd": flat[:, :, a].std(axis=0, ddof=1), "lower": lo[:, a], "upper": hi[:, a],
            "p_positive": (flat[:, :, a] > 0).mean(axis=0),
        }, index=pd.MultiIndex.from_product([[t], list(fd.levels)], names=["term", fd.name]))
        frames.append(frame.sort_values("mean", kind="stable"))
    table = pd.concat(frames)
    table.attrs.update({"factor": fd.name, "interval_prob": prob,
                        "coefficient": bool(coefficient)})
    return table


def group_effect_draws(dt: xr.DataTree, design, factor: str | None = None,
                       coefficient: bool = False) -> xr.DataArray:
    """Draws of the group effects (or coefficients), dims (chain, draw, <factor>, <factor>_term)."""
    fd = P.pick_factor(design, factor)
    x = group_coefficient_draws(dt, design, fd) if coefficient else P.group_effects(dt, fd)
    return P.sample_dataarray(np.asarray(x), dt,
                              dims=(names.group_dim(fd.name), names.term_dim(fd.name)),
                              coords={names.group_dim(fd.name): list(fd.levels),
                                      names.term_dim(fd.name): list(fd.terms)})
