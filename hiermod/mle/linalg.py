"""Small dense linear algebra shared by the REML and Laplace engines."""

from __future__ import annotations

import contextlib

import numpy as np
from scipy.linalg import lapack


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


def spd_inverse_logdet(A: np.ndarray) -> tuple[np.ndarray, float]:
    """Inverse and log-determinant of one symmetric positive-definite matrix (LAPACK potrf +
    potri: one factorization, no second pass over a general inverse)."""
    c, info = lapack.dpotrf(A, lower=1, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError("matrix is not positive definite")
    logdet = 2.0 * float(np.log(np.diag(c)).sum())
    inv, info = lapack.dpotri(c, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("matrix is not positive definite")
    inv = np.tril(inv)
    return inv + np.tril(inv, -1).T, logdet


def blas_threads(several_factors: bool):
    """A context that runs BLAS single-threaded for the Schur-complement algebra of several
    grouping factors (a no-op otherwise).

    Its matrices (hundreds of rows) are too small for threaded BLAS to pay off, and on a
    machine whose cores are busy OpenBLAS's spinning threads make them ~10× slower.
    """
    if not several_factors:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
