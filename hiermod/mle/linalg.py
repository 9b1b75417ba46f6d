"""Small dense linear algebra shared by the REML and Laplace engines."""

from __future__ import annotations

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


def large_system(design, threshold: int = 200) -> bool:
    """Several grouping factors with at least ``threshold`` effects in all: the Schur algebra
    then multiplies matrices of hundreds of rows (and threaded BLAS would hurt:
    :func:`hiermod.compiled.blas.blas_threads`)."""
    return len(design.factors) > 1 and sum(f.n_levels * f.q for f in design.factors) >= threshold
