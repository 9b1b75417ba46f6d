"""Whitening a Design by its residual structure, for REML / ML.

With residual covariance σ² Λ_R, Λ_R = S₀ R(φ) S₀ and S₀ = diag(exp(v_iᵀδ)) (σ itself is
profiled out, as in lme4), the matrix T = K S₀⁻¹ with KᵀK = R⁻¹ (explicit and O(n): lower
bidiagonal for AR(1) / CAR(1), f I − h 11ᵀ per unit for compound symmetry; see
:mod:`hiermod.longitudinal.kernel`) turns the model into one with independent residuals of
variance σ²:

    T y = T X β + T Z b + T e,    T e ~ N(0, σ² I).

T mixes rows of one unit only, and every unit lies inside one level of every grouping factor,
so T Z keeps Z's blocked layout: the penalised least squares of :mod:`.pls` apply unchanged
to (T X, T Z, T y). The densities are related by the Jacobian |T| = |Λ_R|^(−1/2):

    −2 ℓ(y) = −2 ℓ_whitened(T y) + log|Λ_R|,   log|Λ_R| = 2 Σ_i v_iᵀδ + log|R|,

for the ML deviance and the REML criterion alike (X'V⁻¹X = (TX)ᵀṼ⁻¹(TX)).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..design import Design
from ..longitudinal.kernel import whiten_rows
from ..longitudinal.layout import serial_data


class Whitener:
    """T of a Design's residual structure, applied to its y, X and Z (see the module
    docstring).

    Parameters
    ----------
    design : Design
        Gaussian, with ``design.residuals``.
    """

    def __init__(self, design: Design) -> None:
        self.design = design
        self.sd = serial_data(design, by_unit=True)
        blocks = [design.y[:, None], design.X] + [fd.Z for fd in design.factors]
        self.widths = [b.shape[1] for b in blocks]
        self.stacked = np.ascontiguousarray(np.hstack(blocks)[self.sd.order], dtype=float)
        self.V = design.residuals.V[self.sd.order]

    def apply(self, phi: float, delta: np.ndarray) -> tuple[np.ndarray, float]:
        """(T [y, X, Z_1, ...] in the Design's row order, log|Λ_R|)."""
        log_s = self.V @ np.asarray(delta, float) if self.V.shape[1] else np.zeros(len(self.V))
        M = self.stacked / np.exp(log_s)[:, None]
        out = np.empty_like(M)
        half = whiten_rows(self.sd.kind, float(phi), self.sd.gap, self.sd.unit_starts, M, out)
        return self.sd.to_rows(out.T).T, float(2.0 * log_s.sum() + 2.0 * half)

    def whitened(self, phi: float, delta: np.ndarray) -> tuple[Design, float]:
        """(the Design of (T y, T X, T Z), log|Λ_R|)."""
        M, logdet = self.apply(phi, delta)
        cuts = np.cumsum(self.widths)[:-1]
        parts = np.split(M, cuts, axis=1)
        y, X, Zs = parts[0][:, 0], parts[1], parts[2:]
        factors = tuple(replace(fd, Z=Z) for fd, Z in zip(self.design.factors, Zs, strict=True))
        return replace(self.design, y=y, X=X, factors=factors), logdet
