"""The posterior next to the REML / ML estimate, parameter by parameter, with warnings.

A Bayesian fit and a REML fit of the same model should tell the same story when the data are
informative. Where they differ the reason is usually one of these, and the table flags the
first three and says, in ``why``, which apply to each row that differs:

* few groups — variance components and the coefficients of level-2 predictors are estimated
  from the groups, not the observations, and lean on asymptotics in the number of groups that
  fail with a few dozen or fewer (sleepstudy has 18 subjects). Level-1 coefficients are not
  flagged: their REML t tests already carry small-sample df (Satterthwaite / Kenward–Roger);
* a variance component at the boundary — REML puts an sd at 0 (or a correlation at ±1),
  where its SE means nothing, while the posterior keeps mass away from it;
* a prior-dominated posterior — the posterior is barely narrower than the prior, so it reports
  the prior rather than the data;
* mode against mean — REML reports the mode of the (restricted) likelihood; the posterior of
  an sd is right-skewed, so its mean lies above its mode even under a flat prior;
* prior pull — an LKJ prior pulls correlations toward 0, a tight prior pulls a coefficient
  toward its prior mean;
* ML against REML — ML ignores the df the fixed effects use and underestimates variances by
  about (J − p)/J;
* plug-in against averaging — REML's SEs of fixed effects treat the variance components as
  known, the posterior averages over their uncertainty.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .. import names
from ..errors import SpecError
from .summary_table import interval, parameter_draws

#: fewer groups than this raises the few-groups flag
FEW_GROUPS = 30
#: posterior sd above this share of the prior sd raises the prior-dominated flag
PRIOR_DOMINATED = 0.9
#: a difference of at least this many units (REML SE or posterior sd) gets an explanation
NOTABLE = 0.3


def _check_same_model(design, reml_design) -> None:
    if tuple(design.fixed_terms) != tuple(reml_design.fixed_terms) or \
            [(f.name, f.terms) for f in design.factors] != \
            [(f.name, f.terms) for f in reml_design.factors] or \
            design.n_obs != reml_design.n_obs:
        raise SpecError(
            "the Bayesian and the REML fit are of different models or data: fixed terms "
            f"{list(design.fixed_terms)} vs {list(reml_design.fixed_terms)}, factors "
            f"{[f.name for f in design.factors]} vs {[f.name for f in reml_design.factors]}, "
            f"{design.n_obs} vs {reml_design.n_obs} observations; fit both from the same "
            "formula and data")


def _group_rows(design, reml_fit) -> dict[str, list[str]]:
    """Row label -> the grouping factors whose number of levels limits its estimate.

    sd and correlation rows rest on their own factor; a fixed effect on the factors it is a
    level-2 predictor of (constant within their levels). Level-1 coefficients, the intercept
    and slopes that vary by group, are tested with small-sample df in the REML table.
    """
    out: dict[str, list[str]] = {}
    for term in design.fixed_terms:
        out[term] = [fd.name for fd in design.factors if term in design.level2(fd.name)]
    for vc in reml_fit.varcomps:
        for term in vc.terms:
            out[names.sd_label(vc.factor, term)] = [vc.factor]
        for a, b in vc.pairs():
            out[names.corr_label(vc.factor, vc.terms[a], vc.terms[b])] = [vc.factor]
    return out


def _prior_sds(fit, design, prior_sd: Mapping[str, float] | None) -> dict[str, float]:
    """Prior sd per row label, from ``prior_sd`` or from ``fit.priors`` (hiermod Prior objects
    with ``.sd()``); LKJ(η) gives each correlation of a d-term block the sd 1/√(2η + d − 1)."""
    if prior_sd is not None:
        return {k: float(v) for k, v in prior_sd.items() if v is not None}
    priors = getattr(fit, "priors", None)
    if not isinstance(priors, Mapping):
        return {}
    out: dict[str, float] = {}
    for key, prior in priors.items():
        sd = prior.sd() if hasattr(prior, "sd") else None
        if sd is not None and np.isfinite(sd):
            out[key] = float(sd)
    for fd in design.factors:
        lkj = next((p for k, p in priors.items()
                    if k == f"lkj({fd.name})" and getattr(p, "dist", "") == "LKJ"), None)
        if lkj is None:
            continue
        eta = dict(lkj.params)["eta"]
        for block in fd.blocks:
            d = len(block)
            for i, a in enumerate(block):
                for b in block[i + 1:]:
                    out[names.corr_label(fd.name, fd.terms[a], fd.terms[b])] = \
                        1.0 / np.sqrt(2 * eta + d - 1)
    return out


def compare(fit, reml_fit, prob: float = 0.95, few_groups: int = FEW_GROUPS,
            prior_sd: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Posterior and REML / ML estimates side by side, one row per parameter, with flags.

    Parameters
    ----------
    fit
        A Bayesian fit: anything with ``idata`` (an ArviZ DataTree whose posterior holds
        ``beta``, ``sd_<g>``, ``corr_<g>`` and ``sigma`` as named in :mod:`hiermod.names`) and
        ``design``; its ``priors`` (label -> :class:`hiermod.Prior`) are used when present.
    reml_fit : RemlFit
        From :func:`hiermod.mle.reml` on the same formula and data.
    prob : float
        Probability of the posterior's equal-tailed interval.
    few_groups : int
        Flag the variance components of a grouping factor with fewer levels than this, and
        the coefficients of its level-2 predictors.
    prior_sd : mapping, optional
        Row label -> prior sd; overrides ``fit.priors``. Rows without one skip the
        prior-dominance check.

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter ("Intercept", "sd(Days | Subject)", "corr(Intercept, Days |
        Subject)", "sigma"), columns ``kind``, ``group``, ``post_mean``, ``post_sd``,
        ``post_lower``, ``post_upper``, ``reml``, ``reml_se`` (fixed effects only: REML gives no
        SE for variance components), ``diff`` (posterior mean − REML), ``diff_z`` (``diff`` in
        units of ``diff_unit``: the REML SE where there is one, else the posterior sd),
        ``diff_unit``, ``prior_sd``, ``flags`` (text, "" when none) and ``why`` (where
        |diff_z| ≥ 0.3: the likely reasons for the difference, see the module docstring; ""
        elsewhere). ``attrs`` records the interval probability, the REML method and which
        checks ran.

    Raises
    ------
    SpecError
        The two fits are of different models or data.
    """
    design = fit.design
    _check_same_model(design, reml_fit.design)
    post = fit.idata["posterior"].to_dataset()
    draws = parameter_draws(post, design)
    vt = reml_fit.varcorr_table()
    entries = [(term, "fixed", "", b, se) for term, b, se in
               zip(reml_fit.fixed_terms, reml_fit.beta, reml_fit.se, strict=True)]
    entries += [(label, row["kind"], "" if row["kind"] == "sigma" else row["group"],
                 row["estimate"], np.nan) for label, row in vt.iterrows()]
    groups_of = _group_rows(design, reml_fit)
    n_levels = {fd.name: fd.n_levels for fd in design.factors}
    boundary = set(reml_fit.boundary)
    prior_sds = _prior_sds(fit, design, prior_sd)
    rows = []
    for label, kind, group, value, se in entries:
        if label not in draws:
            raise SpecError(f"the posterior has no draws for '{label}'")
        x = np.asarray(draws[label], float).ravel()
        mean, sd = float(x.mean()), float(x.std(ddof=1))
        lo, hi = interval(x, prob)
        unit, scale = ("REML SE", se) if np.isfinite(se) else ("posterior sd", sd)
        flags = []
        for g in groups_of.get(label, []):
            if n_levels[g] < few_groups:
                flags.append(f"few groups ({n_levels[g]} levels of '{g}'): REML SEs and "
                             "variance components are unreliable")
        if label in boundary:
            flags.append("REML estimate at the boundary (singular fit): "
                         + ("an sd of 0" if kind == "sd" else "a correlation of ±1"))
        psd = prior_sds.get(label, np.nan)
        if np.isfinite(psd) and sd > PRIOR_DOMINATED * psd:
            flags.append(f"prior-dominated: posterior sd {sd:.3g} > {PRIOR_DOMINATED:g} x "
                         f"prior sd {psd:.3g}")
        diff_z = (mean - float(value)) / scale if scale > 0 else np.nan
        why = ""
        if np.isfinite(diff_z) and abs(diff_z) >= NOTABLE:
            why = _why(kind, x, float(value), psd, label in boundary,
                       [(g, n_levels[g]) for g in groups_of.get(label, [])
                        if n_levels[g] < few_groups],
                       reml_fit.method, len(design.fixed_terms), n_levels.get(group))
        rows.append({"parameter": label, "kind": kind, "group": group, "post_mean": mean,
                     "post_sd": sd, "post_lower": lo, "post_upper": hi, "reml": float(value),
                     "reml_se": se, "diff": mean - float(value), "diff_z": diff_z,
                     "diff_unit": unit, "prior_sd": psd, "flags": "; ".join(flags),
                     "why": why})
    table = pd.DataFrame(rows).set_index("parameter")
    table.attrs.update({
        "interval_prob": prob, "reml_method": reml_fit.method, "few_groups": few_groups,
        "notable": NOTABLE,
        "prior_check": ("ran on the rows with a known prior sd" if prior_sds else
                        "skipped: no prior sds known (pass prior_sd=)"),
    })
    return table


def _why(kind: str, x: np.ndarray, reml_value: float, prior_sd: float, at_boundary: bool,
         few: list[tuple[str, int]], method: str, n_fixed: int, n_group: int | None) -> str:
    """The likely reasons a posterior mean differs from the REML / ML estimate."""
    mean, median, sd = float(x.mean()), float(np.median(x)), float(x.std(ddof=1))
    reasons = []
    if at_boundary:
        reasons.append("REML sits on the boundary of the parameter space (an sd of 0 or a "
                       "correlation of ±1); a posterior mean cannot be there")
    if kind in ("sd", "sigma") and mean - median > 0.05 * sd and mean > reml_value:
        reasons.append(f"mode vs mean: the posterior is right-skewed (mean {mean:.3g} > median "
                       f"{median:.3g}); REML reports the mode of the restricted likelihood")
    if kind == "corr" and abs(mean) < abs(reml_value):
        pull = f" (prior sd {prior_sd:.2g})" if np.isfinite(prior_sd) else ""
        reasons.append(f"prior pull: the LKJ prior{pull} pulls correlations toward 0")
    if kind == "fixed" and np.isfinite(prior_sd) and prior_sd < 3 * sd:
        reasons.append(f"prior pull: the prior (sd {prior_sd:.3g}) is not much wider than the "
                       "posterior and pulls the estimate toward its mean")
    if kind in ("sd", "corr") and method == "ML" and n_group:
        reasons.append(f"ML vs REML: ML variances shrink by about (J − p)/J = "
                       f"{(n_group - n_fixed) / n_group:.2f} (J = {n_group}, p = {n_fixed})")
    for g, n in few:
        reasons.append(f"few groups: {n} levels of '{g}' inform this row, so the likelihood is "
                       "flat and the posterior spreads (mean and mode part)")
    if kind == "fixed" and not reasons:
        reasons.append("plug-in vs averaging: REML treats the variance components as known, "
                       "the posterior averages over them")
    return "; ".join(reasons)
