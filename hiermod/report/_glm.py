"""Least squares and GLM (IRLS) fits in numpy, for the complete- and no-pooling estimates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

#: |estimate| or se beyond which a GLM coefficient is taken as not estimable (separation)
NOT_ESTIMABLE_SE = 50.0


@dataclass(frozen=True)
class GLMResult:
    coef: np.ndarray  # NaN where not estimable
    se: np.ndarray
    dispersion: float  # s² (gaussian) or 1


def _mean_var(eta, family: str, trials):
    """(μ, dμ/dη, var(y)) of the family's canonical link."""
    if family in ("bernoulli", "binomial"):
        m = 1.0 if trials is None else trials
        p = expit(eta)
        return m * p, m * p * (1 - p), m * p * (1 - p)
    if family == "poisson":
        mu = np.exp(np.clip(eta, -30, 30))
        return mu, mu, mu
    raise ValueError(f"no GLM fit for family '{family}'")


def fit_glm(W: np.ndarray, y: np.ndarray, family: str, trials=None,
            max_iter: int = 100, tol: float = 1e-10) -> GLMResult:
    """Maximum-likelihood fit of y on the columns of W (OLS for gaussian).

    Columns that are linearly dependent on earlier ones get NaN; for logit / log models,
    coefficients whose Wald se exceeds :data:`NOT_ESTIMABLE_SE` (complete separation, a group
    with all-zero outcomes) are NaN too.
    """
    n, p = W.shape
    keep = independent_columns(W)
    Wk = W[:, keep]
    coef, se = np.full(p, np.nan), np.full(p, np.nan)
    if family == "gaussian":
        b, *_ = np.linalg.lstsq(Wk, y, rcond=None)
        resid = y - Wk @ b
        dof = max(n - Wk.shape[1], 1)
        s2 = float(resid @ resid / dof)
        cov = s2 * np.linalg.pinv(Wk.T @ Wk)
        coef[keep], se[keep] = b, np.sqrt(np.diag(cov))
        return GLMResult(coef, se, s2)
    b = np.zeros(Wk.shape[1])
    if family == "poisson":
        b, *_ = np.linalg.lstsq(Wk, np.log(y + 0.5), rcond=None)
    ridge = 1e-8 * np.eye(Wk.shape[1])
    for _ in range(max_iter):
        eta = Wk @ b
        mu, dmu, var = _mean_var(eta, family, trials)
        w = dmu**2 / np.maximum(var, 1e-12)
        z = eta + (y - mu) / np.maximum(dmu, 1e-12)
        WtW = Wk.T @ (Wk * w[:, None]) + ridge
        b_new = np.linalg.solve(WtW, Wk.T @ (w * z))
        b_new = np.clip(b_new, -40, 40)
        if np.max(np.abs(b_new - b)) < tol * (1 + np.max(np.abs(b))):
            b = b_new
            break
        b = b_new
    _, dmu, var = _mean_var(Wk @ b, family, trials)
    w = dmu**2 / np.maximum(var, 1e-12)
    cov = np.linalg.pinv(Wk.T @ (Wk * w[:, None]))
    s = np.sqrt(np.maximum(np.diag(cov), 0))
    bad = (s > NOT_ESTIMABLE_SE) | ~np.isfinite(s)
    b, s = np.where(bad, np.nan, b), np.where(bad, np.nan, s)
    coef[keep], se[keep] = b, s
    return GLMResult(coef, se, 1.0)


def independent_columns(W: np.ndarray, rtol: float = 1e-9) -> np.ndarray:
    """Indices of columns kept by a greedy left-to-right rank check (QR with no pivoting)."""
    if W.shape[1] == 0:
        return np.zeros(0, dtype=int)
    scale = np.linalg.norm(W, axis=0)
    scale[scale == 0] = 1.0
    _, R = np.linalg.qr(W / scale, mode="reduced")
    d = np.abs(np.diag(R))
    return np.flatnonzero(d > rtol * max(d.max(), 1e-300))
