"""Generalized linear models by iteratively reweighted least squares (IRLS), on the families'
own score and weights: the complete- and no-pooling fits of the pooling report, the GLMM's
starting values and lme4's first-stage (nAGQ = 0) fit in the REML engine.

One IRLS step solves the (penalized) weighted least-squares problem

    (Mᵀ W M + P) b = Mᵀ W z,     z = η + s / w,

with s = ∂ℓ/∂η and w the weights of :meth:`hiermod.families.Family.eta_stats` at η = M b; for
canonical links this is Newton's method on ℓ(b) − ½ bᵀ P b.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .families import Bound, get_family

#: |estimate| or se beyond which a GLM coefficient is taken as not estimable (separation)
NOT_ESTIMABLE_SE = 50.0


@dataclass(frozen=True)
class IrlsResult:
    coef: np.ndarray
    eta: np.ndarray
    n_iter: int
    converged: bool


def irls(M: np.ndarray, bound: Bound, penalty: np.ndarray | None = None,
         max_iter: int = 100, tol: float = 1e-10, clip: float | None = None,
         offset: np.ndarray | float = 0.0) -> IrlsResult:
    """Maximise ℓ(M b + offset) − ½ bᵀ P b by IRLS from the family's start
    (:meth:`Bound.start_eta`).

    Stops when max|Δη| < tol·(1 + max|η|). ``clip`` bounds |b| (a separated GLM then stops at
    the bound instead of diverging). ``eta`` of the result includes the offset.
    """
    eta = bound.start_eta()
    P = np.zeros((M.shape[1], M.shape[1])) if penalty is None else penalty
    b = np.zeros(M.shape[1])
    for it in range(1, max_iter + 1):
        st = bound.stats(eta)
        w = np.maximum(st.weight, 1e-12)
        z = eta - offset + st.score / w
        b = np.linalg.solve(M.T @ (M * w[:, None]) + P, M.T @ (w * z))
        if clip is not None:
            b = np.clip(b, -clip, clip)
        new = M @ b + offset
        done = np.max(np.abs(new - eta), initial=0.0) < tol * (1.0 + np.max(np.abs(new),
                                                                              initial=0.0))
        eta = new
        if done:
            return IrlsResult(b, eta, it, True)
    return IrlsResult(b, eta, max_iter, False)


@dataclass(frozen=True)
class GLMResult:
    coef: np.ndarray  # NaN where not estimable
    se: np.ndarray
    dispersion: float  # s² (gaussian) or 1


def fit_glm(W: np.ndarray, y: np.ndarray, family: str, trials=None) -> GLMResult:
    """Maximum-likelihood fit of y on the columns of W (OLS for gaussian).

    Columns that are linearly dependent on earlier ones get NaN; for logit / log models,
    coefficients whose Wald se exceeds :data:`NOT_ESTIMABLE_SE` (complete separation, a group
    with all-zero outcomes) are NaN too.
    """
    n, p = W.shape
    keep = independent_columns(W)
    Wk = W[:, keep]
    coef, se = np.full(p, np.nan), np.full(p, np.nan)
    fam = get_family(family)
    if fam.has_sigma:
        b, *_ = np.linalg.lstsq(Wk, y, rcond=None)
        resid = y - Wk @ b
        s2 = float(resid @ resid / max(n - Wk.shape[1], 1))
        coef[keep], se[keep] = b, np.sqrt(np.diag(s2 * np.linalg.pinv(Wk.T @ Wk)))
        return GLMResult(coef, se, s2)
    bound = Bound(fam, np.asarray(y, float), trials)
    res = irls(Wk, bound, penalty=1e-8 * np.eye(Wk.shape[1]), clip=40.0)
    w = np.maximum(bound.stats(res.eta).weight, 1e-12)
    s = np.sqrt(np.maximum(np.diag(np.linalg.pinv(Wk.T @ (Wk * w[:, None]))), 0))
    bad = (s > NOT_ESTIMABLE_SE) | ~np.isfinite(s)
    coef[keep], se[keep] = np.where(bad, np.nan, res.coef), np.where(bad, np.nan, s)
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
