"""The log-density of a gaussian model with a residual structure in plain PyTensor operations:
the face that runs on every back end, JAX / numpyro included, and PyTensor's own gradient of it
(the same algebra as :mod:`hiermod.longitudinal.kernel`, whose Notes give the maths).

The whitening is vectorised over rows (a shifted copy for AR(1) / CAR(1), per-unit sums for
compound symmetry), the per-block cross-products are segment sums, and the q × q algebra is
that of :mod:`.graph` (unrolled for small q). With ``L=None`` (no group effects, or group
effects given) it is the density of the residuals alone: the likelihood of the model with
explicit group effects.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from ..longitudinal.kernel import AR1, CAR1, CS
from ..longitudinal.layout import SerialData
from ..model.entries import chol_entries, forward_entries
from .graph import UNROLL_MAX

_LOG_2PI = float(np.log(2 * np.pi))


def _segment_sum(values, index, size: int):
    """Σ of ``values`` (n, ...) over rows with the same ``index`` -> (size, ...)."""
    return pt.inc_subtensor(pt.zeros((size, *values.shape[1:]))[index], values)


def whiten_rows(sd: SerialData, X, phi):
    """(K X, ½ log|R|) for X (n, k) in sorted order (see the kernel's Notes)."""
    n = sd.n
    units = len(sd.unit_starts) - 1
    sizes = np.diff(sd.unit_starts)
    if sd.kind in (AR1, CAR1):
        first = np.zeros(n, bool)
        first[sd.unit_starts[:-1]] = True
        prev = np.where(first, np.arange(n), np.arange(n) - 1)
        if sd.kind == AR1:
            gap = np.where(first, 1, np.round(sd.gap)).astype("int64")
        else:
            gap = np.where(first, 1.0, sd.gap)
        rho = pt.switch(first, 0.0, pt.pow(phi, gap))
        kappa = pt.sqrt(1.0 - rho * rho)
        T = (X - rho[:, None] * X[prev]) / kappa[:, None]
        return T, pt.sum(pt.log(kappa))
    if sd.kind == CS:
        unit = np.repeat(np.arange(units), sizes)
        f = 1.0 / pt.sqrt(1.0 - phi)
        g = 1.0 / pt.sqrt(1.0 + (sizes - 1) * phi)
        h = (f - g) / sizes
        T = f * X - h[unit][:, None] * _segment_sum(X, unit, units)[unit]
        half = 0.5 * pt.sum((sizes - 1) * pt.log(1.0 - phi) + pt.log(1.0 + (sizes - 1) * phi))
        return T, half
    return X, pt.constant(0.0)


def serial_loglik(sd: SerialData, theta, L, sigma, phi, delta, residual=None):
    """log p(y | θ, Σ = L Lᵀ, σ, φ, δ) with the group effects integrated out (PyTensor).

    Parameters
    ----------
    sd : SerialData
        The sorted layout (:func:`hiermod.longitudinal.serial_data`).
    theta : PyTensor vector (p,) or None
        Fixed effects in sampled coordinates less the outcome's shift (``c - sd.offset``).
    L : PyTensor matrix (q, q) or None
        A square root of Σ; None: no group effects to integrate out.
    sigma, phi : PyTensor scalars
        σ and the correlation (ignored without one).
    delta : PyTensor vector (r,)
        Coefficients of log σ_i.
    residual : PyTensor vector (n,), optional
        y − η in sorted order, replacing y − Wθ (the explicit model: η holds the group
        effects; then L is None).
    """
    n, q = sd.n, (0 if L is None else sd.q)
    if residual is None:
        residual = sd.y if theta is None or sd.p == 0 else sd.y - pt.dot(sd.W, theta)
    log_sig = pt.log(sigma) + (pt.dot(sd.V, delta) if sd.r else pt.zeros(n))
    scale = pt.exp(log_sig)
    x = (residual / scale)[:, None]
    X = pt.concatenate([x, sd.Z / scale[:, None]], axis=1) if q else x
    T, half_logdet_r = whiten_rows(sd, X, phi)
    ll = -0.5 * n * _LOG_2PI - pt.sum(log_sig) - half_logdet_r
    rt = T[:, 0]
    if not q:
        return ll - 0.5 * pt.sum(rt * rt)
    J = sd.n_blocks
    block = np.repeat(np.arange(J), np.diff(sd.block_starts))
    Zt = T[:, 1:]
    S = _segment_sum(Zt[:, :, None] * Zt[:, None, :], block, J)  # (J, q, q)
    d = _segment_sum(Zt * rt[:, None], block, J)  # (J, q)
    L = pt.as_tensor_variable(L)
    M = pt.tensordot(pt.tensordot(S, L, axes=[[2], [0]]), L, axes=[[1], [0]])  # (J, q, q)ᵀ
    c = pt.dot(d, L)
    if q <= UNROLL_MAX:
        A = [[M[:, i, j] + (1.0 if i == j else 0.0) for j in range(q)] for i in range(q)]
        C = chol_entries(A, pt.sqrt)
        g = forward_entries(C, [c[:, i] for i in range(q)])
        logdet = 2.0 * sum(pt.sum(pt.log(C[i][i])) for i in range(q))
        reduction = sum(pt.sum(gi * gi) for gi in g)
    else:
        C = pt.linalg.cholesky(M + pt.eye(q))
        g = pt.linalg.solve_triangular(C, c[..., None], lower=True)[..., 0]
        logdet = 2.0 * pt.sum(pt.log(pt.diagonal(C, axis1=-2, axis2=-1)))
        reduction = pt.sum(g * g)
    return ll - 0.5 * (logdet + pt.sum(rt * rt) - reduction)
