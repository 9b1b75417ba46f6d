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

import math

import numba
import numpy as np

from ..compiled.buffer import part, scalar
from ..compiled.layout import ROLE_CODES
from ..compiled.linalg import backward, cholesky, cholesky_backward, forward
from ..compiled.lkj import block_backward, block_forward
from ..compiled.priors import unconstrained_logp
from ..model.parts import FIXED, SD

_FIXED, _SD = ROLE_CODES[FIXED], ROLE_CODES[SD]
_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
#: scalars of the buffer
(S_NDIM, S_P, S_NCELLS, S_NFAC, S_FAMILY, S_CONST, S_NB, S_BW, S_QMAX) = range(9)
#: arrays of the buffer (per factor f, five more from A_FACTOR + 5 f)
(A_PRIOR, A_ROLE, A_BLOCK, A_W, A_OFFSET, A_Y, A_N, A_FTAB, A_FACTOR) = range(9)
BINOMIAL, POISSON = 0, 1
ADAPTIVE, NONCENTERED = 1, 0


@numba.njit(**_JIT)
def _loglik(fam, y, n, eta, deta):
    """Σ_i ℓ(y_i | η_i) without constants; ∂ℓ/∂η_i written into deta.

    Binomial: with e = exp(−|η|), softplus(η) = max(η, 0) + log1p(e) and
    logit⁻¹(η) = 1/(1 + e) (η ≥ 0) or e/(1 + e): one exp and one log1p per cell."""
    total = 0.0
    if fam == BINOMIAL:
        for i in range(len(y)):
            h = eta[i]
            e = math.exp(-abs(h))
            total += y[i] * h - n[i] * (max(h, 0.0) + math.log1p(e))
            p = 1.0 / (1.0 + e) if h >= 0.0 else e / (1.0 + e)
            deta[i] = y[i] - n[i] * p
    else:
        for i in range(len(y)):
            mu = math.exp(eta[i])
            total += y[i] * eta[i] - mu
            deta[i] = y[i] - mu
    return total


@numba.njit(**_JIT)
def _adaptive_forward(L, P, G, b0, c, z, C, m, w, v, u):
    """One group: C, m, w, v and u of the module docstring; returns ½zᵀz − ½vᵀv − log|C|."""
    q = L.shape[0]
    A = np.empty((q, q))
    for a in range(q):
        for b in range(q):
            s = 0.0
            for k in range(q):
                for h in range(q):
                    s += L[k, a] * P[k, h] * L[h, b]
            A[a, b] = s + (1.0 if a == b else 0.0)
    logdet = cholesky(A, C)
    bb = np.empty(q)
    r = np.empty(q)
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
    t = np.empty(q)
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
def _adaptive_backward(L, P, G, b0, c, z, C, m, w, v, ubar, zbar, cbar, Lbar):
    """Reverse mode of one group (module docstring): z̄ written, c̄ and L̄ accumulated."""
    q = L.shape[0]
    vbar = np.empty(q)
    for a in range(q):
        s = -v[a]
        for k in range(q):
            s += L[k, a] * ubar[k]
        vbar[a] = s
    for a in range(q):
        for b in range(q):
            Lbar[a, b] += ubar[a] * v[b]
    y = np.empty(q)
    forward(C, vbar, y)
    for a in range(q):
        zbar[a] = z[a] + y[a]
    s_ = np.empty(q)
    backward(C, y, s_)
    Cbar = np.zeros((q, q))
    for a in range(q):
        for b in range(a + 1):
            Cbar[a, b] = -w[a] * y[b]
        Cbar[a, a] -= 1.0 / C[a, a]
    Abar = np.empty((q, q))
    cholesky_backward(C, Cbar, Abar)
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
    bb = np.empty(q)
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
    ftab = part(buf, A_FTAB).reshape((nf, 4))

    v = np.empty(n_dim)
    dv = np.empty(n_dim)
    lp = scalar(buf, S_CONST)
    for i in range(n_dim):
        vi, dvi, lpi, gi = unconstrained_logp(int(prior[i, 0]), int(prior[i, 1]), prior[i, 2],
                                              prior[i, 3], prior[i, 4], x[i])
        v[i], dv[i] = vi, dvi
        lp += lpi
        out[i] = gi
    c = np.zeros(p)
    sd = np.zeros((nf, qmax))
    LR = np.zeros((nf, qmax, qmax))
    for f in range(nf):
        for a in range(int(ftab[f, 1])):
            LR[f, a, a] = 1.0
    for i in range(n_dim):
        r, f, k = int(role[i, 0]), int(role[i, 1]), int(role[i, 2])
        if r == _FIXED:
            c[k] += v[i]
        elif r == _SD:
            sd[f, k] = v[i]
    for bk in range(nb):
        block_forward(blocks[bk], v, LR[int(blocks[bk, 2])])
    eta = offset.copy()
    for i in range(nc):
        s = 0.0
        for k in range(p):
            s += W[i, k] * c[k]
        eta[i] += s
    # group effects, factor by factor (their per-group work kept for the reverse pass)
    Js = np.zeros(nf, np.int64)
    for f in range(nf):
        Js[f] = int(ftab[f, 0])
    Jmax = 0
    for f in range(nf):
        Jmax = max(Jmax, Js[f])
    U = np.zeros((nf, Jmax, qmax))
    Cs = np.zeros((nf, Jmax, qmax, qmax))
    Ms = np.zeros((nf, Jmax, qmax))
    Ws = np.zeros((nf, Jmax, qmax))
    Vs = np.zeros((nf, Jmax, qmax))
    for f in range(nf):
        J, q, mode, rs = Js[f], int(ftab[f, 1]), int(ftab[f, 2]), int(ftab[f, 3])
        L = np.empty((q, q))
        for a in range(q):
            for b in range(q):
                L[a, b] = sd[f, a] * LR[f, a, b]
        Z = part(buf, A_FACTOR + 5 * f).reshape((nc, q))
        idx = part(buf, A_FACTOR + 5 * f + 1)
        z = x[rs:rs + J * q].reshape((J, q))
        if mode == ADAPTIVE:
            P = part(buf, A_FACTOR + 5 * f + 2).reshape((J, q, q))
            G = part(buf, A_FACTOR + 5 * f + 3).reshape((J, q, p))
            b0 = part(buf, A_FACTOR + 5 * f + 4).reshape((J, q))
            for j in range(J):
                lp += _adaptive_forward(L, P[j], G[j], b0[j], c, z[j], Cs[f, j, :q, :q],
                                        Ms[f, j, :q], Ws[f, j, :q], Vs[f, j, :q], U[f, j, :q])
        else:
            for j in range(J):
                for a in range(q):
                    s = 0.0
                    for b in range(q):
                        s += L[a, b] * z[j, b]
                    U[f, j, a] = s
        for i in range(nc):
            j = int(idx[i])
            s = 0.0
            for a in range(q):
                s += Z[i, a] * U[f, j, a]
            eta[i] += s
    deta = np.empty(nc)
    lp += _loglik(fam, y, n, eta, deta)
    cbar = np.zeros(p)
    for i in range(nc):
        for k in range(p):
            cbar[k] += W[i, k] * deta[i]
    Lbars = np.zeros((nf, qmax, qmax))
    for f in range(nf):
        J, q, mode, rs = Js[f], int(ftab[f, 1]), int(ftab[f, 2]), int(ftab[f, 3])
        Z = part(buf, A_FACTOR + 5 * f).reshape((nc, q))
        idx = part(buf, A_FACTOR + 5 * f + 1)
        ubar = np.zeros((J, q))
        for i in range(nc):
            j = int(idx[i])
            for a in range(q):
                ubar[j, a] += Z[i, a] * deta[i]
        L = np.empty((q, q))
        for a in range(q):
            for b in range(q):
                L[a, b] = sd[f, a] * LR[f, a, b]
        z = x[rs:rs + J * q].reshape((J, q))
        Lbar = np.zeros((q, q))
        zbar = np.empty(q)
        if mode == ADAPTIVE:
            P = part(buf, A_FACTOR + 5 * f + 2).reshape((J, q, q))
            G = part(buf, A_FACTOR + 5 * f + 3).reshape((J, q, p))
            b0 = part(buf, A_FACTOR + 5 * f + 4).reshape((J, q))
            for j in range(J):
                _adaptive_backward(L, P[j], G[j], b0[j], c, z[j], Cs[f, j, :q, :q],
                                   Ms[f, j, :q], Ws[f, j, :q], Vs[f, j, :q], ubar[j], zbar,
                                   cbar, Lbar)
                for a in range(q):  # the prior loop added −z: the correction adds z back
                    out[rs + j * q + a] += zbar[a]
        else:
            for j in range(J):
                for a in range(q):
                    s = 0.0
                    for k in range(q):
                        s += L[k, a] * ubar[j, k]
                    out[rs + j * q + a] += s
                    for b in range(q):
                        Lbar[a, b] += ubar[j, a] * z[j, b]
        for a in range(q):
            for b in range(q):
                Lbars[f, a, b] = Lbar[a, b]
    for i in range(n_dim):
        r, f, k = int(role[i, 0]), int(role[i, 1]), int(role[i, 2])
        if r == _FIXED:
            out[i] += cbar[k] * dv[i]
        elif r == _SD:
            g = 0.0
            for b in range(qmax):
                g += Lbars[f, k, b] * LR[f, k, b]
            out[i] += g * dv[i]
    for bk in range(nb):
        f = int(blocks[bk, 2])
        gLR = np.empty((qmax, qmax))
        for a in range(qmax):
            for b in range(qmax):
                gLR[a, b] = sd[f, a] * Lbars[f, a, b]
        block_backward(blocks[bk], v, dv, LR[f], gLR, out)
    return lp
