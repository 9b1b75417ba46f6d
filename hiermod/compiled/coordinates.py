"""The steps a compiled callback takes around its likelihood: the priors of every coordinate,
the Cholesky factor L = diag(sd) L_R of the group effects' covariance from the sampled sds and
partial correlations, and the gradient back from ∂ℓ/∂L to those coordinates.

Used by :mod:`hiermod.marginal.residual_callback` (and written so that any callback over a
:class:`~hiermod.compiled.layout.Layout` can use them).
"""

from __future__ import annotations

import numba
import numpy as np

from .lkj import block_backward, block_forward
from .priors import unconstrained_logp

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def prior_terms(prior, x, v, dv, out):
    """Σ log p (Jacobians included) over the coordinates x; the constrained values into v,
    dv/dx into dv, each prior's gradient into out (overwritten)."""
    lp = 0.0
    for i in range(len(x)):
        vi, dvi, lpi, gi = unconstrained_logp(int(prior[i, 0]), int(prior[i, 1]), prior[i, 2],
                                              prior[i, 3], prior[i, 4], x[i])
        v[i], dv[i] = vi, dvi
        lp += lpi
        out[i] = gi
    return lp


@numba.njit(**_JIT)
def factor_root(sd, blocks, v):
    """(L_R, L = diag(sd) L_R): the correlation blocks' Cholesky factors from the partial
    correlations in v (C-vine, :mod:`.lkj`)."""
    q = len(sd)
    LR = np.eye(q)
    for bk in range(len(blocks)):
        block_forward(blocks[bk], v, LR)
    L = np.empty((q, q))
    for a in range(q):
        for b in range(q):
            L[a, b] = sd[a] * LR[a, b]
    return LR, L


@numba.njit(**_JIT)
def factor_root_backward(sd, LR, g_L, blocks, role, sd_code, v, dv, out):
    """Add ∂ℓ/∂L's share to the gradients of the sds (Σ_b ∂ℓ/∂L_kb (L_R)_kb, rows of
    ``role`` with code ``sd_code``) and of the partial correlations (reverse C-vine)."""
    q = len(sd)
    for i in range(len(out)):
        if int(role[i, 0]) == sd_code:
            k = int(role[i, 2])
            g = 0.0
            for b in range(q):
                g += g_L[k, b] * LR[k, b]
            out[i] += g * dv[i]
    if len(blocks):
        gLR = np.empty((q, q))
        for a in range(q):
            for b in range(q):
                gLR[a, b] = sd[a] * g_L[a, b]
        for bk in range(len(blocks)):
            block_backward(blocks[bk], v, dv, LR, gLR, out)
