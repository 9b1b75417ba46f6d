"""Few-cluster inference on REML fits against lmerTest 3.1-3 / pbkrtest 0.5.2 / lme4 1.1-31 /
sandwich 3.0-2 (tests/reference/inference, made by tests/reference/scripts/inference_reference.R).

Tolerances (issue 15): Kenward–Roger SEs, df and F tests 1e-4 relative; likelihood-ratio
tests 1e-6; profile intervals 1e-3; bootstrap intervals within Monte Carlo error; cluster-robust
covariances 1e-6.

The test-statistic checks are made at lme4's own θ (``fit_lmm(..., start=θ, optimize=False)``,
whose REML criterion must equal lme4's to 1e-10), so that they test the algebra of each method
and not the two optimizers: lme4 stops short of the optimum on hsb (see tests/test_reml.py),
which moves hsb's KR SE of cses by 5e-5 at our optimum. At our optimum the other cases agree
to the same 1e-4 (checked too).
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hiermod as hm
from hiermod.errors import SpecError
from hiermod.mle import fit_lmm
from hiermod.mle.bootstrap import bootstrap, bootstrap_replicate, replicate_seeds
from support import inference_data, inference_reference, lme4_term

REF = Path(__file__).parent / "reference" / "inference"
KR_CASES = ["sleep", "radon", "hsb", "efficacy", "penicillin"]
TOL_KR = 1e-4


reference, data = inference_reference, inference_data


@cache
def design(case: str, formula: str | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hm.make_design(hm.parse_formula(formula or reference(case)["formula"]),
                              data(case))


def term(case: str, name: str) -> str:
    return lme4_term(name, reference(case).get("factor_levels"))


@cache
def at_lme4(case: str, ddf: str):
    """The REML fit evaluated at lme4's θ."""
    ref = reference(case)
    fit = fit_lmm(design(case), "REML", start=np.array(ref["reml_fit"]["theta"]),
                  optimize=False, ddf=ddf)
    assert fit.criterion == pytest.approx(ref["reml_fit"]["REMLcrit"], rel=1e-10)
    return fit


def matrix(case: str, block: dict) -> pd.DataFrame:
    return pd.DataFrame(block["values"], index=[term(case, r) for r in block["rows"]],
                        columns=[term(case, c) for c in block["cols"]])


def rel(a, b):
    return np.abs(np.asarray(a, float) - b) / np.maximum(np.abs(b), 1e-300)


# --- Kenward-Roger and Satterthwaite -------------------------------------------------------


@pytest.mark.parametrize("case", KR_CASES)
def test_kenward_roger_covariance_se_and_df(case):
    ref = reference(case)
    fit = at_lme4(case, "kenward-roger")
    assert fit.ddf == "Kenward-Roger"
    V = matrix(case, ref["vcov_kr_adjusted"])
    ours = pd.DataFrame(fit.vcov_beta, index=fit.fixed_terms, columns=fit.fixed_terms)
    ours = ours.loc[V.index, V.columns].to_numpy()
    scale = np.sqrt(np.outer(np.diag(V), np.diag(V)))
    assert np.max(np.abs(ours - V.to_numpy()) / scale) < TOL_KR
    np.testing.assert_allclose(fit.vcov, matrix(case, ref["vcov_unadjusted"])
                               .loc[list(fit.fixed_terms), list(fit.fixed_terms)], rtol=1e-8)
    table = fit.fixed_table()
    assert table.attrs["ddf"] == "Kenward-Roger"
    for name, v in ref["kenward_roger"].items():
        row = table.loc[term(case, name)]
        assert rel(row["se"], v["se"]) < TOL_KR, name
        assert rel(row["df"], v["df"]) < TOL_KR, name
        assert rel(row["t"], v["t"]) < TOL_KR, name
        assert rel(row["p"], v["p"]) < 1e-3, name


@pytest.mark.parametrize("case", KR_CASES)
def test_satterthwaite_se_and_df(case):
    table = at_lme4(case, "satterthwaite").fixed_table()
    for name, v in reference(case)["satterthwaite"].items():
        row = table.loc[term(case, name)]
        assert rel(row["se"], v["se"]) < 1e-8, name
        assert rel(row["df"], v["df"]) < TOL_KR, name


@pytest.mark.parametrize("case", ["sleep", "radon", "efficacy"])
def test_kenward_roger_at_our_optimum(case):
    fit = hm.reml(reference(case)["formula"], data(case), ddf="kenward-roger")
    for name, v in reference(case)["kenward_roger"].items():
        row = fit.fixed_table().loc[term(case, name)]
        assert rel(row["se"], v["se"]) < TOL_KR and rel(row["df"], v["df"]) < TOL_KR, name


def _contrasts(case):
    return [(case, name) for name in reference(case).get("contrasts", {})]


@pytest.mark.parametrize(("case", "name"), [c for k in KR_CASES for c in _contrasts(k)])
def test_joint_f_tests(case, name):
    """lmerTest's contest(joint = TRUE) with KR (= pbkrtest's KRmodcomp) and Satterthwaite."""
    block = reference(case)["contrasts"][name]
    L = matrix(case, block["L"])
    for ddf, key in (("kenward-roger", "lmerTest_contest_KR"),
                     ("satterthwaite", "lmerTest_contest_Satterthwaite")):
        res = at_lme4(case, ddf).f_test(L)
        ref = block[key]
        assert res["ndf"] == ref["ndf"]
        assert rel(res["F"], ref["F"]) < TOL_KR, ddf
        assert rel(res["ddf"], ref["ddf"]) < TOL_KR, ddf
        assert rel(np.log(res["p"]), np.log(ref["p"])) < TOL_KR, ddf
    kr = at_lme4(case, "kenward-roger").f_test(L)
    assert rel(kr["F_scaling"], block["pbkrtest_KRmodcomp"]["F_scaling"]) < TOL_KR


@pytest.mark.parametrize("case", ["sleep", "radon", "hsb", "efficacy"])
def test_krmodcomp_between_nested_models(case):
    """pbkrtest::KRmodcomp(large, small): the F test of the terms the small model drops."""
    block = reference(case)["krmodcomp_nested"]
    small = design(case, block["small"]).fixed_terms
    fit = at_lme4(case, "kenward-roger")
    dropped = {t: {t: 1.0} for t in fit.fixed_terms if t not in small}
    res = fit.f_test(dropped)
    assert res["ndf"] == block["ndf"]
    for key, ours in (("F", res["F"]), ("ddf", res["ddf"]), ("F_scaling", res["F_scaling"])):
        assert rel(ours, block[key]) < TOL_KR, key


def test_contrast_rows_use_the_fit_ddf():
    fit = at_lme4("efficacy", "kenward-roger")
    table = fit.contrast({"URB - CORR": {"URB": 1, "CORR": -1}, "CORR": {"CORR": 1.0}})
    kr = reference("efficacy")["kenward_roger"]["CORR"]
    assert rel(table.loc["CORR", "se"], kr["se"]) < TOL_KR
    assert rel(table.loc["CORR", "df"], kr["df"]) < TOL_KR
    c = np.array([0, 0, 1, -1.0])
    assert table.loc["URB - CORR", "se"] == pytest.approx(np.sqrt(c @ fit.vcov_beta @ c))
    assert table.attrs["ddf"] == "Kenward-Roger"
    with pytest.raises(SpecError, match="unknown fixed term"):
        fit.contrast({"GDP": 1})


def test_counted_ddf_rules():
    """between-within: J − p_between for the intercept and level-2 CORR, n − J − p_within for
    EDU and URB; residual: n − p everywhere."""
    d = design("efficacy")
    bw = fit_lmm(d, ddf="between-within").fixed_table()["df"]
    J, n = d.factors[0].n_levels, d.n_obs
    assert bw["CORR"] == J - 2 and bw["Intercept"] == J - 2
    assert bw["EDU"] == n - J - 2
    assert (fit_lmm(d, ddf="residual").df == n - 4).all()
    with pytest.raises(SpecError, match="one grouping factor"):
        fit_lmm(design("penicillin"), ddf="between-within")
    with pytest.raises(SpecError, match="REML"):
        fit_lmm(d, "ML", ddf="kenward-roger")
    with pytest.raises(SpecError, match="ddf must be one of"):
        fit_lmm(d, ddf="containment")


# --- likelihood-ratio tests ------------------------------------------------------------------


@pytest.mark.parametrize("pair", ["anova_fixed_pair", "anova_random_pair",
                                  "anova_random_pair_reml"])
@pytest.mark.parametrize("case", ["sleep", "radon", "hsb", "efficacy"])
def test_likelihood_ratio_tests(case, pair):
    """lme4's anova(m0, m1): ML refits by default (refit = TRUE), REML with refit = FALSE."""
    block = reference(case)[pair]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # radon: counties with one house
        m0 = hm.reml(block["m0"], data(case))
        m1 = hm.reml(block["m1"], data(case))
    table = hm.anova(m1, m0, refit=block["refit_argument"])  # any order: sorted by npar
    assert list(table.index) == [block["m0"], block["m1"]]
    assert table.attrs["refit"] == block["refit_happened"]
    for row, key in zip(table.itertuples(), ("m0", "m1"), strict=True):
        ref = block["rows"][key]
        assert row.npar == ref["npar"]
        for col in ("logLik", "AIC", "BIC", "deviance"):
            assert rel(getattr(row, col), ref[col]) < 1e-6, (key, col)
    last = table.iloc[1]
    assert last["Df"] == block["Df"]
    assert rel(last["Chisq"], block["Chisq"]) < 1e-6
    assert rel(last["p"], block["p"]) < 1e-6
    if pair == "anova_fixed_pair":
        assert np.isnan(last["p_boundary"]) and last["note"] == ""
    else:  # a random slope and its covariance added: 50:50 mixture of chi2_1 and chi2_2
        assert "boundary" in last["note"]
        assert last["p_boundary"] < last["p"]
    assert m1.anova(m0, refit=block["refit_argument"]).equals(table)


def test_anova_refuses_what_lme4_would_not_test():
    with pytest.raises(SpecError, match="different fixed effects"):
        hm.anova(hm.reml("Reaction ~ Days + (1 | Subject)", data("sleep")),
                 hm.reml("Reaction ~ 1 + (1 | Subject)", data("sleep")), refit=False)
    with pytest.raises(SpecError, match="different data"):
        hm.anova(hm.reml("Reaction ~ Days + (1 | Subject)", data("sleep")),
                 hm.reml("Reaction ~ Days + (1 | Subject)", data("sleep").iloc[:100]))


def test_boundary_mixture_p_for_one_variance():
    """Adding a whole grouping factor (one variance): p is half the naive χ²₁ p."""
    d = data("penicillin")
    small = hm.reml("diameter ~ 1 + (1 | plate)", d)
    large = hm.reml("diameter ~ 1 + (1 | plate) + (1 | sample)", d)
    row = hm.anova(small, large).iloc[1]
    assert row["Df"] == 1
    assert row["p_boundary"] == pytest.approx(0.5 * row["p"])


# --- confidence intervals ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("case", ["sleep", "radon", "efficacy", "penicillin"])
def test_profile_intervals(case):
    """confint(m, method = "profile"): lme4 profiles the ML deviance; 1e-3 relative (lme4
    interpolates its profile by splines, we root-find ζ itself)."""
    block = reference(case)["confint_profile"]
    fit = hm.reml(reference(case)["formula"], data(case))
    table = fit.confint("profile")
    assert table.attrs["method"] == "profile"
    for name, v in block["intervals"].items():
        row = table.loc[term(case, name)]
        assert rel(row["estimate"], v["estimate"]) < 1e-3, name
        for end in ("lower", "upper"):
            assert abs(row[end] - v[end]) < 1e-3 * max(abs(v[end]), 1e-2), (name, end)


def test_wald_intervals_and_errors():
    fit = at_lme4("sleep", "satterthwaite")
    table = fit.confint("wald")
    se = fit.fixed_table().loc["Days", "se"]
    assert table.loc["Days", "upper"] == pytest.approx(fit.fixef["Days"] + 1.959964 * se)
    assert np.isnan(table.loc["sigma", "lower"])
    with pytest.raises(SpecError, match="method must be one of"):
        fit.confint("bca")
    glmm = hm.reml("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                   hm.datasets.load("cbpp"), family="binomial")
    with pytest.raises(SpecError, match="wald"):
        glmm.confint("profile")


@pytest.mark.slow
def test_bootstrap_is_reproducible_and_parallel():
    """The replicates depend on the seed only, not on the number of worker processes."""
    fit = hm.reml(reference("sleep")["formula"], data("sleep"))
    serial = bootstrap(fit, nsim=24, random_seed=5, n_jobs=1)
    parallel = bootstrap(fit, nsim=24, random_seed=5, n_jobs=2)
    np.testing.assert_array_equal(serial.replicates, parallel.replicates)
    one = bootstrap_replicate(fit.design, "REML", fit.theta, fit.beta, fit.sigma,
                              replicate_seeds(5, 24)[3])
    np.testing.assert_array_equal(one, serial.replicates[3])
    assert serial.labels[:4] == ("sd(Intercept | Subject)", "corr(Intercept, Days | Subject)",
                                 "sd(Days | Subject)", "sigma")
    assert not np.array_equal(serial.replicates,
                              bootstrap(fit, nsim=24, random_seed=6, n_jobs=1).replicates)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["sleep", "radon", "penicillin"])
def test_bootstrap_intervals_within_monte_carlo_error(case):
    """confint(m, method = "boot", nsim = 500): two independent bootstraps of 500 replicates
    (lme4's and ours, different random numbers). The SE of a 2.5% / 97.5% percentile of 500
    replicates is ≈ 0.12 replicate sds for a normal statistic (more in a skewed tail), so the
    difference of two has SE ≈ 0.17 sd: ends must agree within 0.75 sd (4.4 SE); the
    replicates' means within 4·√(2/500) sd and their sds within 20%."""
    block = reference(case)["confint_boot"]
    fit = hm.reml(reference(case)["formula"], data(case))
    table = fit.confint("boot", nsim=block["nsim"], random_seed=20240611, n_jobs=2)
    reps = table.attrs["replicates"]
    for name, v in block["intervals"].items():
        ours = term(case, name)
        sd = block["replicate_summary"][name]["sd"]
        for end in ("lower", "upper"):
            assert abs(table.loc[ours, end] - v[end]) < 0.75 * sd, (name, end)
        assert abs(reps.loc[ours, "mean"] - block["replicate_summary"][name]["mean"]) \
            < 4 * np.sqrt(2 / block["nsim"]) * sd, name
        assert reps.loc[ours, "sd"] == pytest.approx(sd, rel=0.2), name


def test_ml_refit_of_a_larger_model_is_not_worse():
    """12 countries, a random EDU slope: from T = I the optimizer used to stop at a singular
    point with a criterion 45 above the optimum (a perfectly correlated pair); the larger
    model's ML log-likelihood must be at least the nested one's."""
    d = data("efficacy")
    few = d[d["country"].isin(sorted(d["country"].unique())[::3])]
    small = hm.reml("EFF ~ EDU + URB + CORR + (1 | country)", few)
    large = hm.reml("EFF ~ EDU + URB + CORR + (1 + EDU | country)", few)
    assert large.criterion <= small.criterion + 1e-6
    table = hm.anova(small, large)
    assert table["logLik"].iloc[1] >= table["logLik"].iloc[0] - 1e-6
