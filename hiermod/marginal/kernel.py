"""The one numerical core of the gaussian marginal path: log-likelihood, gradient and exact
conditional draws of the group effects, compiled by numba and cached on disk.

For one grouping factor with q varying terms and J groups,

    y_j ~ N(W_j θ, V_j),     V_j = σ² I + Z_j Σ Z_jᵀ,     Σ = L Lᵀ,

with θ the fixed effects in sampled coordinates (:mod:`hiermod.design.centring`) less the
outcome's shift (:mod:`hiermod.marginal.suffstats`). Every face of the density — the PyTensor
Op (:mod:`.op`), the nutpie callback (:mod:`.callback`) and the draws (:mod:`.draws`) — calls
the functions here; :mod:`.graph` writes the same algebra in PyTensor for JAX.

Notes
-----
Write s = σ², r_j = y_j − W_j θ, d_j = Z_jᵀr_j, c_j = Lᵀd_j, S_j = Z_jᵀZ_j and

    A_j = I_q + Lᵀ S_j L / s = C_j C_jᵀ,   P_j = A_j⁻¹,   w_j = P_j c_j,   Q = Σ_j c_jᵀ w_j.

The matrix determinant lemma and the Woodbury identity give

    ℓ = −½ [ n log 2πs + Σ_j log|A_j| + (RSS − Q/s)/s ],   RSS = Σ_j r_jᵀr_j,

and, with d log|A| = tr(P dA), dP = −P dA P, tr(P_j Lᵀ S_j L) = s (q − tr P_j) and
w_jᵀ Lᵀ S_j L w_j = s (Q_j − w_jᵀ w_j),

    ∂ℓ/∂θ = (Wᵀy − WᵀW θ)/s − Σ_j (Z_jᵀW_j)ᵀ L w_j / s²
    ∂ℓ/∂L = Σ_j [ d_j w_jᵀ / s² − S_j L (P_j / s + w_j w_jᵀ / s³) ]
    ∂ℓ/∂σ = 2σ [ −½ (n − J q + Σ_j tr P_j)/s + ½ RSS/s² − ½ (Q + Σ_j w_jᵀw_j)/s³ ].

Everything is written in L, not Σ⁻¹, so it stays finite as an sd goes to zero (A_j → I).

Given (θ, L, σ), u_j = L v_j with v_j ~ N(P_j c_j / s, P_j): drawn as
v_j = C_j⁻ᵀ (C_j⁻¹ c_j / s + ε_j), ε_j ~ N(0, I) — one draw per posterior draw makes
(θ, Σ, σ, u) a draw from the joint posterior of the model with explicit group effects.
"""

from __future__ import annotations

import numba
import numpy as np

from ..compiled.linalg import backward, cholesky_inverse, forward

_LOG_2PI = float(np.log(2 * np.pi))
_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def group_residual(Zty_j, ZtW_j, theta, L, d, c):
    """d = Z_jᵀ(y_j − W_j θ) and c = Lᵀ d, written into d and c."""
    q, p = ZtW_j.shape
    for a in range(q):
        v = Zty_j[a]
        for k in range(p):
            v -= ZtW_j[a, k] * theta[k]
        d[a] = v
    for a in range(q):
        v = 0.0
        for k in range(q):
            v += L[k, a] * d[k]
        c[a] = v


@numba.njit(**_JIT)
def group_factor(ZtZ_j, L, s, SL, C):
    """SL = S_j L and the Cholesky factor C of A_j = I + Lᵀ S_j L / s; returns log|A_j|."""
    q = L.shape[0]
    for a in range(q):
        for b in range(q):
            v = 0.0
            for k in range(q):
                v += ZtZ_j[a, k] * L[k, b]
            SL[a, b] = v
    logdet = 0.0
    for b in range(q):
        for a in range(b, q):
            v = 0.0
            for k in range(q):
                v += L[k, a] * SL[k, b]
            v = v / s + (1.0 if a == b else 0.0)
            for k in range(b):
                v -= C[a, k] * C[b, k]
            if a == b:
                C[b, b] = np.sqrt(v)
                logdet += 2.0 * np.log(C[b, b])
            else:
                C[a, b] = v / C[b, b]
    return logdet


@numba.njit(**_JIT)
def marginal_terms(ZtZ, ZtW, Zty, WtW, Wty, yty, nn, theta, L, sig):
    """(ℓ, ∂ℓ/∂θ, ∂ℓ/∂L, ∂ℓ/∂σ) of the module's Notes; yty, n, σ and ℓ, ∂ℓ/∂σ are floats."""
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
    logdet, Q, ww, trP = 0.0, 0.0, 0.0, 0.0
    d, c, w, t, Lw = np.empty(q), np.empty(q), np.empty(q), np.empty(q), np.empty(q)
    SL, C, P = np.empty((q, q)), np.zeros((q, q)), np.empty((q, q))
    e = np.zeros(q)
    col = np.empty(q)
    for j in range(J):
        group_residual(Zty[j], ZtW[j], theta, L, d, c)
        logdet += group_factor(ZtZ[j], L, s, SL, C)
        forward(C, c, t)
        backward(C, t, w)  # w = A⁻¹ c
        trP += cholesky_inverse(C, P, e, t, col)  # P = A⁻¹
        for a in range(q):
            Q += c[a] * w[a]
            ww += w[a] * w[a]
            v = 0.0
            for b in range(q):
                v += L[a, b] * w[b]
            Lw[a] = v
        for k in range(p):
            v = 0.0
            for a in range(q):
                v += ZtW[j, a, k] * Lw[a]
            g_theta[k] -= v / (s * s)
        for a in range(q):
            for b in range(q):
                v = d[a] * w[b] / (s * s)
                for k in range(q):
                    v -= SL[a, k] * (P[k, b] / s + w[k] * w[b] / (s * s * s))
                g_L[a, b] += v
    ll = -0.5 * (nn * (_LOG_2PI + np.log(s)) + logdet + (rss - Q / s) / s)
    g_s = (-0.5 * (nn - J * q + trP) / s + 0.5 * rss / (s * s) - 0.5 * (Q + ww) / (s * s * s))
    return ll, g_theta, g_L, 2.0 * sig * g_s


@numba.njit(**_JIT)
def conditional_draws(ZtZ, ZtW, Zty, theta, L, sigma, eps, mean_only):
    """Draws (or, with ``mean_only``, the means) of every group's effects, one per posterior
    draw: θ (S, p), L (S, q, q), σ (S,), standard normals ε (S, J, q) -> u (S, J, q)."""
    S = theta.shape[0]
    J, q, _ = ZtW.shape
    out = np.empty((S, J, q))
    d, c, t, v = np.empty(q), np.empty(q), np.empty(q), np.empty(q)
    SL, C = np.empty((q, q)), np.zeros((q, q))
    for i in range(S):
        s = sigma[i] * sigma[i]
        Li = L[i]
        for j in range(J):
            group_residual(Zty[j], ZtW[j], theta[i], Li, d, c)
            group_factor(ZtZ[j], Li, s, SL, C)
            forward(C, c, t)
            for a in range(q):
                t[a] = t[a] / s + (0.0 if mean_only else eps[i, j, a])
            backward(C, t, v)
            for a in range(q):
                acc = 0.0
                for b in range(q):
                    acc += Li[a, b] * v[b]
                out[i, j, a] = acc
    return out
