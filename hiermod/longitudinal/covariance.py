"""Dense covariance matrices of one unit or one block, from given parameters: for reports and
checks (prediction errors, the fitted covariance of a unit), never inside a likelihood, which
stays O(n) (:mod:`.kernel`)."""

from __future__ import annotations

import numpy as np


def unit_correlation(kind: str | None, phi: float, time: np.ndarray) -> np.ndarray:
    """The correlation matrix R of one unit's residuals at the given times: φ^|t_i − t_k|
    (ar1: integer powers, so φ may be negative; car1), φ off the diagonal (cs), or I."""
    m = len(time)
    if kind in ("ar1", "car1"):
        lag = np.abs(time[:, None] - time[None, :])
        if kind == "ar1":
            return np.power(phi, np.round(lag).astype(int))
        return np.power(phi, lag)
    if kind == "cs":
        return np.where(np.eye(m, dtype=bool), 1.0, phi)
    return np.eye(m)


def block_covariance(kind: str | None, phi: float, time: np.ndarray, unit: np.ndarray,
                     sd: np.ndarray, Z: np.ndarray, cov_u: np.ndarray) -> np.ndarray:
    """Z Σ Zᵀ + S R S for the rows of one block (one level of the grouping factor): ``unit``
    codes (rows of different units are uncorrelated), ``sd`` the rows' residual sds."""
    R = np.zeros((len(time), len(time)))
    for u in np.unique(unit):
        k = np.flatnonzero(unit == u)
        R[np.ix_(k, k)] = unit_correlation(kind, phi, time[k])
    return sd[:, None] * R * sd[None, :] + Z @ cov_u @ Z.T


def prediction_errors(e: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """C⁻¹e with C Cᵀ = cov: the standardised one-step-ahead prediction errors of e in its
    row order (independent N(0, 1) when cov is e's covariance)."""
    C = np.linalg.cholesky(cov)
    return np.linalg.solve(C, e)
