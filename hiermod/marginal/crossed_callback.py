"""The several-factor marginal model as one numba C callback for nutpie (the counterpart of
:mod:`hiermod.marginal.callback`): coordinates from the built PyMC model, the likelihood and its
gradient from :func:`hiermod.marginal.crossed_kernel.crossed_terms`, the coordinates' priors
and chain rule from :mod:`hiermod.compiled.coords`."""

from __future__ import annotations

import numba
import numpy as np

from ..compiled import coords
from ..compiled import nutpie as glue
from ..compiled.buffer import pack, part, scalar
from .crossed_kernel import crossed_terms, dense_crossing

(S_NDIM, S_P, S_NFAC, S_QMAX, S_NB, S_BW, S_YTY, S_N, S_J1, S_Q1, S_M2, S_DENSE) = range(12)
(A_PRIOR, A_ROLE, A_BLOCK, A_ORDER, A_Q, A_OFFSET, A_Z1Z1, A_Z1W, A_Z1Y, A_Z1Z2, A_Z2Z2, A_Z2W,
 A_Z2Y, A_WW, A_WY, A_REST) = range(16)


class CompiledCrossed(glue.CompiledCallback):
    """The compiled callback of a several-factor marginalized design."""

    def __init__(self, built, stats, design) -> None:
        super().__init__(built, tuple(fd.name for fd in design.factors))
        lay = self.layout
        qs = [fd.q for fd in design.factors]
        J1, q1, m2 = stats.Z1tZ2.shape
        self.buffer = pack(
            [lay.n_dim, stats.p, len(qs), max(qs), len(lay.blocks), lay.blocks.shape[1],
             stats.yty, stats.n, J1, q1, m2, float(dense_crossing(stats.Z1tZ2))],
            [lay.prior_table, lay.role_table, lay.blocks, np.array(stats.order, float),
             np.array(qs, float), stats.offset, stats.Z1tZ1, stats.Z1tW, stats.Z1ty,
             stats.Z1tZ2, stats.Z2tZ2, stats.Z2tW, stats.Z2ty, stats.WtW, stats.Wty,
             np.array(stats.rest, float)])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def logp_and_grad(buf, x, out):
    """Log-density at unconstrained x; the gradient is written into ``out``."""
    n_dim, p, nf = int(scalar(buf, S_NDIM)), int(scalar(buf, S_P)), int(scalar(buf, S_NFAC))
    qmax, nb, bw = int(scalar(buf, S_QMAX)), int(scalar(buf, S_NB)), int(scalar(buf, S_BW))
    J1, q1, m2 = int(scalar(buf, S_J1)), int(scalar(buf, S_Q1)), int(scalar(buf, S_M2))
    role = part(buf, A_ROLE).reshape((n_dim, 3))
    blocks = part(buf, A_BLOCK).reshape((nb, bw))
    order = part(buf, A_ORDER)
    qs = part(buf, A_Q).astype(np.int64)
    v, dv = np.empty(n_dim), np.empty(n_dim)
    lp = coords.priors(part(buf, A_PRIOR).reshape((n_dim, 5)), x, v, dv, out)
    c, sd, LR, L, sig = coords.parameters(role, blocks, v, p, qs)
    f1 = int(order[0])
    Lr = np.zeros((nf - 1, qmax, qmax))
    for k in range(nf - 1):
        Lr[k] = L[int(order[k + 1])]
    ll, g_theta, g_L1, g_Lr, g_sigma = crossed_terms(
        part(buf, A_Z1Z1).reshape((J1, q1, q1)), part(buf, A_Z1W).reshape((J1, q1, p)),
        part(buf, A_Z1Y).reshape((J1, q1)), part(buf, A_Z1Z2).reshape((J1, q1, m2)),
        part(buf, A_Z2Z2).reshape((m2, m2)), part(buf, A_Z2W).reshape((m2, p)),
        part(buf, A_Z2Y), part(buf, A_WW).reshape((p, p)), part(buf, A_WY),
        scalar(buf, S_YTY), scalar(buf, S_N), part(buf, A_REST).reshape((nf - 1, 3)),
        c - part(buf, A_OFFSET), np.ascontiguousarray(L[f1, :q1, :q1]), Lr, sig,
        scalar(buf, S_DENSE) != 0.0)
    gL = np.zeros((nf, qmax, qmax))
    gL[f1, :q1, :q1] = g_L1
    for k in range(nf - 1):
        gL[int(order[k + 1])] = g_Lr[k]
    coords.pull_back(role, blocks, v, dv, sd, LR, g_theta, gL, g_sigma, out)
    return lp + ll


@numba.cfunc(glue.LOGP_SIGNATURE, cache=True, error_model="numpy")
def _logp_cfunc(dim, x_, out_, logp_, user_data):
    """nutpie's C calling convention: 0 on success, 3 / 4 for a non-finite gradient / value."""
    buf = glue.read_buffer(user_data)
    n = glue.n_dim_of(buf)
    if dim != n:
        return -1
    out = numba.carray(out_, (n,))
    return glue.status(logp_and_grad(buf, numba.carray(x_, (n,)), out), out, logp_)


CompiledCrossed.kernel = staticmethod(logp_and_grad)
CompiledCrossed.cfunc = _logp_cfunc
