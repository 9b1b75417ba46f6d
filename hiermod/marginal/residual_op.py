"""The log-density of a gaussian model with a residual structure as one PyTensor Op: the numba
kernel of :mod:`hiermod.longitudinal.kernel` with its hand-written gradient (PyMC's NUTS runs
its ``perform``; nutpie's PyTensor path its numba implementation)."""

from __future__ import annotations

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

from ..longitudinal.kernel import serial_terms
from ..longitudinal.layout import SerialData

N_DATA = 9  # kind, block_starts, block_units, unit_starts, gap, y, W, Z, V


@numba.njit(cache=True, nogil=True, error_model="numpy")
def serial_kernel(kind, block_starts, block_units, unit_starts, gap, y, W, Z, V, theta, L,
                  sigma, phi, delta):
    """:func:`serial_terms` with the scalars as 0-d arrays (the Op's calling convention)."""
    ll, g_theta, g_L, g_s, g_phi, g_delta = serial_terms(
        kind[()], block_starts, block_units, unit_starts, gap, y, W, Z, V, theta, L, sigma[()],
        phi[()], delta, True)
    return np.asarray(ll), g_theta, g_L, np.asarray(g_s), np.asarray(g_phi), g_delta


class MarginalSerial(Op):
    """Outputs (ℓ, ∂ℓ/∂θ, ∂ℓ/∂L, ∂ℓ/∂σ, ∂ℓ/∂φ, ∂ℓ/∂δ); inputs the layout's arrays (constants)
    and ``theta (p,), L (q, q), sigma (), phi (), delta (r,)``. Use :func:`serial_loglik_op`."""

    __props__ = ()

    def make_node(self, *inputs):
        inputs = [pt.as_tensor_variable(x) for x in inputs]
        params = [pt.cast(x, "float64") if x.dtype != "float64" else x
                  for x in inputs[N_DATA:]]
        inputs = inputs[:N_DATA] + params
        theta, L, delta = params[0], params[1], params[4]
        outputs = [pt.dscalar(), pt.dvector(shape=theta.type.shape),
                   pt.dmatrix(shape=L.type.shape), pt.dscalar(), pt.dscalar(),
                   pt.dvector(shape=delta.type.shape)]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage):
        for store, value in zip(output_storage, serial_kernel(*inputs), strict=True):
            store[0] = value

    def connection_pattern(self, node):
        data = [[False] * 6 for _ in range(N_DATA)]
        return data + [[True, False, False, False, False, False]] * 5

    def pullback(self, inputs, outputs, cotangents):
        g_ll = cotangents[0]
        if any(not isinstance(g.type, DisconnectedType) for g in cotangents[1:]):
            raise ValueError("only the log-likelihood output of MarginalSerial can be "
                             "differentiated")
        data = [disconnected_type() for _ in range(N_DATA)]
        return data + [g_ll * g for g in outputs[1:]]

    def infer_shape(self, fgraph, node, shapes):
        return [(), shapes[N_DATA], shapes[N_DATA + 1], (), (), shapes[N_DATA + 4]]


marginal_serial = MarginalSerial()


def serial_loglik_op(sd: SerialData, theta, L, sigma, phi, delta):
    """log p(y | θ, Σ = L Lᵀ, σ, φ, δ) through :class:`MarginalSerial` (the arguments of
    :func:`hiermod.marginal.residual_graph.serial_loglik`; L None: no group effects)."""
    if theta is None:
        theta = pt.zeros(0)
    if L is None:
        L = pt.zeros((0, 0))
    data = (np.asarray(sd.kind, dtype="int64"), sd.block_starts, sd.block_units,
            sd.unit_starts, sd.gap, sd.y, sd.W, sd.Z, sd.V)
    consts = [pt.constant(np.array(a, order="C")) for a in data]
    return marginal_serial(*consts, theta, L, sigma, phi, delta)[0]


@register_funcify_default_op_cache_key(MarginalSerial)
def _numba_serial(op, node, **kwargs):
    return serial_kernel
