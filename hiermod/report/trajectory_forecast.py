"""Predictions from a fit with a residual structure: trajectories of existing units continued
from their last residuals, and of new units.

For a new row i of unit u at time t, per posterior draw s,

    y_i = η_i + σ_i z_i,     η_i = x_i β + z_i u_j  (:func:`hiermod.report.predict`),

with σ_i the row's residual sd and z_i the standardised residual. For a unit seen in fitting,
z_i is drawn from its distribution given the unit's observed standardised residuals
z_k = (y_k − η_k)/σ_k — the correlation carries information forward:

* AR(1) / CAR(1) (Markov): only the observed neighbours in time matter. After the last one
  (Δ = t − t_last): E = φ^Δ z_last, Var = 1 − φ^2Δ (before the first likewise); between two
  (Δ₁ before, Δ₂ after, ρ₁ = φ^Δ₁, ρ₂ = φ^Δ₂, ρ = ρ₁ρ₂):
  E = [ρ₁(1 − ρ₂²) z₁ + ρ₂(1 − ρ₁²) z₂] / (1 − ρ²),
  Var = 1 − (ρ₁² + ρ₂² − 2ρ²) / (1 − ρ²);
* compound symmetry over m observed rows: E = φ Σ z_k / (1 − φ + mφ),
  Var = 1 − mφ² / (1 − φ + mφ);
* independent residuals, or a new unit: E = 0, Var = 1.

So the forecast of an existing unit regresses from its last residual towards its own fitted
line at the rate φ^Δ. Each row's predictive interval is exact; rows of one unit are drawn
independently given the data (joint draws of a whole future path would be correlated).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..errors import DataError, format_rows
from ..frame import factor_labels
from . import _posterior as P
from .ppc import default_seed
from .prediction import Predictions, _add_summary, predict
from .residual_draws import residual_parameters, row_sigma


def unit_grid(data: pd.DataFrame, unit: str, time: str, times, units=None) -> pd.DataFrame:
    """New rows for :func:`forecast`: every unit (or ``units``) at the given ``times``, its
    other columns carried over from its last row (level-2 predictors, treatment).

    Parameters
    ----------
    data : pandas.DataFrame
    unit, time : str
        The unit and time columns.
    times : array-like
        The times of the grid (may extend past the last observation: a forecast).
    units : sequence, optional
        Default: every unit of ``data``, in order of appearance.

    Returns
    -------
    pandas.DataFrame
        ``len(units) × len(times)`` rows.
    """
    for col in (unit, time):
        if col not in data.columns:
            raise DataError(f"no column '{col}' in the data; columns: "
                            f"{', '.join(map(str, data.columns))}")
    labels = data[unit].astype(str)
    units = list(dict.fromkeys(labels)) if units is None else [str(u) for u in units]
    times = np.asarray(times, dtype=float)
    frames = []
    for u in units:
        rows = data[labels == u]
        if rows.empty:
            raise DataError(f"no rows of unit {u!r} in the data")
        last = rows.loc[[pd.to_numeric(rows[time]).idxmax()]]
        frame = last.iloc[[0] * len(times)].reset_index(drop=True)
        frame[time] = times
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _new_V(res, newdata: pd.DataFrame) -> np.ndarray:
    """Columns of the sd model for new rows (a level unseen in fitting is an error)."""
    cols = []
    for column, level in res.variance_columns:
        if column not in newdata.columns:
            raise DataError(f"newdata lacks the column '{column}' of the residual-sd model")
        if level is None:
            cols.append(pd.to_numeric(newdata[column]).to_numpy(dtype=float))
            continue
        labels = factor_labels(newdata, column).to_numpy(dtype=object)
        known = dict(res.variance_levels)[column]
        bad = ~np.isin(labels, np.asarray(known, dtype=object))
        if bad.any():
            raise DataError(f"newdata has level(s) of '{column}' that the residual-sd model "
                            f"has no sd for: {', '.join(map(repr, dict.fromkeys(labels[bad])))} "
                            f"({format_rows(list(newdata.index[bad]))})")
        cols.append((labels == level).astype(float))
    return np.column_stack(cols) if cols else np.zeros((len(newdata), 0))


def _ar_moments(kind: str, phi: np.ndarray, t: float, times: np.ndarray,
                z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E and Var of z at time t given z (S, m) observed at ``times`` (AR(1) / CAR(1))."""
    def power(d):
        return phi ** int(round(d)) if kind == "ar1" else phi**d

    before, after = np.flatnonzero(times <= t), np.flatnonzero(times >= t)
    if before.size and times[before[-1]] == t:
        k = before[-1]
        return z[:, k], np.zeros(len(phi))
    if before.size and after.size:
        k1, k2 = before[-1], after[0]
        r1, r2 = power(t - times[k1]), power(times[k2] - t)
        r = r1 * r2
        mean = (r1 * (1 - r2**2) * z[:, k1] + r2 * (1 - r1**2) * z[:, k2]) / (1 - r**2)
        return mean, 1 - (r1**2 + r2**2 - 2 * r**2) / (1 - r**2)
    k = before[-1] if before.size else after[0]
    rho = power(abs(t - times[k]))
    return rho * z[:, k], 1 - rho**2


def conditional_residuals(dt, design, newdata: pd.DataFrame) -> tuple[np.ndarray, np.ndarray,
                                                                       np.ndarray]:
    """(E, Var) of the standardised residual of each new row per draw (S, m), and whether the
    row's unit was seen in fitting (m,) (the module docstring)."""
    res = design.residuals
    post = P.posterior(dt)
    S = post.sizes["chain"] * post.sizes["draw"]
    m = len(newdata)
    mean, var = np.zeros((S, m)), np.ones((S, m))
    seen = np.zeros(m, dtype=bool)
    corr = res.spec.correlation
    if corr is None:
        return mean, var, seen
    for col in [*corr.group.split(":"), *([corr.time] if corr.time else [])]:
        if col not in newdata.columns:
            raise DataError(f"newdata lacks the column '{col}' of the correlation "
                            f"{corr.text}")
    units = factor_labels(newdata, corr.group).to_numpy(dtype=object)
    times = (pd.to_numeric(newdata[corr.time]).to_numpy(dtype=float) if corr.time
             else np.zeros(m))
    _, phi, _ = residual_parameters(dt, design)
    eta = P.linear_predictor(dt, design).reshape(S, -1)
    z = (design.y - eta) / row_sigma(dt, design).reshape(S, -1)
    lookup = {lvl: k for k, lvl in enumerate(res.unit_levels)}
    for i in range(m):
        u = lookup.get(units[i])
        if u is None:
            continue
        seen[i] = True
        rows = np.flatnonzero(res.unit == u)
        if res.kind == "cs":
            k = len(rows)
            denom = 1 - phi + k * phi
            mean[:, i] = phi * z[:, rows].sum(axis=1) / denom
            var[:, i] = 1 - k * phi**2 / denom
        else:
            order = rows[np.argsort(res.time[rows])]
            mean[:, i], var[:, i] = _ar_moments(res.kind, phi, times[i], res.time[order],
                                                z[:, order])
    return mean, np.maximum(var, 0.0), seen


def forecast(dt: xr.DataTree, design, newdata: pd.DataFrame, new_groups: str = "sample",
             kind: str = "both", prob: float = 0.95, random_seed: int | None = None,
             condition: bool = True, groups: str = "fitted",
             new_group_means: str = "training") -> Predictions:
    """Predictions for new rows of a fit with a residual structure (see the module docstring).

    Parameters
    ----------
    dt, design : the fit (``design.residuals`` set).
    newdata : pandas.DataFrame
        The model's predictors and grouping columns, the correlation's unit and time columns
        and the sd model's variables; rows of units seen in fitting are continued from their
        residuals, other units are new (their group effects per ``new_groups``).
    new_groups : {"sample", "zero", "refuse"}
        As :func:`hiermod.report.predict`.
    kind : {"both", "mean", "outcome", "link"}
        Summaries of the conditional expectation E[y | data] (``mean, sd, lower, upper``) and /
        or of outcome draws (``y_mean, y_lower, y_upper``); "link": the linear predictor η
        alone, as :func:`predict`.
    prob : float
    random_seed : int, optional
    condition : bool
        Condition on the unit's observed residuals (default); False gives the residual its
        unconditional distribution (the prediction :func:`predict` would make, with each
        row's sd).
    groups, new_group_means : str
        As :func:`hiermod.report.predict`; with ``groups`` other than "fitted" (the
        population) the residuals are not conditioned on any unit's.

    Returns
    -------
    Predictions
        ``table`` also has ``residual_conditioned`` (the row's unit was seen and
        ``condition``), ``draws`` the group ``predictions`` with ``mu`` (η), ``expected``
        (E[y | data]) and ``y``.
    """
    shared = {"new_groups": new_groups, "prob": prob, "random_seed": random_seed,
              "groups": groups, "new_group_means": new_group_means}
    if design.residuals is None or kind == "link":  # nothing to condition: η alone
        return predict(dt, design, newdata, kind=kind, **shared)
    condition = condition and groups == "fitted"
    if kind not in ("both", "mean", "outcome"):
        raise ValueError(f"kind must be 'both', 'mean', 'outcome' or 'link', got {kind!r}")
    base = predict(dt, design, newdata, kind="link", **shared)
    eta = np.asarray(base.draws[names.PREDICTIONS][names.LINPRED].values, dtype=float)
    c, d, m = eta.shape
    S = c * d
    res = design.residuals
    sigma, _, delta = residual_parameters(dt, design)
    V = _new_V(res, newdata)
    sig_new = sigma[:, None] * np.exp(delta @ V.T)
    if condition:
        zmean, zvar, seen = conditional_residuals(dt, design, newdata)
    else:
        zmean, zvar, seen = np.zeros((S, m)), np.ones((S, m)), np.zeros(m, dtype=bool)
    rng = np.random.default_rng([default_seed(dt, random_seed), 0xF0])
    expected = eta.reshape(S, m) + sig_new * zmean
    y = expected + sig_new * np.sqrt(zvar) * rng.standard_normal((S, m))
    expected, y = expected.reshape(c, d, m), y.reshape(c, d, m)
    table = base.table.drop(columns=[k for k in base.table.columns if k.startswith("eta_")])
    extra = [col for col in res.spec.columns() if col in newdata.columns and col not in table]
    for col in extra:
        table[col] = newdata[col]
    table["residual_conditioned"] = seen
    if kind in ("both", "mean"):
        _add_summary(table, "", expected, prob, with_sd=True)
    if kind in ("both", "outcome"):
        _add_summary(table, "y_", y, prob)
    table.attrs.update(base.table.attrs)
    table.attrs.update({"kind": kind, "condition": condition})
    ds = base.draws[names.PREDICTIONS].to_dataset()
    ds = ds.assign({names.EXPECTED: (ds[names.LINPRED].dims, expected),
                    names.OUTCOME: (ds[names.LINPRED].dims, y)})
    return Predictions(table=table, draws=xr.DataTree.from_dict({f"/{names.PREDICTIONS}": ds}),
                       new_levels=base.new_levels)
