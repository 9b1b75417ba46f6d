"""Simulated data sets for the benchmarks (seeded, deterministic)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def varying_slope(n_rows: int, n_groups: int, seed: int = 1) -> pd.DataFrame:
    """y = 1 + 0.5 x + u0_j + u1_j x + ε, (u0, u1) ~ N(0, [[0.5², .3·.5·.2], [., 0.2²]]), σ = 1.

    Group sizes vary (Dirichlet-multinomial around n_rows / n_groups); ``g`` is a string id.
    """
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(n_groups, 5.0))
    sizes = rng.multinomial(n_rows - 2 * n_groups, p) + 2
    g = np.repeat(np.arange(n_groups), sizes)
    x = rng.normal(size=n_rows)
    sd = np.array([0.5, 0.2])
    R = np.array([[1.0, 0.3], [0.3, 1.0]])
    u = rng.multivariate_normal(np.zeros(2), sd[:, None] * R * sd[None, :], size=n_groups)
    y = 1.0 + 0.5 * x + u[g, 0] + u[g, 1] * x + rng.normal(size=n_rows)
    return pd.DataFrame({"y": y, "x": x, "g": _labels(g)})


def _labels(g: np.ndarray) -> np.ndarray:
    """String ids without building millions of Python strings one by one."""
    names = np.array([f"g{j:05d}" for j in range(int(g.max()) + 1)], dtype=object)
    return names[g]


def workshop_twin(seed: int = 2) -> pd.DataFrame:
    """A twin of the workshop's data: 48,120 rows in 35 groups, a random intercept and three
    predictors (two continuous, one binary); unequal group sizes (~500 to ~2,700)."""
    rng = np.random.default_rng(seed)
    n_groups, n_rows = 35, 48_120
    p = rng.dirichlet(np.full(n_groups, 8.0))
    sizes = rng.multinomial(n_rows - 35 * 400, p) + 400
    g = np.repeat(np.arange(n_groups), sizes)
    x1 = rng.normal(size=n_rows)
    x2 = rng.gamma(2.0, 1.0, size=n_rows)
    x3 = rng.binomial(1, 0.4, size=n_rows).astype(float)
    u = rng.normal(0.0, 0.8, size=n_groups)
    y = 3.0 + 0.4 * x1 - 0.25 * x2 + 0.6 * x3 + u[g] + rng.normal(0.0, 1.5, size=n_rows)
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "x3": x3,
                         "site": _labels(g)})


def binary_twin(seed: int = 3) -> pd.DataFrame:
    """The workshop's binary question on a twin of its data: 48,120 respondents in 35 countries
    (sizes ~500 to ~2,700, as in ``workshop_twin``), education in whole years (0–20), urban
    0/1, a country-level corruption index; ``part`` = political efficacy above its median.

    efficacy = 3 + 0.12 educ + 0.25 urban − 0.35 cpi + u0_j + u1_j (educ − 12) + ε,
    u0 ~ N(0, 0.4²), u1 ~ N(0, 0.02²) (a near-zero slope sd), ε ~ N(0, 1); the model's
    predictors are centred as the workshop centres them: ``educ_cwc``, ``urban_cwc`` within
    country, ``cpi_cgm`` at the grand mean. Rows share (country, educ, urban) cells: ~1,400.
    """
    rng = np.random.default_rng(seed)
    n_groups, n_rows = 35, 48_120
    p = rng.dirichlet(np.full(n_groups, 8.0))
    sizes = rng.multinomial(n_rows - n_groups * 500, p) + 500
    g = np.repeat(np.arange(n_groups), sizes)
    cpi = rng.normal(0.0, 1.0, n_groups)
    educ = np.clip(np.round(rng.normal(12.0 - cpi[g], 3.5)), 0, 20)
    urban = rng.binomial(1, 0.6, n_rows).astype(float)
    u0, u1 = rng.normal(0.0, 0.4, n_groups), rng.normal(0.0, 0.02, n_groups)
    eff = (3.0 + 0.12 * educ + 0.25 * urban - 0.35 * cpi[g] + u0[g] + u1[g] * (educ - 12.0)
           + rng.normal(0.0, 1.0, n_rows))
    df = pd.DataFrame({"cnt": _labels(g), "educ": educ, "urban": urban, "cpi": cpi[g]})
    df["part"] = (eff > np.median(eff)).astype(int)
    df["educ_cwc"] = df["educ"] - df.groupby("cnt")["educ"].transform("mean")
    df["urban_cwc"] = df["urban"] - df.groupby("cnt")["urban"].transform("mean")
    df["cpi_cgm"] = df["cpi"] - df["cpi"].mean()
    return df


def bernoulli_groups(n_groups: int = 300, seed: int = 4) -> pd.DataFrame:
    """A survey-like bernoulli data set: groups of very different size (2 to ~120, lognormal),
    a binary and a continuous level-1 predictor, a level-2 predictor, a varying intercept.

    logit p = −0.3 + 0.6 x + 0.4 z + 0.5 w_j + u_j, u ~ N(0, 0.7²).
    """
    rng = np.random.default_rng(seed)
    sizes = np.clip(np.round(rng.lognormal(3.0, 0.8, n_groups)), 2, 120).astype(int)
    g = np.repeat(np.arange(n_groups), sizes)
    n = len(g)
    w, u = rng.normal(size=n_groups), rng.normal(0.0, 0.7, n_groups)
    x, z = rng.binomial(1, 0.45, n).astype(float), rng.normal(size=n)
    eta = -0.3 + 0.6 * x + 0.4 * z + 0.5 * w[g] + u[g]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "x": x, "z": z, "w": w[g], "g": _labels(g)})


def bernoulli_continuous(n_rows: int, n_groups: int, seed: int = 5) -> pd.DataFrame:
    """Bernoulli with a continuous predictor (no two rows share a cell), a varying intercept
    and slope: logit p = −0.5 + 0.8 x + u0_j + u1_j x, sds 0.8 and 0.3, correlation 0.3."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(n_groups, 5.0))
    sizes = rng.multinomial(n_rows - 2 * n_groups, p) + 2
    g = np.repeat(np.arange(n_groups), sizes)
    x = rng.normal(size=n_rows)
    sd = np.array([0.8, 0.3])
    R = np.array([[1.0, 0.3], [0.3, 1.0]])
    u = rng.multivariate_normal(np.zeros(2), sd[:, None] * R * sd[None, :], size=n_groups)
    eta = -0.5 + 0.8 * x + u[g, 0] + u[g, 1] * x
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "x": x, "g": _labels(g)})


def crossed(n_rows: int, n_a: int, n_b: int, seed: int = 6) -> pd.DataFrame:
    """Gaussian, two crossed factors: y = 1 + 0.5 x + a_j + b_k + ε with sds 0.6, 0.4, σ = 1;
    every row draws its level of each factor at random (unequal sizes)."""
    rng = np.random.default_rng(seed)
    a = rng.choice(n_a, n_rows, p=rng.dirichlet(np.full(n_a, 5.0)))
    b = rng.choice(n_b, n_rows, p=rng.dirichlet(np.full(n_b, 5.0)))
    x = rng.normal(size=n_rows)
    y = (1.0 + 0.5 * x + rng.normal(0, 0.6, n_a)[a] + rng.normal(0, 0.4, n_b)[b]
         + rng.normal(size=n_rows))
    names_b = np.array([f"h{k:03d}" for k in range(n_b)], dtype=object)
    return pd.DataFrame({"y": y, "x": x, "a": _labels(a), "h": names_b[b]})
