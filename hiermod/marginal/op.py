"""The marginal gaussian log-likelihood as one PyTensor Op: the numba kernel of
:mod:`hiermod.marginal.kernel` with its hand-written gradient.

A model built with it compiles several seconds faster under nutpie's PyTensor path than the
graph face (:mod:`.graph`), and PyMC's own NUTS runs its ``perform``. The JAX back end
(numpyro) has no implementation of this Op, so numpyro fits use the graph face.
"""

from __future__ import annotations

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

from .kernel import marginal_terms


@numba.njit(cache=True, nogil=True, error_model="numpy")
def marginal_kernel(ZtZ, ZtW, Zty, WtW, Wty, yty, n, theta, L, sigma):
    """:func:`marginal_terms` with yty, n, σ and the scalar outputs as 0-d arrays (the Op's
    calling convention)."""
    ll, g_theta, g_L, g_s = marginal_terms(ZtZ, ZtW, Zty, WtW, Wty, yty[()], n[()], theta, L,
                                           sigma[()])
    return np.asarray(ll), g_theta, g_L, np.asarray(g_s)


class MarginalGaussian(Op):
    """Outputs (ℓ, ∂ℓ/∂θ, ∂ℓ/∂L, ∂ℓ/∂σ) of the marginal gaussian log-likelihood.

    Inputs: the sufficient statistics ``ZtZ, ZtW, Zty, WtW, Wty, yty, n`` (constants) and the
    parameters ``theta (p,), L (q, q), sigma ()``. Use :func:`marginal_loglik_op`.
    """

    __props__ = ()
    n_stats = 7

    def make_node(self, *inputs):
        inputs = [pt.as_tensor_variable(np.asarray(x, dtype="float64")
                                        if isinstance(x, (np.ndarray, float, int)) else x)
                  for x in inputs]
        inputs = [pt.cast(x, "float64") if x.dtype != "float64" else x for x in inputs]
        theta, L = inputs[7], inputs[8]
        outputs = [pt.dscalar(), pt.dvector(shape=theta.type.shape),
                   pt.dmatrix(shape=L.type.shape), pt.dscalar()]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage):
        for store, value in zip(output_storage, marginal_kernel(*inputs), strict=True):
            store[0] = value

    def connection_pattern(self, node):
        # only the log-likelihood output depends differentiably on theta, L, sigma
        stats = [[False] * 4 for _ in range(self.n_stats)]
        return stats + [[True, False, False, False]] * 3

    def pullback(self, inputs, outputs, cotangents):
        g_ll = cotangents[0]
        if any(not isinstance(g.type, DisconnectedType) for g in cotangents[1:]):
            raise ValueError("only the log-likelihood output of MarginalGaussian "
                             "can be differentiated")
        _, g_theta, g_L, g_sigma = outputs
        stats = [disconnected_type() for _ in range(self.n_stats)]
        return stats + [g_ll * g_theta, g_ll * g_L, g_ll * g_sigma]

    def infer_shape(self, fgraph, node, shapes):
        return [(), shapes[7], shapes[8], ()]


marginal_gaussian = MarginalGaussian()


def marginal_loglik_op(stats, theta, L, sigma):
    """log p(y | β, Σ = L Lᵀ, σ) through :class:`MarginalGaussian` (same arguments as
    :func:`hiermod.marginal.graph.marginal_loglik`)."""
    if theta is None:
        theta = pt.zeros(0)
    args = (stats.ZtZ, stats.ZtW, stats.Zty, stats.WtW, stats.Wty, np.asarray(stats.yty),
            np.asarray(float(stats.n)))
    return marginal_gaussian(*[pt.constant(np.array(a, dtype="float64", order="C"))
                               for a in args], theta, L, sigma)[0]


@register_funcify_default_op_cache_key(MarginalGaussian)
def _numba_marginal(op, node, **kwargs):
    return marginal_kernel
