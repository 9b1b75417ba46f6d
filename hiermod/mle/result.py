"""The result of a REML / ML / Laplace fit: estimates, tables and a printed summary."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .. import names
from ..design import Design
from .confint import confint
from .contrasts import contrast_table, joint_test
from .lrt import anova


@dataclass(frozen=True, eq=False)
class VarComp:
    """Estimated covariance of the varying effects of one grouping factor.

    ``sd`` (q,) are the standard deviations of the terms, ``corr`` (q, q) their correlations
    (0 between terms in different blocks, i.e. assumed uncorrelated).
    """

    factor: str
    terms: tuple[str, ...]
    sd: np.ndarray
    corr: np.ndarray
    blocks: tuple[tuple[int, ...], ...]
    n_levels: int

    @property
    def cov(self) -> np.ndarray:
        return self.corr * np.outer(self.sd, self.sd)

    def pairs(self) -> list[tuple[int, int]]:
        """(a, b), a < b, of the terms whose correlation is estimated."""
        return [(a, b) for blk in self.blocks for i, a in enumerate(blk) for b in blk[i + 1:]]


@dataclass(frozen=True, eq=False)
class GroupEffects:
    """Conditional modes (BLUPs for gaussian models) of one factor's effects, with their SEs."""

    factor: str
    levels: tuple[str, ...]
    terms: tuple[str, ...]
    mode: np.ndarray
    se: np.ndarray


@dataclass(frozen=True, eq=False)
class RemlFit:
    """A multilevel model fitted by REML, ML or (GLMMs) the Laplace approximation to ML.

    Attributes
    ----------
    method : str
        "REML", "ML" or "Laplace".
    beta, vcov : ndarray
        Fixed effects and their covariance matrix.
    df : ndarray or None
        Denominator degrees of freedom of each fixed effect's t test (gaussian models; the
        method is ``ddf``), else None (Wald z tests).
    sigma : float or None
        Residual sd (gaussian models).
    theta : ndarray
        The relative covariance factors' parameters (lme4's θ).
    varcomps : tuple of VarComp
        Variance components per grouping factor.
    ranef : tuple of GroupEffects
        Conditional modes of the group effects and their conditional SEs.
    loglik : float
        REML log-likelihood (method "REML") or log-likelihood.
    criterion : float
        REML criterion or deviance, −2·loglik.
    converged, singular : bool
        Whether the optimizer converged, and whether a variance component is on the boundary
        (an sd at 0 or a correlation at ±1), explained in ``singular_message``.
    se_method : str
        "exact", or "lme4" when the GLMM's vcov reproduces glmer's (see
        :mod:`hiermod.mle.lme4_laplace`).
    inference : object or None
        Gaussian models: the df rule and covariance of β̂ the tests use
        (:class:`~hiermod.mle.satterthwaite.Satterthwaite`,
        :class:`~hiermod.mle.kenward_roger.KenwardRoger` or a
        :class:`~hiermod.mle.ddf.CountedDdf`), with ``df(C)`` and ``f_test(L, beta)``.
    """

    method: str
    family: str
    formula: str
    fixed_terms: tuple[str, ...]
    beta: np.ndarray
    vcov: np.ndarray
    df: np.ndarray | None
    sigma: float | None
    theta: np.ndarray
    varcomps: tuple[VarComp, ...]
    ranef: tuple[GroupEffects, ...]
    loglik: float
    criterion: float
    n_obs: int
    n_params: int
    converged: bool
    convergence_message: str
    singular: bool
    boundary: tuple[str, ...]
    singular_message: str
    n_evals: int
    design: Design = field(repr=False)
    se_method: str = "exact"
    #: what the fit could not estimate, in words (separation, groups whose sd ran off,
    #: non-finite estimates; :mod:`hiermod.mle.checks`), printed by :meth:`summary`
    notes: tuple[str, ...] = ()
    inference: object = field(default=None, repr=False)

    # --- scalar summaries -----------------------------------------------------------------

    @property
    def ddf(self) -> str | None:
        """The df method of the t / F tests ("Satterthwaite", "Kenward-Roger", ...), None for
        the z tests of a GLMM."""
        return None if self.inference is None else self.inference.name

    @property
    def vcov_beta(self) -> np.ndarray:
        """Covariance of β̂ the tests use: Kenward–Roger's adjusted Φ_A with
        ddf="kenward-roger", else ``vcov``."""
        return self.vcov if self.inference is None else self.inference.vcov

    @property
    def se(self) -> np.ndarray:
        """SEs of the fixed effects (from :attr:`vcov_beta`)."""
        return np.sqrt(np.diag(self.vcov_beta))

    @property
    def aic(self) -> float:
        return self.criterion + 2 * self.n_params

    @property
    def bic(self) -> float:
        return self.criterion + np.log(self.n_obs) * self.n_params

    @property
    def criterion_name(self) -> str:
        return "REML criterion" if self.method == "REML" else "deviance (-2 log-likelihood)"

    @property
    def n_groups(self) -> dict[str, int]:
        return {vc.factor: vc.n_levels for vc in self.varcomps}

    @property
    def fixef(self) -> dict[str, float]:
        return dict(zip(self.fixed_terms, map(float, self.beta), strict=True))

    def varcomp(self, factor: str) -> VarComp:
        for vc in self.varcomps:
            if vc.factor == factor:
                return vc
        raise KeyError(f"no grouping factor '{factor}'; factors: {list(self.n_groups)}")

    # --- tables ---------------------------------------------------------------------------

    def fixed_table(self, level: float = 0.95) -> pd.DataFrame:
        """Fixed effects: estimate, SE, (df), t or z, p-value and Wald interval.

        Gaussian models use the t distribution with the fit's ``ddf`` (Satterthwaite by
        default, as lmerTest; with Kenward–Roger the SE is the adjusted one); GLMMs the normal
        distribution (Wald z, as glmer's summary). ``attrs["ddf"]`` names the method.
        """
        se = self.se
        stat = self.beta / se
        q = 0.5 + level / 2
        frame = pd.DataFrame({"estimate": self.beta, "se": se}, index=list(self.fixed_terms))
        if self.df is not None:
            crit = stats.t.ppf(q, self.df)
            frame["df"] = self.df
            frame["t"] = stat
            frame["p"] = 2 * stats.t.sf(np.abs(stat), self.df)
        else:
            crit = stats.norm.ppf(q)
            frame["z"] = stat
            frame["p"] = 2 * stats.norm.sf(np.abs(stat))
        frame[f"{100 * (1 - q):g}%"] = self.beta - crit * se
        frame[f"{100 * q:g}%"] = self.beta + crit * se
        frame.index.name = "term"
        frame.attrs["ddf"] = self.ddf or "none (Wald z)"
        return frame

    def contrast(self, weights, level: float = 0.95) -> pd.DataFrame:
        """t tests of linear combinations of the fixed effects (:func:`contrast_table`)."""
        return contrast_table(self, weights, level)

    def anova(self, *others: RemlFit, refit: bool = True) -> pd.DataFrame:
        """Likelihood-ratio tests against other fits of the same data
        (:func:`hiermod.mle.anova`)."""
        return anova(self, *others, refit=refit)

    def confint(self, method: str = "profile", level: float = 0.95, nsim: int = 500,
                random_seed=None, n_jobs: int | None = None) -> pd.DataFrame:
        """Profile, bootstrap or Wald intervals (:func:`hiermod.mle.confint.confint`)."""
        return confint(self, method, level, nsim, random_seed, n_jobs)

    def f_test(self, L, rhs=None) -> dict[str, float]:
        """Joint F test of Lβ = rhs with the fit's ddf (:func:`joint_test`)."""
        return joint_test(self, L, rhs)

    def varcorr_table(self) -> pd.DataFrame:
        """Variance components: sds, correlations and the residual sd, one row each.

        Rows are labelled as in the Bayesian summaries ("sd(floor | county)",
        "corr(Intercept, floor | county)", "sigma"); ``variance`` is sd² (NaN for
        correlations).
        """
        rows = []
        for vc in self.varcomps:
            for a, term in enumerate(vc.terms):
                rows.append((names.sd_label(vc.factor, term), vc.factor, "sd", term, "",
                             vc.sd[a], vc.sd[a] ** 2))
            for a, b in vc.pairs():
                rows.append((names.corr_label(vc.factor, vc.terms[a], vc.terms[b]), vc.factor,
                             "corr", vc.terms[a], vc.terms[b], vc.corr[a, b], np.nan))
        if self.sigma is not None:
            rows.append((names.SIGMA, "Residual", "sigma", "", "", self.sigma, self.sigma**2))
        frame = pd.DataFrame(rows, columns=["parameter", "group", "kind", "term", "term2",
                                            "estimate", "variance"])
        return frame.set_index("parameter")

    def ranef_table(self) -> pd.DataFrame:
        """Conditional modes of the group effects and their conditional SEs, long format."""
        parts = []
        for ge in self.ranef:
            J, q = ge.mode.shape
            parts.append(pd.DataFrame({
                "group": ge.factor,
                "level": np.repeat(np.asarray(ge.levels, dtype=object), q),
                "term": np.tile(np.asarray(ge.terms, dtype=object), J),
                "mode": ge.mode.ravel(),
                "se": ge.se.ravel(),
            }))
        return pd.concat(parts, ignore_index=True).set_index(["group", "level", "term"])

    def summary(self) -> str:
        """A printed summary in the spirit of lme4's ``summary.merMod``."""
        lines = [f"Linear mixed model fit by {self.method}" if self.family == "gaussian" else
                 f"Generalized linear mixed model fit by maximum likelihood "
                 f"(Laplace approximation) [{self.family}]",
                 f"Formula: {self.formula}",
                 f"{self.criterion_name}: {self.criterion:.4f}   logLik: {self.loglik:.4f}   "
                 f"AIC: {self.aic:.4f}   BIC: {self.bic:.4f}",
                 f"Observations: {self.n_obs};  groups: "
                 + ", ".join(f"{g} {k}" for g, k in self.n_groups.items()),
                 "", "Variance components:"]
        vt = self.varcorr_table()
        lines += ["  " + s for s in vt[["estimate", "variance"]].to_string(
            float_format=lambda v: f"{v:.5g}").splitlines()]
        lines += ["", "Fixed effects:"]
        lines += ["  " + s for s in self.fixed_table().to_string(
            float_format=lambda v: f"{v:.5g}").splitlines()]
        notes = []
        if not self.converged and self.convergence_message not in self.notes:
            notes.append(f"Convergence: {self.convergence_message}")
        if self.singular:
            notes.append(f"Singular fit: {self.singular_message}")
        notes += [f"Note: {n}" for n in self.notes]
        if notes:
            lines += [""] + notes
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def varcomps_from_theta(design: Design, tmap, theta: np.ndarray,
                        scale: float) -> tuple[VarComp, ...]:
    """sd and correlation matrices per factor from θ: Σ_g = scale² T_g T_gᵀ."""
    out = []
    for g, fd in enumerate(design.factors):
        T = tmap.factor_cholesky(theta, g, fd.q)
        cov = scale**2 * (T @ T.T)
        sd = np.sqrt(np.diag(cov))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.outer(sd, sd)
        corr = np.where(np.isfinite(corr), corr, 0.0)
        np.fill_diagonal(corr, 1.0)
        out.append(VarComp(fd.name, fd.terms, sd, corr, fd.blocks, fd.n_levels))
    return tuple(out)


def boundary_report(design: Design, tmap, theta: np.ndarray, varcomps: tuple[VarComp, ...],
                    tol: float = 1e-4) -> tuple[bool, tuple[str, ...], str]:
    """Is the fit singular, which parameters are on the boundary, and what that means.

    As lme4's ``isSingular``: singular when a diagonal element of some T_g is below ``tol``.
    If the whole row of T_g is ~0 the term's sd is 0; otherwise the term is a linear
    combination of the terms before it (a correlation at ±1 or a rank-deficient Σ_g).
    """
    at = tmap.is_diagonal & (theta < tol)
    if not at.any():
        return False, (), ""
    labels, words = [], []
    for k in np.flatnonzero(at):
        g, r = int(tmap.factor_of[k]), int(tmap.row_of[k])
        vc = varcomps[g]
        T = tmap.factor_cholesky(theta, g, len(vc.terms))
        if np.linalg.norm(T[r]) < tol:
            labels.append(names.sd_label(vc.factor, vc.terms[r]))
            words.append(f"the sd of '{vc.terms[r]}' between levels of '{vc.factor}' is "
                         "estimated as 0")
            continue
        block = next(b for b in vc.blocks if r in b)
        for a, b in vc.pairs():
            if a in block and b in block and r in (a, b):
                labels.append(names.corr_label(vc.factor, vc.terms[a], vc.terms[b]))
        words.append(f"the varying effects of '{vc.factor}' on "
                     f"{', '.join(repr(vc.terms[b]) for b in block)} are perfectly correlated "
                     "(a correlation at ±1, or a covariance matrix of less than full rank)")
    message = ("; ".join(words) + ". The data do not support a model this complex: the "
               "estimate sits on the edge of the parameter space, and its SE and any test on "
               "it are unreliable. Consider dropping that term, or a Bayesian fit whose priors "
               "keep the variance components off the boundary.")
    return True, tuple(dict.fromkeys(labels)), message
