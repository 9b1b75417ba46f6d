"""REML and ML fits with a residual structure: AR(1), CAR(1), compound symmetry and a
log-linear residual sd (nlme's ``lme(..., correlation=, weights=varIdent / varExp)``).

For the residual parameters ψ = (φ, δ) the Design is whitened (:mod:`.whiten`) and lme4's
profiled criterion of the whitened problem (:mod:`.pls`) plus log|Λ_R(ψ)| is the criterion of
the original one; it is minimised over (θ, ψ) jointly — θ's gradient analytic, ψ's by central
differences (ψ has a handful of coordinates). Without grouping factors the model is nlme's
``gls``: generalised least squares with β and σ profiled out, minimised over ψ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from .. import names
from ..design import Design
from ..errors import SpecError
from ..longitudinal.covariance import unit_correlation
from .lmm import check_method, split_effects
from .optimize import check_convergence, fd_hessian, minimize_bounded
from .pls import LmmProblem, inverse_logdet
from .result import RemlFit, boundary_report, varcomps_from_theta
from .satterthwaite import satterthwaite_df
from .whiten import Whitener

#: nlme's default starting values of the correlation (corAR1, corCAR1, corCompSymm)
START_PHI = {"ar1": 0.0, "car1": 0.2, "cs": 0.0}
#: central-difference step of the residual parameters' gradient
PSI_STEP = 1e-5


@dataclass(frozen=True)
class ResidualEstimates:
    """The residual structure's estimates: φ and the coefficients δ of log σ_i."""

    kind: str | None
    corr_label: str | None
    corr_group: str | None
    phi: float | None
    delta: np.ndarray
    sigma_labels: tuple[str, ...]
    variance_columns: tuple[tuple[str, str | None], ...]
    reference_labels: dict

    @property
    def ratios(self) -> dict[str, float]:
        """Residual sd of each level of a variance factor relative to σ (nlme's varIdent
        coefficients), keyed by the level's row ('sigma[Diet=2]')."""
        return {lab: float(np.exp(d)) for lab, d, (_, lvl) in
                zip(self.sigma_labels, self.delta, self.variance_columns, strict=True)
                if lvl is not None}

    def rows(self, sigma: float) -> list[tuple]:
        """Rows of :meth:`RemlFit.varcorr_table`: φ, then each sd-model coefficient (the sd at
        a level, or the slope of log σ)."""
        out = []
        if self.corr_label is not None:
            out.append((self.corr_label, self.corr_group, names.RESIDUAL_CORR, "", "",
                        self.phi, np.nan))
        for lab, d, (_, lvl) in zip(self.sigma_labels, self.delta, self.variance_columns,
                                    strict=True):
            if lvl is not None:
                s = sigma * float(np.exp(d))
                out.append((lab, "Residual", names.SIGMA, "", "", s, s * s))
            else:
                out.append((lab, "Residual", "log_sigma", "", "", float(d), np.nan))
        return out


@dataclass(frozen=True, eq=False)
class ResidualRemlFit(RemlFit):
    """A :class:`RemlFit` with a residual structure: ``residual`` holds φ and δ, and the
    tables show them as rows ('phi(Time | Rat)', 'sigma[Diet=2]')."""

    residual: ResidualEstimates | None = None

    def varcorr_table(self) -> pd.DataFrame:
        """:meth:`RemlFit.varcorr_table` with the residual structure's rows after ``sigma``."""
        table = super().varcorr_table()
        if self.residual is None:
            return table
        extra = pd.DataFrame(self.residual.rows(self.sigma),
                             columns=["parameter", *table.columns]).set_index("parameter")
        return pd.concat([table, extra])

    def ranef_table(self) -> pd.DataFrame:
        if not self.ranef:
            return pd.DataFrame(columns=["mode", "se"], index=pd.MultiIndex.from_arrays(
                [[], [], []], names=["group", "level", "term"]))
        return super().ranef_table()

    def unit_covariance(self, unit: str) -> np.ndarray:
        """The fitted marginal covariance of one unit's rows (:func:`unit_covariance`)."""
        return unit_covariance(self, unit)

    def summary(self) -> str:
        text = super().summary()
        res = self.design.residuals
        return text.replace("\n\nVariance components:",
                            f"\nResidual structure: {res.spec.text}\n\nVariance components:", 1)



def unit_covariance(fit: ResidualRemlFit, unit: str) -> np.ndarray:
    """Z_u D Z_uᵀ + σ² S_u R_u S_u for the rows of one unit (in the data's order), from a
    fit's estimates: nlme's ``getVarCov(m, individuals = unit, type = "marginal")``. Without a
    correlation a unit is a level of the (first) grouping factor.

    Raises
    ------
    KeyError
        ``unit`` is not a unit of the residual structure.
    """
    design, est = fit.design, fit.residual
    res = design.residuals
    if res.has_correlation:
        codes, levels = res.unit, res.unit_levels
    elif design.factors:  # independent residuals: a unit is a level of the grouping factor
        codes, levels = design.factors[0].index, design.factors[0].levels
    else:
        raise KeyError("a model without a correlation or grouping factor has no units")
    if str(unit) not in levels:
        raise KeyError(f"no unit {unit!r}; units: {', '.join(levels[:10])} ...")
    rows = np.flatnonzero(codes == levels.index(str(unit)))
    s = fit.sigma * np.exp(res.V[rows] @ est.delta) if res.r else np.full(len(rows), fit.sigma)
    R = unit_correlation(res.kind, est.phi if est.phi is not None else 0.0, res.time[rows])
    cov = s[:, None] * R * s[None, :]
    for fd, vc in zip(design.factors, fit.varcomps, strict=True):
        Z = fd.Z[rows]
        cov = cov + Z @ vc.cov @ Z.T
    return cov


def phi_from_free(kind: str, z: float, m_max: int) -> float:
    """φ from its unconstrained value: tanh (ar1, (−1, 1)), logistic (car1, (0, 1)),
    (−1/(m − 1), 1) for compound symmetry in units of up to m rows."""
    if kind == "ar1":
        return float(np.tanh(z))
    if kind == "car1":
        return float(expit(z))
    lo = -1.0 / (m_max - 1) if m_max > 1 else -0.99
    return float(lo + (1.0 - lo) * expit(z))


def free_from_phi(kind: str, phi: float, m_max: int) -> float:
    if kind == "ar1":
        return float(np.arctanh(phi))
    if kind == "car1":
        return float(logit(phi))
    lo = -1.0 / (m_max - 1) if m_max > 1 else -0.99
    return float(logit((phi - lo) / (1.0 - lo)))


class ResidualProblem:
    """The REML / ML criterion of a Design with a residual structure, in x = (θ, ψ).

    ψ = (z, δ): z the unconstrained correlation (:func:`phi_from_free`), δ the coefficients
    of log σ_i. Each ψ gives a whitened :class:`~hiermod.mle.pls.LmmProblem` (cached for the
    last few ψ), or generalised least squares without grouping factors.
    """

    def __init__(self, design: Design) -> None:
        self.design = design
        self.res = design.residuals
        self.whitener = Whitener(design)
        self.kind = self.res.kind
        self.m_max = int(np.max(np.diff(self.whitener.sd.unit_starts)))
        self.n_corr = 1 if self.kind is not None else 0
        self.r = self.res.r
        self.base = LmmProblem(design) if design.factors else None
        self.K = 0 if self.base is None else self.base.tmap.n_theta
        self.n, self.p = design.X.shape
        self._cache: dict[bytes, tuple] = {}

    @property
    def n_psi(self) -> int:
        return self.n_corr + self.r

    def split(self, x: np.ndarray) -> tuple[np.ndarray, float | None, np.ndarray]:
        """(θ, φ, δ) from x."""
        theta, psi = x[:self.K], x[self.K:]
        phi = phi_from_free(self.kind, psi[0], self.m_max) if self.n_corr else None
        return theta, phi, psi[self.n_corr:]

    def start(self, phi: float | None = None) -> np.ndarray:
        """θ = lme4's start, φ = nlme's (or ``phi``), δ = 0."""
        phi = START_PHI.get(self.kind) if phi is None else phi
        psi = [free_from_phi(self.kind, phi, self.m_max)] if self.n_corr else []
        theta = self.base.tmap.start() if self.base is not None else np.zeros(0)
        return np.concatenate([theta, psi, np.zeros(self.r)])

    def phi_grid(self) -> list[float]:
        """Correlations to start from: AR(1) / compound symmetry a fixed grid; CAR(1) the φ
        that give correlations 0.1 ... 0.9 at the median time gap."""
        if self.kind == "car1":
            gaps = self.whitener.sd.gap[self.whitener.sd.gap > 0]
            g = float(np.median(gaps)) if len(gaps) else 1.0
            return [c ** (1.0 / g) for c in (0.1, 0.3, 0.5, 0.7, 0.9)]
        if self.kind == "ar1":
            return [-0.5, 0.0, 0.3, 0.6, 0.9]
        return [0.0, 0.3, 0.6, 0.9]

    def profile_start(self, reml: bool) -> np.ndarray:
        """The start on the grid of :meth:`phi_grid` whose criterion, θ optimised with φ held
        (δ = 0), is smallest."""
        best = None
        for phi in self.phi_grid():
            x = self.start(phi)
            psi = x[self.K:]
            prob, logdet = self.problem(psi)
            if self.K:
                opt = minimize_bounded(lambda th, pr=prob: pr.deviance_and_grad(th, reml),
                                       x[:self.K], self.lower[:self.K], probe=self.probe[:self.K],
                                       check=False)
                x[:self.K], f = opt.x, opt.fun + logdet
            else:
                f = prob.deviance(None, reml) + logdet
            if best is None or f < best[0]:
                best = (f, x)
        return best[1]

    @property
    def lower(self) -> np.ndarray:
        theta = self.base.tmap.lower if self.base is not None else np.zeros(0)
        return np.concatenate([theta, np.full(self.n_psi, -np.inf)])

    @property
    def probe(self) -> np.ndarray:
        theta = self.base.tmap.is_diagonal if self.base is not None else np.zeros(0, bool)
        return np.concatenate([theta, np.zeros(self.n_psi, bool)])

    def problem(self, psi: np.ndarray):
        """(the whitened LmmProblem or GLS problem, log|Λ_R|) at ψ."""
        key = np.asarray(psi, float).tobytes()
        if key not in self._cache:
            phi = phi_from_free(self.kind, psi[0], self.m_max) if self.n_corr else 0.0
            with np.errstate(all="ignore"):  # a far ψ (φ → ±1) may overflow: f = inf there
                wd, logdet = self.whitener.whitened(phi, psi[self.n_corr:])
                prob = LmmProblem(wd) if wd.factors else GlsProblem(wd)
            if len(self._cache) > 8:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = (prob, logdet)
        return self._cache[key]

    def criterion(self, x: np.ndarray, reml: bool) -> float:
        prob, logdet = self.problem(x[self.K:])
        return prob.deviance(x[:self.K], reml) + logdet

    def criterion_and_grad(self, x: np.ndarray, reml: bool) -> tuple[float, np.ndarray]:
        """The criterion, θ's analytic gradient and ψ's central differences."""
        x = np.asarray(x, float)
        prob, logdet = self.problem(x[self.K:])
        st = prob.solve(x[:self.K])
        f = prob.profiled(st, reml) + logdet
        g = np.empty(len(x))
        g[:self.K] = prob.gradient(st, reml)
        for k in range(self.K, len(x)):
            h = PSI_STEP * max(1.0, abs(x[k]))
            xp, xm = x.copy(), x.copy()
            xp[k] += h
            xm[k] -= h
            g[k] = (self.criterion(xp, reml) - self.criterion(xm, reml)) / (2 * h)
        return f, g


class GlsProblem:
    """Generalised least squares on whitened data (no group effects): β and σ profiled out.

    d(ML) = n (1 + log(2π r²/n)),  d(REML) = log|XᵀX| + (n − p)(1 + log(2π r²/(n − p))),
    r² = ‖y − Xβ̂‖², β̂ = (XᵀX)⁻¹Xᵀy — :class:`~hiermod.mle.pls.LmmProblem` with no θ.
    """

    def __init__(self, design: Design) -> None:
        self.design = design
        X, y = design.X, design.y
        self.n, self.p = X.shape
        self.XtX, self.Xty, self.yty = X.T @ X, X.T @ y, float(y @ y)

    def nu(self, reml: bool) -> int:
        return self.n - self.p if reml else self.n

    def solve(self, theta=None) -> dict:
        Sinv, logdetS = inverse_logdet(self.XtX[None])
        beta = Sinv[0] @ self.Xty
        return {"beta": beta, "Sinv": Sinv[0], "logdetS": logdetS,
                "r2": self.yty - float(beta @ self.Xty)}

    def profiled(self, st: dict, reml: bool) -> float:
        nu = self.nu(reml)
        d = nu * (1.0 + np.log(2.0 * np.pi * st["r2"] / nu))
        return d + st["logdetS"] if reml else d

    def deviance(self, theta, reml: bool) -> float:
        return self.profiled(self.solve(), reml)

    def gradient(self, st: dict, reml: bool) -> np.ndarray:
        return np.zeros(0)


def fit_lmm_residual(design: Design, method: str = "REML",
                     start: np.ndarray | None = None) -> ResidualRemlFit:
    """Fit a gaussian model with a residual structure by REML or ML, as nlme's ``lme`` (with
    grouping factors) or ``gls`` (without) with ``correlation=`` and ``weights=``.

    Parameters
    ----------
    design : Design
        Gaussian, with ``design.residuals`` (from ``hm.make_design`` of a spec with
        ``correlation=`` / ``sigma=``).
    method : {"REML", "ML"}
    start : ndarray, optional
        Starting x = (θ, ψ) (:class:`ResidualProblem`); by default two starts, keeping the
        better optimum: T_g = I with nlme's starting φ and δ = 0, and the best point of a
        profile over a grid of φ (:meth:`ResidualProblem.profile_start`).

    Returns
    -------
    ResidualRemlFit
        ``residual`` holds φ̂ and δ̂; ``varcorr_table()`` shows 'phi(t | g)' and
        'sigma[v=level]' rows; ``loglik`` is the (restricted) log-likelihood of y, comparable
        with nlme's ``logLik``; ``n_params`` counts β, θ, σ, φ and δ (nlme's df).

    Notes
    -----
    σ̂² = r²/ν of the whitened problem, cov(β̂) = σ̂²(X̃ᵀṼ⁻¹X̃)⁻¹ (nlme's and lme4's), the
    group effects' conditional modes and SEs as :func:`~hiermod.mle.fit_lmm`. The
    Satterthwaite df hold ψ at ψ̂ (its uncertainty is not propagated); nlme reports
    containment ("inner / outer") df instead.
    """
    if design.family != "gaussian" or design.residuals is None:
        raise SpecError("fit_lmm_residual fits gaussian designs with a residual structure "
                        "(correlation= / sigma=)")
    method = check_method(method, design.family)
    reml = method == "REML"
    rp = ResidualProblem(design)
    if start is not None:
        starts = [np.asarray(start, float)]
    else:  # the criterion can have two basins (a high φ without a random slope, or not)
        starts = [rp.start()] + ([rp.profile_start(reml)] if rp.n_corr else [])
    opt = None
    for x0 in starts:
        o = minimize_bounded(lambda z: rp.criterion_and_grad(z, reml), x0, rp.lower,
                             probe=rp.probe, check=False)
        if opt is None or o.fun < opt.fun - 1e-9:
            opt = o
    x, free = opt.x, opt.free
    theta, phi, delta = rp.split(x)
    prob, _ = rp.problem(x[rp.K:])
    st = prob.solve(theta)
    criterion = rp.criterion(x, reml)
    H = fd_hessian(lambda z: rp.criterion_and_grad(z, reml)[1], x, free) if free.any() else None
    converged, message = check_convergence(rp.criterion_and_grad(x, reml)[1], H, free)
    res = design.residuals
    estimates = ResidualEstimates(
        kind=rp.kind, corr_label=res.corr_label,
        corr_group=res.spec.correlation.group if res.spec.correlation else None, phi=phi,
        delta=np.asarray(delta, float), sigma_labels=res.sigma_labels,
        variance_columns=res.variance_columns, reference_labels=res.reference_labels)
    n_params = rp.p + rp.K + 1 + rp.n_psi
    if isinstance(prob, GlsProblem):
        sigma = float(np.sqrt(st["r2"] / prob.nu(reml)))
        return ResidualRemlFit(
            method=method, family="gaussian", formula=design.spec.formula,
            fixed_terms=design.fixed_terms, beta=st["beta"], vcov=sigma**2 * st["Sinv"],
            df=np.full(rp.p, float(rp.n - rp.p)), sigma=sigma, theta=np.zeros(0), varcomps=(),
            ranef=(), loglik=-0.5 * criterion, criterion=criterion, n_obs=rp.n,
            n_params=n_params, converged=converged, convergence_message=message,
            singular=False, boundary=(), singular_message="", n_evals=opt.n_evals,
            design=design, residual=estimates)
    sigma = float(np.sqrt(st.r2 / prob.nu(reml)))
    df = satterthwaite_df(prob, st, sigma, reml, prob.perturbed(theta))
    varcomps = varcomps_from_theta(design, prob.tmap, theta, sigma)
    singular, boundary, why = boundary_report(design, prob.tmap, theta, varcomps)
    ranef = split_effects(design, prob, prob.conditional_modes(st),
                          prob.conditional_cov(st, sigma**2))
    return ResidualRemlFit(
        method=method, family="gaussian", formula=design.spec.formula,
        fixed_terms=design.fixed_terms, beta=st.beta, vcov=sigma**2 * st.Sinv, df=df,
        sigma=sigma, theta=theta, varcomps=varcomps, ranef=ranef, loglik=-0.5 * criterion,
        criterion=criterion, n_obs=rp.n, n_params=n_params, converged=converged,
        convergence_message=message, singular=singular, boundary=boundary,
        singular_message=why, n_evals=opt.n_evals, design=design, residual=estimates)
