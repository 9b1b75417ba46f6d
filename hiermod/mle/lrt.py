"""Likelihood-ratio tests between nested models fitted by REML / ML (lme4's ``anova``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import SpecError
from .pls import LmmProblem


def ml_loglik(fit) -> tuple[float, bool]:
    """Log-likelihood of the model refitted by ML (from the REML θ̂), and whether the ML fit
    is singular; a fit that is not REML keeps its own."""
    if fit.method != "REML":
        return float(fit.loglik), bool(fit.singular)
    problem = LmmProblem(fit.design)
    opt = problem.minimize(False, start=fit.theta)
    singular = bool(np.any(problem.tmap.is_diagonal & (opt.x < 1e-4)))
    return -0.5 * float(opt.fun), singular


def _random_part(fit) -> set[tuple[str, str]]:
    return {(vc.factor, t) for vc in fit.varcomps for t in vc.terms}


def _boundary_p(chisq: float, df: int) -> float:
    """p of the 50:50 mixture of χ²_{df−1} and χ²_df (Stram & Lee 1994): the null puts one
    variance on its boundary of 0 and df − 1 covariances with it at 0."""
    lower = 0.0 if df == 1 else stats.chi2.sf(chisq, df - 1)
    if chisq <= 0:
        return 1.0
    return 0.5 * lower + 0.5 * float(stats.chi2.sf(chisq, df))


def anova(*fits, refit: bool = True, names: list[str] | None = None) -> pd.DataFrame:
    """Likelihood-ratio tests between nested models, with AIC and BIC (lme4's ``anova``).

    Parameters
    ----------
    *fits : RemlFit
        Two or more fits of the same data (same rows).
    refit : bool, default True
        Refit the REML fits by ML first, as lme4 does by default. With False the REML
        likelihoods are compared, valid only between models with the same fixed effects.
    names : list of str, optional
        Row labels (default: each fit's formula).

    Returns
    -------
    pandas.DataFrame
        One row per model, ordered by number of parameters: ``npar``, ``AIC``, ``BIC``,
        ``logLik``, ``deviance`` (−2 logLik), and against the previous row ``Chisq``
        (2·max(0, ΔlogLik)), ``Df``, ``p`` (naive χ²), ``p_boundary`` (where the smaller model
        lacks one varying effect of the larger, and their fixed parts agree: the χ² mixture
        that accounts for the variance on its boundary of 0) and ``note``. ``attrs``:
        ``refit``, ``criterion`` ("ML" or "REML").

    Raises
    ------
    SpecError
        Fewer than two fits, fits of different data, or REML likelihoods (refit=False) of
        models whose fixed effects differ.

    Notes
    -----
    Testing whether a variance is 0 puts the null on the boundary of the parameter space, so
    the χ² reference distribution is wrong: the likelihood ratio follows a 50:50 mixture of
    χ²_{k−1} and χ²_k when one varying effect (with k − 1 covariances) is added (Self & Liang
    1987; Stram & Lee 1994), and the naive p is about twice too large (conservative).
    """
    if len(fits) < 2:
        raise SpecError("anova needs two or more fits to compare")
    n = {int(f.n_obs) for f in fits}
    y = fits[0].design.y
    if len(n) > 1 or any(not np.array_equal(f.design.y, y) for f in fits[1:]):
        raise SpecError("the models were fitted to different data (numbers of rows "
                        f"{[int(f.n_obs) for f in fits]}); fit all of them to the same rows")
    labels = list(names) if names is not None else [f.formula for f in fits]
    any_reml = any(f.method == "REML" for f in fits)
    if not refit and any_reml:
        if any(f.method != "REML" for f in fits):
            warnings.warn("some models were fitted by REML and some not; their likelihoods "
                          "are not comparable: use refit=True", stacklevel=2)
        if len({tuple(sorted(f.fixed_terms)) for f in fits}) > 1:
            raise SpecError("REML likelihoods of models with different fixed effects are not "
                            "comparable; use refit=True (ML refits, as lme4)")
    rows = []
    for label, fit in zip(labels, fits, strict=True):
        llk, singular = ml_loglik(fit) if refit else (float(fit.loglik), bool(fit.singular))
        rows.append({"model": label, "npar": int(fit.n_params), "logLik": llk,
                     "singular": singular, "fit": fit})
    rows.sort(key=lambda r: r["npar"])
    out = []
    log_n = np.log(fits[0].n_obs)
    for i, r in enumerate(rows):
        row = {"model": r["model"], "npar": r["npar"],
               "AIC": -2 * r["logLik"] + 2 * r["npar"],
               "BIC": -2 * r["logLik"] + log_n * r["npar"],
               "logLik": r["logLik"], "deviance": -2 * r["logLik"],
               "Chisq": np.nan, "Df": np.nan, "p": np.nan, "p_boundary": np.nan, "note": ""}
        if i:
            prev = rows[i - 1]
            chisq = 2 * max(0.0, r["logLik"] - prev["logLik"])
            df = r["npar"] - prev["npar"]
            row.update(Chisq=chisq, Df=df,
                       p=float(stats.chi2.sf(chisq, df)) if df > 0 else np.nan)
            notes = []
            same_fixed = set(r["fit"].fixed_terms) == set(prev["fit"].fixed_terms)
            added = _random_part(r["fit"]) - _random_part(prev["fit"])
            if same_fixed and _random_part(prev["fit"]) <= _random_part(r["fit"]) and added:
                if len(added) == 1 and df >= 1:
                    row["p_boundary"] = _boundary_p(chisq, df)
                    notes.append("tests a variance on its boundary (0): the naive χ² p is "
                                 "conservative; p_boundary uses the 50:50 χ² mixture")
                else:
                    notes.append("tests variances on their boundary (0): the naive χ² p is "
                                 "conservative (a parametric bootstrap is exact)")
            if r["singular"] or prev["singular"]:
                notes.append("a model is singular (a variance at 0 or a correlation at ±1)")
            row["note"] = "; ".join(notes)
        out.append(row)
    table = pd.DataFrame(out).set_index("model")
    table.attrs.update({"refit": bool(refit and any_reml),
                        "criterion": "ML" if (refit or not any_reml) else "REML"})
    return table
