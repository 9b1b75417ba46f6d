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
from .priors import Prior, resolve_priors
from .report import (
    add_log_likelihood,
    add_posterior_predictive,
    compare,
    contrast,
    design_effect,
    group_effects,
    icc,
    icc_draws,
    loo,
    pooling,
    ppc_groups,
    ppc_overall,
    predict,
    r2_levels,
    r2_nakagawa,
    summary,
    trajectories,
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

    def summary(self, prob: float = 0.95) -> pd.DataFrame:
        """Posterior mean, sd, equal-tailed interval, ESS and R-hat per parameter."""
        return summary(self.idata, self.design, prob)

    @cached_property
    def _diagnostics(self) -> Diagnostics:
        how = "marginal" if self.model_path == PATH_MARGINAL else self.parameterization
        return diagnose(self.idata, self.design, how)

    def diagnostics(self) -> Diagnostics:
        """R-hat, ESS, divergences and tree depth, with advice for each problem."""
        return self._diagnostics

    def save(self, path) -> None:
        """Write the fit to a netCDF file; :func:`hiermod.load_fit` reads it back exactly."""
        io.write_fit(path, self.idata, self.data, {
            "formula": self.spec.formula, "family": self.spec.family,
            "priors": io.priors_to_json(self.user_priors),
            "parameterization": self.parameterization, "model_path": self.model_path,
            "settings": asdict(self.settings), "timing": self.timing,
            "dropped_rows": [str(r) for r in self.design.dropped_rows]})

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
                prob: float = 0.95, random_seed: int | None = None):
        """Predictions for new data (:func:`hiermod.report.predict`)."""
        return predict(self.idata, self.design, newdata, new_groups=new_groups, kind=kind,
                       prob=prob, random_seed=random_seed)

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

    def ppc(self, stats=("mean", "sd", "min", "max"), prob: float = 0.95,
            random_seed: int | None = None):
        """Overall posterior predictive checks (:func:`hiermod.report.ppc_overall`)."""
        return ppc_overall(self.idata, self.design, stats=stats, prob=prob,
                           random_seed=random_seed)

    def ppc_groups(self, factor: str | None = None, stats=("mean", "sd"), prob: float = 0.95,
                   random_seed: int | None = None):
        """Per-group checks of group means and sds (:func:`hiermod.report.ppc_groups`)."""
        return ppc_groups(self.idata, self.design, factor=factor, stats=stats, prob=prob,
                          random_seed=random_seed)

    def loo(self, pointwise: bool = True):
        """PSIS-LOO with Pareto k (:func:`hiermod.report.loo`)."""
        return loo(self.idata, self.design, pointwise=pointwise)

    # --- against REML / ML ----------------------------------------------------------------------

    def compare(self, reml_fit, prob: float = 0.95):
        """Posterior next to a REML / ML fit, parameter by parameter (:func:`hiermod.compare`)."""
        return compare(self, reml_fit, prob=prob)
