"""Small dense linear algebra for the numba kernels: Cholesky factors and triangular solves of
q × q matrices, one group at a time."""

from __future__ import annotations

import numba
import numpy as np

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def cholesky(A, C):
    """C (lower) with A = C Cᵀ, written into C (only A's lower triangle is read); returns
    log|A|."""
    q = A.shape[0]
    logdet = 0.0
    for b in range(q):
        for a in range(b, q):
            v = A[a, b]
            for k in range(b):
                v -= C[a, k] * C[b, k]
            if a == b:
                C[b, b] = np.sqrt(v)
                logdet += 2.0 * np.log(C[b, b])
            else:
                C[a, b] = v / C[b, b]
        for a in range(b):
            C[a, b] = 0.0
    return logdet


@numba.njit(**_JIT)
def forward(C, b, x):
    """Solve C x = b (C lower triangular)."""
    q = C.shape[0]
    for i in range(q):
        v = b[i]
        for k in range(i):
            v -= C[i, k] * x[k]
        x[i] = v / C[i, i]


@numba.njit(**_JIT)
def backward(C, b, x):
    """Solve Cᵀ x = b (C lower triangular)."""
    q = C.shape[0]
    for i in range(q - 1, -1, -1):
        v = b[i]
        for k in range(i + 1, q):
            v -= C[k, i] * x[k]
        x[i] = v / C[i, i]


@numba.njit(**_JIT)
def cholesky_inverse(C, out, e, t, col):
    """out = (C Cᵀ)⁻¹ column by column (C lower, q × q); e, t, col: work vectors of length q.
    Returns the trace."""
    q = C.shape[0]
    tr = 0.0
    for b in range(q):
        e[:] = 0.0
        e[b] = 1.0
        forward(C, e, t)
        backward(C, t, col)
        for a in range(q):
            out[a, b] = col[a]
        tr += col[b]
    return tr


@numba.njit(**_JIT)
def cholesky_backward(C, Cbar, Abar, M2, M1):
    """Reverse mode of A = C Cᵀ: the gradient Ā (symmetric, written into Abar) of a function of
    C from its gradient C̄ (lower). Murray (2016): P = Φ(Cᵀ C̄), S = C⁻ᵀ P C⁻¹, Ā = ½(S + Sᵀ),
    with Φ the lower triangle and half the diagonal. M2 (≥ 3, q, q), M1 (≥ 2, q): work space."""
    q = C.shape[0]
    P, X, S = M2[0], M2[1], M2[2]
    P[:, :] = 0.0
    for a in range(q):
        for b in range(a + 1):
            v = 0.0
            for k in range(q):
                v += C[k, a] * Cbar[k, b]
            P[a, b] = 0.5 * v if a == b else v
    # S = C⁻ᵀ P C⁻¹: solve Cᵀ X = P (columns), then S = X C⁻¹ (rows: C ᵀ Sᵀ = Xᵀ)
    col, out = M1[0], M1[1]
    for b in range(q):
        for a in range(q):
            col[a] = P[a, b]
        backward(C, col, out)
        for a in range(q):
            X[a, b] = out[a]
    for a in range(q):
        for b in range(q):
            col[b] = X[a, b]
        backward(C, col, out)  # row a of S solves Cᵀ s = (row a of X)ᵀ... S = X C⁻¹
        for b in range(q):
            S[a, b] = out[b]
    for a in range(q):
        for b in range(q):
            Abar[a, b] = 0.5 * (S[a, b] + S[b, a])
