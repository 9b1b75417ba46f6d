"""Autocorrelation of the residuals within units, by lag: is there serial correlation left?

Two kinds of residual, both at the fit's estimates (posterior means for a Bayesian fit):

* ``"response"`` — the conditional residuals y − Xβ̂ − Zû. Their autocorrelation shows the
  serial correlation, but it is biased downwards (towards −1/(T − 1)) in short series,
  because û absorbs each unit's mean;
* ``"normalized"`` — the standardised one-step-ahead prediction errors of the marginal
  residuals y − Xβ̂ under the fitted covariance Z Σ Zᵀ + S R S, unit by unit in time order
  (the Cholesky "scaled" residuals). They are independent N(0, 1) when the covariance is
  right: before a correlation is modelled their lag-1 autocorrelation is clearly positive,
  after it it is ~0 at every lag.

The autocorrelation at lag k is, over all pairs of rows k positions apart within a unit
(rows ordered by time),

    ρ̂_k = (Σ_pairs e_i e_{i+k} / N_k) / (Σ_i e_i² / N)

with N_k the number of such pairs (as nlme's ``ACF``); its rough null band is ±z/√N_k.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError
from ..frame import factor_codes
from ..longitudinal.covariance import block_covariance, prediction_errors
from . import _posterior as P
from .residual_draws import residual_parameters, row_sigma

KINDS = ("response", "normalized")


def autocorrelation(values: np.ndarray, unit: np.ndarray, time: np.ndarray,
                    max_lag: int | None = None, prob: float = 0.95) -> pd.DataFrame:
    """ρ̂_k for k = 0 .. max_lag (module docstring) of ``values`` grouped by ``unit`` and
    ordered by ``time``.

    Returns
    -------
    pandas.DataFrame
        Index ``lag``; columns ``acf``, ``n_pairs``, ``bound`` (z_{(1+prob)/2}/√N_k).
    """
    e = np.asarray(values, dtype=float)
    order = np.lexsort((np.asarray(time, float), np.asarray(unit)))
    e, u = e[order], np.asarray(unit)[order]
    sizes = np.unique(u, return_counts=True)[1]
    max_lag = int(sizes.max() - 1) if max_lag is None else int(max_lag)
    var = float(np.mean(e**2))
    rows = {}
    for k in range(max_lag + 1):
        same = u[k:] == u[: len(u) - k]
        n_k = int(same.sum())
        acf = float(np.sum(e[k:][same] * e[: len(u) - k][same]) / n_k / var) if n_k else np.nan
        rows[k] = {"acf": acf, "n_pairs": n_k,
                   "bound": stats.norm.ppf(0.5 + prob / 2) / np.sqrt(n_k) if n_k else np.nan}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "lag"
    return table


def prediction_error_residuals(design, e: np.ndarray, row_sd: np.ndarray, phi: float,
                               covs: tuple, unit: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Standardised one-step-ahead prediction errors of the marginal residuals e = y − Xβ̂,
    unit by unit in time order, under the fitted covariance Z Σ Zᵀ + S R S of each block
    (:func:`hiermod.longitudinal.covariance.prediction_errors`): independent N(0, 1) when the
    covariance is right, whatever the group effects."""
    res = design.residuals
    kind = res.kind if res is not None else None
    r_unit = res.unit if res is not None and res.has_correlation else unit
    r_time = res.time if res is not None and res.has_correlation else time
    if len(design.factors) > 1:
        raise ValueError("normalized residuals need one grouping factor or none")
    fd = design.factors[0] if design.factors else None
    block = fd.index if fd is not None else unit
    order = np.lexsort((time, unit, block))
    cuts = np.flatnonzero(np.diff(block[order])) + 1
    out = np.empty_like(e)
    for rows in np.split(order, cuts):
        Z = fd.Z[rows] if fd is not None else np.zeros((len(rows), 0))
        cov_u = covs[0] if fd is not None else np.zeros((0, 0))
        cov = block_covariance(kind, phi, r_time[rows], r_unit[rows], row_sd[rows], Z, cov_u)
        out[rows] = prediction_errors(e[rows], cov)
    return out


def fit_residuals(dt, design, kind: str = "normalized", unit=None, time=None) -> np.ndarray:
    """Residuals of a Bayesian fit at the posterior means: y − E[η] (``"response"``), or the
    standardised prediction errors of y − Xβ̂ (``"normalized"``, :func:`prediction_error_residuals`;
    needs the unit codes and times)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "response":
        return design.y - P.linear_predictor(dt, design).mean(axis=(0, 1))
    e = design.y - design.X @ P.fixed(dt, design).mean(axis=(0, 1))
    row_sd = row_sigma(dt, design).mean(axis=(0, 1))
    _, phi, _ = residual_parameters(dt, design)
    covs = tuple(P.group_cov(dt, fd).mean(axis=(0, 1)) for fd in design.factors)
    return prediction_error_residuals(design, e, row_sd, float(phi.mean()), covs, unit, time)


def reml_residuals(reml_fit, kind: str = "normalized", unit=None, time=None) -> np.ndarray:
    """:func:`fit_residuals` of a REML / ML fit, at its estimates."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    design = reml_fit.design
    e = design.y - design.X @ reml_fit.beta
    if kind == "response":
        for fd, ge in zip(design.factors, reml_fit.ranef, strict=True):
            e = e - np.einsum("ia,ia->i", fd.Z, ge.mode[fd.index])
        return e
    est = getattr(reml_fit, "residual", None)
    res = design.residuals
    row_sd = np.full(design.n_obs, reml_fit.sigma)
    if est is not None and res is not None and res.r:
        row_sd = row_sd * np.exp(res.V @ est.delta)
    phi = est.phi if est is not None and est.phi is not None else 0.0
    covs = tuple(vc.cov for vc in reml_fit.varcomps)
    return prediction_error_residuals(design, e, row_sd, phi, covs, unit, time)


def _unit_time(design, data: pd.DataFrame | None, unit: str | None, time: str | None):
    corr = design.residuals.spec.correlation if design.residuals is not None else None
    unit = unit or (corr.group if corr else None) or \
        (design.factors[0].name if design.factors else None)
    time = time or (corr.time if corr else None)
    if unit is None or time is None:
        raise ValueError("give unit= and time=: the columns whose levels are the units and "
                         "whose values order their rows")
    if data is None:
        raise ValueError(f"give data= (with the columns '{unit}' and '{time}')")
    frame = data.loc[design.rows]
    for col in unit.split(":") + [time]:
        if col not in frame.columns:
            raise DataError(f"no column '{col}' in the data for the autocorrelation")
    codes, _ = factor_codes(frame, unit)
    return codes, pd.to_numeric(frame[time]).to_numpy(dtype=float)


def residual_acf(dt, design, data: pd.DataFrame | None = None, unit: str | None = None,
                 time: str | None = None, kind: str = "normalized",
                 max_lag: int | None = None, prob: float = 0.95) -> pd.DataFrame:
    """Autocorrelation by lag of a Bayesian fit's residuals (see the module docstring).

    Parameters
    ----------
    dt, design : the fit.
    data : pandas.DataFrame
        The data (or at least the unit and time columns, in the Design's rows).
    unit, time : str, optional
        Default: the correlation's (``car1(time | unit)``), else the grouping factor and
        ``time`` must be given.
    kind : {"normalized", "response"}
    max_lag : int, optional
        Default: the longest unit's rows − 1.
    prob : float
        Of the null band ``bound``.
    """
    codes, t = _unit_time(design, data, unit, time)
    table = autocorrelation(fit_residuals(dt, design, kind, codes, t), codes, t, max_lag, prob)
    table.attrs.update({"kind": kind, "source": "posterior means"})
    return table


def reml_residual_acf(reml_fit, data: pd.DataFrame | None = None, unit: str | None = None,
                      time: str | None = None, kind: str = "normalized",
                      max_lag: int | None = None, prob: float = 0.95) -> pd.DataFrame:
    """:func:`residual_acf` of a REML / ML fit (:func:`hiermod.reml`)."""
    codes, t = _unit_time(reml_fit.design, data, unit, time)
    table = autocorrelation(reml_residuals(reml_fit, kind, codes, t), codes, t, max_lag, prob)
    table.attrs.update({"kind": kind, "source": "REML estimates"})
    return table
