"""The marginalized gaussian model (one grouping factor) as one numba C callback for nutpie:
no PyTensor compile.

:func:`hiermod.marginal.model.build_marginal_model` writes the model in PyMC; nutpie would then
have PyTensor rewrite its graph and numba compile it afresh for every fit — 3 to 10 seconds,
while sampling takes 1 to 3. Here the same log-density (the same parameters, priors,
transforms and likelihood) is one fixed function of a flat data buffer, compiled once and
cached on disk by numba; a fit only packs the buffer.

The coordinates — their order, shapes, transforms, priors and roles — come from the built PyMC
model (:mod:`hiermod.compiled.layout`), their priors and the chain rule from
:mod:`hiermod.compiled.coords`, the likelihood and its gradient in θ = c − offset, L and σ
from :func:`hiermod.marginal.kernel.marginal_terms`.
"""

from __future__ import annotations

import numba
import numpy as np

from ..compiled import coords
from ..compiled import nutpie as glue
from ..compiled.buffer import pack, part, scalar
from .kernel import marginal_terms

(S_NDIM, S_P, S_Q, S_J, S_YTY, S_N, S_NB, S_BW) = range(8)
(A_PRIOR, A_ROLE, A_BLOCK, A_ZTZ, A_ZTW, A_ZTY, A_WTW, A_WTY, A_OFFSET) = range(9)


class CompiledMarginal(glue.CompiledCallback):
    """The compiled callback of a one-factor marginal model.

    Parameters
    ----------
    built : BuiltModel
        The PyMC version of the same model (:func:`assemble_marginal_model`): the callback's
        coordinates, and the posterior's variables, dims and coordinates, are taken from it.
    stats : GroupStats
    """

    def __init__(self, built, stats) -> None:
        super().__init__(built, (stats.factor,))
        lay = self.layout
        J, q, p = stats.ZtW.shape
        self.buffer = pack(
            [lay.n_dim, p, q, J, stats.yty, stats.n, len(lay.blocks), lay.blocks.shape[1]],
            [lay.prior_table, lay.role_table, lay.blocks, stats.ZtZ, stats.ZtW, stats.Zty,
             stats.WtW, stats.Wty, stats.offset])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def logp_and_grad(buf, x, out):
    """Log-density at unconstrained x; the gradient is written into ``out``."""
    n_dim, p, q, J = int(scalar(buf, S_NDIM)), int(scalar(buf, S_P)), int(scalar(buf, S_Q)), \
        int(scalar(buf, S_J))
    nb, bw = int(scalar(buf, S_NB)), int(scalar(buf, S_BW))
    blocks = part(buf, A_BLOCK).reshape((nb, bw))
    role = part(buf, A_ROLE).reshape((n_dim, 3))
    v, dv = np.empty(n_dim), np.empty(n_dim)
    lp = coords.priors(part(buf, A_PRIOR).reshape((n_dim, 5)), x, v, dv, out)
    c, sd, LR, L, sig = coords.parameters(role, blocks, v, p, np.array([q]))
    ll, g_theta, g_L, g_sigma = marginal_terms(
        part(buf, A_ZTZ).reshape((J, q, q)), part(buf, A_ZTW).reshape((J, q, p)),
        part(buf, A_ZTY).reshape((J, q)), part(buf, A_WTW).reshape((p, p)), part(buf, A_WTY),
        scalar(buf, S_YTY), scalar(buf, S_N), c - part(buf, A_OFFSET), L[0], sig)
    coords.pull_back(role, blocks, v, dv, sd, LR, g_theta, g_L.reshape((1, q, q)), g_sigma, out)
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


CompiledMarginal.kernel = staticmethod(logp_and_grad)
CompiledMarginal.cfunc = _logp_cfunc
