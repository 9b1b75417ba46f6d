"""Small dense linear algebra shared by the REML and Laplace engines."""

from __future__ import annotations

import contextlib

import numpy as np


def inverse_logdet(A: np.ndarray) -> tuple[np.ndarray, float]:
    """Inverses of a stack of symmetric positive-definite blocks (k, m, m) and Σ log|A_k|.

    The Cholesky factorization checks positive definiteness (LinAlgError otherwise); 1 × 1
    blocks take an elementwise shortcut.
    """
    if A.shape[1] == 1:
        a = A[:, 0, 0]
        if np.any(a <= 0):
            raise np.linalg.LinAlgError("matrix is not positive definite")
        return (1.0 / a)[:, None, None], float(np.log(a).sum())
    chol = np.linalg.cholesky(A)
    logdet = 2.0 * float(np.log(np.diagonal(chol, axis1=1, axis2=2)).sum())
    return np.linalg.inv(A), logdet


def blas_threads(active: bool):
    """A context that runs BLAS single-threaded (a no-op when not ``active``).

    The REML engine's matrices (tens to hundreds of rows) are too small for threaded BLAS to
    pay off, and on a machine whose cores are busy OpenBLAS's spinning threads make them 10 to
    1000 times slower. Entering the context costs ~0.3 ms (more under load), so the fits use
    it only when they have large matrices (:func:`large_system`).
    """
    if not active:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def large_system(design, threshold: int = 200) -> bool:
    """Several grouping factors with at least ``threshold`` effects in all: the Schur algebra
    then multiplies matrices of hundreds of rows (and threaded BLAS would hurt)."""
    return len(design.factors) > 1 and sum(f.n_levels * f.q for f in design.factors) >= threshold
