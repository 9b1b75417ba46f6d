"""PIRLS and the Laplace deviance's gradient for several grouping factors, through the
block-diagonal + Schur-complement factorization of :mod:`hiermod.mle.schur`.

The algebra is that of :class:`hiermod.mle.glmm.GlmmProblem` (whose Notes derive it); only the
operations on A = Λ'Z'WZΛ + I change: solves, log|A|, the leverages h_i = z_iᵀΛA⁻¹Λᵀz_i and the
entries of A⁻¹Λ'Z'WZ where Λ has a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..families import Bound, EtaStats
from .layout import ThetaMap
from .partition import Partition
from .pirls import pirls_loop
from .schur import SchurFactor, SchurLayout


@dataclass(frozen=True, eq=False)
class SchurPirlsState:
    """The conditional mode u* (internal order) at (θ, β) and what the Laplace deviance needs."""

    u: np.ndarray
    eta: np.ndarray
    stats: EtaStats
    factor: SchurFactor
    logdetA: float
    deviance: float


class SchurGlmm:
    """Laplace deviance of a GLMM with several grouping factors."""

    def __init__(self, factors, n: int, tmap: ThetaMap, X: np.ndarray, family: Bound,
                 const: float) -> None:
        self.part = Partition.choose(factors, n)
        self.lay = SchurLayout.build(self.part, tmap)
        self.X, self.family, self.const = X, family, const
        self._u = np.zeros(self.part.size)

    def _pdev(self, eta: np.ndarray, u: np.ndarray) -> float:
        return -2.0 * self.family.loglik(eta) + float(u @ u)

    def pirls(self, theta: np.ndarray, beta: np.ndarray, u0: np.ndarray | None = None,
              tol: float = 1e-7, max_iter: int = 100) -> SchurPirlsState:
        """As :meth:`hiermod.mle.glmm.GlmmProblem.pirls`."""
        lam1, lam2 = self.lay.lam(theta)
        offset = self.X @ beta
        u = self._u if u0 is None else u0

        def eta_of(v):
            return offset + self.part.mul(self.lay.lam_mul(lam1, lam2, v))

        def newton_step(v, eta):
            st = self.family.stats(eta)
            fac = SchurFactor(self.lay, lam1, lam2, *self.part.crossprod(st.weight))
            return fac.solve(self.lay.lam_mul(lam1, lam2, self.part.tmul(st.score),
                                              transpose=True) - v)

        eta = eta_of(u)
        u, eta = pirls_loop(u, eta, self._pdev(eta, u), newton_step, eta_of, self._pdev, tol,
                            max_iter)
        st = self.family.stats(eta)
        fac = SchurFactor(self.lay, lam1, lam2, *self.part.crossprod(st.weight))
        self._u = u
        dev = -2.0 * (self.family.loglik(eta) + self.const) + float(u @ u) + fac.logdet
        return SchurPirlsState(u, eta, st, fac, fac.logdet, dev)

    def gradient(self, ps: SchurPirlsState) -> np.ndarray:
        """Analytic gradient of the Laplace deviance in (θ, β) (GlmmProblem's Notes)."""
        st, fac, lay, part = ps.stats, ps.factor, self.lay, self.part
        v = st.dweight * fac.leverages()
        zs = part.tmul(st.score)
        c = fac.solve(lay.lam_mul(fac.lam1, fac.lam2, part.tmul(v), transpose=True))
        resid = v - st.weight * part.mul(lay.lam_mul(fac.lam1, fac.lam2, c))
        g_beta = -2.0 * self.X.T @ st.score + self.X.T @ resid
        rr = part.tmul(resid)
        r, cc = lay.rows, lay.cols
        vals = (-2.0 * zs[r] + rr[r]) * ps.u[cc] + zs[r] * c[cc] + 2.0 * fac.w_at_positions()
        return np.concatenate([lay.fold(vals), g_beta])

    def conditional_modes(self, ps: SchurPirlsState) -> np.ndarray:
        """b = Λu* in the dense layout, (1, m)."""
        fac = ps.factor
        return self.part.to_dense(self.lay.lam_mul(fac.lam1, fac.lam2, ps.u))[None]

    def conditional_var(self, ps: SchurPirlsState) -> np.ndarray:
        """Diagonal of ΛA⁻¹Λ' in the dense layout, (1, m)."""
        return self.part.to_dense(ps.factor.cond_var())[None]
