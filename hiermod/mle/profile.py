"""Profile-likelihood confidence intervals of a gaussian REML / ML fit (lme4's
``confint(method = "profile")``).

lme4 profiles the *ML* deviance whatever the fit's criterion (``devfun2`` refits by ML), on
the scale of the reported parameters: standard deviations, correlations, σ, and the fixed
effects. For one parameter ψ the signed root of the profiled deviance,

.. math::  ζ(ψ) = \\mathrm{sign}(ψ − \\hat ψ)\\sqrt{\\min_{\\text{others}} d(ψ, \\cdot) − d(\\hat ψ)},

is compared with ±z_{(1+level)/2}; the interval is where |ζ| ≤ z. lme4 interpolates ζ by a
spline through a grid of profile points; here each end is found by a root search on ζ itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .. import names
from ..compiled.blas import blas_threads
from .pls import LmmProblem


def psd_cholesky(S: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite matrix; a zero (or negative,
    round-off) pivot gives a zero column instead of an error."""
    q = len(S)
    L = np.zeros_like(S)
    for j in range(q):
        d = S[j, j] - L[j, :j] @ L[j, :j]
        if d <= 1e-14 * max(S[j, j], 1e-300):
            continue
        L[j, j] = np.sqrt(d)
        L[j + 1:, j] = (S[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


@dataclass(frozen=True, eq=False)
class SdCorMap:
    """θ and σ ↔ the reported variance parameters (sds, correlations, σ), lme4's order.

    ``sv`` holds, for each θ_k, the sd of its term where θ_k is a diagonal element of T_g and
    the correlation of its two terms otherwise, then σ.
    """

    problem: LmmProblem
    labels: tuple[str, ...]

    @classmethod
    def build(cls, problem: LmmProblem) -> SdCorMap:
        tm, labels = problem.tmap, []
        for k in range(tm.n_theta):
            fd = problem.design.factors[tm.factor_of[k]]
            r, c = tm.row_of[k], tm.col_of[k]
            labels.append(names.sd_label(fd.name, fd.terms[r]) if r == c else
                          names.corr_label(fd.name, fd.terms[c], fd.terms[r]))
        return cls(problem, tuple(labels) + (names.SIGMA,))

    @property
    def is_corr(self) -> np.ndarray:
        tm = self.problem.tmap
        return np.append(~tm.is_diagonal, False)

    def bounds(self, sigma: float) -> list[tuple[float | None, float | None]]:
        """sd ≥ 0, −1 ≤ correlation ≤ 1, σ > 0 (kept ≥ 10⁻³σ̂)."""
        out = [(-1.0, 1.0) if c else (0.0, None) for c in self.is_corr]
        out[-1] = (1e-3 * sigma, None)
        return out

    def to_sv(self, theta: np.ndarray, sigma: float) -> np.ndarray:
        tm, out = self.problem.tmap, np.empty(len(theta) + 1)
        for g, fd in enumerate(self.problem.design.factors):
            T = tm.factor_cholesky(theta, g, fd.q)
            cov = sigma**2 * T @ T.T
            sd = np.sqrt(np.diag(cov))
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = np.nan_to_num(cov / np.outer(sd, sd))
            sel = np.flatnonzero(tm.factor_of == g)
            r, c = tm.row_of[sel], tm.col_of[sel]
            out[sel] = np.where(r == c, sd[r], corr[r, c])
        out[-1] = sigma
        return out

    def from_sv(self, sv: np.ndarray) -> tuple[np.ndarray, float]:
        tm, sigma = self.problem.tmap, float(sv[-1])
        if not np.any(self.is_corr):  # no correlations: θ_k = sd_k / σ
            return sv[:-1] / sigma, sigma
        theta = np.zeros(tm.n_theta)
        for g, fd in enumerate(self.problem.design.factors):
            sel = np.flatnonzero(tm.factor_of == g)
            r, c = tm.row_of[sel], tm.col_of[sel]
            diag = r == c
            if diag.all():
                theta[sel] = sv[sel] / sigma
                continue
            sd = np.zeros(fd.q)
            corr = np.eye(fd.q)
            sd[r[diag]] = sv[sel[diag]]
            off = ~diag
            corr[r[off], c[off]] = corr[c[off], r[off]] = sv[sel[off]]
            T = psd_cholesky(corr * np.outer(sd, sd)) / sigma
            theta[sel] = T[r, c]
        return theta, sigma

    def jacobian(self, sv: np.ndarray, lower, upper) -> np.ndarray:
        """∂θ/∂sv (K × (K + 1)) by central differences of the (cheap) map."""
        J = np.zeros((len(sv) - 1, len(sv)))
        for k in range(len(sv)):
            h = 1e-7 * max(abs(sv[k]), 1e-3)
            lo, hi = sv.copy(), sv.copy()
            hi[k] = min(sv[k] + h, upper[k])
            lo[k] = max(sv[k] - h, lower[k])
            J[:, k] = (self.from_sv(hi)[0] - self.from_sv(lo)[0]) / (hi[k] - lo[k])
        return J

    def deviance(self, sv: np.ndarray, lower, upper) -> tuple[float, np.ndarray]:
        """ML deviance at sv (β profiled out, lme4's ``devfun2``) and its gradient in sv."""
        theta, sigma = self.from_sv(sv)
        p = self.problem
        try:
            st = p.solve(theta)
        except np.linalg.LinAlgError:  # θ = sd/σ so large that A is singular in floating point
            return 1e300, np.zeros(len(sv))
        g = p.grad_vp(st, sigma, False)
        grad = self.jacobian(sv, lower, upper).T @ g[:-1]
        grad[-1] += g[-1]
        return p.deviance_vp(st, sigma, False), grad


def _min_over_others(fun, x0: np.ndarray, k: int, value: float, bounds) -> tuple[float, np.ndarray]:
    """min over every coordinate but k (held at ``value``) of fun = (f, grad)."""
    free = np.arange(len(x0)) != k

    def f(z):
        x = x0.copy()
        x[k], x[free] = value, z
        v, g = fun(x)
        return v, g[free]

    b = [bd for i, bd in enumerate(bounds) if free[i]]
    z0 = np.clip(x0[free], [lo if lo is not None else -np.inf for lo, _ in b],
                 [hi if hi is not None else np.inf for _, hi in b])
    if not free.any():
        return fun(np.array([value]))[0], x0
    res = optimize.minimize(f, z0, jac=True, method="L-BFGS-B", bounds=b,
                            options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 1000})
    x = x0.copy()
    x[k], x[free] = value, res.x
    return float(res.fun), x


def _crossing(zeta, est: float, step: float, target: float, lower: float,
              upper: float, max_expand: int = 60) -> float:
    """ψ on the side of ``target``'s sign where ζ(ψ) = target, or the bound when ζ never
    reaches it there."""
    direction = np.sign(target)
    a, za = est, 0.0
    x = est + direction * step
    for _ in range(max_expand):
        x = min(max(x, lower), upper)
        zx = zeta(x)
        if direction * (zx - target) >= 0:
            return optimize.brentq(lambda t: zeta(t) - target, min(a, x), max(a, x),
                                   xtol=1e-12 * max(1.0, abs(x)), rtol=1e-12)
        if x in (lower, upper):
            return x
        # step by the secant to the target, at least 1.5× and at most 4× further out
        slope = (zx - za) / (x - a) if x != a else 0.0
        jump = (target - zx) / slope if slope * direction > 0 else 2 * (x - a)
        a, za = x, zx
        x = x + float(np.clip(abs(jump) * 1.2, 0.5 * abs(x - est), 4 * abs(x - est) + step)
                      ) * direction
    return np.nan


def profile_intervals(fit, level: float = 0.95, which=None) -> pd.DataFrame:
    """Profile-likelihood intervals of every sd, correlation, σ and fixed effect.

    Parameters
    ----------
    fit : RemlFit
        A gaussian fit (REML or ML).
    level : float
        Confidence level.
    which : list of str, optional
        Parameter labels to profile (default: all).

    Returns
    -------
    pandas.DataFrame
        Index: parameter ("sd(Days | Subject)", "corr(Intercept, Days | Subject)", "sigma",
        fixed terms); columns ``estimate`` (the fit's own), ``lower``, ``upper``. An end that
        the profile does not reach inside the parameter space is the bound (0 for an sd, ±1
        for a correlation), as lme4 reports it.

    Notes
    -----
    As lme4's ``confint.merMod(method = "profile")``: the ML deviance is profiled whatever
    the fit's criterion. A variance parameter's profile minimises the ML deviance
    d(θ, σ) = log|A| + r²/σ² + n log(2πσ²) (β at its conditional optimum) over the other sds,
    correlations and σ; a fixed effect's profile minimises the profiled ML deviance over θ
    with that coefficient fixed (an offset).
    """
    with blas_threads(True):  # thousands of tiny solves: threads only cost
        return _profile(fit, level, which)


def _profile(fit, level: float, which) -> pd.DataFrame:
    design = fit.design
    problem = LmmProblem(design)
    opt = problem.minimize(False, start=fit.theta)
    st = problem.solve(opt.x)
    sigma = float(np.sqrt(st.r2 / problem.n))
    base = problem.profiled(st, False)
    smap = SdCorMap.build(problem)
    sv_hat = smap.to_sv(opt.x, sigma)
    bounds = smap.bounds(sigma)
    lower = np.array([lo for lo, _ in bounds], float)
    upper = np.array([np.inf if hi is None else hi for _, hi in bounds], float)
    z = stats.norm.ppf(0.5 + level / 2)
    estimates = fit.varcorr_table()["estimate"]
    rows = []
    wanted = None if which is None else set(which)

    def dev(x):
        return smap.deviance(x, lower, upper)

    for k, label in enumerate(smap.labels):
        if wanted is not None and label not in wanted:
            continue
        start = {"x": sv_hat.copy()}

        def zeta(v, k=k, start=start):
            # from the estimate and from the last profile point: the profile of a
            # variance parameter can have a second, worse local minimum along the way
            d, x = _min_over_others(dev, sv_hat, k, v, bounds)
            d2, x2 = _min_over_others(dev, start["x"], k, v, bounds)
            if d2 < d:
                d, x = d2, x2
            start["x"] = x
            return np.sign(v - sv_hat[k]) * np.sqrt(max(d - base, 0.0))

        step = 0.2 if smap.is_corr[k] else max(0.25 * sv_hat[k], 0.05 * sigma)
        ends = []
        for target in (-z, z):
            start["x"] = sv_hat.copy()
            ends.append(_crossing(zeta, sv_hat[k], step, target, lower[k], upper[k]))
        rows.append((label, float(estimates[label]), *ends))

    se_ml = np.sqrt(np.diag(sigma**2 * st.Sinv))
    for j, term in enumerate(design.fixed_terms):
        if wanted is not None and term not in wanted:
            continue
        keep = np.arange(problem.p) != j
        reduced = replace(design, X=design.X[:, keep],
                          fixed_terms=tuple(np.asarray(design.fixed_terms)[keep]))
        state = {"theta": opt.x}

        def zeta_fixed(v, j=j, reduced=reduced, state=state):
            p = LmmProblem(replace(reduced, y=design.y - v * design.X[:, j]))
            o = p.minimize(False, start=state["theta"])
            state["theta"] = o.x
            return np.sign(v - st.beta[j]) * np.sqrt(max(float(o.fun) - base, 0.0))

        ends = [_crossing(zeta_fixed, st.beta[j], se_ml[j], t, -np.inf, np.inf)
                for t in (-z, z)]
        rows.append((term, float(fit.beta[j]), *ends))
    table = pd.DataFrame(rows, columns=["parameter", "estimate", "lower", "upper"])
    return table.set_index("parameter")
