"""Small dense linear algebra on q × q matrices held entry by entry, each entry a batch of
values (numpy arrays or PyTensor vectors over groups): one Cholesky factorisation and two
triangular solves per group become a few fused elementwise loops, on every back end."""

from __future__ import annotations


def chol_entries(A, sqrt):
    """Cholesky factor of a q × q SPD matrix given as nested lists of entries.

    ``A[i][j]`` (only i ≥ j is read) may be a scalar, a numpy array or a PyTensor tensor; all
    entries share a batch shape and every operation is elementwise over it. Returns C (lower,
    ``C[i][j]`` for j ≤ i) with A = C Cᵀ.
    """
    q = len(A)
    C = [[None] * q for _ in range(q)]
    for j in range(q):
        s = A[j][j]
        for k in range(j):
            s = s - C[j][k] * C[j][k]
        C[j][j] = sqrt(s)
        for i in range(j + 1, q):
            s = A[i][j]
            for k in range(j):
                s = s - C[i][k] * C[j][k]
            C[i][j] = s / C[j][j]
    return C


def forward_entries(C, b):
    """Solve C x = b (C lower triangular, entry lists as in :func:`chol_entries`)."""
    x = []
    for i in range(len(b)):
        s = b[i]
        for k in range(i):
            s = s - C[i][k] * x[k]
        x.append(s / C[i][i])
    return x


def backward_entries(C, b):
    """Solve Cᵀ x = b (C lower triangular)."""
    q = len(b)
    x = [None] * q
    for i in reversed(range(q)):
        s = b[i]
        for k in range(i + 1, q):
            s = s - C[k][i] * x[k]
        x[i] = s / C[i][i]
    return x
