"""Front doors: ``reml(formula, data)`` and the REML-versus-ML table."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd

from .. import names
from ..design import Design, SummaryDesign, make_design
from ..errors import DataError, SpecError
from ..formula import Spec, parse_formula, with_residuals
from ..partitioned import is_dask_frame, partitioned_design
from .checks import separated_terms, settle
from .glmm_fit import SE_METHODS, fit_glmm
from .lmm import check_method, fit_lmm
from .residuals import fit_lmm_residual
from .result import RemlFit


def _design(spec_or_formula, data, family: str | None,
            method: str | None) -> tuple[Design | None, Spec | None, str]:
    """Resolve the spec (checking method against family first) without building anything."""
    if isinstance(spec_or_formula, (Design, SummaryDesign)):
        if data is not None:
            raise SpecError("pass either a Design, or a formula / Spec with data, not both")
        if family is not None and family != spec_or_formula.family:
            raise SpecError(f"family={family!r} contradicts the Design's family "
                            f"{spec_or_formula.family!r}")
        fam = spec_or_formula.family
        return spec_or_formula, None, _method(method, fam)
    if isinstance(spec_or_formula, str):
        spec = parse_formula(spec_or_formula, family=family or "gaussian")
    elif isinstance(spec_or_formula, Spec):
        spec = spec_or_formula if family is None else spec_or_formula.with_family(family)
    else:
        raise SpecError("spec_or_formula must be an lme4 formula (str), a Spec or a Design, got "
                        f"{type(spec_or_formula).__name__}")
    if data is None:
        raise SpecError("data is missing: pass the DataFrame the formula refers to")
    return None, spec, _method(method, spec.family)


def build_design(spec: Spec, data, dropna: bool) -> Design | SummaryDesign:
    """The Design of a pandas DataFrame, or the SummaryDesign of a Dask DataFrame summed
    partition by partition (gaussian models with one grouping factor; :mod:`hiermod.partitioned`)."""
    if not is_dask_frame(data):
        return make_design(spec, data, dropna=dropna)
    if spec.family != "gaussian":
        raise SpecError(f"Laplace ML of a {spec.family} model on Dask data is not available "
                        "(PIRLS reweights the rows at every step): fit it by hm.fit, whose "
                        "cells path takes Dask data, or by hm.reml on a pandas DataFrame "
                        "(e.g. of the cells: one row per distinct predictor pattern and group)")
    if len(spec.factors) != 1:
        raise SpecError("REML / ML on Dask data takes one grouping factor; with several, fit by "
                        "hm.fit (its marginal path takes Dask data) or on a pandas DataFrame")
    return partitioned_design(spec, data, dropna=dropna)


def _method(method: str | None, family: str) -> str:
    if method is None:
        return "REML" if family == "gaussian" else "ML"
    return check_method(method, family)


def reml(spec_or_formula: str | Spec | Design, data: pd.DataFrame | None = None,
         method: str | None = None, family: str | None = None,
         dropna: bool = False, se: str = "exact", ddf: str | None = None,
         correlation: str | None = None, sigma: str | None = None) -> RemlFit:
    """Fit a multilevel model by REML or ML (gaussian) or Laplace ML (binomial, bernoulli,
    poisson), on the same Design the Bayesian fit uses.

    Parameters
    ----------
    spec_or_formula : str, Spec or Design
        An lme4 formula ("y ~ x + (1 + x | g)"), a parsed Spec, or a Design from
        :func:`hiermod.make_design` (then ``data`` is None).
    data : pandas.DataFrame or dask.dataframe.DataFrame
        A Dask DataFrame (data larger than memory) is summed partition by partition
        (:mod:`hiermod.partitioned`) and the criterion optimised from the sums: gaussian
        models with one grouping factor.
    method : {"REML", "ML"}, optional
        Default "REML" for gaussian models and "ML" (Laplace) for the others; "REML" with a
        non-gaussian family raises.
    family : str, optional
        "gaussian" (default for a formula), "binomial", "bernoulli" or "poisson"; overrides the
        Spec's family.
    dropna : bool
        Drop rows with missing values in the model's columns (see :func:`make_design`).
    se : {"exact", "lme4"}
        Binomial, bernoulli and poisson models: "lme4" reproduces glmer's fixed-effect SEs,
        which come from its early-stopped PIRLS (see :func:`fit_glmm`); "exact" (default) uses
        the exact Laplace deviance. Gaussian models: the two are the same (lmer's SEs are exact).
    ddf : {"satterthwaite", "kenward-roger", "between-within", "residual"}, optional
        Gaussian models: denominator df of the t and F tests (default "satterthwaite", as
        lmerTest); "kenward-roger" also reports Kenward–Roger's adjusted SEs (REML only). See
        :func:`hiermod.mle.fit_lmm`. GLMMs use z tests and refuse the argument.
    correlation, sigma : str, optional
        A residual structure, as for :func:`hiermod.fit`: ``"ar1(occasion | id)"``,
        ``"car1(time | id)"``, ``"cs(id)"``; ``"~ treat"`` (nlme's ``varIdent``), ``"~ time"``
        (``varExp``). Fitted by :func:`~hiermod.mle.residuals.fit_lmm_residual`, as nlme's
        ``lme`` (or ``gls`` without grouping factors).

    Returns
    -------
    RemlFit
        A :class:`~hiermod.mle.residuals.ResidualRemlFit` with a residual structure.

    Raises
    ------
    SpecError
        Unknown method, REML for a non-gaussian family, a malformed formula.
    DataError
        Data that do not fit the formula (from :func:`make_design`: non-finite values,
        collinear or constant predictors, a constant gaussian outcome, ...), or a likelihood
        that cannot be computed.

    Notes
    -----
    What ML cannot estimate is said, not hidden (:mod:`hiermod.mle.checks`): separation in a
    binomial, bernoulli or poisson model gives ``converged=False`` with the reason, a group sd
    that runs off because some groups' outcomes are all 0 or all 1 gets a note, and
    non-finite estimates are never marked converged. Notes are in ``fit.notes``, in
    ``summary()`` and issued as warnings.

    Examples
    --------
    >>> import hiermod as hm
    >>> from hiermod.mle import reml
    >>> fit = reml("Reaction ~ Days + (Days | Subject)", hm.datasets.load("sleepstudy"))
    >>> round(fit.sigma, 2)
    25.59
    """
    if se not in SE_METHODS:
        raise SpecError(f"unknown se={se!r}; choose one of {', '.join(SE_METHODS)}")
    design, spec, method = _design(spec_or_formula, data, family, method)
    if design is None:
        design = build_design(with_residuals(spec, correlation, sigma), data, dropna)
    elif correlation is not None or sigma is not None:
        raise SpecError("a Design carries its own residual structure: pass correlation= and "
                        "sigma= with a formula or Spec, or make the Design from a Spec that has "
                        "them (hiermod.formula.with_residuals)")
    separated = separated_terms(design)
    if design.family != "gaussian" and ddf is not None:
        raise SpecError(f"ddf={ddf!r} applies to gaussian models; a {design.family} model's "
                        "fixed effects are tested with Wald z tests (as glmer)")
    if design.residuals is not None and ddf not in (None, "satterthwaite"):
        raise SpecError(f"ddf={ddf!r}: a residual structure (correlation= / sigma=) is fitted "
                        "with Satterthwaite df only (ddf='satterthwaite')")
    with numerical_failure():
        if design.residuals is not None:
            fit = fit_lmm_residual(design, method)
        elif design.family == "gaussian":
            fit = fit_lmm(design, method, ddf=ddf or "satterthwaite")
        else:
            fit = fit_glmm(design, method, se=se)
    return settle(fit, design, separated)


@contextmanager
def numerical_failure():
    """A linear-algebra or floating-point failure of the optimisation as a DataError (the
    data's scales are the usual cause once the design checks have passed)."""
    try:
        with np.errstate(all="ignore"):
            yield
    except (np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError, OverflowError) as exc:
        raise DataError(f"the likelihood could not be computed ({type(exc).__name__}: {exc}): "
                        "predictors or outcome on extreme scales, or nearly collinear "
                        "predictors; standardize the predictors and check the data") from exc


def reml_vs_ml(spec_or_formula: str | Spec | Design, data: pd.DataFrame | None = None,
               dropna: bool = False) -> pd.DataFrame:
    """Variance components of a gaussian model under REML and ML, side by side.

    Parameters
    ----------
    spec_or_formula, data, dropna
        As :func:`reml`.

    Returns
    -------
    pandas.DataFrame
        One row per sd, correlation and the residual sd (labelled as in
        :meth:`RemlFit.varcorr_table`), columns ``group``, ``kind``, ``n`` (groups of the
        factor, or observations for σ), ``REML``, ``ML``, ``ratio`` (ML / REML),
        ``variance_ratio`` (ratio², for sds) and ``rule_of_thumb`` ((n − p)/n with p fixed
        effects).

    Notes
    -----
    ML treats β̂ as known, so it underestimates variances by about the share of degrees of
    freedom the fixed effects use: σ̂²_ML ≈ σ̂²_REML·(n − p)/n. For the residual n is the
    number of observations and the difference is negligible; for a group-level variance the
    information comes from the J groups, so the shrinkage is of order (J − p)/J — visible with
    few groups (sleepstudy: 18 subjects) and small with many (hsb82: 160 schools). The rule of
    thumb is exact only for balanced designs with p group-level fixed effects.
    """
    design, spec, _ = _design(spec_or_formula, data, None, "REML")
    if design is None:
        design = build_design(spec, data, dropna)
    with numerical_failure():
        fits = {m: settle(fit_lmm(design, m), design) for m in ("REML", "ML")}
    a, b = (fits[m].varcorr_table() for m in ("REML", "ML"))
    p = len(design.fixed_terms)
    n_groups = {fd.name: fd.n_levels for fd in design.factors}
    n = np.array([n_groups.get(g, design.n_obs) for g in a["group"]], dtype=float)
    out = pd.DataFrame({"group": a["group"], "kind": a["kind"], "n": n.astype(int),
                        "REML": a["estimate"], "ML": b["estimate"]}, index=a.index)
    out["ratio"] = out["ML"] / out["REML"]
    out["variance_ratio"] = np.where(out["kind"] == "corr", np.nan, out["ratio"] ** 2)
    out["rule_of_thumb"] = np.where(out["kind"] == "corr", np.nan, (n - p) / n)
    out.attrs["note"] = (f"ML variances ≈ REML·(n − p)/n with p = {p} fixed effects; "
                         f"n = groups for group-level rows, observations for '{names.SIGMA}'")
    return out
