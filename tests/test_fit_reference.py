"""Posterior vs lme4 1.1-31 (tests/reference) on every reference case.

Tolerances, and why:
* fixed effects: |posterior mean − lme4 estimate| ≤ 0.5 posterior sd. With flat-ish priors the
  posterior mean and the REML estimate differ by much less than a posterior sd; 0.5 sd leaves
  room for Monte-Carlo error (MCSE ≈ sd/√ESS ≈ 0.05 sd here) and for the small pull of the priors.
* group sds and σ: |posterior mean − REML estimate| ≤ 1 posterior sd. The posterior of an sd is
  right-skewed (more so with few groups: penicillin has 6 samples, sleepstudy 18 subjects), and
  REML approximates its mode, so its mean sits above the REML value by a fraction of an sd.
* correlations: the REML estimate lies inside the 95% posterior interval (they are weakly
  identified with 18 groups: sleepstudy's is 0.07 with a posterior sd near 0.3).
cbpp (binomial) is compared with glmer's Laplace ML fit, the others with lmer's REML fit.

The three cases fitted with default settings (radon, sleepstudy, hsb82) must also sample
cleanly: R-hat ≤ 1.01 and no divergences.
"""

import numpy as np
import pytest

import hiermod as hm
from support import lme4_term, load_reference, reference_cases

DEFAULT_SETTINGS = {"radon_vis", "sleep_vis", "hsb_full"}
QUICK = {"draws": 500, "tune": 500, "chains": 2}


def fit_case(case: str, seed: int = 20261126):
    c = reference_cases()[case]
    data = hm.datasets.load(c["dataset"])
    kwargs = {} if case in DEFAULT_SETTINGS else QUICK
    return hm.fit(c["formula"], data, family=c["family"], random_seed=seed, **kwargs)


def reference_block(ref: dict) -> dict:
    return ref["reml"] if "reml" in ref else ref["ml"]


@pytest.mark.slow
@pytest.mark.parametrize("case", list(reference_cases()))
def test_posterior_agrees_with_lme4(case):
    fit = fit_case(case)
    ref = load_reference(case)
    block = reference_block(ref)
    table = fit.summary()
    levels = ref.get("factor_levels", {})
    report = []
    for name, est in block["fixef"].items():
        row = table.loc[lme4_term(name, levels)]
        report.append((lme4_term(name, levels), row["mean"], est["est"], row["sd"]))
        assert abs(row["mean"] - est["est"]) <= 0.5 * row["sd"], report[-1]
    for factor, vc in block["varcorr"].items():
        factor = factor.split(".")[0]  # lme4 names the second block of a factor 'Subject.1'
        for term, sd in vc["sd"].items():
            row = table.loc[hm.names.sd_label(factor, lme4_term(term))]
            assert abs(row["mean"] - sd) <= 1.0 * row["sd"], (factor, term, row["mean"], sd)
        for pair, r in vc.get("corr", {}).items():
            a, b = (lme4_term(t) for t in pair.split("|"))
            row = table.loc[hm.names.corr_label(factor, a, b)]
            assert row["lower"] <= r <= row["upper"], (pair, row, r)
    if "sigma" in block and block["sigma"] is not None:
        row = table.loc["sigma"]
        assert abs(row["mean"] - block["sigma"]) <= 1.0 * row["sd"]
    if case in DEFAULT_SETTINGS:
        diag = fit.diagnostics()
        print(f"{case}: {diag}; timing {fit.timing}")
        assert diag.max_rhat <= 1.01, str(diag)
        assert diag.divergences == 0, str(diag)
        assert fit.settings.draws == 1000 and fit.settings.chains == 4


def test_summary_rows_are_named_like_the_formula():
    fit = hm.fit("Reaction ~ Days + (Days | Subject)", hm.datasets.load("sleepstudy"),
                 draws=100, tune=150, chains=2, random_seed=3)
    table = fit.summary()
    assert list(table.index) == ["Intercept", "Days", "sd(Intercept | Subject)",
                                 "sd(Days | Subject)", "corr(Intercept, Days | Subject)", "sigma"]
    assert list(table.columns) == ["mean", "sd", "lower", "upper", "ess_bulk", "ess_tail", "r_hat"]
    post = fit.idata["posterior"]
    assert post["u_Subject"].dims == ("chain", "draw", "Subject", "Subject_term")
    assert list(post["u_Subject"]["Subject"].values[:2]) == ["308", "309"]
    assert set(fit.timing) >= {"build_s", "compile_s", "sample_s", "total_s"}
    assert np.allclose(fit.idata["observed_data"]["y"].values, fit.design.y)
