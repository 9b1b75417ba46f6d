"""ICC, design effect, variance components and R² of real fits against lme4 / performance.

Reference numbers: tests/reference/<case>.json (lme4 1.1-31 REML fits, performance 0.10.2
icc / r2_nakagawa; script tests/reference/scripts/lme4_reference.R).
"""

from __future__ import annotations

import numpy as np
import pytest

from hiermod import names
from support import load_reference


@pytest.mark.parametrize("case,factor", [("radon_null", "county"), ("hsb_null", "school")])
def test_null_model_icc_agrees_with_lme4(case, factor, request):
    ref = load_reference(case)
    fit = request.getfixturevalue(case)
    row = fit.icc().loc[factor]
    # posterior mean within one posterior sd of the REML ICC, which lies inside the interval
    assert abs(row["mean"] - ref["icc"]) < row["sd"], (row.to_dict(), ref["icc"])
    assert row["lower"] < ref["icc"] < row["upper"]
    # Nakagawa's conditional R² of a null model is its ICC; the marginal R² is 0
    r2 = fit.r2()
    assert r2.loc["marginal", "mean"] == 0
    assert abs(r2.loc["conditional", "mean"] - ref["r2"]["conditional"]) < r2.loc["conditional",
                                                                                  "sd"]


def test_null_model_helper_keeps_outcome_factor_and_settings(radon_null, radon_vis):
    null, full = radon_null, radon_vis
    assert null.spec.formula == "log_radon ~ 1 + (1 | county)"
    assert null.design.n_obs == full.design.n_obs
    assert null.settings.draws == full.settings.draws


def test_nakagawa_r2_with_random_slopes_agrees_with_performance(radon_vis):
    ref = load_reference("radon_vis")["r2"]
    r2 = radon_vis.r2()
    print(f"radon_vis R2 {r2.round(4).to_dict('index')} performance {ref}")
    for k in ("marginal", "conditional"):
        assert abs(r2.loc[k, "mean"] - ref[k]) < r2.loc[k, "sd"], (k, r2.loc[k].to_dict(), ref[k])


def test_variance_components_against_lme4(radon_vis):
    ref = load_reference("radon_vis")["reml"]
    vc = radon_vis.variance_components()
    sd_int = vc.loc[names.sd_label("county", "Intercept")]
    assert abs(sd_int["mean"] - ref["varcorr"]["county"]["sd"]["(Intercept)"]) < 2 * sd_int["sd"]
    sig = vc.loc[names.SIGMA]
    assert abs(sig["mean"] - ref["sigma"]) < 2 * sig["sd"]
    var_int = vc.loc[names.var_label("county", "Intercept")]
    assert var_int["mean"] > sd_int["mean"] ** 2  # E[τ²] ≥ E[τ]², summarised from its own draws
    assert set(vc["stat"]) == {"sd", "var", "corr"}


def test_design_effect_of_radon(radon_null):
    fit = radon_null
    table = fit.design_effect().loc["county"]
    n = np.bincount(fit.design.factors[0].index)
    assert table.loc["n_groups", "mean"] == 85 and table.loc["n_obs", "mean"] == 919
    rho = fit.icc_draws().sel(factor="county").values
    assert table.loc["deff", "mean"] == pytest.approx(np.mean(1 + (n.mean() - 1) * rho))
    assert table.loc["deff_kish", "mean"] > table.loc["deff", "mean"]  # unequal county sizes
    assert table.loc["n_eff", "mean"] < 919


def test_variance_explained_and_snijders_bosker(radon_null, radon_vis):
    full, null = radon_vis, radon_null
    ve = full.variance_explained(null)
    # floor explains level-1 variance: σ² falls (lme4: 0.5869 -> 0.5138, 12%)
    lme4 = 1 - load_reference("radon_vis")["reml"]["sigma"] ** 2 / load_reference("radon_null")[
        "icc_detail"]["sigma2"]
    assert abs(ve.loc["residual", "mean"] - lme4) < 2 * ve.loc["residual", "sd"]
    assert ve.loc["residual", "mean"] > 0
    sb = full.r2_levels(null)
    assert list(sb.index) == ["level1", "level2"]
    assert sb.loc["level1", "lower"] < sb.loc["level1", "mean"] < sb.loc["level1", "upper"]
    assert sb["cluster_size"].iloc[0] == pytest.approx(
        85 / np.sum(1 / np.bincount(full.design.factors[0].index)))
