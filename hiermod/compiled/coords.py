"""The coordinates' side of every compiled callback, in numba: the priors with their
transforms and Jacobians, the model's parameters read off the coordinates by their roles
(fixed-effect coordinates c, per factor the sds and the correlation Cholesky factors, σ), and
the chain rule that takes the likelihood's gradient in (c, L_g, σ) back to the coordinates.

Each callback (:mod:`hiermod.marginal.callback`, :mod:`hiermod.marginal.crossed_callback`,
:mod:`hiermod.glmm.kernel`) adds only its likelihood between :func:`parameters` and
:func:`pull_back`. ``qs`` holds each factor's number of varying terms.
"""

from __future__ import annotations

import numba
import numpy as np

from ..model.parts import FIXED, SD, SIGMA
from .layout import ROLE_CODES
from .lkj import block_backward, block_forward
from .priors import unconstrained_logp

_FIXED, _SD, _SIGMA = ROLE_CODES[FIXED], ROLE_CODES[SD], ROLE_CODES[SIGMA]
_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def priors(prior, x, v, dv, out):
    """Σ of the coordinates' prior log-densities (Jacobians included); the constrained values
    into v, dv/dx into dv, and the priors' gradient into ``out`` (which it initialises)."""
    lp = 0.0
    for i in range(len(x)):
        vi, dvi, lpi, gi = unconstrained_logp(int(prior[i, 0]), int(prior[i, 1]), prior[i, 2],
                                              prior[i, 3], prior[i, 4], x[i])
        v[i], dv[i] = vi, dvi
        lp += lpi
        out[i] = gi
    return lp


@numba.njit(**_JIT)
def parameters(role, blocks, v, p, qs):
    """(c (p,), sd (n_factors, q_max), L_R (n_factors, q_max, q_max), L = sd ⊙ L_R, σ) from the
    constrained coordinates ``v`` and their roles; σ is 1 where the model has none."""
    nf = len(qs)
    qmax = 1
    for f in range(nf):
        qmax = max(qmax, qs[f])
    c = np.zeros(p)
    sd = np.zeros((nf, qmax))
    LR = np.zeros((nf, qmax, qmax))
    sig = 1.0
    for f in range(nf):
        for a in range(qs[f]):
            LR[f, a, a] = 1.0
    for i in range(len(v)):
        r, f, k = int(role[i, 0]), int(role[i, 1]), int(role[i, 2])
        if r == _FIXED:
            c[k] += v[i]
        elif r == _SD:
            sd[f, k] = v[i]
        elif r == _SIGMA:
            sig = v[i]
    for bk in range(blocks.shape[0]):
        block_forward(blocks[bk], v, LR[int(blocks[bk, 2])])
    L = np.zeros((nf, qmax, qmax))
    for f in range(nf):
        for a in range(qmax):
            for b in range(qmax):
                L[f, a, b] = sd[f, a] * LR[f, a, b]
    return c, sd, LR, L, sig


@numba.njit(**_JIT)
def pull_back(role, blocks, v, dv, sd, LR, g_c, g_L, g_sigma, out):
    """Add the likelihood's gradient in c, L_g (n_factors, q_max, q_max) and σ to ``out``, by
    the chain rule through the coordinates' transforms, the sds and the C-vine map."""
    qmax = LR.shape[1]
    for i in range(len(v)):
        r, f, k = int(role[i, 0]), int(role[i, 1]), int(role[i, 2])
        if r == _FIXED:
            out[i] += g_c[k] * dv[i]
        elif r == _SD:
            g = 0.0
            for b in range(qmax):
                g += g_L[f, k, b] * LR[f, k, b]
            out[i] += g * dv[i]
        elif r == _SIGMA:
            out[i] += g_sigma * dv[i]
    gLR = np.empty((qmax, qmax))
    for bk in range(blocks.shape[0]):
        f = int(blocks[bk, 2])
        for a in range(qmax):
            for b in range(qmax):
                gLR[a, b] = sd[f, a] * g_L[f, a, b]
        block_backward(blocks[bk], v, dv, LR[f], gLR, out)
