"""Log-density and gradient of a model over cells (:mod:`hiermod.model.cellwise`), in numba.

Coordinates x: the fixed effects as sampled (c), the group sds (log), the partial correlations
(log-odds), the raw group effects z_g — in the order of the PyMC model's value variables
(:mod:`hiermod.compiled.layout`). Given them:

    L_g = diag(sd_g) L_R,g                          (C-vine, :mod:`hiermod.compiled.lkj`)
    u_g,j = L_g v_j,  v_j = A_j⁻¹ L_gᵀ(b0_j − G_j c) + C_j⁻ᵀ z_j,  A_j = I + L_gᵀ P_j L_g = C_j C_jᵀ
            (adaptive; non-centred: u_g,j = L_g z_j)
    η_i = w̃_iᵀ c + o_i + Σ_g z_g,iᵀ u_g,j[i]       (o_i: log exposure for poisson cells)
    log p = Σ_i ℓ(y_i | η_i) + Σ_g,j [½ z_jᵀz_j − ½ v_jᵀv_j − log|C_j|] + log priors(x)

with ℓ the binomial (n_i trials) or poisson log-likelihood, normalising constants included, so
the value equals PyMC's ``compile_logp`` of the same model (tested, with the gradient).

Reverse mode, per group, from ū = ∂/∂u (the likelihood's Σ_i z_i ∂ℓ/∂η_i):

    v̄ = Lᵀū − v,   L̄ += ū vᵀ,   y = C⁻¹ v̄,   z̄ = z + y,   s = C⁻ᵀ y (= A⁻¹ v̄)
    C̄ = −w yᵀ − diag(1/C_aa),   Ā = chol⁻¹-backward(C̄) − ½(s mᵀ + m sᵀ)
    L̄ += 2 P L Ā + b sᵀ,   c̄ −= Gᵀ L s

(w = C⁻ᵀz, m = A⁻¹Lᵀb), then L̄ to the sds and partial correlations as in the marginal path.
"""

from __future__ import annotations

import numba
import numpy as np

from ..compiled import coords
from ..compiled.buffer import part, scalar
from ..compiled.fastmath import exp_clamped, log1p_unit
from ..compiled.linalg import backward, cholesky, cholesky_backward, forward

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
#: scalars of the buffer
(S_NDIM, S_P, S_NCELLS, S_NFAC, S_FAMILY, S_CONST, S_NB, S_BW, S_QMAX, S_QSUM) = range(10)
#: arrays of the buffer (per factor f, three more from A_FACTOR + 3 f: P, G, b0); ``A_Z``
#: holds every factor's varying-effect rows side by side, ``A_INDEX`` every factor's level
(A_PRIOR, A_ROLE, A_BLOCK, A_W, A_OFFSET, A_Y, A_N, A_FTAB, A_Z, A_INDEX, A_FACTOR) = range(11)
BINOMIAL, POISSON = 0, 1
#: cells per block of the likelihood pass
CHUNK = 2048
ADAPTIVE, NONCENTERED = 1, 0


@numba.njit(**_JIT)
def _adaptive_forward(L, P, G, b0, c, z, C, m, w, v, u, M2, M1):
    """One group: C, m, w, v and u of the module docstring; returns ½zᵀz − ½vᵀv − log|C|.
    M2 (≥1, q, q) and M1 (≥3, q) are work space."""
    q = L.shape[0]
    A = M2[0]
    for a in range(q):
        for b in range(q):
            s = 0.0
            for k in range(q):
                for h in range(q):
                    s += L[k, a] * P[k, h] * L[h, b]
            A[a, b] = s + (1.0 if a == b else 0.0)
    logdet = cholesky(A, C)
    bb, r, t = M1[0], M1[1], M1[2]
    for a in range(q):
        s = b0[a]
        for k in range(len(c)):
            s -= G[a, k] * c[k]
        bb[a] = s
    for a in range(q):
        s = 0.0
        for k in range(q):
            s += L[k, a] * bb[k]
        r[a] = s
    forward(C, r, t)
    backward(C, t, m)
    backward(C, z, w)
    corr = -0.5 * logdet
    for a in range(q):
        v[a] = m[a] + w[a]
        corr += 0.5 * z[a] * z[a] - 0.5 * v[a] * v[a]
    for a in range(q):
        s = 0.0
        for k in range(q):
            s += L[a, k] * v[k]
        u[a] = s
    return corr


@numba.njit(**_JIT)
def _adaptive_backward(L, P, G, b0, c, z, C, m, w, v, ubar, zbar, cbar, Lbar, M2, M1):
    """Reverse mode of one group (module docstring): z̄ written, c̄ and L̄ accumulated.
    M2 (≥ 6, q, q) and M1 (≥ 6, q) are work space."""
    q = L.shape[0]
    vbar, y, s_, bb = M1[0], M1[1], M1[2], M1[3]
    for a in range(q):
        s = -v[a]
        for k in range(q):
            s += L[k, a] * ubar[k]
        vbar[a] = s
    for a in range(q):
        for b in range(q):
            Lbar[a, b] += ubar[a] * v[b]
    forward(C, vbar, y)
    for a in range(q):
        zbar[a] = z[a] + y[a]
    backward(C, y, s_)
    Cbar, Abar = M2[0], M2[1]
    for a in range(q):
        for b in range(q):
            Cbar[a, b] = -w[a] * y[b] if b <= a else 0.0
        Cbar[a, a] -= 1.0 / C[a, a]
    cholesky_backward(C, Cbar, Abar, M2[2:], M1[4:])
    for a in range(q):
        for b in range(q):
            Abar[a, b] -= 0.5 * (s_[a] * m[b] + m[a] * s_[b])
    # A = I + Lᵀ P L:  L̄ += 2 P L Ā
    for a in range(q):
        for b in range(q):
            acc = 0.0
            for k in range(q):
                PL = 0.0
                for h in range(q):
                    PL += P[a, h] * L[h, k]
                acc += PL * Abar[k, b]
            Lbar[a, b] += 2.0 * acc
    # r = Lᵀ b, r̄ = s:  L̄ += b sᵀ,  b̄ = L s,  c̄ −= Gᵀ b̄
    for a in range(q):
        t = b0[a]
        for k in range(len(c)):
            t -= G[a, k] * c[k]
        bb[a] = t
    for a in range(q):
        for b in range(q):
            Lbar[a, b] += bb[a] * s_[b]
    for a in range(q):
        bbar = 0.0
        for k in range(q):
            bbar += L[a, k] * s_[k]
        for k in range(len(c)):
            cbar[k] -= G[a, k] * bbar


@numba.njit(**_JIT)
def _adaptive_forward_scalar(l, P, G, b0, c, z, C, m, w, v, u):
    """:func:`_adaptive_forward` for every group of a factor with one varying effect (q = 1,
    scalar algebra: A = 1 + l²P, C = √A, m = l b / A, w = z / C, v = m + w, u = l v); returns
    the sum of the groups' corrections."""
    p = len(c)
    corr = 0.0
    for j in range(len(z)):
        A = 1.0 + l * l * P[j]
        Cj = np.sqrt(A)
        b = b0[j]
        for k in range(p):
            b -= G[j, k] * c[k]
        m[j] = l * b / A
        w[j] = z[j] / Cj
        v[j] = m[j] + w[j]
        C[j] = Cj
        u[j] = l * v[j]
        corr += 0.5 * z[j] * z[j] - 0.5 * v[j] * v[j] - 0.5 * np.log(A)
    return corr


@numba.njit(**_JIT)
def _adaptive_backward_scalar(l, P, G, b0, c, z, C, m, w, v, ubar, zout, cbar):
    """:func:`_adaptive_backward` for q = 1: z̄ − z added to ``zout`` (the prior loop added
    −z), c̄ accumulated; returns L̄. With y = v̄ / C, s = y / C:  C̄ = −w y − 1/C,
    Ā = C̄ / (2C) − s m,  L̄ = Σ ū v + 2 P l Ā + b s."""
    p = len(c)
    lbar = 0.0
    for j in range(len(z)):
        Cj = C[j]
        vbar = l * ubar[j] - v[j]
        y = vbar / Cj
        s_ = y / Cj
        zout[j] += z[j] + y
        Abar = (-w[j] * y - 1.0 / Cj) / (2.0 * Cj) - s_ * m[j]
        b = b0[j]
        for k in range(p):
            b -= G[j, k] * c[k]
        lbar += ubar[j] * v[j] + 2.0 * P[j] * l * Abar + b * s_
        bbar = l * s_
        for k in range(p):
            cbar[k] -= G[j, k] * bbar
    return lbar


@numba.njit(**_JIT)
def _adaptive_forward_pair(L, P, G, b0, c, z, C, m, w, v, u):
    """:func:`_adaptive_forward` for every group of a factor with two varying effects, the 2 × 2
    algebra written out (A = I + LᵀPL = CCᵀ, m = A⁻¹Lᵀb, w = C⁻ᵀz, v = m + w, u = Lv); returns
    the sum of the groups' corrections. C (J, ≥2, ≥2), m, w, v, u (J, ≥2) are written."""
    p = len(c)
    l00, l01, l10, l11 = L[0, 0], L[0, 1], L[1, 0], L[1, 1]
    corr = 0.0
    for j in range(len(b0)):
        p00, p01, p10, p11 = P[j, 0, 0], P[j, 0, 1], P[j, 1, 0], P[j, 1, 1]
        # PL, then A = Lᵀ (PL) + I
        q00 = p00 * l00 + p01 * l10
        q01 = p00 * l01 + p01 * l11
        q10 = p10 * l00 + p11 * l10
        q11 = p10 * l01 + p11 * l11
        a00 = l00 * q00 + l10 * q10 + 1.0
        a10 = l01 * q00 + l11 * q10
        a11 = l01 * q01 + l11 * q11 + 1.0
        c00 = np.sqrt(a00)
        c10 = a10 / c00
        c11 = np.sqrt(a11 - c10 * c10)
        b_0, b_1 = b0[j, 0], b0[j, 1]
        for k in range(p):
            b_0 -= G[j, 0, k] * c[k]
            b_1 -= G[j, 1, k] * c[k]
        r0 = l00 * b_0 + l10 * b_1
        r1 = l01 * b_0 + l11 * b_1
        t0 = r0 / c00
        t1 = (r1 - c10 * t0) / c11
        m1 = t1 / c11
        m0 = (t0 - c10 * m1) / c00
        z0, z1 = z[j, 0], z[j, 1]
        w1 = z1 / c11
        w0 = (z0 - c10 * w1) / c00
        v0, v1 = m0 + w0, m1 + w1
        C[j, 0, 0], C[j, 1, 0], C[j, 0, 1], C[j, 1, 1] = c00, c10, 0.0, c11
        m[j, 0], m[j, 1], w[j, 0], w[j, 1], v[j, 0], v[j, 1] = m0, m1, w0, w1, v0, v1
        u[j, 0] = l00 * v0 + l01 * v1
        u[j, 1] = l10 * v0 + l11 * v1
        corr += (0.5 * (z0 * z0 + z1 * z1) - 0.5 * (v0 * v0 + v1 * v1)
                 - np.log(c00) - np.log(c11))
    return corr


@numba.njit(**_JIT)
def _adaptive_backward_pair(L, P, G, b0, c, z, C, m, w, v, ubar, zout, cbar, Lbar):
    """:func:`_adaptive_backward` for every group of a factor with two varying effects:
    z̄ − z added to ``zout`` (J, 2), c̄ and L̄ (2 × 2) accumulated. Ā from C̄ by Murray's rule
    (S = C⁻ᵀΦ(CᵀC̄)C⁻¹, Ā = ½(S + Sᵀ)) written out for 2 × 2."""
    p = len(c)
    l00, l01, l10, l11 = L[0, 0], L[0, 1], L[1, 0], L[1, 1]
    for j in range(len(b0)):
        c00, c10, c11 = C[j, 0, 0], C[j, 1, 0], C[j, 1, 1]
        m0, m1, w0, w1, v0, v1 = m[j, 0], m[j, 1], w[j, 0], w[j, 1], v[j, 0], v[j, 1]
        ub0, ub1 = ubar[j, 0], ubar[j, 1]
        vb0 = l00 * ub0 + l10 * ub1 - v0
        vb1 = l01 * ub0 + l11 * ub1 - v1
        Lbar[0, 0] += ub0 * v0
        Lbar[0, 1] += ub0 * v1
        Lbar[1, 0] += ub1 * v0
        Lbar[1, 1] += ub1 * v1
        y0 = vb0 / c00
        y1 = (vb1 - c10 * y0) / c11
        zout[j, 0] += z[j, 0] + y0
        zout[j, 1] += z[j, 1] + y1
        s1 = y1 / c11
        s0 = (y0 - c10 * s1) / c00
        # C̄ (lower) and Φ(CᵀC̄)
        cb00 = -w0 * y0 - 1.0 / c00
        cb10 = -w1 * y0
        cb11 = -w1 * y1 - 1.0 / c11
        f00 = 0.5 * (c00 * cb00 + c10 * cb10)
        f10 = c11 * cb10
        f11 = 0.5 * (c11 * cb11)
        # X = C⁻ᵀ Φ (columns), then S = X C⁻¹ (rows solve Cᵀ sᵀ = xᵀ)
        x10 = f10 / c11
        x00 = (f00 - c10 * x10) / c00
        x11 = f11 / c11
        x01 = (0.0 - c10 * x11) / c00
        s_01 = x01 / c11
        s_00 = (x00 - c10 * s_01) / c00
        s_11 = x11 / c11
        s_10 = (x10 - c10 * s_11) / c00
        ab00 = s_00 - s0 * m0
        ab11 = s_11 - s1 * m1
        ab01 = 0.5 * (s_01 + s_10) - 0.5 * (s0 * m1 + m0 * s1)
        # L̄ += 2 P L Ā
        p00, p01, p10, p11 = P[j, 0, 0], P[j, 0, 1], P[j, 1, 0], P[j, 1, 1]
        q00 = p00 * l00 + p01 * l10
        q01 = p00 * l01 + p01 * l11
        q10 = p10 * l00 + p11 * l10
        q11 = p10 * l01 + p11 * l11
        Lbar[0, 0] += 2.0 * (q00 * ab00 + q01 * ab01)
        Lbar[0, 1] += 2.0 * (q00 * ab01 + q01 * ab11)
        Lbar[1, 0] += 2.0 * (q10 * ab00 + q11 * ab01)
        Lbar[1, 1] += 2.0 * (q10 * ab01 + q11 * ab11)
        b_0, b_1 = b0[j, 0], b0[j, 1]
        for k in range(p):
            b_0 -= G[j, 0, k] * c[k]
            b_1 -= G[j, 1, k] * c[k]
        Lbar[0, 0] += b_0 * s0
        Lbar[0, 1] += b_0 * s1
        Lbar[1, 0] += b_1 * s0
        Lbar[1, 1] += b_1 * s1
        bb0 = l00 * s0 + l01 * s1
        bb1 = l10 * s0 + l11 * s1
        for k in range(p):
            cbar[k] -= G[j, 0, k] * bb0 + G[j, 1, k] * bb1


@numba.njit(**_JIT)
def _eta_one_factor(start, m, offset, W, c, Z, index, U, q, eta):
    """η of cells start … start + m − 1 with one grouping factor of q ≤ 2 effects (fixed loop
    bounds: the general loop's inner trip counts of 1–2 cost more than its arithmetic)."""
    p = W.shape[1]
    if q == 1:
        for t in range(m):
            i = start + t
            h = offset[i]
            for k in range(p):
                h += W[i, k] * c[k]
            eta[t] = h + Z[i, 0] * U[index[i, 0], 0]
    else:
        for t in range(m):
            i = start + t
            h = offset[i]
            for k in range(p):
                h += W[i, k] * c[k]
            j = index[i, 0]
            eta[t] = h + Z[i, 0] * U[j, 0] + Z[i, 1] * U[j, 1]


@numba.njit(**_JIT)
def _pull_one_factor(start, m, d, W, Z, index, q, cbar, Ubar):
    """c̄ += Wᵀd and ū_j += Z_jᵀd over cells start … start + m − 1 (one factor, q ≤ 2)."""
    p = W.shape[1]
    for t in range(m):
        i = start + t
        dt = d[t]
        for k in range(p):
            cbar[k] += W[i, k] * dt
        j = index[i, 0]
        Ubar[j, 0] += Z[i, 0] * dt
        if q == 2:
            Ubar[j, 1] += Z[i, 1] * dt


@numba.njit(**_JIT)
def logp_and_grad(buf, x, out):
    """Log-density at unconstrained x; the gradient is written into ``out``."""
    n_dim, p = int(scalar(buf, S_NDIM)), int(scalar(buf, S_P))
    nc, nf = int(scalar(buf, S_NCELLS)), int(scalar(buf, S_NFAC))
    fam, qmax = int(scalar(buf, S_FAMILY)), int(scalar(buf, S_QMAX))
    nb, bw = int(scalar(buf, S_NB)), int(scalar(buf, S_BW))
    prior = part(buf, A_PRIOR).reshape((n_dim, 5))
    role = part(buf, A_ROLE).reshape((n_dim, 3))
    blocks = part(buf, A_BLOCK).reshape((nb, bw))
    W = part(buf, A_W).reshape((nc, p))
    offset, y, n = part(buf, A_OFFSET), part(buf, A_Y), part(buf, A_N)
    ftab = part(buf, A_FTAB).reshape((nf, 5))

    v, dv = np.empty(n_dim), np.empty(n_dim)
    lp = scalar(buf, S_CONST) + coords.priors(prior, x, v, dv, out)
    qs = np.empty(nf, np.int64)
    for f in range(nf):
        qs[f] = int(ftab[f, 1])
    c, sd, LR, Ls, _ = coords.parameters(role, blocks, v, p, qs)
    qsum = int(scalar(buf, S_QSUM))
    Zall = part(buf, A_Z).reshape((nc, qsum))
    Iall = part(buf, A_INDEX).view(np.int64).reshape((nc, nf))  # stored as int64 bits
    # group effects, factor by factor (their per-group work kept for the reverse pass)
    Js = np.zeros(nf, np.int64)
    Jmax = 0
    for f in range(nf):
        Js[f] = int(ftab[f, 0])
        Jmax = max(Jmax, Js[f])
    U = np.zeros((nf, Jmax, qmax))
    Cs = np.zeros((nf, Jmax, qmax, qmax))
    Ms = np.zeros((nf, Jmax, qmax))
    Ws = np.zeros((nf, Jmax, qmax))
    Vs = np.zeros((nf, Jmax, qmax))
    M2 = np.empty((8, qmax, qmax))
    M1 = np.empty((8, qmax))
    for f in range(nf):
        J, q, mode, rs = Js[f], int(ftab[f, 1]), int(ftab[f, 2]), int(ftab[f, 3])
        L = Ls[f, :q, :q]
        z = x[rs:rs + J * q].reshape((J, q))
        if mode == ADAPTIVE and q == 1:
            P = part(buf, A_FACTOR + 3 * f)
            G = part(buf, A_FACTOR + 3 * f + 1).reshape((J, p))
            b0 = part(buf, A_FACTOR + 3 * f + 2)
            lp += _adaptive_forward_scalar(L[0, 0], P, G, b0, c, z[:, 0], Cs[f, :, 0, 0],
                                           Ms[f, :, 0], Ws[f, :, 0], Vs[f, :, 0], U[f, :, 0])
        elif mode == ADAPTIVE and q == 2:
            P = part(buf, A_FACTOR + 3 * f).reshape((J, 2, 2))
            G = part(buf, A_FACTOR + 3 * f + 1).reshape((J, 2, p))
            b0 = part(buf, A_FACTOR + 3 * f + 2).reshape((J, 2))
            lp += _adaptive_forward_pair(L, P, G, b0, c, z, Cs[f], Ms[f], Ws[f], Vs[f], U[f])
        elif mode == ADAPTIVE:
            P = part(buf, A_FACTOR + 3 * f).reshape((J, q, q))
            G = part(buf, A_FACTOR + 3 * f + 1).reshape((J, q, p))
            b0 = part(buf, A_FACTOR + 3 * f + 2).reshape((J, q))
            for j in range(J):
                lp += _adaptive_forward(L, P[j], G[j], b0[j], c, z[j], Cs[f, j, :q, :q],
                                        Ms[f, j, :q], Ws[f, j, :q], Vs[f, j, :q], U[f, j, :q],
                                        M2[:, :q, :q], M1[:, :q])
        else:
            for j in range(J):
                for a in range(q):
                    s = 0.0
                    for b in range(q):
                        s += L[a, b] * z[j, b]
                    U[f, j, a] = s
    # one pass over the cells, in blocks of CHUNK (small work arrays: temporaries of the size
    # of the data would cost page faults on every call): η, the log-likelihood and its
    # pull-back to c and the u's
    cbar = np.zeros(p)
    Ubar = np.zeros((nf, Jmax, qmax))
    zoff = np.zeros(nf, np.int64)
    qf = np.zeros(nf, np.int64)
    for f in range(nf):
        zoff[f], qf[f] = int(ftab[f, 4]), int(ftab[f, 1])
    eta, ex, d, sp = np.empty(CHUNK), np.empty(CHUNK), np.empty(CHUNK), np.empty(CHUNK)
    bits = np.empty(CHUNK, np.int64)
    for start in range(0, nc, CHUNK):
        m = min(CHUNK, nc - start)
        if nf == 1 and qf[0] <= 2:  # the common case, with the loop over effects unrolled
            _eta_one_factor(start, m, offset, W, c, Zall, Iall, U[0], qf[0], eta)
        else:
            for t in range(m):
                i = start + t
                h = offset[i]
                for k in range(p):
                    h += W[i, k] * c[k]
                for f in range(nf):
                    j, o = Iall[i, f], zoff[f]
                    for a in range(qf[f]):
                        h += Zall[i, o + a] * U[f, j, a]
                eta[t] = h
        if fam == BINOMIAL:  # e = exp(−|η|): softplus(η) = max(η, 0) + log1p(e)
            for t in range(m):
                d[t] = -abs(eta[t])
            exp_clamped(d[:m], ex[:m], bits[:m])
            log1p_unit(ex[:m], sp[:m])
            for t in range(m):
                i = start + t
                h, e = eta[t], ex[t]
                pos = h >= 0.0
                lp += y[i] * h - n[i] * ((h if pos else 0.0) + sp[t])
                d[t] = y[i] - n[i] * (1.0 if pos else e) / (1.0 + e)
        else:
            exp_clamped(eta[:m], ex[:m], bits[:m])
            for t in range(m):
                i = start + t
                lp += y[i] * eta[t] - ex[t]
                d[t] = y[i] - ex[t]
        if nf == 1 and qf[0] <= 2:
            _pull_one_factor(start, m, d, W, Zall, Iall, qf[0], cbar, Ubar[0])
        else:
            for t in range(m):
                i = start + t
                for k in range(p):
                    cbar[k] += W[i, k] * d[t]
                for f in range(nf):
                    j, o = Iall[i, f], zoff[f]
                    for a in range(qf[f]):
                        Ubar[f, j, a] += Zall[i, o + a] * d[t]
    Lbars = np.zeros((nf, qmax, qmax))
    for f in range(nf):
        J, q, mode, rs = Js[f], int(ftab[f, 1]), int(ftab[f, 2]), int(ftab[f, 3])
        L = Ls[f, :q, :q]
        z = x[rs:rs + J * q].reshape((J, q))
        Lbar = np.zeros((q, q))
        zbar = np.empty(q)
        if mode == ADAPTIVE and q == 1:
            P = part(buf, A_FACTOR + 3 * f)
            G = part(buf, A_FACTOR + 3 * f + 1).reshape((J, p))
            b0 = part(buf, A_FACTOR + 3 * f + 2)
            Lbar[0, 0] += _adaptive_backward_scalar(
                L[0, 0], P, G, b0, c, z[:, 0], Cs[f, :, 0, 0], Ms[f, :, 0], Ws[f, :, 0],
                Vs[f, :, 0], Ubar[f, :, 0], out[rs:rs + J], cbar)
        elif mode == ADAPTIVE and q == 2:
            P = part(buf, A_FACTOR + 3 * f).reshape((J, 2, 2))
            G = part(buf, A_FACTOR + 3 * f + 1).reshape((J, 2, p))
            b0 = part(buf, A_FACTOR + 3 * f + 2).reshape((J, 2))
            _adaptive_backward_pair(L, P, G, b0, c, z, Cs[f], Ms[f], Ws[f], Vs[f], Ubar[f],
                                    out[rs:rs + 2 * J].reshape((J, 2)), cbar, Lbar)
        elif mode == ADAPTIVE:
            P = part(buf, A_FACTOR + 3 * f).reshape((J, q, q))
            G = part(buf, A_FACTOR + 3 * f + 1).reshape((J, q, p))
            b0 = part(buf, A_FACTOR + 3 * f + 2).reshape((J, q))
            for j in range(J):
                _adaptive_backward(L, P[j], G[j], b0[j], c, z[j], Cs[f, j, :q, :q],
                                   Ms[f, j, :q], Ws[f, j, :q], Vs[f, j, :q], Ubar[f, j, :q],
                                   zbar, cbar, Lbar, M2[:, :q, :q], M1[:, :q])
                for a in range(q):  # the prior loop added −z: the correction adds z back
                    out[rs + j * q + a] += zbar[a]
        else:
            for j in range(J):
                for a in range(q):
                    s = 0.0
                    for k in range(q):
                        s += L[k, a] * Ubar[f, j, k]
                    out[rs + j * q + a] += s
                    for b in range(q):
                        Lbar[a, b] += Ubar[f, j, a] * z[j, b]
        for a in range(q):
            for b in range(q):
                Lbars[f, a, b] = Lbar[a, b]
    coords.pull_back(role, blocks, v, dv, sd, LR, cbar, Lbars, 0.0, out)
    return lp
