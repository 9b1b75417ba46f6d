"""Reports of a fitted multilevel model: pure functions, DataTree (+ Design) in, pandas/xarray out.

One module per job: :mod:`.intraclass` (ICC), :mod:`.effective_size` (design effect),
:mod:`.variance` (components, variance explained), :mod:`.r2` (Nakagawa, Snijders & Bosker),
:mod:`.effects` (group effects), :mod:`.shrinkage` (no / partial / complete pooling),
:mod:`.checks` (residuals, binned residuals, calibration, QQ of the group effects),
:mod:`.lme4_accessors` (fixef, ranef, coef, VarCorr), :mod:`.prediction`, :mod:`.contrasts`, :mod:`.marginal_effects` (marginal means, contrasts,
slopes, odds ratios), :mod:`.ppc` (posterior predictive checks,
log-likelihood), :mod:`.loo_cv` (PSIS-LOO, model comparison), :mod:`.comparison` (posterior
against a REML / ML fit), :mod:`.summary_table`; for residual structures (correlation= /
sigma=) :mod:`.residual_draws` (their parameters, likelihoods and replications),
:mod:`.structures` (REML LRTs and LOO in one table), :mod:`.trajectory_forecast` (trajectories continued
from the last residuals), :mod:`.serial_correlation` (residual ACF by lag). Each is also a one-line method of
:class:`hiermod.Fit`; none of them knows the Fit class.
"""

from .checks import binned_residuals, calibration, group_effects_qq, residuals
from .comparison import compare
from .contrasts import contrast, contrast_draws
from .effective_size import design_effect
from .effects import group_effect_draws, group_effects
from .intraclass import icc, icc_draws
from .lme4_accessors import coef, fixef, ranef, varcorr
from .loo_cv import compare_fits, loo, pareto_k_table
from .marginal_effects import (
                  MarginalMeans,
                  comparisons,
                  marginal_means,
                  odds_ratios,
                  reference_grid,
                  slopes,
)
from .ppc import (
                  add_log_likelihood,
                  add_posterior_predictive,
                  log_likelihood,
                  posterior_predictive,
                  ppc_groups,
                  ppc_overall,
)
from .prediction import Predictions, encode_newdata, expected_draws, predict, trajectories
from .r2 import r2_levels, r2_nakagawa, r2_nakagawa_draws
from .serial_correlation import autocorrelation, reml_residual_acf, residual_acf
from .shrinkage import (
                  approximate_estimate,
                  complete_pooling,
                  no_pooling,
                  pooling,
                  pooling_tables,
                  shrinkage_factor,
)
from .structures import compare_structures
from .summary_table import summary
from .trajectory_forecast import forecast, unit_grid
from .variance import variance_components, variance_explained

__all__ = [
    "MarginalMeans", "comparisons", "marginal_means", "odds_ratios", "reference_grid", "slopes",
    "coef", "fixef", "ranef", "varcorr",
    "binned_residuals", "calibration", "group_effects_qq", "residuals",
    "Predictions", "add_log_likelihood", "add_posterior_predictive", "approximate_estimate",
    "autocorrelation", "forecast", "reml_residual_acf", "residual_acf", "unit_grid",
    "compare", "compare_fits", "compare_structures", "complete_pooling", "contrast",
    "contrast_draws", "design_effect", "encode_newdata", "expected_draws", "group_effect_draws",
    "group_effects", "icc",
    "icc_draws", "log_likelihood", "loo", "no_pooling", "pareto_k_table", "pooling",
    "pooling_tables", "posterior_predictive", "ppc_groups", "ppc_overall", "predict",
    "r2_levels", "r2_nakagawa", "r2_nakagawa_draws", "shrinkage_factor", "summary",
    "trajectories", "variance_components", "variance_explained",
]
