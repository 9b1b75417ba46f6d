"""The marginal gaussian log-likelihood as one PyTensor Op with a hand-written gradient.

Same value as :func:`hiermod.build.marginal.marginal_loglik` (the graph version), computed by
one compiled loop over the groups (numba, cached on disk). A model built with it compiles
several seconds faster under nutpie (numba) — the graph version's unrolled Cholesky and its
automatic gradient make a large graph to rewrite and compile — and PyMC's own NUTS runs its
``perform``. The JAX back end (numpyro) has no implementation of this Op, so numpyro fits use
the graph version.

Notes
-----
With the notation of :mod:`hiermod.build.marginal`, for group j let S_j = Z_jᵀZ_j,
d_j = Z_jᵀ r_j, c_j = Lᵀ d_j, A_j = I + Lᵀ S_j L / σ² = C_j C_jᵀ, P_j = A_j⁻¹, w_j = P_j c_j,
Q = Σ_j c_jᵀ w_j, s = σ². With ℓ = −½ [n log 2πs + Σ log|A_j| + RSS/s − Q/s²]:

    ∂ℓ/∂θ = (Wᵀy − WᵀW θ)/s − Σ_j (Z_jᵀW_j)ᵀ L w_j / s²
    ∂ℓ/∂L = Σ_j [ d_j w_jᵀ / s² − S_j L (P_j / s + w_j w_jᵀ / s³) ]
    ∂ℓ/∂s = −½ (n − J q + Σ_j tr P_j)/s + ½ RSS/s² − ½ (Q + Σ_j w_jᵀw_j)/s³,
    ∂ℓ/∂σ = 2σ ∂ℓ/∂s,

using d log|A| = tr(P dA), dP = −P dA P, tr(P_j Lᵀ S_j L) = s (q − tr P_j) and
w_jᵀ Lᵀ S_j L w_j = s (Q_j − w_jᵀ w_j).
"""

from __future__ import annotations

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

_LOG_2PI = float(np.log(2 * np.pi))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def marginal_terms(ZtZ, ZtW, Zty, WtW, Wty, yty, nn, theta, L, sig):
    """(ℓ, ∂ℓ/∂θ, ∂ℓ/∂L, ∂ℓ/∂σ) with the scalars yty, n, σ and ℓ, ∂ℓ/∂σ as floats."""
    J, q, p = ZtW.shape
    s = sig * sig
    rss = yty
    g_theta = np.zeros(p)
    for k in range(p):
        wk = 0.0
        for m in range(p):
            wk += WtW[k, m] * theta[m]
        rss += theta[k] * (wk - 2.0 * Wty[k])
        g_theta[k] = (Wty[k] - wk) / s
    g_L = np.zeros((q, q))
    logdet = 0.0
    Q = 0.0
    ww = 0.0
    trP = 0.0
    d = np.empty(q)
    c = np.empty(q)
    SL = np.empty((q, q))
    A = np.empty((q, q))
    C = np.zeros((q, q))
    Ci = np.zeros((q, q))
    P = np.empty((q, q))
    w = np.empty(q)
    Lw = np.empty(q)
    for j in range(J):
        for a in range(q):
            v = Zty[j, a]
            for k in range(p):
                v -= ZtW[j, a, k] * theta[k]
            d[a] = v
        for a in range(q):
            v = 0.0
            for k in range(q):
                v += L[k, a] * d[k]
            c[a] = v
        for a in range(q):
            for b in range(q):
                v = 0.0
                for k in range(q):
                    v += ZtZ[j, a, k] * L[k, b]
                SL[a, b] = v
        for a in range(q):
            for b in range(a + 1):
                v = 0.0
                for k in range(q):
                    v += L[k, a] * SL[k, b]
                A[a, b] = v / s + (1.0 if a == b else 0.0)
        # Cholesky A = C Cᵀ
        for b in range(q):
            v = A[b, b]
            for k in range(b):
                v -= C[b, k] * C[b, k]
            C[b, b] = np.sqrt(v)
            logdet += 2.0 * np.log(C[b, b])
            for a in range(b + 1, q):
                v = A[a, b]
                for k in range(b):
                    v -= C[a, k] * C[b, k]
                C[a, b] = v / C[b, b]
        # Ci = C⁻¹ (lower), P = Ciᵀ Ci
        for b in range(q):
            Ci[b, b] = 1.0 / C[b, b]
            for a in range(b + 1, q):
                v = 0.0
                for k in range(b, a):
                    v -= C[a, k] * Ci[k, b]
                Ci[a, b] = v / C[a, a]
        for a in range(q):
            for b in range(q):
                v = 0.0
                for k in range(max(a, b), q):
                    v += Ci[k, a] * Ci[k, b]
                P[a, b] = v
            trP += P[a, a]
        for a in range(q):
            v = 0.0
            for b in range(q):
                v += P[a, b] * c[b]
            w[a] = v
        Qj = 0.0
        for a in range(q):
            Qj += c[a] * w[a]
            ww += w[a] * w[a]
        Q += Qj
        for a in range(q):
            v = 0.0
            for b in range(q):
                v += L[a, b] * w[b]
            Lw[a] = v
        for k in range(p):
            v = 0.0
            for a in range(q):
                v += ZtW[j, a, k] * Lw[a]
            g_theta[k] -= v / (s * s)
        # ∂ℓ/∂L += d wᵀ/s² − SL (P/s + w wᵀ/s³)
        for a in range(q):
            for b in range(q):
                v = d[a] * w[b] / (s * s)
                for k in range(q):
                    v -= SL[a, k] * (P[k, b] / s + w[k] * w[b] / (s * s * s))
                g_L[a, b] += v
    ll = -0.5 * (nn * (_LOG_2PI + np.log(s)) + logdet + (rss - Q / s) / s)
    g_s = (-0.5 * (nn - J * q + trP) / s + 0.5 * rss / (s * s) - 0.5 * (Q + ww) / (s * s * s))
    return ll, g_theta, g_L, 2.0 * sig * g_s


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
    :func:`hiermod.build.marginal.marginal_loglik`)."""
    if theta is None:
        theta = pt.zeros(0)
    args = (stats.ZtZ, stats.ZtW, stats.Zty, stats.WtW, stats.Wty, np.asarray(stats.yty),
            np.asarray(float(stats.n)))
    return marginal_gaussian(*[pt.constant(np.array(a, dtype="float64", order="C"))
                               for a in args], theta, L, sigma)[0]


def _register_numba() -> None:
    from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

    @register_funcify_default_op_cache_key(MarginalGaussian)
    def _numba_marginal(op, node, **kwargs):
        return marginal_kernel


_register_numba()
