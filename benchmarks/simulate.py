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
