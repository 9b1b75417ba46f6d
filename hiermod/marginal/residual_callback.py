"""The marginalized model with a residual structure as one numba C callback for nutpie: no
PyTensor compilation per fit (the pattern of :mod:`.callback`).

The coordinates — order, shapes, transforms, priors, roles — come from the built PyMC model
(:mod:`hiermod.compiled.layout`), their priors, the fixed effects, sds, correlations and σ and
the chain rule back to them from :mod:`hiermod.compiled.coords`; the correlation φ and the
coefficients δ of the sd model are read here by their roles. The likelihood and its gradients
in θ, L, σ, φ and δ come from :func:`hiermod.longitudinal.kernel.serial_terms`, O(n) per
evaluation, over the sorted rows of :class:`~hiermod.longitudinal.layout.SerialData` (no
sufficient statistics: the residual correlation couples the rows of a unit). For AR(1)
φ = 2v − 1 with v the sampled Beta variable.
"""

from __future__ import annotations

import numba
import numpy as np

from ..compiled import coords
from ..compiled import nutpie as glue
from ..compiled.buffer import pack, part, scalar
from ..compiled.layout import ROLE_CODES
from ..longitudinal.kernel import AR1, serial_terms
from ..longitudinal.layout import SerialData
from ..model.parts import PHI, SIGMA_COEF

_PHI, _COEF = ROLE_CODES[PHI], ROLE_CODES[SIGMA_COEF]
(S_NDIM, S_P, S_Q, S_R, S_N, S_NB, S_NU, S_KIND, S_NBLK, S_BW) = range(10)
(A_PRIOR, A_ROLE, A_BLOCK, A_BS, A_BU, A_US, A_GAP, A_Y, A_W, A_Z, A_V,
 A_OFFSET) = range(12)


class CompiledSerialMarginal(glue.CompiledCallback):
    """The compiled callback of a marginal model with a residual structure.

    Parameters
    ----------
    built : BuiltModel
        The PyMC version of the same model
        (:func:`~hiermod.marginal.residual_model.assemble_residual_marginal_model`).
    stats : SerialData
    """

    def __init__(self, built, stats: SerialData) -> None:
        super().__init__(built, (stats.factor,) if stats.factor is not None else ())
        self.stats = stats
        lay, sd = self.layout, stats
        self.buffer = pack(
            [lay.n_dim, sd.p, sd.q, sd.r, sd.n, sd.n_blocks, len(sd.unit_starts) - 1, sd.kind,
             len(lay.blocks), lay.blocks.shape[1]],
            [lay.prior_table, lay.role_table, lay.blocks, sd.block_starts, sd.block_units,
             sd.unit_starts, sd.gap, sd.y, sd.W, sd.Z, sd.V, sd.offset])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def logp_and_grad(buf, x, out):
    """Log-density at unconstrained x; the gradient is written into ``out``."""
    n_dim, p, q = int(scalar(buf, S_NDIM)), int(scalar(buf, S_P)), int(scalar(buf, S_Q))
    r, n, kind = int(scalar(buf, S_R)), int(scalar(buf, S_N)), int(scalar(buf, S_KIND))
    nblk, bw = int(scalar(buf, S_NBLK)), int(scalar(buf, S_BW))
    blocks = part(buf, A_BLOCK).reshape((nblk, bw))
    role = part(buf, A_ROLE).reshape((n_dim, 3))
    v, dv = np.empty(n_dim), np.empty(n_dim)
    lp = coords.priors(part(buf, A_PRIOR).reshape((n_dim, 5)), x, v, dv, out)
    c, sd, LR, L, sig = coords.parameters(role, blocks, v, p, np.array([q]))
    phi, dphi, delta = 0.0, 1.0, np.zeros(r)
    for i in range(n_dim):
        rl = int(role[i, 0])
        if rl == _PHI:
            phi, dphi = (2.0 * v[i] - 1.0, 2.0) if kind == AR1 else (v[i], 1.0)
        elif rl == _COEF:
            delta[int(role[i, 2])] = v[i]
    ll, g_theta, g_L, g_sigma, g_phi, g_delta = serial_terms(
        kind, part(buf, A_BS).astype(np.int64), part(buf, A_BU).astype(np.int64),
        part(buf, A_US).astype(np.int64), part(buf, A_GAP), part(buf, A_Y),
        part(buf, A_W).reshape((n, p)), part(buf, A_Z).reshape((n, q)),
        part(buf, A_V).reshape((n, r)), c - part(buf, A_OFFSET), L[0, :q, :q], sig, phi, delta,
        True)
    coords.pull_back(role, blocks, v, dv, sd, LR, g_theta, g_L.reshape((1, q, q)), g_sigma, out)
    for i in range(n_dim):
        rl = int(role[i, 0])
        if rl == _PHI:
            out[i] += g_phi * dphi * dv[i]
        elif rl == _COEF:
            out[i] += g_delta[int(role[i, 2])] * dv[i]
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


CompiledSerialMarginal.kernel = staticmethod(logp_and_grad)
CompiledSerialMarginal.cfunc = _logp_cfunc
