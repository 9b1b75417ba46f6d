"""glmer's Laplace deviance as lme4 1.1 evaluates it, for fixed-effect SEs that match glmer's.

glmer (nAGQ = 1) reports vcov(β̂) = 2H⁻¹ (β block), H the finite-difference Hessian (lme4's
``deriv12``: central differences, step 10⁻⁴) of its deviance in (θ, β). That deviance is not
quite the Laplace deviance :class:`hiermod.mle.glmm.GlmmProblem` computes:

* PIRLS starts every evaluation from the linear predictor η₀ of the first stage (nAGQ = 0:
  θ optimised with u and β updated together by PIRLS);
* it stops when the penalized deviance −2ℓ(η) + ‖u‖² changes by less than 10⁻⁷ (relative);
* log|L|² is then taken with the weights of the *previous* iterate.

The result is ~5·10⁻⁴ above the exact value at glmer's optimum and the gap varies with
(θ, β), enough to move the SEs by up to ~1% (cbpp). The exact Laplace SEs are hiermod's
default; ``se="lme4"`` in :func:`hiermod.mle.fit_glmm` reproduces glmer's by differencing
this deviance instead (cbpp: glmer's SEs to ~10⁻⁵, tested).

Dense algebra (Z is n × Σ_g J_g q_g): meant for the sizes glmer users compare on.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from ..glm import irls
from .glmm import GlmmProblem
from .optimize import value_hessian

PIRLS_TOL = 1e-7  # lme4's relative change of the penalized deviance
DERIV12_STEP = 1e-4  # lme4's deriv12 step


class Lme4Laplace:
    """lme4's stage-2 deviance D(θ, β) for a :class:`GlmmProblem`'s design."""

    def __init__(self, problem: GlmmProblem) -> None:
        self.problem = problem
        bz = problem.bz
        if bz.by_level:
            fd = bz.factors[0]
            Z = np.zeros((bz.n, bz.J * bz.m))
            cols = fd.index[:, None] * bz.m + np.arange(bz.m)[None, :]
            np.put_along_axis(Z, cols, fd.Z, axis=1)
        else:
            Z = bz.Zfull.toarray()
        self.Z = Z
        self.eta0 = self._stage1()

    def lam(self, theta: np.ndarray) -> np.ndarray:
        """Λ_θ as one dense matrix (the shared block repeated for every level)."""
        bz, block = self.problem.bz, self.problem.tmap.lam(theta)
        return np.kron(np.eye(bz.J), block) if bz.by_level else block

    def _laplace(self, eta, u, A) -> float:
        p = self.problem
        return (np.linalg.slogdet(A)[1] + float(u @ u)
                - 2.0 * (p.family.loglik(eta) + p.const))

    def _stage1_deviance(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """nAGQ = 0: PIRLS over (u, β) together, to convergence; log|L|² of the u block."""
        p = self.problem
        ZL = self.Z @ self.lam(theta)
        M = np.hstack([ZL, p.X])
        q = ZL.shape[1]
        penalty = np.diag(np.r_[np.ones(q), np.zeros(p.p)])
        res = irls(M, p.family, penalty, max_iter=200, tol=1e-13)
        eta, u = res.eta, res.coef[:q]
        A = ZL.T @ (ZL * p.family.stats(eta).weight[:, None]) + np.eye(q)
        return self._laplace(eta, u, A), eta

    def _stage1(self) -> np.ndarray:
        tmap = self.problem.tmap
        bounds = [(lo if np.isfinite(lo) else None, None) for lo in tmap.lower]
        res = optimize.minimize(lambda t: self._stage1_deviance(t)[0], tmap.start(),
                                method="L-BFGS-B", bounds=bounds,
                                options={"ftol": 1e-14, "gtol": 1e-9})
        return self._stage1_deviance(res.x)[1]

    def deviance(self, x: np.ndarray) -> float:
        """D(θ, β) with lme4's PIRLS: from η₀, stopped at a relative change < 10⁻⁷, log|L|²
        at the previous iterate's weights."""
        p = self.problem
        theta, beta = p.split(np.asarray(x, float))
        ZL = self.Z @ self.lam(theta)
        offset = p.X @ beta
        eta, old = self.eta0.copy(), np.inf
        eye = np.eye(ZL.shape[1])
        for _ in range(30):
            st = p.family.stats(eta)
            A = ZL.T @ (ZL * st.weight[:, None]) + eye
            z = eta - offset + st.score / st.weight
            u = np.linalg.solve(A, ZL.T @ (st.weight * z))
            eta = offset + ZL @ u
            pdev = -2.0 * p.family.loglik(eta) + float(u @ u)
            if abs((old - pdev) / pdev) < PIRLS_TOL:
                break
            old = pdev
        return self._laplace(eta, u, A)

    def hessian(self, x: np.ndarray) -> np.ndarray:
        """lme4's ``deriv12`` Hessian of :meth:`deviance` (central differences, step 10⁻⁴)."""
        return value_hessian(self.deviance, np.asarray(x, float), DERIV12_STEP)
