"""The marginal gaussian log-likelihood written in plain PyTensor operations: the face that
runs on every back end, JAX / numpyro included (the same algebra as
:mod:`hiermod.marginal.kernel`, whose Notes give the maths).

For q ≤ :data:`UNROLL_MAX` the q × q Cholesky factorisations and triangular solves are written
out entry by entry, each entry a length-J vector (a few fused elementwise loops); larger q uses
PyTensor's batched ``cholesky`` and ``solve_triangular``.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from ..model.entries import backward_entries, chol_entries, forward_entries
from .suffstats import GroupStats

#: largest number of varying terms whose q × q algebra is unrolled entry by entry
UNROLL_MAX = 6

_LOG_2PI = float(np.log(2 * np.pi))


# --- the log-density ------------------------------------------------------------------------


def marginal_loglik(stats: GroupStats, theta, L, sigma):
    """log p(y | β, Σ = L Lᵀ, σ) with the group effects integrated out (PyTensor).

    Parameters
    ----------
    stats : GroupStats
    theta : PyTensor vector (p,) or None
        The sampled fixed-effect coordinates less the outcome's shift (``c - stats.offset``);
        None when the model has no fixed effects.
    L : PyTensor matrix (q, q)
        Any square root of Σ (L Lᵀ = Σ), e.g. the model's block-diagonal Cholesky factor.
    sigma : PyTensor scalar
        Residual sd.

    Returns
    -------
    PyTensor scalar
        The log-likelihood summed over all groups (see the module's Notes).
    """
    q = stats.q
    s2 = sigma * sigma
    L = pt.as_tensor_variable(L)
    ZtZ = pt.as_tensor_variable(stats.ZtZ)
    if theta is None or stats.p == 0:
        d = pt.as_tensor_variable(stats.Zty)
        rss = pt.as_tensor_variable(stats.yty)
    else:
        theta = pt.as_tensor_variable(theta)
        d = stats.Zty - pt.tensordot(pt.as_tensor_variable(stats.ZtW), theta, axes=[[2], [0]])
        rss = stats.yty - 2.0 * pt.dot(stats.Wty, theta) + pt.dot(theta, pt.dot(stats.WtW, theta))
    SL = pt.tensordot(ZtZ, L, axes=[[2], [0]])  # (J, q, q): Z'Z L
    M = pt.tensordot(SL, L, axes=[[1], [0]])  # (J, q, q): M[j, b, a] = (Lᵀ Z'Z L)[a, b]
    c = pt.dot(d, L)  # (J, q): Lᵀ Z'r per group
    if q <= UNROLL_MAX:
        A = [[M[:, i, j] / s2 + (1.0 if i == j else 0.0) for j in range(q)] for i in range(q)]
        C = chol_entries(A, pt.sqrt)
        g = forward_entries(C, [c[:, i] for i in range(q)])
        logdet = 2.0 * sum(pt.sum(pt.log(C[i][i])) for i in range(q))
        reduction = sum(pt.sum(gi * gi) for gi in g)
    else:
        A = M / s2 + pt.eye(q)
        C = pt.linalg.cholesky(A)
        g = pt.linalg.solve_triangular(C, c[..., None], lower=True)[..., 0]
        logdet = 2.0 * pt.sum(pt.log(pt.diagonal(C, axis1=-2, axis2=-1)))
        reduction = pt.sum(g * g)
    n = stats.n
    return -0.5 * (n * _LOG_2PI + n * pt.log(s2) + logdet + (rss - reduction / s2) / s2)
