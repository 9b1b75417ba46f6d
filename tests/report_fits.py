"""Fits and fake posteriors shared by the tests/test_report_*.py files.

Each fit is made once per test session (``functools.cache``), small (2 chains × 200 draws after
300 tuning steps) and seeded. Fake posteriors (``fake_tree``) let the unit tests check report
formulas exactly without sampling.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import hiermod as hm
from hiermod import names

REFERENCE = Path(__file__).parent / "reference"
SETTINGS = {"draws": 200, "tune": 300, "chains": 2, "progressbar": False}


def reference(case: str) -> dict:
    """lme4 1.1-31 / performance 0.10.2 reference fit (tests/reference/<case>.json)."""
    return json.loads((REFERENCE / f"{case}.json").read_text())


@cache
def radon_vis():
    return hm.fit("log_radon ~ floor + (1 + floor | county)", hm.datasets.load("radon"),
                  random_seed=11, **SETTINGS)


@cache
def radon_null():
    """The null model of radon_vis, made by hm.null_model (same data and sampler settings)."""
    return hm.null_model(radon_vis(), random_seed=12)


@cache
def hsb_null():
    return hm.fit("mAch ~ 1 + (1 | school)", hm.datasets.load("hsb82"), random_seed=13,
                  **SETTINGS)


# --- simulated longitudinal data: subjects measured over time, a level-2 predictor -----------

SIM_TRUTH = {"b0": 1.0, "b_time": 0.3, "b_w": 0.5, "sd0": 1.0, "sd1": 0.2, "corr": 0.3,
             "sigma": 0.8}


def simulate_subjects(n_subjects: int, sizes, rng: np.random.Generator,
                      prefix: str = "s") -> pd.DataFrame:
    """y = b0 + b_w w_j + b_time t + u0_j + u1_j t + e, (u0, u1) ~ N(0, Σ), e ~ N(0, σ²)."""
    t = SIM_TRUTH
    cov = np.array([[t["sd0"] ** 2, t["corr"] * t["sd0"] * t["sd1"]],
                    [t["corr"] * t["sd0"] * t["sd1"], t["sd1"] ** 2]])
    u = rng.multivariate_normal(np.zeros(2), cov, size=n_subjects)
    w = rng.normal(size=n_subjects)
    sizes = np.broadcast_to(np.asarray(sizes), (n_subjects,))
    rows = []
    for j in range(n_subjects):
        time = rng.integers(0, 10, size=sizes[j]).astype(float)
        mu = t["b0"] + t["b_w"] * w[j] + t["b_time"] * time + u[j, 0] + u[j, 1] * time
        y = mu + rng.normal(0, t["sigma"], size=sizes[j])
        rows.append(pd.DataFrame({"y": y, "time": time, "w": w[j],
                                  "subject": f"{prefix}{j:03d}"}))
    return pd.concat(rows, ignore_index=True)


@cache
def sim_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training data: 40 subjects with 4–12 rows and one with 60; held-out: 200 new subjects
    with one row each)."""
    rng = np.random.default_rng(2024)
    sizes = rng.integers(4, 13, size=40)
    sizes[0] = 60
    train = simulate_subjects(40, sizes, rng)
    held_out = simulate_subjects(200, 1, rng, prefix="new")
    return train, held_out


@cache
def sim_fit():
    train, _ = sim_data()
    return hm.fit("y ~ time + w + (1 + time | subject)", train, random_seed=14, **SETTINGS)


# --- fake posteriors ---------------------------------------------------------------------------


def fake_tree(design, beta, sds: dict, sigma=None, u: dict | None = None,
              corr: dict | None = None, draws: int = 4, seed: int | None = None) -> xr.DataTree:
    """A DataTree whose posterior repeats the given values ``draws`` times (1 chain), or with
    ``seed`` draws u_j from N(0, Σ) independently per draw."""
    rng = np.random.default_rng(seed)
    coords = {"chain": [0], "draw": np.arange(draws)}

    def rep(x):
        x = np.asarray(x, dtype=float)
        return np.broadcast_to(x, (1, draws) + x.shape).copy()

    data = {names.FIXED: (("chain", "draw", names.FIXED_DIM), rep(beta))}
    coords[names.FIXED_DIM] = list(design.fixed_terms)
    if sigma is not None:
        data[names.SIGMA] = (("chain", "draw"), rep(sigma))
    for fd in design.factors:
        g, gt = names.group_dim(fd.name), names.term_dim(fd.name)
        coords[g], coords[gt] = list(fd.levels), list(fd.terms)
        sd = np.asarray(sds[fd.name], dtype=float)
        data[names.group_sd(fd.name)] = (("chain", "draw", gt), rep(sd))
        R = np.eye(fd.q) if not corr or fd.name not in corr else np.asarray(corr[fd.name])
        if fd.q > 1:
            coords[names.term_dim_bis(fd.name)] = list(fd.terms)
            data[names.group_corr(fd.name)] = (("chain", "draw", gt, names.term_dim_bis(fd.name)),
                                               rep(R))
        if u is not None and fd.name in u:
            uu = rep(u[fd.name])
        else:
            L = np.linalg.cholesky(R) * sd[:, None]
            uu = (rng.standard_normal((1, draws, fd.n_levels, fd.q)) @ L.T)
        data[names.group_effects(fd.name)] = (("chain", "draw", g, gt), uu)
    post = xr.Dataset(data, coords=coords)
    post.attrs["random_seed"] = 0
    return xr.DataTree.from_dict({"/posterior": post})
