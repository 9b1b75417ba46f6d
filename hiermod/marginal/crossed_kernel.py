"""The gaussian marginal log-density with several grouping factors, its gradient and exact
draws of all group effects: one numba kernel (the several-factor counterpart of
:mod:`hiermod.marginal.kernel`).

Notation: Λ = blockdiag(Λ₁, Λ₂) with Λ₁ = I_{J₁} ⊗ L₁ (the eliminated factor) and Λ₂ the
block-diagonal factor of the other factors' effects; S = ZᵀZ; s = σ²; r = y − Wθ; d = Zᵀr;
c = Λᵀd. Then, as for one factor,

    A = I + ΛᵀSΛ/s,   w = A⁻¹c,   Q = cᵀw,
    ℓ = −½ [ n log 2πs + log|A| + (rᵀr − Q/s)/s ],

now with A coupled across factors. A is factorised by blocks: A₁₁ is block diagonal (J₁ blocks
of q₁ × q₁), and the Schur complement of A₁₁,

    F⁻¹ = A₂₂ − Σ_j A₁₂,ⱼᵀ A₁₁,ⱼ⁻¹ A₁₂,ⱼ     (m₂ × m₂, dense),

gives log|A| = Σ_j log|A₁₁,ⱼ| + log|F⁻¹| and the blocks of A⁻¹ that the gradient needs:
(A⁻¹)₂₂ = F, (A⁻¹)₁ⱼ,₂ = −Tⱼ F, (A⁻¹)₁ⱼ,₁ⱼ = A₁₁,ⱼ⁻¹ + Tⱼ F Tⱼᵀ with Tⱼ = A₁₁,ⱼ⁻¹ A₁₂,ⱼ.

Gradients (the one-factor formulas of :mod:`hiermod.marginal.kernel` with Λ and A global;
H = A⁻¹/s + w wᵀ/s³):

    ∂ℓ/∂θ = Wᵀr/s − (ZᵀW)ᵀ Λ w / s²
    ∂ℓ/∂Λ = d wᵀ/s² − S Λ H                      (its diagonal blocks, summed per factor,
                                                  give ∂ℓ/∂L_g)
    ∂ℓ/∂s = −½ (n − m + tr A⁻¹)/s + ½ rᵀr/s² − ½ (Q + wᵀw)/s³,   ∂ℓ/∂σ = 2σ ∂ℓ/∂s.

Cost per evaluation: O(Σ_j nnzⱼ m₂ + m₂³) for the factorisation and the gradient, where nnzⱼ
counts the columns of the rest that level j of the eliminated factor meets (a primary school
feeds few secondary schools: the sparse blocks are skipped, the dense loops run contiguous).
When most levels meet most others (:func:`dense_crossing`), the two O(J₁ q₁ m₂²) sums —
Σ_j A₁₂ⱼᵀTⱼ in the Schur complement and TⱼF for all j in the gradient — are one BLAS matrix
product each, several times faster than loops at the same count of multiplications; the
callers keep BLAS single-threaded (:mod:`hiermod.compiled.blas`).

Draws: v₂ = w₂/s + R⁻ᵀε₂ (F⁻¹ = R Rᵀ), then v₁ⱼ = A₁₁,ⱼ⁻¹(c₁ⱼ/s − A₁₂,ⱼ v₂) + K_j⁻ᵀε₁ⱼ
(A₁₁,ⱼ = K_j K_jᵀ), u = Λ v: an exact draw of all group effects from their joint conditional
posterior.
"""

from __future__ import annotations

import numba
import numpy as np

from ..compiled.linalg import backward, cholesky, cholesky_inverse, forward

_LOG_2PI = float(np.log(2 * np.pi))
_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


#: the fraction of (level j, column k) pairs of Z₁ᵀZ₂ that are non-zero above which the Σ_j
#: terms are cheaper as dense BLAS products than as loops over the non-zero columns (measured
#: crossovers, one CPU thread: ~0.1 for 1000 × 50 levels, ~0.2 for 500 × 200, ~0.26 for
#: 2000 × 300)
DENSE_FRACTION = 0.2


def dense_crossing(Z1tZ2: np.ndarray) -> bool:
    """Whether the levels of the eliminated factor meet most levels of the others
    (:data:`DENSE_FRACTION`): the kernels then take the BLAS route."""
    return bool(Z1tZ2.size) and float(np.mean(np.any(Z1tZ2 != 0.0, axis=1))) > DENSE_FRACTION


@numba.njit(**_JIT)
def rest_layout(rest, m2):
    """Per position k of the dense part: its factor (index into ``rest``), block start, term
    and block size; ``rest`` rows are (offset, J, q)."""
    fac = np.empty(m2, np.int64)
    st = np.empty(m2, np.int64)
    term = np.empty(m2, np.int64)
    bq = np.empty(m2, np.int64)
    for g in range(rest.shape[0]):
        o, J, q = int(rest[g, 0]), int(rest[g, 1]), int(rest[g, 2])
        for j in range(J):
            for a in range(q):
                k = o + j * q + a
                fac[k], st[k], term[k], bq[k] = g, o + j * q, a, q
    return fac, st, term, bq


@numba.njit(**_JIT)
def rmul_lam2(X, Lr, fac, st, term, bq, out):
    """out = X Λ₂ (X: r × m₂); row by row, and as a column scaling when every block of Λ₂ is
    1 × 1 (intercepts only)."""
    r, m2 = X.shape
    if np.all(bq == 1):
        lam = np.empty(m2)
        for k in range(m2):
            lam[k] = Lr[fac[k], 0, 0]
        for i in range(r):
            for k in range(m2):
                out[i, k] = X[i, k] * lam[k]
        return
    for i in range(r):
        for k in range(m2):
            f, s0, a = fac[k], st[k], term[k]
            v = 0.0
            for b in range(bq[k]):
                v += X[i, s0 + b] * Lr[f, b, a]
            out[i, k] = v


@numba.njit(**_JIT)
def lam2_vec(x, Lr, fac, st, term, bq, transpose, out):
    """out = Λ₂ x, or Λ₂ᵀ x with ``transpose``."""
    m2 = len(x)
    for k in range(m2):
        f, s0, a = fac[k], st[k], term[k]
        v = 0.0
        for b in range(bq[k]):
            v += (Lr[f, b, a] if transpose else Lr[f, a, b]) * x[s0 + b]
        out[k] = v


@numba.njit(**_JIT)
def _solve_blocks(Kj, X, out):
    """out = (Kj Kjᵀ)⁻¹ X for a q × m right-hand side, all columns at once (Kj lower)."""
    q, m = X.shape
    for a in range(q):
        inv = 1.0 / Kj[a, a]
        for k in range(m):
            v = X[a, k]
            for h in range(a):
                v -= Kj[a, h] * out[h, k]
            out[a, k] = v * inv
    for a in range(q - 1, -1, -1):
        inv = 1.0 / Kj[a, a]
        for k in range(m):
            v = out[a, k]
            for h in range(a + 1, q):
                v -= Kj[h, a] * out[h, k]
            out[a, k] = v * inv


@numba.njit(**_JIT)
def _factor(Z1tZ1, Z1tZ2, Z2tZ2, L1, Lr, fac, st, term, bq, s, dense):
    """A₁₁ blocks' Cholesky K (J₁, q₁, q₁), A₁₂ (J₁, q₁, m₂), T = A₁₁⁻¹A₁₂, the Schur complement's
    Cholesky R, log|A| and Z₁ᵀZ₂Λ₂ (J₁, q₁, m₂). Sparse crossings: the lower triangle only,
    from the non-zero entries of each A₁₂,ⱼ (a level of the eliminated factor meets few levels
    of the others); ``dense`` ones: Σ_j A₁₂,ⱼᵀTⱼ as one matrix product (BLAS)."""
    J1, q1, m2 = Z1tZ2.shape
    K = np.zeros((J1, q1, q1))
    A12 = np.empty((J1, q1, m2))
    T = np.empty((J1, q1, m2))
    ZL = np.empty((J1, q1, m2))
    rmul_lam2(Z1tZ2.reshape((J1 * q1, m2)), Lr, fac, st, term, bq, ZL.reshape((J1 * q1, m2)))
    A = np.empty((q1, q1))
    logdet = 0.0
    Sc = np.empty((m2, m2))
    X2 = np.empty((m2, m2))
    rmul_lam2(Z2tZ2, Lr, fac, st, term, bq, X2)  # S₂₂ Λ₂
    X2t = np.ascontiguousarray(X2.T)
    rmul_lam2(X2t, Lr, fac, st, term, bq, Sc)  # (S₂₂Λ₂)ᵀΛ₂ = Λ₂ᵀS₂₂Λ₂
    for a in range(m2):
        for b in range(m2):
            Sc[a, b] = Sc[a, b] / s + (1.0 if a == b else 0.0)
    for j in range(J1):
        for a in range(q1):
            for b in range(q1):
                v = 0.0
                for k in range(q1):
                    for h in range(q1):
                        v += L1[k, a] * Z1tZ1[j, k, h] * L1[h, b]
                A[a, b] = v / s + (1.0 if a == b else 0.0)
        logdet += cholesky(A, K[j])
        # A₁₂ⱼ = L₁ᵀ Z₁ⱼᵀZ₂ Λ₂ / s
        tmp = ZL[j]
        A12j, Tj = A12[j], T[j]
        for a in range(q1):
            for k in range(m2):
                v = 0.0
                for h in range(q1):
                    v += L1[h, a] * tmp[h, k]
                A12j[a, k] = v / s
        _solve_blocks(K[j], A12j, Tj)
        if dense:
            continue
        for h in range(q1):
            for a in range(m2):
                x = A12j[h, a]
                if x != 0.0:
                    for b in range(a + 1):
                        Sc[a, b] -= x * Tj[h, b]
    if dense:
        Sc -= np.dot(A12.reshape((J1 * q1, m2)).T, T.reshape((J1 * q1, m2)))
    R = np.zeros((m2, m2))
    logdet += cholesky(Sc, R)
    return K, A12, T, R, logdet, ZL


@numba.njit(**_JIT)
def _inverse_from_cholesky(R):
    """F = (R Rᵀ)⁻¹ = R⁻ᵀR⁻¹: R⁻¹ by row operations (lower triangular, contiguous rows), then
    the product (BLAS)."""
    m = R.shape[0]
    X = np.zeros((m, m))
    for i in range(m):
        X[i, i] = 1.0
    for j in range(m):
        inv = 1.0 / R[j, j]
        for k in range(j + 1):
            X[j, k] *= inv
        for i in range(j + 1, m):
            r = R[i, j]
            if r != 0.0:
                for k in range(j + 1):
                    X[i, k] -= r * X[j, k]
    return np.dot(X.T, X)


@numba.njit(**_JIT)
def _projections(Z1tW, Z1ty, Z2tW, Z2ty, theta, L1, Lr, fac, st, term, bq):
    """d = Zᵀ(y − Wθ) and c = Λᵀd, in the two parts: d₁, c₁ (J₁, q₁), d₂, c₂ (m₂)."""
    J1, q1, p = Z1tW.shape
    m2 = len(Z2ty)
    d1 = np.empty((J1, q1))
    c1 = np.empty((J1, q1))
    for j in range(J1):
        for a in range(q1):
            v = Z1ty[j, a]
            for k in range(p):
                v -= Z1tW[j, a, k] * theta[k]
            d1[j, a] = v
        for a in range(q1):
            v = 0.0
            for h in range(q1):
                v += L1[h, a] * d1[j, h]
            c1[j, a] = v
    d2 = np.empty(m2)
    for a in range(m2):
        v = Z2ty[a]
        for k in range(p):
            v -= Z2tW[a, k] * theta[k]
        d2[a] = v
    c2 = np.empty(m2)
    lam2_vec(d2, Lr, fac, st, term, bq, True, c2)
    return d1, c1, d2, c2


@numba.njit(**_JIT)
def _schur_rhs(K, A12, c1, c2):
    """y₁ⱼ = A₁₁,ⱼ⁻¹ c₁ⱼ and the Schur system's right-hand side c₂ − Σ_j A₁₂,ⱼᵀ y₁ⱼ."""
    J1, q1, m2 = A12.shape
    y1 = np.empty((J1, q1))
    t1 = np.empty(q1)
    rhs2 = c2.copy()
    for j in range(J1):
        forward(K[j], c1[j], t1)
        backward(K[j], t1, y1[j])
        for k in range(m2):
            v = 0.0
            for a in range(q1):
                v += A12[j, a, k] * y1[j, a]
            rhs2[k] -= v
    return y1, rhs2


@numba.njit(**_JIT)
def _l1_gradient(Z1tZ1j, L1, H11, d1j, w1j, s, g_L1):
    """g_L1 += d₁ⱼw₁ⱼᵀ/s² − S₁₁ⱼ L₁ H₁₁ (the part of block (1j, 1j) of SΛH from factor 1)."""
    q1 = L1.shape[0]
    for a in range(q1):
        for b in range(q1):
            v = 0.0
            for k in range(q1):
                SL = 0.0
                for h in range(q1):
                    SL += Z1tZ1j[a, h] * L1[h, k]
                v += SL * H11[k, b]
            g_L1[a, b] += d1j[a] * w1j[b] / (s * s) - v


@numba.njit(**_JIT)
def _blocks_sparse(Z1tZ1, Z1tZ2, ZL, K, T, F, L1, d1, w1, w2, st, bq, s, g_L1, D2):
    """The eliminated factor's blocks of H = A⁻¹/s + wwᵀ/s³ in the gradient, level by level,
    over the columns each level meets: accumulates ∂ℓ/∂L₁ into g_L1 and the rest's diagonal
    blocks of SΛH into D2; returns Σ_j tr (A⁻¹)₁ⱼ,₁ⱼ."""
    J1, q1, m2 = T.shape
    s3 = s * s * s
    TF = np.zeros((q1, m2))
    H11 = np.empty((q1, q1))
    H21 = np.zeros((m2, q1))
    Kinv = np.empty((q1, q1))
    e, t1, col = np.zeros(q1), np.empty(q1), np.empty(q1)
    nz = np.empty(m2, np.int64)
    used = np.zeros(m2, np.bool_)
    tr = 0.0
    for j in range(J1):
        # the columns where Z₁ⱼᵀZ₂ or Z₁ⱼᵀZ₂Λ₂ is non-zero (Tⱼ = A₁₁,ⱼ⁻¹L₁ᵀZ₁ⱼᵀZ₂Λ₂/s mixes
        # rows only, so it is zero elsewhere too): every term below is then multiplied by an
        # exact zero, so only these columns of TF and H₂₁ are needed — as whole diagonal blocks
        # of Λ₂, which the last loop reads together
        tmp = ZL[j]
        used[:] = False
        for k in range(m2):
            for a in range(q1):
                if Z1tZ2[j, a, k] != 0.0 or tmp[a, k] != 0.0:
                    used[st[k]] = True
        n_nz = 0
        for k in range(m2):
            if used[st[k]]:
                nz[n_nz] = k
                n_nz += 1
        cholesky_inverse(K[j], Kinv, e, t1, col)
        for a in range(q1):  # TF = Tⱼ F over all columns (contiguous: vectorised)
            for k in range(m2):
                TF[a, k] = 0.0
            for i in range(n_nz):
                h = nz[i]
                t = T[j, a, h]
                for k in range(m2):
                    TF[a, k] += t * F[h, k]
        for a in range(q1):
            for b in range(q1):
                v = Kinv[a, b]
                for i in range(n_nz):
                    k = nz[i]
                    v += TF[a, k] * T[j, b, k]
                if a == b:
                    tr += v
                H11[a, b] = v / s + w1[j, a] * w1[j, b] / s3
        for i in range(n_nz):
            k = nz[i]
            for b in range(q1):
                H21[k, b] = -TF[b, k] / s + w2[k] * w1[j, b] / s3
        # block (1j, 1j) of SΛH: S₁₁ⱼ L₁ H₁₁ + Z₁ⱼᵀZ₂ Λ₂ H₂₁
        _l1_gradient(Z1tZ1[j], L1, H11, d1[j], w1[j], s, g_L1)
        for a in range(q1):
            for b in range(q1):
                v = 0.0
                for i in range(n_nz):
                    k = nz[i]
                    v += tmp[a, k] * H21[k, b]
                g_L1[a, b] -= v
        # rest blocks, from factor 1: (Z₁ⱼᵀZ₂)ᵀ L₁ H₁₂ on the diagonal blocks
        for i in range(n_nz):
            k = nz[i]
            s0 = st[k]
            for b in range(bq[k]):
                kk = s0 + b  # column of the diagonal block
                v = 0.0
                for a in range(q1):
                    LH = 0.0
                    for h in range(q1):
                        LH += L1[a, h] * H21[kk, h]
                    v += Z1tZ2[j, a, k] * LH
                D2[k, b] += v
    return tr


@numba.njit(**_JIT)
def _blocks_dense(Z1tZ1, Z1tZ2, ZL, K, T, F, L1, d1, w1, w2, st, bq, s, g_L1, D2):
    """:func:`_blocks_sparse` for a dense crossing: TⱼF for all j as one matrix product (BLAS),
    then contiguous loops over all m₂ columns (H₁₂ⱼ = H₂₁ⱼᵀ kept row-major)."""
    J1, q1, m2 = T.shape
    s3 = s * s * s
    G = np.dot(T.reshape((J1 * q1, m2)), F).reshape((J1, q1, m2))  # Tⱼ F
    H11 = np.empty((q1, q1))
    H12 = np.empty((q1, m2))
    LH = np.empty((q1, m2))
    Kinv = np.empty((q1, q1))
    e, t1, col = np.zeros(q1), np.empty(q1), np.empty(q1)
    scalar_blocks = np.all(bq == 1)
    tr = 0.0
    for j in range(J1):
        cholesky_inverse(K[j], Kinv, e, t1, col)
        Gj, Tj, ZLj, Zj = G[j], T[j], ZL[j], Z1tZ2[j]
        for a in range(q1):
            for b in range(q1):
                v = Kinv[a, b]
                for k in range(m2):
                    v += Gj[a, k] * Tj[b, k]
                if a == b:
                    tr += v
                H11[a, b] = v / s + w1[j, a] * w1[j, b] / s3
        for b in range(q1):
            x = w1[j, b] / s3
            for k in range(m2):
                H12[b, k] = x * w2[k] - Gj[b, k] / s
        _l1_gradient(Z1tZ1[j], L1, H11, d1[j], w1[j], s, g_L1)
        for a in range(q1):
            for b in range(q1):
                v = 0.0
                for k in range(m2):
                    v += ZLj[a, k] * H12[b, k]
                g_L1[a, b] -= v
        # (Z₁ⱼᵀZ₂)ᵀ L₁ H₁₂ on the diagonal blocks
        for a in range(q1):
            for k in range(m2):
                LH[a, k] = 0.0
            for h in range(q1):
                x = L1[a, h]
                for k in range(m2):
                    LH[a, k] += x * H12[h, k]
        if scalar_blocks:
            for a in range(q1):
                for k in range(m2):
                    D2[k, 0] += Zj[a, k] * LH[a, k]
        else:
            for a in range(q1):
                for k in range(m2):
                    z = Zj[a, k]
                    for b in range(bq[k]):
                        D2[k, b] += z * LH[a, st[k] + b]
    return tr


@numba.njit(**_JIT)
def crossed_terms(Z1tZ1, Z1tW, Z1ty, Z1tZ2, Z2tZ2, Z2tW, Z2ty, WtW, Wty, yty, nn, rest,
                  theta, L1, Lr, sig, dense):
    """(ℓ, ∂ℓ/∂θ, ∂ℓ/∂L₁, ∂ℓ/∂L_g of the rest (n_rest, q, q), ∂ℓ/∂σ); ``dense``: the crossing
    is dense (:func:`dense_crossing`), so Σ_j terms go through BLAS matrix products."""
    J1, q1, m2 = Z1tZ2.shape
    p = len(theta)
    s = sig * sig
    fac, st, term, bq = rest_layout(rest, m2)
    K, A12, T, R, logdet, ZL = _factor(Z1tZ1, Z1tZ2, Z2tZ2, L1, Lr, fac, st, term, bq, s, dense)
    F = _inverse_from_cholesky(R)
    # residual terms
    rss = yty
    g_theta = np.zeros(p)
    for k in range(p):
        wk = 0.0
        for h in range(p):
            wk += WtW[k, h] * theta[h]
        rss += theta[k] * (wk - 2.0 * Wty[k])
        g_theta[k] = (Wty[k] - wk) / s
    d1, c1, d2, c2 = _projections(Z1tW, Z1ty, Z2tW, Z2ty, theta, L1, Lr, fac, st, term, bq)
    # w = A⁻¹ c by blocks
    y1, rhs2 = _schur_rhs(K, A12, c1, c2)
    w2 = np.empty(m2)
    t2 = np.empty(m2)
    forward(R, rhs2, t2)
    backward(R, t2, w2)
    w1 = np.empty((J1, q1))
    for j in range(J1):
        for a in range(q1):
            v = y1[j, a]
            for k in range(m2):
                v -= T[j, a, k] * w2[k]
            w1[j, a] = v
    Q, ww = 0.0, 0.0
    for j in range(J1):
        for a in range(q1):
            Q += c1[j, a] * w1[j, a]
            ww += w1[j, a] * w1[j, a]
    for k in range(m2):
        Q += c2[k] * w2[k]
        ww += w2[k] * w2[k]
    ll = -0.5 * (nn * (_LOG_2PI + np.log(s)) + logdet + (rss - Q / s) / s)
    # ∂θ: − (ZᵀW)ᵀ Λ w / s²
    Lw1 = np.empty((J1, q1))
    for j in range(J1):
        for a in range(q1):
            v = 0.0
            for b in range(q1):
                v += L1[a, b] * w1[j, b]
            Lw1[j, a] = v
    Lw2 = np.empty(m2)
    lam2_vec(w2, Lr, fac, st, term, bq, False, Lw2)
    for k in range(p):
        v = 0.0
        for j in range(J1):
            for a in range(q1):
                v += Z1tW[j, a, k] * Lw1[j, a]
        for a in range(m2):
            v += Z2tW[a, k] * Lw2[a]
        g_theta[k] -= v / (s * s)
    # tr A⁻¹ and the H blocks
    trA = 0.0
    for a in range(m2):
        trA += F[a, a]
    s3 = s * s * s
    g_L1 = np.zeros((q1, q1))
    n_rest = rest.shape[0]
    qmax = Lr.shape[1]
    g_Lr = np.zeros((n_rest, qmax, qmax))
    # diagonal blocks of the rest part of S Λ H, accumulated: D2[k, b] = (SΛH)[k, st_k + b]
    D2 = np.zeros((m2, qmax))
    if dense:
        trA += _blocks_dense(Z1tZ1, Z1tZ2, ZL, K, T, F, L1, d1, w1, w2, st, bq, s, g_L1, D2)
    else:
        trA += _blocks_sparse(Z1tZ1, Z1tZ2, ZL, K, T, F, L1, d1, w1, w2, st, bq, s, g_L1, D2)
    # rest blocks, from the rest: S₂₂ Λ₂ H₂₂, H₂₂ = F/s + w₂w₂ᵀ/s³
    SL2 = np.empty((m2, m2))
    rmul_lam2(Z2tZ2, Lr, fac, st, term, bq, SL2)
    for k in range(m2):
        s0 = st[k]
        for b in range(bq[k]):
            kk = s0 + b
            v = 0.0
            for h in range(m2):
                v += SL2[k, h] * (F[h, kk] / s + w2[h] * w2[kk] / s3)
            D2[k, b] += v
    for k in range(m2):
        f, s0, a = fac[k], st[k], term[k]
        for b in range(bq[k]):
            g_Lr[f, a, b] += d2[k] * w2[s0 + b] / (s * s) - D2[k, b]
    m = J1 * q1 + m2
    g_s = -0.5 * (nn - m + trA) / s + 0.5 * rss / (s * s) - 0.5 * (Q + ww) / s3
    return ll, g_theta, g_L1, g_Lr, 2.0 * sig * g_s


@numba.njit(**_JIT)
def crossed_draws(Z1tZ1, Z1tW, Z1ty, Z1tZ2, Z2tZ2, Z2tW, Z2ty, rest, theta, L1, Lr, sigma,
                  eps1, eps2, mean_only, dense):
    """Draws of all group effects, one per posterior draw: θ (S, p), L₁ (S, q₁, q₁),
    Lr (S, n_rest, q, q), σ (S,), standard normals ε₁ (S, J₁, q₁), ε₂ (S, m₂) ->
    (u₁ (S, J₁, q₁), u₂ (S, m₂))."""
    S = theta.shape[0]
    J1, q1, m2 = Z1tZ2.shape
    fac, st, term, bq = rest_layout(rest, m2)
    u1 = np.empty((S, J1, q1))
    u2 = np.empty((S, m2))
    for i in range(S):
        s = sigma[i] * sigma[i]
        K, A12, T, R, _, _ = _factor(Z1tZ1, Z1tZ2, Z2tZ2, L1[i], Lr[i], fac, st, term, bq, s,
                                     dense)
        _, c1, _, c2 = _projections(Z1tW, Z1ty, Z2tW, Z2ty, theta[i], L1[i], Lr[i], fac, st,
                                    term, bq)
        c1 /= s
        y1, rhs2 = _schur_rhs(K, A12, c1, c2 / s)
        t1 = np.empty(q1)
        t2 = np.empty(m2)
        v2 = np.empty(m2)
        forward(R, rhs2, t2)
        if not mean_only:
            for k in range(m2):
                t2[k] += eps2[i, k]
        backward(R, t2, v2)
        out2 = np.empty(m2)
        lam2_vec(v2, Lr[i], fac, st, term, bq, False, out2)
        u2[i] = out2
        r1 = np.empty(q1)
        v1 = np.empty(q1)
        for j in range(J1):
            for a in range(q1):
                v = c1[j, a]
                for k in range(m2):
                    v -= A12[j, a, k] * v2[k]
                r1[a] = v
            forward(K[j], r1, t1)
            if not mean_only:
                for a in range(q1):
                    t1[a] += eps1[i, j, a]
            backward(K[j], t1, v1)
            for a in range(q1):
                v = 0.0
                for b in range(q1):
                    v += L1[i, a, b] * v1[b]
                u1[i, j, a] = v
    return u1, u2
