"""The marginalized model with a residual structure as one numba C callback for nutpie: no
PyTensor compilation per fit (the pattern of :mod:`.callback`).

The coordinates — order, shapes, transforms, priors, roles — come from the built PyMC model
(:func:`hiermod.compiled.layout.derive_layout`); the likelihood and its gradients in θ, L, σ,
φ and δ from :func:`hiermod.longitudinal.kernel.serial_terms`, O(n) per evaluation. The data
are the sorted rows of :class:`~hiermod.longitudinal.layout.SerialData` (no sufficient
statistics: the residual correlation couples the rows of a unit). Chain rule: ∂/∂c = ∂ℓ/∂θ,
∂/∂sd_k = Σ_b ∂ℓ/∂L_kb (L_R)_kb, the partial correlations through the C-vine map, and for
AR(1) φ = 2v − 1 with v the sampled Beta variable.
"""

from __future__ import annotations

import numba
import numpy as np

from ..compiled import nutpie as glue
from ..compiled.coordinates import factor_root, factor_root_backward, prior_terms
from ..compiled.layout import ROLE_CODES, Layout, derive_layout
from ..longitudinal.kernel import AR1, serial_terms
from ..longitudinal.layout import SerialData
from ..model.parts import FIXED, PHI, SD, SIGMA, SIGMA_COEF

_FIXED, _SD, _SIGMA, _PHI, _COEF = (ROLE_CODES[r] for r in (FIXED, SD, SIGMA, PHI, SIGMA_COEF))
# header of the data buffer: slot -> meaning
(_LEN, _NDIM, _P, _Q, _R, _N, _NB, _NU, _KIND, _NBLK, _BW, _O_BS, _O_BU, _O_US, _O_GAP, _O_Y,
 _O_W, _O_Z, _O_V, _O_OFF, _O_PRIOR, _O_ROLE, _O_BLOCK, _HEADER) = range(24)


class CompiledSerialMarginal:
    """The layout, the data buffer and the nutpie model of one design with a residual
    structure (group effects integrated out).

    Parameters
    ----------
    built : BuiltModel
        The PyMC version of the same model
        (:func:`~hiermod.marginal.residual_model.assemble_residual_marginal_model`).
    stats : SerialData
    """

    def __init__(self, built, stats: SerialData) -> None:
        self.built, self.stats = built, stats
        factors = (stats.factor,) if stats.factor is not None else ()
        self.layout: Layout = derive_layout(built, factors)
        self.buffer = self._pack()

    @property
    def n_dim(self) -> int:
        return self.layout.n_dim

    def _pack(self) -> np.ndarray:
        sd, lay = self.stats, self.layout
        parts = [sd.block_starts, sd.block_units, sd.unit_starts, sd.gap, sd.y, sd.W, sd.Z, sd.V,
                 sd.offset, lay.prior_table, lay.role_table, lay.blocks]
        header = np.zeros(_HEADER)
        offset = _HEADER
        for slot, part in zip(range(_O_BS, _HEADER), parts, strict=True):
            header[slot] = offset
            offset += np.asarray(part).size
        header[[_LEN, _NDIM, _P, _Q, _R, _N, _NB, _NU, _KIND, _NBLK, _BW]] = (
            offset, lay.n_dim, sd.p, sd.q, sd.r, sd.n, sd.n_blocks, len(sd.unit_starts) - 1,
            sd.kind, len(lay.blocks), lay.blocks.shape[1])
        buffer = np.concatenate([header] + [np.ravel(np.asarray(x, float)) for x in parts])
        buffer.flags.writeable = False
        return buffer

    def nutpie_model(self):
        return glue.nutpie_model(self.layout, _logp_cfunc, self.buffer)

    def logp_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The log-density (Jacobians included) and its gradient at unconstrained x."""
        out = np.zeros(self.n_dim)
        return logp_and_grad(self.buffer, np.asarray(x, float), out), out

    def posterior(self, stored):
        """The posterior as the PyMC model stores it (:func:`hiermod.compiled.nutpie.posterior`)."""
        return glue.posterior(self.built.model, self.layout, stored)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _section(buf, slot, size):
    o = int(buf[slot])
    return buf[o: o + size]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def logp_and_grad(buf, x, out):
    """Log-density at unconstrained x; the gradient is written into ``out``."""
    n_dim, p, q, r, n = int(buf[_NDIM]), int(buf[_P]), int(buf[_Q]), int(buf[_R]), int(buf[_N])
    nb, nu, kind = int(buf[_NB]), int(buf[_NU]), int(buf[_KIND])
    block_starts = _section(buf, _O_BS, nb + 1).astype(np.int64)
    block_units = _section(buf, _O_BU, nb + 1).astype(np.int64)
    unit_starts = _section(buf, _O_US, nu + 1).astype(np.int64)
    gap, y = _section(buf, _O_GAP, n), _section(buf, _O_Y, n)
    W = _section(buf, _O_W, n * p).reshape((n, p))
    Z = _section(buf, _O_Z, n * q).reshape((n, q))
    V = _section(buf, _O_V, n * r).reshape((n, r))
    offset = _section(buf, _O_OFF, p)
    prior = _section(buf, _O_PRIOR, 5 * n_dim).reshape((n_dim, 5))
    role = _section(buf, _O_ROLE, 3 * n_dim).reshape((n_dim, 3))
    nblk, bw = int(buf[_NBLK]), int(buf[_BW])
    blocks = _section(buf, _O_BLOCK, nblk * bw).reshape((nblk, bw))

    v, dv = np.empty(n_dim), np.empty(n_dim)
    lp = prior_terms(prior, x, v, dv, out)
    theta = -offset.copy()
    sd, delta = np.zeros(q), np.zeros(r)
    sig, phi, dphi = 1.0, 0.0, 1.0
    for i in range(n_dim):
        rl, k = int(role[i, 0]), int(role[i, 2])
        if rl == _FIXED:
            theta[k] += v[i]
        elif rl == _SD:
            sd[k] = v[i]
        elif rl == _SIGMA:
            sig = v[i]
        elif rl == _PHI:
            phi = 2.0 * v[i] - 1.0 if kind == AR1 else v[i]
            dphi = 2.0 if kind == AR1 else 1.0
        elif rl == _COEF:
            delta[k] = v[i]
    LR, L = factor_root(sd, blocks, v)
    ll, g_theta, g_L, g_sigma, g_phi, g_delta = serial_terms(
        kind, block_starts, block_units, unit_starts, gap, y, W, Z, V, theta, L, sig, phi, delta,
        True)
    for i in range(n_dim):
        rl, k = int(role[i, 0]), int(role[i, 2])
        g = 0.0
        if rl == _FIXED:
            g = g_theta[k]
        elif rl == _SIGMA:
            g = g_sigma
        elif rl == _PHI:
            g = g_phi * dphi
        elif rl == _COEF:
            g = g_delta[k]
        out[i] += g * dv[i]
    factor_root_backward(sd, LR, g_L, blocks, role, _SD, v, dv, out)
    return lp + ll


@numba.cfunc(glue.LOGP_SIGNATURE, cache=True, error_model="numpy")
def _logp_cfunc(dim, x_, out_, logp_, user_data):
    """nutpie's C calling convention: 0 on success, 3 / 4 for a non-finite gradient / value."""
    buf = glue.read_buffer(user_data)
    n_dim = int(buf[_NDIM])
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
