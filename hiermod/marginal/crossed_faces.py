"""The several-factor marginal log-density's PyMC faces: a PyTensor Op around the numba kernel
(:mod:`hiermod.marginal.crossed_kernel`, PyMC's NUTS) and a dense PyTensor graph (every back
end, JAX included: it factorises the whole m × m system, m = Σ_g J_g q_g, so it suits the
moderate sizes a GPU handles well)."""

from __future__ import annotations

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

from .crossed_kernel import crossed_terms, dense_crossing
from .crossed_stats import CrossedStats

_LOG_2PI = float(np.log(2 * np.pi))
_N_STATS = 13


def _stat_arrays(stats: CrossedStats):
    return (stats.Z1tZ1, stats.Z1tW, stats.Z1ty, stats.Z1tZ2, stats.Z2tZ2, stats.Z2tW,
            stats.Z2ty, stats.WtW, stats.Wty, np.asarray(stats.yty), np.asarray(float(stats.n)),
            np.asarray(stats.rest, float), np.asarray(float(dense_crossing(stats.Z1tZ2))))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def crossed_kernel(Z1tZ1, Z1tW, Z1ty, Z1tZ2, Z2tZ2, Z2tW, Z2ty, WtW, Wty, yty, n, rest, dense,
                   theta, L1, Lr, sigma):
    """:func:`crossed_terms` with the scalars as 0-d arrays (the Op's calling convention)."""
    ll, g_theta, g_L1, g_Lr, g_s = crossed_terms(Z1tZ1, Z1tW, Z1ty, Z1tZ2, Z2tZ2, Z2tW, Z2ty,
                                                 WtW, Wty, yty[()], n[()], rest, theta, L1, Lr,
                                                 sigma[()], dense[()] != 0.0)
    return np.asarray(ll), g_theta, g_L1, g_Lr, np.asarray(g_s)


class CrossedMarginalGaussian(Op):
    """Outputs (ℓ, ∂ℓ/∂θ, ∂ℓ/∂L₁, ∂ℓ/∂L_rest, ∂ℓ/∂σ); inputs the statistics (constants), θ,
    L₁ (q₁, q₁), L_rest (n_rest, q, q) and σ. Use :func:`crossed_loglik_op`."""

    __props__ = ()

    def make_node(self, *inputs):
        inputs = [pt.as_tensor_variable(x) for x in inputs]
        inputs = [pt.cast(x, "float64") if x.dtype != "float64" else x for x in inputs]
        theta, L1, Lr = inputs[_N_STATS:_N_STATS + 3]
        outputs = [pt.dscalar(), pt.dvector(shape=theta.type.shape),
                   pt.dmatrix(shape=L1.type.shape), pt.dtensor3(shape=Lr.type.shape),
                   pt.dscalar()]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage):
        for store, value in zip(output_storage, crossed_kernel(*inputs), strict=True):
            store[0] = value

    def connection_pattern(self, node):
        return [[False] * 5] * _N_STATS + [[True, False, False, False, False]] * 4

    def pullback(self, inputs, outputs, cotangents):
        if any(not isinstance(g.type, DisconnectedType) for g in cotangents[1:]):
            raise ValueError("only the log-likelihood output of CrossedMarginalGaussian "
                             "can be differentiated")
        g = cotangents[0]
        return ([disconnected_type() for _ in range(_N_STATS)]
                + [g * outputs[1], g * outputs[2], g * outputs[3], g * outputs[4]])

    def infer_shape(self, fgraph, node, shapes):
        return [(), shapes[_N_STATS], shapes[_N_STATS + 1], shapes[_N_STATS + 2], ()]


crossed_marginal_gaussian = CrossedMarginalGaussian()


@register_funcify_default_op_cache_key(CrossedMarginalGaussian)
def _numba_crossed(op, node, **kwargs):
    return crossed_kernel


def stack_rest(Ls, qs, qmax: int):
    """The rest factors' L_g (q_g × q_g) padded to (n_rest, qmax, qmax)."""
    out = pt.zeros((len(Ls), qmax, qmax))
    for k, (L, q) in enumerate(zip(Ls, qs, strict=True)):
        out = pt.set_subtensor(out[k, :q, :q], L)
    return out


def crossed_loglik_op(stats: CrossedStats, theta, L1, Lrest, sigma):
    """log p(y | θ, Σ_g = L_g L_gᵀ, σ) through :class:`CrossedMarginalGaussian`; ``Lrest`` the
    rest factors' L_g (in ``stats.order``)."""
    if theta is None:
        theta = pt.zeros(0)
    consts = [pt.constant(np.array(a, dtype="float64", order="C")) for a in _stat_arrays(stats)]
    qs = [q for _, _, q in stats.rest]
    return crossed_marginal_gaussian(*consts, theta, L1, stack_rest(Lrest, qs, max(qs)),
                                     sigma)[0]


def crossed_loglik_graph(stats: CrossedStats, theta, L1, Lrest, sigma):
    """The same log-density in plain PyTensor, factorising the whole system densely."""
    J1, q1, m2 = stats.Z1tZ2.shape
    m1 = J1 * q1
    S11 = np.zeros((m1, m1))
    for j in range(J1):
        S11[j * q1:(j + 1) * q1, j * q1:(j + 1) * q1] = stats.Z1tZ1[j]
    S12 = stats.Z1tZ2.reshape(m1, m2)
    S = np.block([[S11, S12], [S12.T, stats.Z2tZ2]])
    ZtW = np.vstack([stats.Z1tW.reshape(m1, -1), stats.Z2tW])
    Zty = np.concatenate([stats.Z1ty.ravel(), stats.Z2ty])
    blocks = [pt.linalg.kron(pt.eye(J1), L1)]
    for (_, J, _), L in zip(stats.rest, Lrest, strict=True):
        blocks.append(pt.linalg.kron(pt.eye(J), L))
    Lam = pt.linalg.block_diag(*blocks)
    s = sigma * sigma
    if theta is None or stats.p == 0:
        d, rss = pt.as_tensor_variable(Zty), pt.as_tensor_variable(stats.yty)
    else:
        d = Zty - pt.dot(ZtW, theta)
        rss = stats.yty - 2.0 * pt.dot(stats.Wty, theta) + pt.dot(theta, pt.dot(stats.WtW, theta))
    m = m1 + m2
    A = pt.eye(m) + pt.dot(Lam.T, pt.dot(S, Lam)) / s
    C = pt.linalg.cholesky(A)
    g = pt.linalg.solve_triangular(C, pt.dot(Lam.T, d), lower=True)
    logdet = 2.0 * pt.sum(pt.log(pt.diagonal(C)))
    n = stats.n
    return -0.5 * (n * _LOG_2PI + n * pt.log(s) + logdet + (rss - pt.sum(g * g) / s) / s)
