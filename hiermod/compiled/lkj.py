"""The C-vine map from partial correlations to a correlation Cholesky factor, and its reverse
mode, in numba for the compiled callbacks (the PyTensor / NumPy map is
:func:`hiermod.model.lkj.cholesky_from_partial`; the tests hold them equal).

A block row of the layout's block table is ``(d, first coordinate, factor, terms...)``; the
block's d(d−1)/2 coordinates hold v = (1 + z)/2 of its partial correlations z, in row order.
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def block_forward(block, v, LR):
    """Rows of the block's correlation Cholesky factor from z = 2v − 1, written into LR
    (q × q, indexed by the factor's terms)."""
    d, c = int(block[0]), int(block[1])
    for i in range(1, d):
        ki = int(block[3 + i])
        used = 0.0
        for j in range(i):
            value = (2.0 * v[c] - 1.0) * np.sqrt(1.0 - used)
            LR[ki, int(block[3 + j])] = value
            used += value * value
            c += 1
        LR[ki, ki] = np.sqrt(1.0 - used)


@numba.njit(**_JIT)
def block_backward(block, v, dv, LR, gLR, out):
    """Add ∂ℓ/∂y of the block's coordinates to ``out``, given gLR = ∂ℓ/∂L_R and dv = dv/dy.

    Row i: s₀ = 0, w_j = √(1 − s_j), L_ij = z_j w_j, s_{j+1} = s_j + L_ij², L_ii = √(1 − s_i);
    reverse mode from s̄_i = −ḡ_ii / (2 L_ii): L̄_ij = ḡ_ij + 2 L_ij s̄, z̄_j = L̄_ij w_j,
    s̄ ← s̄ − L̄_ij z_j / (2 w_j); and ∂z/∂y = 2 dv/dy.
    """
    d, first = int(block[0]), int(block[1])
    w = np.empty(d)
    for i in range(1, d):
        ki = int(block[3 + i])
        c0 = first + i * (i - 1) // 2
        used = 0.0
        for j in range(i):
            w[j] = np.sqrt(1.0 - used)
            lij = LR[ki, int(block[3 + j])]
            used += lij * lij
        s_bar = -gLR[ki, ki] / (2.0 * LR[ki, ki])
        for j in range(i - 1, -1, -1):
            lij = LR[ki, int(block[3 + j])]
            l_bar = gLR[ki, int(block[3 + j])] + 2.0 * lij * s_bar
            z = 2.0 * v[c0 + j] - 1.0
            out[c0 + j] += 2.0 * l_bar * w[j] * dv[c0 + j]
            s_bar -= l_bar * z / (2.0 * w[j])
