"""The several-factor marginal model as one numba C callback for nutpie (the counterpart of
:mod:`hiermod.marginal.callback`): coordinates from the built PyMC model, the likelihood and its
gradient from :func:`hiermod.marginal.crossed_kernel.crossed_terms`."""

from __future__ import annotations

import numba
import numpy as np

from ..compiled import nutpie as glue
from ..compiled.buffer import pack, part, scalar
from ..compiled.layout import ROLE_CODES, Layout, derive_layout
from ..compiled.lkj import block_backward, block_forward
from ..compiled.priors import unconstrained_logp
from ..model.parts import FIXED, SD, SIGMA
from .crossed_kernel import crossed_terms

_FIXED, _SD, _SIGMA = ROLE_CODES[FIXED], ROLE_CODES[SD], ROLE_CODES[SIGMA]
(S_NDIM, S_P, S_NFAC, S_QMAX, S_NB, S_BW, S_YTY, S_N, S_J1, S_Q1, S_M2) = range(11)
(A_PRIOR, A_ROLE, A_BLOCK, A_ORDER, A_Q, A_OFFSET, A_Z1Z1, A_Z1W, A_Z1Y, A_Z1Z2, A_Z2Z2, A_Z2W,
 A_Z2Y, A_WW, A_WY, A_REST) = range(16)


class CompiledCrossed:
    """Layout, buffer and nutpie model of a several-factor marginalized design."""

    def __init__(self, built, stats, design) -> None:
        self.built, self.stats = built, stats
        self.layout: Layout = derive_layout(built, tuple(fd.name for fd in design.factors))
        lay = self.layout
        qs = [fd.q for fd in design.factors]
        J1, q1, m2 = stats.Z1tZ2.shape
        self.buffer = pack(
            [lay.n_dim, stats.p, len(qs), max(qs), len(lay.blocks), lay.blocks.shape[1],
             stats.yty, stats.n, J1, q1, m2],
            [lay.prior_table, lay.role_table, lay.blocks, np.array(stats.order, float),
             np.array(qs, float), stats.offset, stats.Z1tZ1, stats.Z1tW, stats.Z1ty,
             stats.Z1tZ2, stats.Z2tZ2, stats.Z2tW, stats.Z2ty, stats.WtW, stats.Wty,
             np.array(stats.rest, float)])

    @property
    def n_dim(self) -> int:
        return self.layout.n_dim

    def nutpie_model(self):
        return glue.nutpie_model(self.layout, _logp_cfunc, self.buffer)

    def logp_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        out = np.zeros(self.n_dim)
        return logp_and_grad(self.buffer, np.asarray(x, float), out), out

    def posterior(self, stored):
        return glue.posterior(self.built.model, self.layout, stored)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def logp_and_grad(buf, x, out):
    """Log-density at unconstrained x; the gradient is written into ``out``."""
    n_dim, p, nf = int(scalar(buf, S_NDIM)), int(scalar(buf, S_P)), int(scalar(buf, S_NFAC))
    qmax, nb, bw = int(scalar(buf, S_QMAX)), int(scalar(buf, S_NB)), int(scalar(buf, S_BW))
    J1, q1, m2 = int(scalar(buf, S_J1)), int(scalar(buf, S_Q1)), int(scalar(buf, S_M2))
    prior = part(buf, A_PRIOR).reshape((n_dim, 5))
    role = part(buf, A_ROLE).reshape((n_dim, 3))
    blocks = part(buf, A_BLOCK).reshape((nb, bw))
    order = part(buf, A_ORDER)
    qs = part(buf, A_Q)
    offset = part(buf, A_OFFSET)
    rest = part(buf, A_REST).reshape((nf - 1, 3))
    v = np.empty(n_dim)
    dv = np.empty(n_dim)
    lp = 0.0
    for i in range(n_dim):
        vi, dvi, lpi, gi = unconstrained_logp(int(prior[i, 0]), int(prior[i, 1]), prior[i, 2],
                                              prior[i, 3], prior[i, 4], x[i])
        v[i], dv[i] = vi, dvi
        lp += lpi
        out[i] = gi
    theta = -offset.copy()
    sd = np.zeros((nf, qmax))
    sig = 1.0
    LR = np.zeros((nf, qmax, qmax))
    for f in range(nf):
        for a in range(int(qs[f])):
            LR[f, a, a] = 1.0
    for i in range(n_dim):
        r, f, k = int(role[i, 0]), int(role[i, 1]), int(role[i, 2])
        if r == _FIXED:
            theta[k] += v[i]
        elif r == _SD:
            sd[f, k] = v[i]
        elif r == _SIGMA:
            sig = v[i]
    for bk in range(nb):
        block_forward(blocks[bk], v, LR[int(blocks[bk, 2])])
    f1 = int(order[0])
    L1 = np.empty((q1, q1))
    for a in range(q1):
        for b in range(q1):
            L1[a, b] = sd[f1, a] * LR[f1, a, b]
    Lr = np.zeros((nf - 1, qmax, qmax))
    for k in range(nf - 1):
        f = int(order[k + 1])
        for a in range(qmax):
            for b in range(qmax):
                Lr[k, a, b] = sd[f, a] * LR[f, a, b]
    ll, g_theta, g_L1, g_Lr, g_sigma = crossed_terms(
        part(buf, A_Z1Z1).reshape((J1, q1, q1)), part(buf, A_Z1W).reshape((J1, q1, p)),
        part(buf, A_Z1Y).reshape((J1, q1)), part(buf, A_Z1Z2).reshape((J1, q1, m2)),
        part(buf, A_Z2Z2).reshape((m2, m2)), part(buf, A_Z2W).reshape((m2, p)),
        part(buf, A_Z2Y), part(buf, A_WW).reshape((p, p)), part(buf, A_WY),
        scalar(buf, S_YTY), scalar(buf, S_N), rest, theta, L1, Lr, sig)
    gL = np.zeros((nf, qmax, qmax))
    for a in range(q1):
        for b in range(q1):
            gL[f1, a, b] = g_L1[a, b]
    for k in range(nf - 1):
        f = int(order[k + 1])
        for a in range(qmax):
            for b in range(qmax):
                gL[f, a, b] = g_Lr[k, a, b]
    for i in range(n_dim):
        r, f, k = int(role[i, 0]), int(role[i, 1]), int(role[i, 2])
        if r == _FIXED:
            out[i] += g_theta[k] * dv[i]
        elif r == _SD:
            g = 0.0
            for b in range(qmax):
                g += gL[f, k, b] * LR[f, k, b]
            out[i] += g * dv[i]
        elif r == _SIGMA:
            out[i] += g_sigma * dv[i]
    for bk in range(nb):
        f = int(blocks[bk, 2])
        gLR = np.empty((qmax, qmax))
        for a in range(qmax):
            for b in range(qmax):
                gLR[a, b] = sd[f, a] * gL[f, a, b]
        block_backward(blocks[bk], v, dv, LR[f], gLR, out)
    return lp + ll


@numba.cfunc(glue.LOGP_SIGNATURE, cache=True, error_model="numpy")
def _logp_cfunc(dim, x_, out_, logp_, user_data):
    """nutpie's C calling convention: 0 on success, 3 / 4 for a non-finite gradient / value."""
    buf = glue.read_buffer(user_data)
    n_dim = int(buf[3 + S_NDIM])
    if dim != n_dim:
        return -1
    x = numba.carray(x_, (n_dim,))
    out = numba.carray(out_, (n_dim,))
    value = logp_and_grad(buf, x, out)
    logp = numba.carray(logp_, (1,))
    logp[0] = value
    if not np.all(np.isfinite(out)):
        return 3
    if not np.isfinite(value):
        return 4
    return 0
