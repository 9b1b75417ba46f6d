"""The numerical core of gaussian models with correlated or heteroskedastic residuals within
units: log-density with its gradient, exact conditional draws of the group effects, leave-one-
out densities and residual draws, compiled by numba and cached on disk. O(n) per evaluation,
no dense T × T factorisation.

For the rows of one block j (a level of the grouping factor, :mod:`.layout`)

    y_j ~ N(W_j θ, V_j),     V_j = Z_j Σ Z_jᵀ + Ω_j,     Σ = L Lᵀ,     Ω_j = S_j R_j S_j,

with S = diag(σ_i), log σ_i = log σ + v_iᵀδ, and R_j block diagonal over the block's units:
AR(1) / CAR(1) (corr φ^|t_i − t_k|) or compound symmetry (corr φ), or I.

Notes
-----
*Whitening.* Write x_i = (y_i − W_iθ)/σ_i and ξ_i = Z_i/σ_i. A matrix K with KᵀK = R⁻¹ is
known in closed form and applied in O(n):

* AR(1) / CAR(1), rows of a unit in time order, ρ_i = φ^(t_i − t_{i−1}) (ρ = 0 at the first
  row), κ_i = √(1 − ρ_i²): (Kx)_i = (x_i − ρ_i x_{i−1}) / κ_i, a lower bidiagonal K (the
  precision R⁻¹ = KᵀK is tridiagonal), log|R| = Σ 2 log κ_i;
* compound symmetry in a unit of m rows: R^(−1/2) = f I − h 11ᵀ with f = (1 − φ)^(−1/2),
  g = (1 + (m − 1)φ)^(−1/2), h = (f − g)/m; log|R| = (m − 1) log(1 − φ) + log(1 + (m − 1)φ).

Then r̃ = K x and Z̃ = K ξ follow the standard model r̃ = Z̃ L v + ε, v, ε ~ N(0, I), so with
A = I + LᵀZ̃ᵀZ̃L = C Cᵀ, c = LᵀZ̃ᵀr̃, w = A⁻¹c (the Woodbury identity and the determinant lemma)

    ℓ_j = −½ [ n_j log 2π + 2 Σ_i log σ_i + log|R_j| + log|A| + r̃ᵀr̃ − cᵀw ].

*Gradient* (reverse mode). With b = L w, ε̂ = r̃ − Z̃ b and Kᵥ = L A⁻¹ Lᵀ,

    ∂ℓ/∂r̃ = −ε̂,    ∂ℓ/∂Z̃ = ε̂ bᵀ − Z̃ Kᵥ,    ∂ℓ/∂L = Σ_j [ d wᵀ − Z̃ᵀZ̃ L (A⁻¹ + w wᵀ) ]

(d = Z̃ᵀr̃). These adjoints go back through K to those of x and ξ (Kᵀ applied to them, O(n)),
and to ρ_i (∂r̃_i/∂ρ_i = (−x_{i−1} + ρ_i r̃_i/κ_i)/κ_i, plus ρ_i/κ_i² from log|R|; for
compound symmetry the derivatives of f, g, h), then ∂ρ_i/∂φ = Δt_i φ^(Δt_i − 1). With h̄, H̄
the adjoints of x and ξ: ∂ℓ/∂θ = −Σ_i h̄_i W_i/σ_i and ∂ℓ/∂ log σ_i = −(h̄_i x_i + H̄_i·ξ_i) − 1,
summed into ∂ℓ/∂σ and ∂ℓ/∂δ = Σ_i v_i ∂ℓ/∂ log σ_i.

*Draws.* Given the parameters, u_j = L v_j with v_j ~ N(A⁻¹c, A⁻¹): v = C⁻ᵀ(C⁻¹c + ε).

*Leave one out.* With the precision Q = V⁻¹ = TᵀT − (TᵀZ̃) Kᵥ (TᵀZ̃)ᵀ (T = K S⁻¹) and
g = Q(y − Wθ) = Tᵀε̂, y_i given the rest of its block has mean y_i − g_i/Q_ii and variance
1/Q_ii (Bürkner, Gabry & Vehtari 2021, *Comput. Stat.* 36:1243), computed row by row from
diag(TᵀT) (tridiagonal / compound-symmetric in closed form).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..compiled.linalg import backward, cholesky, forward

_LOG_2PI = float(np.log(2 * np.pi))
_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
NONE, AR1, CAR1, CS = 0, 1, 2, 3


@numba.njit(**_JIT)
def lag_corr(kind, phi, gap):
    """(ρ, dρ/dφ) for a time gap: φ^gap (integer power for AR(1), so φ may be negative)."""
    if kind == AR1:
        g = int(round(gap))
        if g == 0:
            return 0.0, 0.0
        return phi ** g, g * phi ** (g - 1)
    if gap == 0.0:
        return 0.0, 0.0
    rho = phi ** gap
    return rho, gap * rho / phi


@numba.njit(**_JIT)
def cs_coefs(phi, m):
    """f, h of R^(−1/2) = f I − h 11ᵀ for m rows, their φ-derivatives, ½ log|R| and its
    φ-derivative."""
    f = 1.0 / math.sqrt(1.0 - phi)
    g = 1.0 / math.sqrt(1.0 + (m - 1) * phi)
    fp = 0.5 * f * f * f
    gp = -0.5 * (m - 1) * g * g * g
    half_logdet = 0.5 * ((m - 1) * math.log(1.0 - phi) + math.log(1.0 + (m - 1) * phi))
    d_half_logdet = 0.5 * (-(m - 1) / (1.0 - phi) + (m - 1) / (1.0 + (m - 1) * phi))
    return f, (f - g) / m, fp, (fp - gp) / m, half_logdet, d_half_logdet


@numba.njit(**_JIT)
def power_table(kind, phi, gap):
    """φ^g for g = 0 .. the largest integer gap (AR(1)); a 1-entry array otherwise."""
    gmax = 1
    if kind == AR1:
        for i in range(len(gap)):
            gmax = max(gmax, int(round(gap[i])))
    pw = np.empty(gmax + 1)
    pw[0] = 1.0
    for g in range(1, gmax + 1):
        pw[g] = pw[g - 1] * phi
    return pw


@numba.njit(**_JIT)
def chain_coefs(kind, phi, pw, gap, us, ue, unit_starts, a, coef):
    """The whitening's coefficients for the rows of units us..ue−1 (block-local rows, a: the
    block's first sorted row), into ``coef`` (m, 5); returns ½ log|R| of those units.

    ``pw``: :func:`power_table` (AR(1)'s integer gaps). AR(1) / CAR(1): (ρ_i, κ_i, dρ_i/dφ,
    1/κ_i) per row (ρ = 0, κ = 1 at a unit's first
    row); compound symmetry: (f, h, df/dφ, dh/dφ, ∂(½ log|R_u|)/∂φ) on every row of the unit.
    """
    half = 0.0
    for u in range(us, ue):
        s, t = unit_starts[u] - a, unit_starts[u + 1] - a
        if kind == AR1 or kind == CAR1:
            coef[s, 0], coef[s, 1], coef[s, 2], coef[s, 3] = 0.0, 1.0, 0.0, 1.0
            det = 1.0  # Π κ_i², one log per unit
            for i in range(s + 1, t):
                if kind == AR1:
                    g = int(round(gap[a + i]))
                    rho, drho = pw[g], g * pw[g - 1]
                else:
                    rho, drho = lag_corr(kind, phi, gap[a + i])
                kap2 = 1.0 - rho * rho
                kap = math.sqrt(kap2)
                coef[i, 0], coef[i, 1], coef[i, 2], coef[i, 3] = rho, kap, drho, 1.0 / kap
                det *= kap2
            half += 0.5 * math.log(det)
        elif kind == CS:
            f, h, fp, hp, hl, dhl = cs_coefs(phi, t - s)
            half += hl
            for i in range(s, t):
                coef[i, 0], coef[i, 1], coef[i, 2], coef[i, 3], coef[i, 4] = f, h, fp, hp, dhl
    return half


@numba.njit(**_JIT)
def whiten(kind, us, ue, unit_starts, a, coef, X, T):
    """T = K X for the rows of units us..ue−1 (X, T: block-local (m, k) arrays; ``coef`` from
    :func:`chain_coefs`)."""
    k = X.shape[1]
    for u in range(us, ue):
        s, t = unit_starts[u] - a, unit_starts[u + 1] - a
        if kind == AR1 or kind == CAR1:
            for c in range(k):
                T[s, c] = X[s, c]
            for i in range(s + 1, t):
                rho, ik = coef[i, 0], coef[i, 3]
                for c in range(k):
                    T[i, c] = (X[i, c] - rho * X[i - 1, c]) * ik
        elif kind == CS:
            f, h = coef[s, 0], coef[s, 1]
            for c in range(k):
                tot = 0.0
                for i in range(s, t):
                    tot += X[i, c]
                for i in range(s, t):
                    T[i, c] = f * X[i, c] - h * tot
        else:
            for i in range(s, t):
                for c in range(k):
                    T[i, c] = X[i, c]


@numba.njit(**_JIT)
def whiten_transpose(kind, us, ue, unit_starts, a, coef, G, H):
    """H = Kᵀ G (block-local arrays, as :func:`whiten`)."""
    k = G.shape[1]
    for u in range(us, ue):
        s, t = unit_starts[u] - a, unit_starts[u + 1] - a
        if kind == AR1 or kind == CAR1:
            for c in range(k):
                H[s, c] = G[s, c]
            for i in range(s + 1, t):
                rho, ik = coef[i, 0], coef[i, 3]
                for c in range(k):
                    H[i, c] = G[i, c] * ik
                    H[i - 1, c] -= G[i, c] * rho * ik
        elif kind == CS:
            f, h = coef[s, 0], coef[s, 1]
            for c in range(k):
                tot = 0.0
                for i in range(s, t):
                    tot += G[i, c]
                for i in range(s, t):
                    H[i, c] = f * G[i, c] - h * tot
        else:
            for i in range(s, t):
                for c in range(k):
                    H[i, c] = G[i, c]


@numba.njit(**_JIT)
def whiten_dphi(kind, us, ue, unit_starts, a, coef, X, T, G):
    """Σ_ic G_ic ∂T_ic/∂φ − ∂(½ log|R|)/∂φ for T = K X: the φ-adjoint of the whitening."""
    k = X.shape[1]
    out = 0.0
    for u in range(us, ue):
        s, t = unit_starts[u] - a, unit_starts[u + 1] - a
        if kind == AR1 or kind == CAR1:
            for i in range(s + 1, t):
                rho, drho, ik = coef[i, 0], coef[i, 2], coef[i, 3]
                v = rho * ik * ik
                for c in range(k):
                    v += G[i, c] * (-X[i - 1, c] + rho * T[i, c] * ik) * ik
                out += v * drho
        elif kind == CS:
            fp, hp, dhl = coef[s, 2], coef[s, 3], coef[s, 4]
            out -= dhl
            for c in range(k):
                tot = 0.0
                for i in range(s, t):
                    tot += X[i, c]
                for i in range(s, t):
                    out += G[i, c] * (fp * X[i, c] - hp * tot)
    return out


@numba.njit(**_JIT)
def gram_diag(kind, us, ue, unit_starts, a, coef, out):
    """diag(KᵀK) = diag(R⁻¹) for the rows of the units, into ``out`` (block-local)."""
    for u in range(us, ue):
        s, t = unit_starts[u] - a, unit_starts[u + 1] - a
        if kind == AR1 or kind == CAR1:
            for i in range(s, t):
                out[i] = 1.0
            for i in range(s + 1, t):
                rho, ik = coef[i, 0], coef[i, 3]
                out[i] += ik * ik - 1.0
                out[i - 1] += rho * rho * ik * ik
        elif kind == CS:
            f, h = coef[s, 0], coef[s, 1]
            for i in range(s, t):
                out[i] = f * f - 2.0 * f * h + (t - s) * h * h
        else:
            for i in range(s, t):
                out[i] = 1.0


@numba.njit(**_JIT)
def whiten_rows(kind, phi, gap, unit_starts, X, T):
    """T = K X for all rows (sorted by unit and time) at once; returns ½ log|R|."""
    coef = np.empty((X.shape[0], 5))
    half = chain_coefs(kind, phi, power_table(kind, phi, gap), gap, 0, len(unit_starts) - 1,
                       unit_starts, 0, coef)
    whiten(kind, 0, len(unit_starts) - 1, unit_starts, 0, coef, X, T)
    return half


@numba.njit(**_JIT)
def standardise(a, b, y, W, Z, V, theta, log_sigma, delta, X, sig):
    """X = [(y − Wθ)/σ_i, Z/σ_i] and σ_i for sorted rows a..b−1; returns Σ log σ_i."""
    p, q, r = W.shape[1], Z.shape[1], V.shape[1]
    tot = 0.0
    s0 = math.exp(log_sigma)
    for i in range(a, b):
        ls = log_sigma
        for k in range(r):
            ls += V[i, k] * delta[k]
        s = math.exp(ls) if r else s0
        tot += ls
        sig[i - a] = s
        inv = 1.0 / s
        e = y[i]
        for k in range(p):
            e -= W[i, k] * theta[k]
        X[i - a, 0] = e * inv
        for c in range(q):
            X[i - a, 1 + c] = Z[i, c] * inv
    return tot


@numba.njit(**_JIT)
def woodbury(T, m, L, S, SL, d, c, C, Ci, w, P, tmp, want_P):
    """From the whitened block T = [r̃, Z̃] (m rows): S = Z̃ᵀZ̃, SL = S L, d = Z̃ᵀr̃, c = Lᵀd,
    the Cholesky factor C of A = I + LᵀSL, w = A⁻¹c and, with ``want_P``, C⁻¹ (into Ci) and
    P = A⁻¹ = C⁻ᵀC⁻¹; returns (r̃ᵀr̃, log|A|, cᵀw)."""
    q = L.shape[0]
    rr = 0.0
    for a_ in range(q):
        d[a_] = 0.0
        for b_ in range(q):
            S[a_, b_] = 0.0
    for i in range(m):  # one pass over the rows
        r = T[i, 0]
        rr += r * r
        for a_ in range(q):
            z = T[i, 1 + a_]
            d[a_] += z * r
            for b_ in range(a_, q):
                S[a_, b_] += z * T[i, 1 + b_]
    for a_ in range(q):
        for b_ in range(a_ + 1, q):
            S[b_, a_] = S[a_, b_]
    for a_ in range(q):
        v = 0.0
        for k in range(q):
            v += L[k, a_] * d[k]
        c[a_] = v
        for b_ in range(q):
            v = 0.0
            for k in range(q):
                v += S[a_, k] * L[k, b_]
            SL[a_, b_] = v
    for b_ in range(q):  # A = I + Lᵀ S L (lower triangle, into Ci as scratch)
        for a_ in range(b_, q):
            v = 1.0 if a_ == b_ else 0.0
            for k in range(q):
                v += L[k, a_] * SL[k, b_]
            Ci[a_, b_] = v
    logdet = cholesky(Ci, C)
    forward(C, c, tmp)
    backward(C, tmp, w)
    cw = 0.0
    for a_ in range(q):
        cw += c[a_] * w[a_]
    if want_P:
        for b_ in range(q):  # C⁻¹, lower triangular, column by column
            for a_ in range(q):
                if a_ < b_:
                    Ci[a_, b_] = 0.0
                    continue
                v = 1.0 if a_ == b_ else 0.0
                for k in range(b_, a_):
                    v -= C[a_, k] * Ci[k, b_]
                Ci[a_, b_] = v / C[a_, a_]
        for a_ in range(q):
            for b_ in range(q):
                v = 0.0
                for k in range(max(a_, b_), q):
                    v += Ci[k, a_] * Ci[k, b_]
                P[a_, b_] = v
    return rr, logdet, cw


@numba.njit(**_JIT)
def lower_products(L, w, Ci, bv, B, Kv):
    """b = L w and K_v = L A⁻¹ Lᵀ = (L C⁻ᵀ)(L C⁻ᵀ)ᵀ (into bv, B = L C⁻ᵀ and Kv)."""
    q = L.shape[0]
    for a_ in range(q):
        v = 0.0
        for k in range(q):
            v += L[a_, k] * w[k]
        bv[a_] = v
        for b_ in range(q):
            v = 0.0
            for k in range(b_ + 1):
                v += L[a_, k] * Ci[b_, k]
            B[a_, b_] = v
    for a_ in range(q):
        for b_ in range(a_, q):
            v = 0.0
            for k in range(q):
                v += B[a_, k] * B[b_, k]
            Kv[a_, b_] = v
            Kv[b_, a_] = v


@numba.njit(**_JIT)
def serial_terms(kind, block_starts, block_units, unit_starts, gap, y, W, Z, V, theta, L,
                 sigma, phi, delta, want_grad):
    """(ℓ, ∂ℓ/∂θ, ∂ℓ/∂L, ∂ℓ/∂σ, ∂ℓ/∂φ, ∂ℓ/∂δ) of the module's Notes, summed over blocks."""
    n, p, q, r = len(y), W.shape[1], Z.shape[1], V.shape[1]
    nb = len(block_starts) - 1
    mmax = 0
    for j in range(nb):
        mmax = max(mmax, block_starts[j + 1] - block_starts[j])
    X, T = np.empty((mmax, 1 + q)), np.empty((mmax, 1 + q))
    G, H = np.empty((mmax, 1 + q)), np.empty((mmax, 1 + q))
    sig, coef = np.empty(mmax), np.empty((mmax, 5))
    S, C, P, Kv = np.empty((q, q)), np.zeros((q, q)), np.empty((q, q)), np.empty((q, q))
    SL, Ci, B = np.empty((q, q)), np.zeros((q, q)), np.empty((q, q))
    d, c, w, tmp, bv = np.empty(q), np.empty(q), np.empty(q), np.empty(q), np.empty(q)
    log_sigma = math.log(sigma)
    pw = power_table(kind, phi, gap)
    ll = 0.0
    g_theta, g_L, g_delta = np.zeros(p), np.zeros((q, q)), np.zeros(r)
    g_logsig, g_phi = 0.0, 0.0
    for j in range(nb):
        a, b = block_starts[j], block_starts[j + 1]
        m = b - a
        us, ue = block_units[j], block_units[j + 1]
        ll -= standardise(a, b, y, W, Z, V, theta, log_sigma, delta, X, sig)
        ll -= chain_coefs(kind, phi, pw, gap, us, ue, unit_starts, a, coef)
        whiten(kind, us, ue, unit_starts, a, coef, X, T)
        rr, logdet, cw = woodbury(T, m, L, S, SL, d, c, C, Ci, w, P, tmp, want_grad)
        ll -= 0.5 * (logdet + rr - cw)
        if not want_grad:
            continue
        lower_products(L, w, Ci, bv, B, Kv)
        for i in range(m):
            e = T[i, 0]
            for a_ in range(q):
                e -= T[i, 1 + a_] * bv[a_]
            G[i, 0] = -e
            for a_ in range(q):
                v = e * bv[a_]
                for k in range(q):
                    v -= T[i, 1 + k] * Kv[k, a_]
                G[i, 1 + a_] = v
        for a_ in range(q):  # ∂ℓ/∂L = d wᵀ − S L (P + w wᵀ)
            for b_ in range(q):
                v = d[a_] * w[b_]
                for k in range(q):
                    v -= SL[a_, k] * (P[k, b_] + w[k] * w[b_])
                g_L[a_, b_] += v
        if kind != NONE:
            g_phi += whiten_dphi(kind, us, ue, unit_starts, a, coef, X, T, G)
        whiten_transpose(kind, us, ue, unit_starts, a, coef, G, H)
        for i in range(m):
            dls = -1.0
            for cc in range(1 + q):
                dls -= H[i, cc] * X[i, cc]
            g_logsig += dls
            for k in range(r):
                g_delta[k] += V[a + i, k] * dls
            hs = H[i, 0] / sig[i]
            for k in range(p):
                g_theta[k] -= hs * W[a + i, k]
    ll -= 0.5 * n * _LOG_2PI
    return ll, g_theta, g_L, g_logsig / sigma, g_phi, g_delta


@numba.njit(**_JIT)
def serial_draws(kind, block_starts, block_units, unit_starts, gap, y, W, Z, V, theta, L,
                 sigma, phi, delta, eps, mean_only):
    """Draws (or the means) of every block's effects, one per posterior draw: θ (S, p),
    L (S, q, q), σ (S,), φ (S,), δ (S, r), standard normals ε (S, J, q) -> u (S, J, q)."""
    S_ = theta.shape[0]
    q = Z.shape[1]
    nb = len(block_starts) - 1
    mmax = 0
    for j in range(nb):
        mmax = max(mmax, block_starts[j + 1] - block_starts[j])
    X, T, sig = np.empty((mmax, 1 + q)), np.empty((mmax, 1 + q)), np.empty(mmax)
    coef = np.empty((mmax, 5))
    S, C, P = np.empty((q, q)), np.zeros((q, q)), np.empty((q, q))
    SL, Ci = np.empty((q, q)), np.zeros((q, q))
    d, c, w, tmp, v = np.empty(q), np.empty(q), np.empty(q), np.empty(q), np.empty(q)
    out = np.empty((S_, nb, q))
    for s in range(S_):
        Ls = L[s]
        pw = power_table(kind, phi[s], gap)
        for j in range(nb):
            a, b = block_starts[j], block_starts[j + 1]
            standardise(a, b, y, W, Z, V, theta[s], math.log(sigma[s]), delta[s], X, sig)
            us, ue = block_units[j], block_units[j + 1]
            chain_coefs(kind, phi[s], pw, gap, us, ue, unit_starts, a, coef)
            whiten(kind, us, ue, unit_starts, a, coef, X, T)
            woodbury(T, b - a, Ls, S, SL, d, c, C, Ci, w, P, tmp, False)
            forward(C, c, tmp)  # t = C⁻¹c + ε, v = C⁻ᵀ t
            for i in range(q):
                tmp[i] += 0.0 if mean_only else eps[s, j, i]
            backward(C, tmp, v)
            for i in range(q):
                acc = 0.0
                for k in range(q):
                    acc += Ls[i, k] * v[k]
                out[s, j, i] = acc
    return out


@numba.njit(**_JIT)
def serial_loo(kind, block_starts, block_units, unit_starts, gap, E, Z, V, L, sigma, phi,
               delta):
    """log p(y_i | y_−i) of every sorted row and draw: residuals E = y − Wθ (S, n) (or
    y − Wθ − Zu with L = 0, for the density given the group effects), L (S, q, q), σ (S,),
    φ (S,), δ (S, r) -> (S, n). See the module's Notes."""
    S_, n = E.shape
    q, r = Z.shape[1], V.shape[1]
    nb = len(block_starts) - 1
    mmax = 0
    for j in range(nb):
        mmax = max(mmax, block_starts[j + 1] - block_starts[j])
    X, T = np.empty((mmax, 1 + q)), np.empty((mmax, 1 + q))
    G, H = np.empty((mmax, 1 + q)), np.empty((mmax, 1 + q))
    sig, dg, coef = np.empty(mmax), np.empty(mmax), np.empty((mmax, 5))
    S, C, P, Kv = np.empty((q, q)), np.zeros((q, q)), np.empty((q, q)), np.empty((q, q))
    SL, Ci, B = np.empty((q, q)), np.zeros((q, q)), np.empty((q, q))
    d, c, w, tmp, bv = np.empty(q), np.empty(q), np.empty(q), np.empty(q), np.empty(q)
    out = np.empty((S_, n))
    for s in range(S_):
        Ls = L[s]
        pw = power_table(kind, phi[s], gap)
        for j in range(nb):
            a, b = block_starts[j], block_starts[j + 1]
            m = b - a
            us, ue = block_units[j], block_units[j + 1]
            for i in range(a, b):
                ls = math.log(sigma[s])
                for k in range(r):
                    ls += V[i, k] * delta[s, k]
                sig[i - a] = math.exp(ls)
                X[i - a, 0] = E[s, i] / sig[i - a]
                for k in range(q):
                    X[i - a, 1 + k] = Z[i, k] / sig[i - a]
            chain_coefs(kind, phi[s], pw, gap, us, ue, unit_starts, a, coef)
            whiten(kind, us, ue, unit_starts, a, coef, X, T)
            woodbury(T, m, Ls, S, SL, d, c, C, Ci, w, P, tmp, True)
            lower_products(Ls, w, Ci, bv, B, Kv)
            for i in range(m):  # G = [ε̂, Z̃]
                e = T[i, 0]
                for k in range(q):
                    e -= T[i, 1 + k] * bv[k]
                G[i, 0] = e
                for k in range(q):
                    G[i, 1 + k] = T[i, 1 + k]
            whiten_transpose(kind, us, ue, unit_starts, a, coef, G, H)
            gram_diag(kind, us, ue, unit_starts, a, coef, dg)
            for i in range(m):
                qd = dg[i]
                for k1 in range(q):
                    for k2 in range(q):
                        qd -= H[i, 1 + k1] * Kv[k1, k2] * H[i, 1 + k2]
                qd /= sig[i] * sig[i]
                g = H[i, 0] / sig[i]
                out[s, a + i] = -0.5 * _LOG_2PI + 0.5 * math.log(qd) - 0.5 * g * g / qd
    return out


@numba.njit(**_JIT)
def correlated_noise(kind, unit_starts, gap, Z_, phi):
    """Standard residual draws x = K⁻¹ z with corr(x) = R, from standard normals Z_ (S, n)
    in sorted order (one row per draw, φ (S,)); scale them by σ_i to get residuals."""
    S_, n = Z_.shape
    out = np.empty((S_, n))
    nu = len(unit_starts) - 1
    for s in range(S_):
        for u in range(nu):
            a, b = unit_starts[u], unit_starts[u + 1]
            if kind == AR1 or kind == CAR1:
                out[s, a] = Z_[s, a]
                for i in range(a + 1, b):
                    rho, _ = lag_corr(kind, phi[s], gap[i])
                    out[s, i] = rho * out[s, i - 1] + math.sqrt(1.0 - rho * rho) * Z_[s, i]
            elif kind == CS:
                m = b - a
                tot = 0.0
                for i in range(a, b):
                    tot += Z_[s, i]
                lo = math.sqrt(1.0 - phi[s])
                hi = math.sqrt(1.0 + (m - 1) * phi[s])
                for i in range(a, b):
                    out[s, i] = lo * Z_[s, i] + (hi - lo) * tot / m
            else:
                for i in range(a, b):
                    out[s, i] = Z_[s, i]
    return out
