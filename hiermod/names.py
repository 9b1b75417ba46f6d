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
``phi``             ()                                     residual correlation parameter
                                                           (``ar1`` / ``car1`` / ``cs``)
``sigma_log_ratio`` (``sigma_term``,)                      log-linear model of the residual
                                                           sd: log σ_i = log σ + v_iᵀδ
==================  =====================================  ===============================

User names (columns, grouping factors) become dims and summary rows; :func:`check_user_names`
rejects those that would collide with hiermod's own.

The sds and correlations are indexed by their own dims (``<g>_cov_term``), not by the group
effects' ``<g>_term``, though both hold the same term names. ArviZ (1.3) labels the rows of
``az.summary`` by iterating over each variable's own dims but takes the values stacked in the
order in which the dims first appear across the posterior's variables: with a shared term dim,
``sd_<g>`` (term) before ``u_<g>`` (level, term) made every ``u_<g>`` row show another cell's
value. No two variables share a dim in a different relative order, so the first
``az.summary(fit.idata)`` of an ArviZ user is labelled correctly.
"""

from __future__ import annotations

import re

from .errors import SpecError

FIXED = "beta"
FIXED_DIM = "fixed_term"
SIGMA = "sigma"
OBS_DIM = "obs"
OUTCOME = "y"
TRIALS = "trials"
LINPRED = "mu"
INTERCEPT = "Intercept"
CENTERED_INTERCEPT = "Intercept_centered"  # intercept at the predictors' means (sampled)
SLOPES = "b"  # fixed slopes as sampled (their values equal beta's)
SLOPE_DIM = "slope_term"
MARGINAL_LOGLIK = "loglik_marginal"  # Potential: log p(y | β, Σ, σ), group effects integrated out
RESIDUAL_LOGLIK = "loglik_residual"  # Potential: log p(y | η, σ, φ, δ), correlated residuals
ADAPTIVE_JACOBIAN = "adaptive_correction"  # Potential of the adaptive parameterization
CELL_DIM = "cell"  # the cells of an aggregated binomial / poisson model
SAMPLE_DIMS = ("chain", "draw")
RESIDUAL_CORR = "phi"  # correlation parameter of the residuals within a unit
RESIDUAL_CORR_UNIT = "phi_unit"  # AR(1): (φ + 1)/2 on the unit interval, as sampled
SIGMA_EFFECTS = "sigma_log_ratio"  # δ of log σ_i = log σ + v_iᵀδ
SIGMA_DIM = "sigma_term"

#: dims hiermod makes or ArviZ reads, which no grouping factor may take as its name
RESERVED_DIMS = frozenset({FIXED_DIM, SLOPE_DIM, OBS_DIM, CELL_DIM, SIGMA_DIM, *SAMPLE_DIMS})
#: rows that variance, ICC and R² tables hold next to the grouping factors
RESERVED_FACTORS = frozenset({"residual", "fixed"})


def _safe(factor: str) -> str:
    """Factor name usable inside a variable name ('school:class' -> 'school__class')."""
    return re.sub(r"[^0-9A-Za-z_]", "__", factor)


def group_effects(factor: str) -> str:
    return f"u_{_safe(factor)}"


def group_effects_raw(factor: str) -> str:
    """Standard-normal innovations of the non-centered parameterization."""
    return f"z_{_safe(factor)}"


def group_effects_block(factor: str, block: int) -> str:
    """The centred group effects of one block of terms, as sampled."""
    return f"{group_effects_raw(factor)}_{block}"


def group_sd(factor: str) -> str:
    return f"sd_{_safe(factor)}"


def group_sd_term(factor: str, term: str) -> str:
    """The sd of one uncorrelated term, as sampled (``sd_<g>`` collects them)."""
    return f"{group_sd(factor)}[{term}]"


def group_corr(factor: str) -> str:
    return f"corr_{_safe(factor)}"


def group_pcorr(factor: str, block: int) -> str:
    """The partial correlations z of one block of correlated effects, stored as (1 + z)/2
    (Beta variables; see :mod:`hiermod.model.lkj`)."""
    return f"pcorr_{_safe(factor)}_{block}"


def group_sd_block(factor: str, block: int) -> str:
    """The sds of one block of correlated effects, as sampled (``sd_<g>`` collects them)."""
    return f"{group_sd(factor)}_block{block}"


def fixed_slope_term(term: str) -> str:
    """A fixed slope sampled on its own (a non-Normal prior)."""
    return f"{SLOPES}[{term}]"


def group_dim(factor: str) -> str:
    """Dimension holding the levels of a grouping factor: the factor's own name."""
    return factor


def term_dim(factor: str) -> str:
    return f"{factor}_term"


def cov_dim(factor: str) -> str:
    """The terms of Σ_g, indexing the sds ``sd_<g>`` and the rows of ``corr_<g>`` (not shared
    with ``u_<g>``; see the module docstring)."""
    return f"{factor}_cov_term"


def cov_dim_bis(factor: str) -> str:
    """Second copy of :func:`cov_dim`, the columns of the correlation matrix ``corr_<g>``."""
    return f"{factor}_cov_term_"


def factor_dims(factor: str) -> tuple[str, str, str, str]:
    return group_dim(factor), term_dim(factor), cov_dim(factor), cov_dim_bis(factor)


def reported_variables(factors) -> tuple[str, ...]:
    """The model variables that diagnostics and summaries cover, for the given factor names:
    fixed effects, sigma, the residual structure's parameters, and per factor the group
    effects, sds and correlations."""
    out = [FIXED, SIGMA, RESIDUAL_CORR, SIGMA_EFFECTS]
    for f in factors:
        out += [group_effects(f), group_sd(f), group_corr(f)]
    return tuple(out)


def check_user_names(fixed_terms, factors) -> None:
    """Reject fixed terms and grouping factors whose names collide with hiermod's own.

    Raises
    ------
    SpecError
        A grouping factor named like a dim hiermod makes (``obs``, ``fixed_term``, ``chain``,
        ``draw``) or a row of its tables (``residual``, ``fixed``), two factors whose dims or variable names coincide
        (``g`` and ``g_term``; ``a:b`` and ``a__b``), or a fixed term named ``sigma``.
    """
    if SIGMA in fixed_terms:
        raise SpecError(f"a predictor is named '{SIGMA}', the name of the residual sd: rename "
                        "the column")
    seen: dict[str, str] = {}
    for f in factors:
        if f.lower() in RESERVED_FACTORS:
            raise SpecError(f"the grouping factor '{f}' has a name hiermod's tables use for "
                            f"other rows ({', '.join(sorted(RESERVED_FACTORS))}): rename the "
                            "column")
        for dim in factor_dims(f):
            if dim in RESERVED_DIMS:
                raise SpecError(f"the grouping factor '{f}' gives the dimension '{dim}', a name "
                                f"hiermod reserves ({', '.join(sorted(RESERVED_DIMS))}): rename "
                                "the column")
            if dim in seen and seen[dim] != f:
                raise SpecError(f"the grouping factors '{seen[dim]}' and '{f}' both give the "
                                f"dimension '{dim}': rename one of the columns")
            seen[dim] = f
    variables = {FIXED, SLOPES, SIGMA, OUTCOME, LINPRED, CENTERED_INTERCEPT, MARGINAL_LOGLIK,
                 ADAPTIVE_JACOBIAN, RESIDUAL_LOGLIK, RESIDUAL_CORR, RESIDUAL_CORR_UNIT,
                 SIGMA_EFFECTS, *(v for f in factors for v in (
                     group_effects(f), group_effects_raw(f), group_sd(f), group_corr(f)))}
    clash = [d for d in seen if d in variables]
    if clash:
        raise SpecError(f"the grouping factor '{seen[clash[0]]}' gives the dimension "
                        f"'{clash[0]}', the name of one of hiermod's model variables: rename the "
                        "column")
    safe: dict[str, str] = {}
    for f in factors:
        other = safe.setdefault(_safe(f), f)
        if other != f:
            raise SpecError(f"the grouping factors '{other}' and '{f}' give the same variable "
                            f"name '{group_effects(f)}': rename one of the columns")


# --- rows of summaries --------------------------------------------------------------------


def sd_label(factor: str, term: str) -> str:
    """Summary row of a group-level sd: 'sd(floor | county)'."""
    return f"sd({term} | {factor})"


def corr_label(factor: str, a: str, b: str) -> str:
    """Summary row of a correlation: 'corr(Intercept, floor | county)'."""
    return f"corr({a}, {b} | {factor})"


def residual_corr_label(kind: str, group: str, time: str | None = None) -> str:
    """Summary row of the residual correlation parameter: 'phi(time | id)' (AR(1), CAR(1)) or
    'phi(id)' (compound symmetry)."""
    return f"{RESIDUAL_CORR}({time} | {group})" if time else f"{RESIDUAL_CORR}({group})"


def sigma_level_label(column: str, level: str) -> str:
    """Summary row of the residual sd at one level of a variance factor: 'sigma[treat=B]'."""
    return f"{SIGMA}[{column}={level}]"


def sigma_slope_label(column: str) -> str:
    """Summary row of the slope of log σ in a numeric variable: 'log_sigma[time]'."""
    return f"log_{SIGMA}[{column}]"


def sigma_term(column: str, level: str | None = None) -> str:
    """Coordinate of one column of the variance model: 'treat=B' or 'time'."""
    return column if level is None else f"{column}={level}"


def sigma_effect_term(term: str) -> str:
    """One coefficient of the residual-sd model sampled on its own (a non-shared prior family),
    and its key in ``priors=``: 'sigma_log_ratio[treat=B]'."""
    return f"{SIGMA_EFFECTS}[{term}]"


def corr_key(a: str, b: str) -> str:
    """Key of a correlation in JSON output and lme4's VarCorr: 'Intercept|floor'."""
    return f"{a}|{b}"


# --- reports: DataTree groups, prediction variables, table rows -------------------------------

POSTERIOR_PREDICTIVE = "posterior_predictive"  # group: draws of y (chain, draw, obs)
LOG_LIKELIHOOD = "log_likelihood"  # group: pointwise log-likelihood (chain, draw, obs)
PREDICTIONS = "predictions"  # group: draws for new data (chain, draw, obs)
PRIOR = "prior"  # group: draws of the parameters from the prior
PRIOR_PREDICTIVE = "prior_predictive"  # group: draws of y from the prior (chain, draw, obs)
EXPECTED = "expected"  # E[y | η] = g⁻¹(η) (probability for binomial) in "predictions"
RESIDUAL = "residual"  # the level-1 row of variance / ICC tables
RESIDUAL_VAR = "sigma^2"  # variance row of the residual


def var_label(factor: str, term: str) -> str:
    """Variance row of a varying effect: 'var(floor | county)'."""
    return f"var({term} | {factor})"
