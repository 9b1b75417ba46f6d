"""The result of a Bayesian fit: the ArviZ DataTree with the spec, design and data it came from.

``Fit`` is thin: its attributes are what the fit produced, and each report method is one line
that calls the pure report function of the same job (:mod:`hiermod.report`), so new reports
are added there. See those functions for the parameters and the maths.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property

import pandas as pd
import xarray as xr

from . import io
from .design import Design
from .diagnostics import Diagnostics, diagnose
from .formula import Spec
from .marginal import PATH_EXPLICIT, PATH_MARGINAL
from .plan import INTEGRATED, make_plan
from .prior_predictive import sample_prior_predictive
from .priors import Prior, resolve_priors
from .report import (
    add_log_likelihood,
    add_posterior_predictive,
    binned_residuals,
    calibration,
    coef,
    compare,
    contrast,
    design_effect,
    fixef,
    forecast,
    group_effects,
    group_effects_qq,
    icc,
    icc_draws,
    loo,
    marginal_means,
    odds_ratios,
    pooling,
    ppc_groups,
    ppc_overall,
    predict,
    r2_levels,
    r2_nakagawa,
    ranef,
    residual_acf,
    residuals,
    slopes,
    summary,
    trajectories,
    varcorr,
    variance_components,
    variance_explained,
)
from .sample import SamplerSettings


@dataclass(frozen=True, eq=False)
class Fit:
    """A sampled multilevel model: the ArviZ DataTree with the spec and design it came from."""

    idata: xr.DataTree
    spec: Spec
    design: Design
    data: pd.DataFrame
    user_priors: dict = field(default_factory=dict)
    parameterization: str = "noncentered"
    #: the path's parameterization: "adaptive", "noncentered", "centered", or "integrated"
    #: (marginal path)
    settings: SamplerSettings = field(default_factory=SamplerSettings)
    timing: dict = field(default_factory=dict)
    #: "marginal" (group effects integrated out, then drawn given each draw) or "explicit"
    model_path: str = PATH_EXPLICIT
    #: the sampler's seed (also in ``idata.posterior.attrs["random_seed"]``)
    seed: int | None = None

    @cached_property
    def priors(self) -> dict[str, Prior]:
        """Every parameter's prior (defaults with the user's overrides)."""
        return resolve_priors(self.design, self.user_priors).labelled()

    @cached_property
    def model(self):
        """The PyMC model (rebuilt on demand, e.g. after :func:`hiermod.load_fit`)."""
        how = "auto" if self.parameterization == INTEGRATED else self.parameterization
        return make_plan(self.design, self.user_priors, how, self.model_path == PATH_MARGINAL,
                         sampler="pymc" if self.settings.sampler == "nutpie"
                         else self.settings.sampler).built.model

    def summary(self, prob: float = 0.95, exponentiate: bool = False) -> pd.DataFrame:
        """Posterior mean, sd, equal-tailed interval, ESS and R-hat per parameter; with
        ``exponentiate`` the fixed effects as exp(β): odds or rate ratios."""
        return summary(self.idata, self.design, prob, exponentiate)

    # --- lme4's accessors --------------------------------------------------------------------

    def fixef(self, statistic: str = "mean") -> pd.Series:
        """Fixed effects (:func:`hiermod.report.fixef`, lme4's ``fixef``)."""
        return fixef(self.idata, self.design, statistic)

    def ranef(self, statistic: str = "mean") -> dict[str, pd.DataFrame]:
        """Group effects per factor (:func:`hiermod.report.ranef`, lme4's ``ranef``)."""
        return ranef(self.idata, self.design, statistic)

    def coef(self, statistic: str = "mean") -> dict[str, pd.DataFrame]:
        """Fixed + group effects per factor (:func:`hiermod.report.coef`, lme4's ``coef``)."""
        return coef(self.idata, self.design, statistic)

    def VarCorr(self, statistic: str = "mean") -> pd.DataFrame:  # noqa: N802 - lme4's name
        """Variance components (:func:`hiermod.report.varcorr`, lme4's ``VarCorr``)."""
        return varcorr(self.idata, self.design, statistic)

    @cached_property
    def _diagnostics(self) -> Diagnostics:
        how = "marginal" if self.model_path == PATH_MARGINAL else self.parameterization
        return diagnose(self.idata, self.design, how)

    def diagnostics(self) -> Diagnostics:
        """R-hat, ESS, divergences and tree depth, with advice for each problem."""
        return self._diagnostics

    def save(self, path) -> None:
        """Write the fit to a netCDF file; :func:`hiermod.load_fit` reads it back exactly."""
        res = self.spec.residuals
        io.write_fit(path, self.idata, self.data, {
            "formula": self.spec.formula, "family": self.spec.family,
            "correlation": res.correlation.text if res and res.correlation else "",
            "sigma": res.variance.text if res and res.variance else "",
            "priors": io.priors_to_json(self.user_priors),
            "parameterization": self.parameterization, "model_path": self.model_path,
            "settings": asdict(self.settings), "timing": self.timing,
            "dropped_rows": [str(r) for r in self.design.dropped_rows],
            **({"event": self.spec.response.event} if self.spec.response.event else {})})

    def __repr__(self) -> str:
        groups = ", ".join(f"{f.name}: {f.n_levels}" for f in self.design.factors)
        s = self.settings
        how = ("group effects integrated out" if self.model_path == PATH_MARGINAL
               else self.parameterization)
        if "cells" in self.timing:
            how += f", {self.timing['rows']} rows in {self.timing['cells']} cells"
        return (f"<hiermod.Fit {self.spec.formula!r} ({self.spec.family}); "
                f"{self.design.n_obs} obs; groups {groups}; {s.chains} chains x {s.draws} draws "
                f"({s.sampler}, {how})>")

    # --- ICC, design effect, variance, R² ---------------------------------------------------

    def icc(self, kind: str = "adjusted", slopes: str = "intercept", prob: float = 0.95):
        """Posterior ICC per grouping factor (:func:`hiermod.report.icc`)."""
        return icc(self.idata, self.design, kind=kind, slopes=slopes, prob=prob)

    def icc_draws(self, kind: str = "adjusted", slopes: str = "intercept"):
        """Draws of the ICC, dims (chain, draw, factor) (:func:`hiermod.report.icc_draws`)."""
        return icc_draws(self.idata, self.design, kind=kind, slopes=slopes)

    def design_effect(self, factor: str | None = None, kind: str = "cumulative",
                      prob: float = 0.95):
        """Design effect and effective sample size (:func:`hiermod.report.design_effect`)."""
        return design_effect(self.idata, self.design, factor=factor, kind=kind, prob=prob)

    def variance_components(self, prob: float = 0.95):
        """sd, variance, correlations (:func:`hiermod.report.variance_components`)."""
        return variance_components(self.idata, self.design, prob=prob)

    def variance_explained(self, reference, prob: float = 0.95):
        """Proportional reduction of σ² and τ² against ``reference`` (a Fit, e.g. the null)."""
        return variance_explained(self.idata, self.design, reference.idata, reference.design,
                                  prob=prob)

    def r2(self, slopes: str = "average", prob: float = 0.95):
        """Nakagawa's marginal and conditional R² (:func:`hiermod.report.r2_nakagawa`)."""
        return r2_nakagawa(self.idata, self.design, slopes=slopes, prob=prob)

    def r2_levels(self, null, factor: str | None = None, cluster_size: float | None = None,
                  prob: float = 0.95):
        """Snijders & Bosker's level-1 / level-2 R² against the null Fit ``null``."""
        return r2_levels(self.idata, self.design, null.idata, null.design, factor=factor,
                         cluster_size=cluster_size, prob=prob)

    def contrast(self, weights, prob: float = 0.95):
        """Posterior of weighted sums of fixed effects (:func:`hiermod.report.contrast`)."""
        return contrast(self.idata, self.design, weights, prob=prob)

    # --- marginal means, comparisons, slopes, odds ratios -----------------------------------

    def marginal_means(self, by=None, at: dict | None = None, grid: str = "reference",
                       groups: str = "zero", weights: str = "equal", scale: str = "response",
                       prob: float = 0.95):
        """emmeans-style marginal means (:func:`hiermod.report.marginal_means`); their
        ``.compare()`` gives the contrasts."""
        return marginal_means(self.idata, self.design, self.data, by, at=at, grid=grid,
                              groups=groups, weights=weights, scale=scale, prob=prob)

    def slopes(self, variable: str, by=None, at: dict | None = None, grid: str = "data",
               groups: str = "zero", scale: str = "response", prob: float = 0.95):
        """dE[y]/dx, the average marginal effect (:func:`hiermod.report.slopes`)."""
        return slopes(self.idata, self.design, self.data, variable, by=by, at=at, grid=grid,
                      groups=groups, scale=scale, prob=prob)

    def odds_ratios(self, prob: float = 0.95, intercept: bool = False) -> pd.DataFrame:
        """exp(β): odds ratios (logit) or rate ratios (log) (:func:`hiermod.report.odds_ratios`)."""
        return odds_ratios(self.idata, self.design, prob, intercept)

    # --- group effects and pooling -----------------------------------------------------------

    def group_effects(self, factor: str | None = None, term: str | None = None,
                      coefficient: bool = False, prob: float = 0.95):
        """Posterior of each group's effect (:func:`hiermod.report.group_effects`)."""
        return group_effects(self.idata, self.design, factor=factor, term=term,
                             coefficient=coefficient, prob=prob)

    def pooling(self, factor: str | None = None, prob: float = 0.95, sigma: float | None = None,
                tau=None):
        """No / partial / complete pooling and shrinkage (:func:`hiermod.report.pooling`)."""
        return pooling(self.idata, self.design, factor=factor, prob=prob, sigma=sigma, tau=tau)

    # --- predictions ---------------------------------------------------------------------------

    def predict(self, newdata, new_groups: str = "sample", kind: str = "both",
                prob: float = 0.95, random_seed: int | None = None, groups: str = "fitted",
                new_group_means: str = "training"):
        """Predictions for new data, for groups or the population (:func:`hiermod.report.predict`;
        with a residual structure :func:`hiermod.report.forecast`)."""
        return (forecast if self.design.residuals is not None else predict)(
            self.idata, self.design, newdata, new_groups=new_groups, kind=kind, prob=prob,
            random_seed=random_seed, groups=groups, new_group_means=new_group_means)

    def forecast(self, newdata, new_groups: str = "sample", kind: str = "both",
                 prob: float = 0.95, random_seed: int | None = None, condition: bool = True):
        """Trajectories continued from each unit's last residuals (:func:`hiermod.report.forecast`)."""
        return forecast(self.idata, self.design, newdata, new_groups=new_groups, kind=kind,
                        prob=prob, random_seed=random_seed, condition=condition)

    def residual_acf(self, kind: str = "normalized", unit: str | None = None,
                     time: str | None = None, max_lag: int | None = None, data=None):
        """Residual autocorrelation by lag within units (:func:`hiermod.report.residual_acf`)."""
        return residual_acf(self.idata, self.design, self.data if data is None else data,
                            unit=unit, time=time, kind=kind, max_lag=max_lag)

    def trajectories(self, x: str, factor: str | None = None, n_points: int = 20,
                     prob: float = 0.95):
        """Fitted curve of each group along ``x`` (:func:`hiermod.report.trajectories`)."""
        return trajectories(self.idata, self.design, self.data, x, factor=factor,
                            n_points=n_points, prob=prob)

    # --- posterior predictive checks and LOO ---------------------------------------------------

    def posterior_predictive(self, random_seed: int | None = None, overwrite: bool = False):
        """Add the groups ``posterior_predictive`` and ``log_likelihood`` to ``fit.idata``."""
        return add_log_likelihood(add_posterior_predictive(
            self.idata, self.design, random_seed, overwrite), self.design, overwrite)

    def ppc(self, stats=None, prob: float = 0.95, random_seed: int | None = None):
        """Overall posterior predictive checks (:func:`hiermod.report.ppc_overall`)."""
        return ppc_overall(self.idata, self.design, stats=stats, prob=prob,
                           random_seed=random_seed)

    def prior_predictive(self, draws: int = 500, random_seed: int | None = None):
        """Draws from the priors of this fit's model (:func:`hiermod.sample_prior_predictive`);
        check them with ``hm.report.ppc_overall(tree, fit.design, group="prior_predictive")``."""
        return sample_prior_predictive(self.design, self.user_priors, draws, random_seed)

    def ppc_groups(self, factor: str | None = None, stats=None, prob: float = 0.95,
                   random_seed: int | None = None, groups: str = "new"):
        """Per-group checks of group means and sds, new groups replicated by default
        (:func:`hiermod.report.ppc_groups`)."""
        return ppc_groups(self.idata, self.design, factor=factor, stats=stats, prob=prob,
                          random_seed=random_seed, groups=groups)

    def residuals(self) -> pd.DataFrame:
        """Fitted values, raw and Pearson residuals (:func:`hiermod.report.residuals`)."""
        return residuals(self.idata, self.design)

    def binned_residuals(self, n_bins: int | None = None) -> pd.DataFrame:
        """Mean residuals in bins of the fitted value (:func:`hiermod.report.binned_residuals`)."""
        return binned_residuals(self.idata, self.design, n_bins)

    def calibration(self, n_bins: int = 10, prob: float = 0.95) -> pd.DataFrame:
        """Observed against predicted probability (:func:`hiermod.report.calibration`)."""
        return calibration(self.idata, self.design, n_bins, prob)

    def group_effects_qq(self, factor: str | None = None, term: str | None = None,
                         prob: float = 0.95) -> pd.DataFrame:
        """QQ table of the standardized group effects (:func:`hiermod.report.group_effects_qq`)."""
        return group_effects_qq(self.idata, self.design, factor, term, prob)

    def loo(self, pointwise: bool = True):
        """PSIS-LOO with Pareto k (:func:`hiermod.report.loo`)."""
        return loo(self.idata, self.design, pointwise=pointwise)

    # --- against REML / ML ----------------------------------------------------------------------

    def compare(self, reml_fit, prob: float = 0.95):
        """Posterior next to a REML / ML fit, parameter by parameter (:func:`hiermod.compare`)."""
        return compare(self, reml_fit, prob=prob)
