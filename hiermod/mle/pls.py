"""Penalized least squares for a linear mixed model: the (restricted) deviance profiled over
β and σ.

All data enter through cross-products computed once (Z'Z, Z'X, Z'y, X'X, X'y, y'y), so one
evaluation at a new θ costs the factorization of J small m × m blocks (one grouping factor; with
several, a block-diagonal part and the Schur complement of the rest, :mod:`.schur`) plus a
p × p Cholesky, whatever the number of observations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..design import Design, SummaryDesign
from ..design.crossprod import raw_stats
from ..errors import SpecError
from .layout import BlockedZ, ThetaMap, make_theta_map
from .linalg import inverse_logdet
from .optimize import BOUNDARY_TOL, OptResult, minimize_bounded
from .pls_state import PlsSolution
from .schur import SchurPls, use_schur


@dataclass(frozen=True, eq=False, kw_only=True)
class PLSState(PlsSolution):
    """:class:`~hiermod.mle.pls_state.PlsSolution` of a single grouping factor: ``u`` in blocks
    (J, m), with the blocks of A⁻¹ = (Λ'Z'ZΛ + I)⁻¹, Λ'Z'Z, Λ'Z'X and F = A⁻¹Λ'Z'X."""

    lam: np.ndarray
    Ainv: np.ndarray
    LZZ: np.ndarray
    LZX: np.ndarray
    F: np.ndarray


class LmmProblem:
    """The cross-products of a gaussian Design, and the deviance as a function of θ.

    Parameters
    ----------
    design : Design
        A gaussian design with at least one grouping factor.

    Notes
    -----
    Following Bates, Mächler, Bolker & Walker (2015, JSS 67(1), section 3), with
    b = Λ_θ u, u ~ N(0, σ²I), the conditional modes and β solve

    .. math::

        \\begin{pmatrix} Λ'Z'ZΛ + I & Λ'Z'X \\\\ X'ZΛ & X'X \\end{pmatrix}
        \\begin{pmatrix} u \\\\ β \\end{pmatrix} =
        \\begin{pmatrix} Λ'Z'y \\\\ X'y \\end{pmatrix}

    solved blockwise: A = Λ'Z'ZΛ + I (= L_θL_θᵀ), S = X'X − X'ZΛA⁻¹Λ'Z'X (= R_XᵀR_X),
    β = S⁻¹(X'y − X'ZΛA⁻¹Λ'Z'y), u = A⁻¹(Λ'Z'y − Λ'Z'Xβ). The penalized residual sum of
    squares is r² = y'y − uᵀΛ'Z'y − βᵀX'y. With ν = n (ML) or n − p (REML) the profiled
    deviance and REML criterion are

    .. math::

        d(θ) = \\log|A| + n(1 + \\log(2πr²/n)),\\qquad
        d_R(θ) = \\log|A| + \\log|S| + (n-p)(1 + \\log(2πr²/(n-p))),

    and the profiled σ̂² = r²/ν. Their gradient is analytic. Writing Λ = Σ θ_k E_k and
    e = y − Xβ − ZΛu,

    .. math::

        ∂r²/∂θ_k = −2 (E_k u)' Z'e,\\qquad
        ∂\\log|M|/∂θ_k = 2\\,\\mathrm{tr}(W E_k),

    with W = A⁻¹Λ'Z'Z (ML, M = A) or W = A⁻¹Λ'Z'Z − FS⁻¹(X'Z − F'Λ'Z'Z), F = A⁻¹Λ'Z'X
    (REML, M the whole system matrix, log|M| = log|A| + log|S|). When Z'Z is block diagonal (one
    grouping factor) only the diagonal blocks of W are needed. With several grouping factors
    every operation on A goes through :class:`~hiermod.mle.schur.SchurPls` (a block-diagonal
    part and the Schur complement of the rest), never through a dense factorization of A.
    """

    def __init__(self, design: Design | SummaryDesign) -> None:
        self.design = design
        if isinstance(design, SummaryDesign):
            self._from_sums(design)
            return
        X, y = design.X, design.y
        self.n, self.p = X.shape
        self.bz = BlockedZ.from_factors(design.factors, self.n)
        self.tmap: ThetaMap = make_theta_map(design, self.bz)
        #: several grouping factors: the block-diagonal + Schur-complement algebra
        self.schur = SchurPls(design, self.bz, self.tmap) if use_schur(self.bz) else None
        self.ZtZ = self.bz.crossprod() if self.schur is None else None
        self.ZtX = self.bz.tmul(X)
        self.Zty = self.bz.tmul(y)
        self.XtX = X.T @ X
        self.Xty = X.T @ y
        self.yty = float(y @ y)
        self._eye = np.eye(self.bz.m)

    def _from_sums(self, design: SummaryDesign) -> None:
        """The cross-products of a design summed partition by partition: its exact raw sums
        rounded once (:func:`hiermod.design.crossprod.raw_stats`); one grouping factor."""
        if len(design.factors) != 1:
            raise SpecError("REML / ML with several grouping factors needs the rows (its "
                            "block factorization is laid out from them); on Dask data fit "
                            "this model by hm.fit, or by REML on a pandas DataFrame")
        raw = raw_stats(design.row_sums, design.fixed_terms, design.factors[0])
        self.n, self.p = design.n_obs, len(design.fixed_terms)
        self.bz = BlockedZ.of_sums(design.factors, self.n)
        self.tmap = make_theta_map(design, self.bz)
        self.schur = None
        self.ZtZ, self.ZtX, self.Zty = raw.ZtZ, raw.ZtW, raw.Zty
        self.XtX, self.Xty, self.yty = raw.WtW, raw.Wty, raw.yty
        self._eye = np.eye(self.bz.m)

    def minimize(self, reml: bool, start: np.ndarray | None = None) -> OptResult:
        """Minimise the REML criterion (``reml``) or the profiled deviance over θ, from
        ``start`` (default T_g = I), with the convergence check left to the caller.

        An optimum with a diagonal θ_k on its bound of 0 is checked by a second run from
        T_g = 0.1 I: from T_g = I a slope on a large scale (years of education) can send the
        optimizer to a boundary point with a worse criterion (a perfectly correlated pair),
        which the probe of :func:`~hiermod.mle.optimize.minimize_bounded` does not leave.
        """
        tm = self.tmap
        x0 = tm.start() if start is None else np.asarray(start, float)

        def run(x):
            return minimize_bounded(lambda th: self.deviance_and_grad(th, reml), x, tm.lower,
                                    probe=tm.is_diagonal, check=False)

        opt = run(x0)
        if np.any(tm.is_diagonal & (opt.x <= BOUNDARY_TOL)):
            alt = run(np.where(tm.is_diagonal, 0.1, 0.0))
            n_evals = opt.n_evals + alt.n_evals
            if alt.fun < opt.fun - 1e-10 * max(1.0, abs(opt.fun)):
                opt = alt
            opt = replace(opt, n_evals=n_evals)
        return opt

    def nu(self, reml: bool) -> int:
        """Degrees of freedom of the residual: n − p (REML) or n (ML)."""
        return self.n - self.p if reml else self.n

    # --- penalized least squares -------------------------------------------------------------

    def solve(self, theta: np.ndarray) -> PLSState:
        """Conditional modes, β and r² at θ."""
        if self.schur is not None:
            return self.schur.solve(theta, self.XtX, self.Xty, self.yty)
        theta = np.asarray(theta, dtype=float)
        lam = self.tmap.lam(theta)
        LZZ = lam.T @ self.ZtZ
        A = LZZ @ lam + self._eye
        Ainv, logdetA = inverse_logdet(A)
        LZX = lam.T @ self.ZtX
        LZy = self.Zty @ lam
        F = Ainv @ LZX
        Fy = (Ainv @ LZy[:, :, None])[:, :, 0]
        J, m, p = LZX.shape
        LZX2 = LZX.reshape(J * m, p)
        S = self.XtX - LZX2.T @ F.reshape(J * m, p)
        rhs = self.Xty - LZX2.T @ Fy.ravel()
        Sinv, logdetS = inverse_logdet(S[None])
        Sinv = Sinv[0]
        beta = Sinv @ rhs
        u = Fy - F @ beta
        r2 = self.yty - float(u.ravel() @ LZy.ravel()) - float(beta @ self.Xty)
        return PLSState(theta=theta, lam=lam, Ainv=Ainv, logdetA=logdetA, S=S, Sinv=Sinv,
                        logdetS=logdetS, beta=beta, u=u, r2=r2, LZZ=LZZ, LZX=LZX, F=F)

    # --- deviance and its gradient -------------------------------------------------------------

    def profiled(self, st: PLSState, reml: bool) -> float:
        """Profiled deviance (ML) or REML criterion at the state's θ."""
        nu = self.nu(reml)
        d = st.logdetA + nu * (1.0 + np.log(2.0 * np.pi * st.r2 / nu))
        return d + st.logdetS if reml else d

    def _dlogdet_dr2(self, st: PLSState, reml: bool) -> tuple[np.ndarray, np.ndarray]:
        """∂(log|A| (+ log|S| for REML))/∂θ and ∂r²/∂θ (see the class Notes)."""
        if self.schur is not None:
            return self.schur.dlogdet_dr2(st, reml)
        b = st.u @ st.lam.T
        eZ = self.Zty - (self.ZtZ @ b[:, :, None])[:, :, 0] - self.ZtX @ st.beta
        dr2 = -2.0 * self.tmap.fold(eZ.T @ st.u)
        W = (st.Ainv @ st.LZZ).sum(axis=0)
        if reml:
            J, m, p = st.F.shape
            H = np.swapaxes(self.ZtX, 1, 2) - np.swapaxes(st.F, 1, 2) @ st.LZZ
            G = (st.F @ st.Sinv).transpose(1, 0, 2).reshape(m, J * p)
            W = W - G @ H.reshape(J * p, m)
        dlogdet = 2.0 * self.tmap.fold(W.T)
        return dlogdet, dr2

    def deviance(self, theta: np.ndarray, reml: bool) -> float:
        return self.profiled(self.solve(theta), reml)

    def gradient(self, st: PLSState, reml: bool) -> np.ndarray:
        """Analytic gradient in θ of the profiled deviance / REML criterion."""
        dlogdet, dr2 = self._dlogdet_dr2(st, reml)
        return dlogdet + self.nu(reml) * dr2 / st.r2

    def deviance_and_grad(self, theta: np.ndarray, reml: bool) -> tuple[float, np.ndarray]:
        """Profiled deviance / REML criterion and its analytic gradient in θ."""
        st = self.solve(theta)
        return self.profiled(st, reml), self.gradient(st, reml)

    def perturbed(self, theta: np.ndarray,
                  rel_step: float = 1e-4) -> list[tuple[float, PLSState, PLSState]]:
        """PLS solutions at θ ± h_k e_k for each k, for central differences.

        h_k = rel_step · max(|θ_k|, 0.01).
        """
        out = []
        for k in range(len(theta)):
            h = rel_step * max(abs(theta[k]), 1e-2)
            tp, tm = theta.copy(), theta.copy()
            tp[k] += h
            tm[k] -= h
            out.append((h, self.solve(tp), self.solve(tm)))
        return out

    # --- deviance in (θ, σ), not profiled (lmerTest's devfun_vp) -------------------------------

    def deviance_vp(self, st: PLSState, sigma: float, reml: bool) -> float:
        """−2 log-likelihood (or REML criterion) at (θ, σ), β at its conditional optimum.

        Notes
        -----
        d(θ, σ) = log|A| + r²/σ² + ν log(2πσ²) (+ log|S| for REML), ν = n or n − p.
        """
        nu = self.nu(reml)
        d = st.logdetA + st.r2 / sigma**2 + nu * np.log(2.0 * np.pi * sigma**2)
        return d + st.logdetS if reml else d

    def grad_vp(self, st: PLSState, sigma: float, reml: bool) -> np.ndarray:
        """Gradient of :meth:`deviance_vp` in (θ, σ)."""
        dlogdet, dr2 = self._dlogdet_dr2(st, reml)
        g_sigma = -2.0 * st.r2 / sigma**3 + 2.0 * self.nu(reml) / sigma
        return np.append(dlogdet + dr2 / sigma**2, g_sigma)

    def conditional_modes(self, st: PLSState) -> np.ndarray:
        """b = Λu in blocks (J, m)."""
        if self.schur is not None:
            return self.schur.conditional_modes(st)
        return st.u @ st.lam.T

    def conditional_cov(self, st: PLSState, scale2: float) -> np.ndarray:
        """Diagonal of σ²ΛA⁻¹Λ' in blocks (J, m): lme4's condVar (β held at β̂)."""
        if self.schur is not None:
            return self.schur.conditional_cov(st, scale2)
        V = st.lam @ st.Ainv @ st.lam.T
        return scale2 * np.diagonal(V, axis1=1, axis2=2)
