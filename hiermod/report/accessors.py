"""Report methods reachable from a Fit (``fit.icc()``, ``fit.predict(...)``, ...).

Each method is one line that calls the pure report function of the same job, so that
``Fit`` stays a thin result object: new reports are added here, not in ``hiermod/fit.py``.
See the functions in :mod:`hiermod.report` for the parameters and the maths.
"""

from __future__ import annotations

from .compare import compare
from .contrast import contrast
from .design_effect import design_effect
from .effects import group_effects
from .icc import icc, icc_draws
from .loo import loo
from .ppc import add_log_likelihood, add_posterior_predictive, ppc_groups, ppc_overall
from .predict import predict, trajectories
from .r2 import r2_levels, r2_nakagawa
from .shrinkage import pooling
from .variance import variance_components, variance_explained


class FitReports:
    """Mixin of the Fit class; ``self`` has ``idata``, ``design``, ``spec``, ``data``."""

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
