"""A fit as a plain, JSON-ready dict (the schema is ``hiermod/schema/fit_report.schema.json``).

Pure: a Fit (and optionally a REML fit) in, a dict of str / float / int / None / lists out;
``json.dumps`` writes it as is (NaN and infinities become null). Keys of the fixed effects are
the design's terms ("Intercept", "floor", "sector[Public]"); of the group sds, the varying
terms; of the correlations, ``names.corr_key(a, b)`` ("Intercept|floor").
"""

from __future__ import annotations

import json
import math
from importlib import resources

from .. import names
from ..formula import is_null
from ..report import icc
from ..version import __version__

SCHEMA_VERSION = 1
STAT_KEYS = ("mean", "sd", "lower", "upper", "ess_bulk", "ess_tail", "r_hat")


def _num(x) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _stats(row) -> dict:
    return {k: _num(row[k]) for k in STAT_KEYS if k in row}


def schema() -> dict:
    """The JSON Schema of :func:`fit_report`'s output."""
    text = resources.files("hiermod").joinpath("schema/fit_report.schema.json").read_text()
    return json.loads(text)


def icc_section(fit, prob: float = 0.95) -> dict:
    """ICC of each grouping factor (:func:`hiermod.report.icc`, adjusted, intercept
    variance), as {factor: {mean, sd, lower, upper}}: the residual ICC of a model with
    predictors, the ICC itself for a null model."""
    table = icc(fit.idata, fit.design, prob=prob)
    return {str(f): {k: _num(row[k]) for k in ("mean", "sd", "lower", "upper")}
            for f, row in table.iterrows()}


def reml_section(reml_fit, comparison=None) -> dict:
    """REML / ML estimates: fixed effects with SEs, group sds and correlations, sigma; with the
    comparison table (:func:`hiermod.compare`) also the differences and flags."""
    table = reml_fit.fixed_table()
    out: dict = {
        "method": reml_fit.method,
        "ddf": reml_fit.ddf,
        "fixed": {str(t): {"estimate": _num(row["estimate"]), "se": _num(row["se"]),
                           "df": _num(row["df"]) if "df" in row else None, "p": _num(row["p"])}
                  for t, row in table.iterrows()},
        "group_sd": {}, "group_corr": {},
        "sigma": _num(reml_fit.sigma) if reml_fit.sigma is not None else None,
        "converged": bool(reml_fit.converged),
        "singular": bool(reml_fit.singular),
    }
    residual = getattr(reml_fit, "residual", None)
    if residual is not None:
        out["residual"] = {str(label): {"estimate": _num(row["estimate"])}
                           for label, row in reml_fit.varcorr_table().iterrows()
                           if label in {r[0] for r in residual.rows(reml_fit.sigma)}}
    for vc in reml_fit.varcomps:
        out["group_sd"][vc.factor] = {t: {"estimate": _num(vc.sd[k])}
                                      for k, t in enumerate(vc.terms)}
        pairs = {names.corr_key(vc.terms[a], vc.terms[b]): {"estimate": _num(vc.corr[a, b])}
                 for a, b in vc.pairs()}
        if pairs:
            out["group_corr"][vc.factor] = pairs
    if comparison is not None:
        out["comparison"] = {
            str(label): {"posterior_mean": _num(row["post_mean"]), "reml": _num(row["reml"]),
                         "diff": _num(row["diff"]), "diff_z": _num(row["diff_z"]),
                         "flags": row["flags"] or "", "why": row.get("why", "") or ""}
            for label, row in comparison.iterrows()}
    return out


def null_icc_section(fit, null_fit=None, prob: float = 0.95) -> dict | None:
    """The ICC of the null model (``y ~ 1 + (1 | g)``): from the fit itself when it is a null
    model, else from ``null_fit``; None when neither is available."""
    if is_null(fit.spec):
        return icc_section(fit, prob)
    return icc_section(null_fit, prob) if null_fit is not None else None


def fit_report(fit, reml_fit=None, comparison=None, prob: float = 0.95,
               model_name: str | None = None, null_fit=None) -> dict:
    """The fit as a JSON-ready dict.

    Parameters
    ----------
    fit : Fit
    reml_fit : RemlFit, optional
        From :func:`hiermod.mle.reml` on the same model; adds the ``reml`` section.
    comparison : pandas.DataFrame, optional
        From :func:`hiermod.compare`; adds ``reml.comparison``.
    prob : float
        Probability of the equal-tailed intervals.
    model_name : str, optional
    null_fit : Fit, optional
        The null model of ``fit`` (:func:`hiermod.null_model`); gives ``icc_null``.

    Returns
    -------
    dict
        See ``hiermod/schema/fit_report.schema.json``.
    """
    design = fit.design
    table = fit.summary(prob)
    fixed = {t: _stats(table.loc[t]) for t in design.fixed_terms}
    group_sd: dict = {}
    group_corr: dict = {}
    for fd in design.factors:
        group_sd[fd.name] = {t: _stats(table.loc[names.sd_label(fd.name, t)]) for t in fd.terms}
        corr = {}
        for a, b in fd.pairs():
            ta, tb = fd.terms[a], fd.terms[b]
            corr[names.corr_key(ta, tb)] = {**_stats(table.loc[names.corr_label(fd.name, ta, tb)]),
                                            "terms": [ta, tb]}
        if corr:
            group_corr[fd.name] = corr
    sigma = _stats(table.loc[names.SIGMA]) if names.SIGMA in table.index else None
    res = design.residuals
    residual = None
    if res is not None:
        rows = ([res.corr_label] if res.has_correlation else []) + list(res.sigma_labels)
        residual = {"structure": res.spec.text,
                    "parameters": {label: _stats(table.loc[label]) for label in rows}}
    diag = fit.diagnostics()
    s = fit.settings
    timing = {k: _num(v) for k, v in fit.timing.items()}
    return {
        "schema_version": SCHEMA_VERSION,
        "hiermod_version": __version__,
        "model": model_name,
        "formula": fit.spec.formula,
        "family": fit.spec.family,
        "n_obs": int(design.n_obs),
        "groups": {fd.name: int(fd.n_levels) for fd in design.factors},
        "interval_prob": prob,
        "fixed": fixed,
        "group_sd": group_sd,
        "group_corr": group_corr,
        "sigma": sigma,
        **({"residual": residual} if residual is not None else {}),
        "icc": icc_section(fit, prob),
        "icc_null": null_icc_section(fit, null_fit, prob),
        "reml": reml_section(reml_fit, comparison) if reml_fit is not None else None,
        "diagnostics": diag.as_dict(),
        "sampler": {"sampler": s.sampler, "draws": int(s.draws), "tune": int(s.tune),
                    "chains": int(s.chains), "target_accept": float(s.target_accept),
                    "random_seed": fit.seed, "parameterization": fit.parameterization,
                    "model_path": fit.model_path,
                    "marginal_implementation":
                        fit.idata["posterior"].attrs.get("marginal_implementation"),
                    "implementation": fit.idata["posterior"].attrs.get("implementation")},
        "timing": {"build_s": timing.get("build_s"), "compile_s": timing.get("compile_s"),
                   "sample_s": timing.get("sample_s"), "total_s": timing.get("total_s")},
    }


def dumps(report: dict) -> str:
    """JSON text of a report (indent 2, key order kept, no NaN)."""
    return json.dumps(report, indent=2, allow_nan=False)
