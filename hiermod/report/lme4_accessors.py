"""lme4's accessors on a posterior: ``fixef``, ``ranef``, ``coef`` and ``VarCorr``.

They return what lme4 returns, with posterior means (or medians) in place of the estimates
and conditional modes, so code written against ``lme4`` / ``RemlFit`` reads a Bayesian fit
the same way:

* ``fixef``   — the fixed effects γ, a Series indexed by term;
* ``ranef``   — per grouping factor, a (level × term) DataFrame of the group effects u_j;
* ``coef``    — per grouping factor, a (level × fixed term) DataFrame of γ + u_j: every fixed
  term, with the group's deviation added to the terms that vary by that factor (lme4's
  ``coef.merMod``; unlike :func:`hiermod.report.group_effects` with ``coefficient=True``, the
  level-2 predictors' effects are not folded in);
* ``VarCorr`` — the sds, variances and correlations, one row each, in the layout of
  ``as.data.frame(VarCorr(m))`` (grp, var1, var2, vcov, sdcor).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from . import _posterior as P

STATISTICS = ("mean", "median")


def _point(x: np.ndarray, statistic: str) -> np.ndarray:
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}, got {statistic!r}")
    flat = P.flat_draws(x)
    return flat.mean(axis=0) if statistic == "mean" else np.median(flat, axis=0)


def fixef(dt: xr.DataTree, design, statistic: str = "mean") -> pd.Series:
    """The fixed effects, posterior ``statistic`` per term (lme4's ``fixef``).

    Examples
    --------
    >>> fit.fixef()["floor"]          # doctest: +SKIP
    """
    return pd.Series(_point(P.fixed(dt, design), statistic), index=list(design.fixed_terms),
                     name="fixef").rename_axis("term")


def ranef(dt: xr.DataTree, design, statistic: str = "mean") -> dict[str, pd.DataFrame]:
    """The group effects u_j, factor -> (level × term) DataFrame (lme4's ``ranef``).

    Notes
    -----
    The posterior means of u_j, where lme4 gives the conditional modes; for a gaussian model
    with the variance components at their estimates the two coincide.
    """
    out = {}
    for fd in design.factors:
        u = _point(P.group_effects(dt, fd), statistic)
        out[fd.name] = pd.DataFrame(u, index=pd.Index(list(fd.levels), name=fd.name),
                                    columns=list(fd.terms))
    return out


def coef(dt: xr.DataTree, design, statistic: str = "mean") -> dict[str, pd.DataFrame]:
    """Each group's coefficients, factor -> (level × fixed term) DataFrame (lme4's ``coef``).

    Notes
    -----
    coef_g[j, t] = γ_t + u_{g,j,t} for the terms t that vary by g, γ_t for the others,
    computed draw by draw (so a median is the median of the sum). A varying term that is not
    a fixed term (``(0 + x | g)`` without ``x``) gets its own column u_{g,j,t}.
    """
    beta = P.fixed(dt, design)
    out = {}
    for fd in design.factors:
        u = P.group_effects(dt, fd)
        cols = list(design.fixed_terms) + [t for t in fd.terms if t not in design.fixed_terms]
        draws = np.zeros(u.shape[:3] + (len(cols),))
        for k, t in enumerate(design.fixed_terms):
            draws[..., k] = beta[..., k][..., None]
        for a, t in enumerate(fd.terms):
            draws[..., cols.index(t)] += u[..., a]
        out[fd.name] = pd.DataFrame(_point(draws, statistic),
                                    index=pd.Index(list(fd.levels), name=fd.name), columns=cols)
    return out


def varcorr(dt: xr.DataTree, design, statistic: str = "mean") -> pd.DataFrame:
    """The variance components in lme4's ``as.data.frame(VarCorr(m))`` layout.

    Returns
    -------
    pandas.DataFrame
        Columns grp, var1, var2, vcov, sdcor: one row per varying term (variance and sd), per
        estimated correlation (covariance and correlation) and the residual (gaussian).

    Notes
    -----
    Each column is the posterior ``statistic`` of its own quantity drawn by draw: the mean
    variance is not the square of the mean sd, and a covariance is the mean of
    τ_a τ_b ρ_ab, not the product of the three means.
    """
    rows = []
    for fd in design.factors:
        sd = P.group_sds(dt, fd)
        cov = P.group_cov(dt, fd)
        for a, t in enumerate(fd.terms):
            rows.append((fd.name, t, None, _point(sd[..., a] ** 2, statistic),
                         _point(sd[..., a], statistic)))
        for a, b in fd.pairs():
            r = cov[..., a, b] / (sd[..., a] * sd[..., b])
            rows.append((fd.name, fd.terms[a], fd.terms[b], _point(cov[..., a, b], statistic),
                         _point(r, statistic)))
    s = P.sigma(dt, design)
    if s is not None:
        rows.append(("Residual", None, None, _point(s**2, statistic), _point(s, statistic)))
    table = pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])
    table[["vcov", "sdcor"]] = table[["vcov", "sdcor"]].astype(float)
    table.attrs["statistic"] = statistic
    return table


__all__ = ["coef", "fixef", "ranef", "varcorr"]
