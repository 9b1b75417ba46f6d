"""Every name of a model variable, dimension and summary row is made here, and nowhere else.

Model variables (in the PyMC model and in the DataTree's posterior):

==================  =====================================  ===============================
name                dims                                   meaning
==================  =====================================  ===============================
``beta``            (``fixed_term``,)                      fixed effects γ, original scale
``sigma``           ()                                     residual sd σ (gaussian)
``u_<g>``           (``<g>``, ``<g>_term``)                varying effects u_j of factor g
``sd_<g>``          (``<g>_term``,)                        sds of the varying effects of g
``corr_<g>``        (``<g>_term``, ``<g>_term_``)          their correlation matrix
``mu``              (``obs``,)                             linear predictor η (link scale)
``y``               (``obs``,)                             the outcome
==================  =====================================  ===============================
"""

from __future__ import annotations

import re

FIXED = "beta"
FIXED_DIM = "fixed_term"
SIGMA = "sigma"
OBS_DIM = "obs"
OUTCOME = "y"
LINPRED = "mu"
INTERCEPT = "Intercept"
CENTERED_INTERCEPT = "Intercept_centered"  # intercept at the predictors' means (sampled)
SLOPES = "b"  # fixed slopes as sampled (their values equal beta's)
SLOPE_DIM = "slope_term"
MARGINAL_LOGLIK = "loglik_marginal"  # Potential: log p(y | β, Σ, σ), group effects integrated out


def _safe(factor: str) -> str:
    """Factor name usable inside a variable name ('school:class' -> 'school__class')."""
    return re.sub(r"[^0-9A-Za-z_]", "__", factor)


def group_effects(factor: str) -> str:
    return f"u_{_safe(factor)}"


def group_effects_raw(factor: str) -> str:
    """Standard-normal innovations of the non-centered parameterization."""
    return f"z_{_safe(factor)}"


def group_sd(factor: str) -> str:
    return f"sd_{_safe(factor)}"


def group_corr(factor: str) -> str:
    return f"corr_{_safe(factor)}"


def group_pcorr(factor: str, block: int) -> str:
    """The partial correlations z of one block of correlated effects, stored as (1 + z)/2
    (Beta variables; see :mod:`hiermod.build.lkj`)."""
    return f"pcorr_{_safe(factor)}_{block}"


def group_sd_block(factor: str, block: int) -> str:
    """The sds of one block of correlated effects, as sampled (``sd_<g>`` collects them)."""
    return f"{group_sd(factor)}_block{block}"


def group_dim(factor: str) -> str:
    """Dimension holding the levels of a grouping factor: the factor's own name."""
    return factor


def term_dim(factor: str) -> str:
    return f"{factor}_term"


def term_dim_bis(factor: str) -> str:
    """Second copy of the term dimension, for square matrices (correlations)."""
    return f"{factor}_term_"


# --- rows of summaries --------------------------------------------------------------------


def sd_label(factor: str, term: str) -> str:
    """Summary row of a group-level sd: 'sd(floor | county)'."""
    return f"sd({term} | {factor})"


def corr_label(factor: str, a: str, b: str) -> str:
    """Summary row of a correlation: 'corr(Intercept, floor | county)'."""
    return f"corr({a}, {b} | {factor})"


def corr_key(a: str, b: str) -> str:
    """Key of a correlation in JSON output and lme4's VarCorr: 'Intercept|floor'."""
    return f"{a}|{b}"


# --- reports: DataTree groups, prediction variables, table rows -------------------------------

POSTERIOR_PREDICTIVE = "posterior_predictive"  # group: draws of y (chain, draw, obs)
LOG_LIKELIHOOD = "log_likelihood"  # group: pointwise log-likelihood (chain, draw, obs)
PREDICTIONS = "predictions"  # group: draws for new data (chain, draw, obs)
EXPECTED = "expected"  # E[y | η] = g⁻¹(η) (probability for binomial) in "predictions"
RESIDUAL = "residual"  # the level-1 row of variance / ICC tables
RESIDUAL_VAR = "sigma^2"  # variance row of the residual


def var_label(factor: str, term: str) -> str:
    """Variance row of a varying effect: 'var(floor | county)'."""
    return f"var({term} | {factor})"
