"""The marginalized gaussian model as one numba C callback for nutpie: no PyTensor compile.

:func:`hiermod.marginal.model.build_marginal_model` writes the model in PyMC; nutpie would then
have PyTensor rewrite its graph and numba compile it afresh for every fit — 3 to 10 seconds,
while sampling takes 1 to 3. Here the same log-density (the same parameters, priors,
transforms and likelihood) is one fixed function of a flat data buffer, compiled once and
cached on disk by numba; a fit only packs the buffer.

The coordinates — their order, shapes, transforms, priors and roles — come from the built PyMC
model (:func:`hiermod.compiled.layout.derive_layout`); the likelihood and its gradients in θ,
L and σ from :func:`hiermod.marginal.kernel.marginal_terms`. The chain rule gives
∂/∂c = ∂ℓ/∂θ (θ = c − offset), ∂/∂sd_k = Σ_b ∂ℓ/∂L_kb · (L_R)_kb, and the partial
correlations' derivatives through the reverse-mode C-vine map (:mod:`hiermod.compiled.lkj`).
"""

from __future__ import annotations

import numba
import numpy as np

from ..compiled import nutpie as glue
from ..compiled.layout import ROLE_CODES, Layout, derive_layout
from ..compiled.lkj import block_backward, block_forward
from ..compiled.priors import unconstrained_logp
from ..model.parts import FIXED, PCORR, SD, SIGMA
from .kernel import marginal_terms

_FIXED, _SD, _PCORR, _SIGMA = (ROLE_CODES[r] for r in (FIXED, SD, PCORR, SIGMA))
# header of the data buffer: slot -> meaning
(_LEN, _NDIM, _P, _Q, _J, _YTY, _N, _NB, _BW, _O_ZTZ, _O_ZTW, _O_ZTY, _O_WTW, _O_WTY, _O_OFF,
 _O_PRIOR, _O_ROLE, _O_BLOCK, _HEADER) = range(19)


class CompiledMarginal:
    """The layout, the data buffer and the nutpie model of one marginalized design.

    Parameters
    ----------
    built : BuiltModel
        The PyMC version of the same model (:func:`assemble_marginal_model`): the callback's
        coordinates, and the posterior's variables, dims and coordinates, are taken from it.
    stats : GroupStats
    """

    def __init__(self, built, stats) -> None:
        self.built, self.stats = built, stats
        self.layout: Layout = derive_layout(built, (stats.factor,))
        self.buffer = self._pack()

    @property
    def n_dim(self) -> int:
        return self.layout.n_dim

    def _pack(self) -> np.ndarray:
        """Everything the C callback needs in one float64 buffer (header of offsets first)."""
        st, lay = self.stats, self.layout
        parts = [st.ZtZ, st.ZtW, st.Zty, st.WtW, st.Wty, st.offset, lay.prior_table,
                 lay.role_table, lay.blocks]
        header = np.zeros(_HEADER)
        offset = _HEADER
        for slot, part in zip(range(_O_ZTZ, _HEADER), parts, strict=True):
            header[slot] = offset
            offset += np.asarray(part).size
        J, q, p = st.ZtW.shape
        header[[_LEN, _NDIM, _P, _Q, _J, _YTY, _N, _NB, _BW]] = (
            offset, lay.n_dim, p, q, J, st.yty, st.n, len(lay.blocks), lay.blocks.shape[1])
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
def logp_and_grad(buf, x, out):
    """Log-density at unconstrained x; the gradient is written into ``out``."""
    n_dim, p, q, J = int(buf[_NDIM]), int(buf[_P]), int(buf[_Q]), int(buf[_J])
    o = int(buf[_O_ZTZ])
    ZtZ = buf[o: o + J * q * q].reshape((J, q, q))
    o = int(buf[_O_ZTW])
    ZtW = buf[o: o + J * q * p].reshape((J, q, p))
    o = int(buf[_O_ZTY])
    Zty = buf[o: o + J * q].reshape((J, q))
    o = int(buf[_O_WTW])
    WtW = buf[o: o + p * p].reshape((p, p))
    o = int(buf[_O_WTY])
    Wty = buf[o: o + p]
    o = int(buf[_O_OFF])
    offset = buf[o: o + p]
    o = int(buf[_O_PRIOR])
    prior = buf[o: o + 5 * n_dim].reshape((n_dim, 5))
    o = int(buf[_O_ROLE])
    role = buf[o: o + 3 * n_dim].reshape((n_dim, 3))
    nb, bw = int(buf[_NB]), int(buf[_BW])
    o = int(buf[_O_BLOCK])
    blocks = buf[o: o + nb * bw].reshape((nb, bw))

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
    sd = np.zeros(q)
    sig = 1.0
    for i in range(n_dim):
        r, k = int(role[i, 0]), int(role[i, 2])
        if r == _FIXED:
            theta[k] += v[i]
        elif r == _SD:
            sd[k] = v[i]
        elif r == _SIGMA:
            sig = v[i]
    LR = np.eye(q)
    for bk in range(nb):
        block_forward(blocks[bk], v, LR)
    L = np.empty((q, q))
    for a in range(q):
        for b in range(q):
            L[a, b] = sd[a] * LR[a, b]
    ll, g_theta, g_L, g_sigma = marginal_terms(ZtZ, ZtW, Zty, WtW, Wty, buf[_YTY], buf[_N],
                                               theta, L, sig)
    for i in range(n_dim):
        r, k = int(role[i, 0]), int(role[i, 2])
        if r == _FIXED:
            g = g_theta[k]
        elif r == _SD:
            g = 0.0
            for b in range(q):
                g += g_L[k, b] * LR[k, b]
        elif r == _SIGMA:
            g = g_sigma
        else:
            continue  # partial correlations: below, block by block
        out[i] += g * dv[i]
    if nb:
        gLR = np.empty((q, q))
        for a in range(q):
            for b in range(q):
                gLR[a, b] = sd[a] * g_L[a, b]
        for bk in range(nb):
            block_backward(blocks[bk], v, dv, LR, gLR, out)
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

