"""Simulated panels with known truth: growth with a varying intercept and slope, correlated
residuals within units, a residual sd per group, missing occasions and rows in random order.
Used by the tests, the recovery study (``benchmarks/longitudinal_coverage.py``) and the
benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: the default truth of :func:`simulate_panel`
PANEL_TRUTH = {"Intercept": 2.0, "time": 0.5, "x": 0.3, "sd0": 1.0, "sd1": 0.25,
               "corr": -0.3, "sigma": 0.8, "phi": 0.6, "ratio_b": 1.5}


def simulate_panel(n_units: int, n_times: int, kind: str | None = "ar1",
                   p_missing: float = 0.2, truth: dict | None = None, slope: bool = True,
                   seed: int | np.random.Generator | None = None) -> tuple[pd.DataFrame, dict]:
    """Simulate ``y = Intercept + time·t + x·x + u0_j + u1_j t + e``.

    Parameters
    ----------
    n_units, n_times : int
        Units ``id`` ("u0001", ...) and occasions 0 .. n_times − 1 before the gaps.
    kind : {"ar1", "car1", "cs", None}
        The residual correlation within a unit; "car1" jitters the times by U(−0.3, 0.3).
    p_missing : float
        Each occasion is missing with this probability (every unit keeps at least two).
    truth : dict, optional
        Overrides of :data:`PANEL_TRUTH`: fixed effects ``Intercept, time, x``, ``sd0, sd1,
        corr`` of (u0, u1), ``sigma`` (residual sd of group "a"), ``phi``, ``ratio_b``
        (residual sd of group "b" over that of "a").
    slope : bool
        Include the varying slope u1 (else sd1 = 0).
    seed : int or Generator

    Returns
    -------
    (pandas.DataFrame, dict)
        Columns ``id, group, occasion (int), time (float), x, y`` in random row order, and the
        truth used.
    """
    t = {**PANEL_TRUTH, **(truth or {})}
    if not slope:
        t["sd1"], t["corr"] = 0.0, 0.0
    rng = np.random.default_rng(seed)
    cov = np.array([[t["sd0"] ** 2, t["corr"] * t["sd0"] * t["sd1"]],
                    [t["corr"] * t["sd0"] * t["sd1"], t["sd1"] ** 2]])
    u = rng.multivariate_normal(np.zeros(2), cov, size=n_units)
    group = np.where(rng.random(n_units) < 0.5, "a", "b")
    frames = []
    for j in range(n_units):
        keep = rng.random(n_times) >= p_missing
        if keep.sum() < 2:
            keep[rng.choice(n_times, 2, replace=False)] = True
        occ = np.flatnonzero(keep)
        time = occ + (rng.uniform(-0.3, 0.3, len(occ)) if kind == "car1" else 0.0)
        sig = t["sigma"] * (t["ratio_b"] if group[j] == "b" else 1.0)
        if kind in ("ar1", "car1"):
            lag = np.abs(time[:, None] - time[None, :])
            R = t["phi"] ** lag
        elif kind == "cs":
            R = np.where(np.eye(len(occ), dtype=bool), 1.0, t["phi"])
        else:
            R = np.eye(len(occ))
        e = sig * (np.linalg.cholesky(R) @ rng.standard_normal(len(occ)))
        x = rng.normal(size=len(occ))
        y = (t["Intercept"] + t["time"] * time + t["x"] * x + u[j, 0] + u[j, 1] * time + e)
        frames.append(pd.DataFrame({"id": f"u{j + 1:04d}", "group": group[j], "occasion": occ,
                                    "time": time, "x": x, "y": y}))
    data = pd.concat(frames, ignore_index=True)
    data = data.iloc[rng.permutation(len(data))].reset_index(drop=True)
    return data, t
