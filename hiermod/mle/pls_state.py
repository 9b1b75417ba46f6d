"""What a penalized least-squares solution at one θ holds, whatever the factorization."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False, kw_only=True)
class PlsSolution:
    """Solution of the penalized least-squares problem at one θ.

    ``logdetA`` is log|Λ'Z'ZΛ + I| (log|L_θ|² in lme4), ``S`` = R_XᵀR_X = X'X − R_ZXᵀR_ZX with
    its inverse and log-determinant, ``beta`` the conditional β̂(θ), ``u`` the spherical
    conditional modes, ``r2`` the penalized residual sum of squares ‖y − Xβ − ZΛu‖² + ‖u‖².
    """

    theta: np.ndarray
    logdetA: float
    S: np.ndarray
    Sinv: np.ndarray
    logdetS: float
    beta: np.ndarray
    u: np.ndarray
    r2: float
