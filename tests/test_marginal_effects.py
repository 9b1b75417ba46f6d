"""Marginal means, comparisons, slopes, odds ratios and population-level predictions, each held
equal to a hand computation from the posterior draws.

Exact cases use a fake posterior (a few draws of a logit model with a numeric predictor, two
factors and a correlated varying intercept and slope), so the hand computation is the
definition itself: tolerances are round-off (1e-10), 1e-8 for Gauss–Hermite against adaptive
quadrature, and 1e-6 for central differences (error O(h²), h = 1e-4 sd). On the sampled
contraception fit, the population-averaged probability is checked against Monte Carlo
integration over the groups' distribution (its standard error is computed and the bound is
4 SE).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import expit

import hiermod as hm
from hiermod import names
from hiermod.errors import DataError
from hiermod.report import (
    comparisons,
    expected_draws,
    marginal_means,
    predict,
    reference_grid,
    slopes,
)
from support import fake_tree

BETA = np.array([-0.3, 0.8, 0.5, -0.4, 0.3])  # Intercept, x, f[b], f[c], h[v]


@pytest.fixture(scope="module")
def logit_case():
    """(data, design, DataTree): 240 rows in 12 groups, beta varying over 8 draws."""
    rng = np.random.default_rng(0)
    n = 240
    df = pd.DataFrame({"g": rng.choice([f"g{j}" for j in range(12)], n),
                       "x": rng.normal(size=n), "f": rng.choice(["a", "b", "c"], n),
                       "h": rng.choice(["u", "v"], n, p=[0.7, 0.3])})
    df["y"] = rng.integers(0, 2, n)
    design = hm.make_design(hm.parse_formula("y ~ x + f + h + (1 + x | g)", family="bernoulli"),
                            df)
    assert design.fixed_terms == ("Intercept", "x", "f[b]", "f[c]", "h[v]")
    tree = fake_tree(design, BETA, {"g": [0.9, 0.5]}, corr={"g": [[1, 0.3], [0.3, 1]]},
                     draws=8, seed=1)
    post = tree["posterior"].to_dataset()
    noise = np.random.default_rng(2).normal(0, 0.2, post[names.FIXED].shape)
    post[names.FIXED] = post[names.FIXED] + noise
    tree["posterior"] = type(tree)(post)
    return df, design, tree


def beta_draws(tree):
    return tree["posterior"][names.FIXED].values[0]  # (draw, term)


def eta_of(beta, x, f, h):
    """β·x for one row of the case's predictors (per draw)."""
    return (beta[:, 0] + beta[:, 1] * x + beta[:, 2] * (f == "b") + beta[:, 3] * (f == "c")
            + beta[:, 4] * (h == "v"))


def test_reference_grid_has_every_level_and_the_mean(logit_case):
    df, design, _ = logit_case
    grid = reference_grid(design, df)
    assert len(grid) == 6 and set(grid.columns) == {"x", "f", "h"}
    assert np.allclose(grid["x"], df["x"].mean())
    assert sorted(grid["f"].unique()) == ["a", "b", "c"]
    assert len(reference_grid(design, df, at={"x": [0, 1], "h": "u"})) == 6
    with pytest.raises(DataError, match="not a predictor"):
        reference_grid(design, df, at={"z": 1})


def test_marginal_means_average_the_grid_with_equal_and_proportional_weights(logit_case):
    df, design, tree = logit_case
    b = beta_draws(tree)
    xbar = df["x"].mean()
    share_v = (df["h"] == "v").mean()
    mm = marginal_means(tree, design, df, by="f", groups="zero")
    prop = marginal_means(tree, design, df, by="f", groups="zero", weights="proportional")
    assert list(mm.table["f"]) == ["a", "b", "c"]
    for k, level in enumerate("abc"):
        pu, pv = expit(eta_of(b, xbar, level, "u")), expit(eta_of(b, xbar, level, "v"))
        np.testing.assert_allclose(mm.draws[0, :, k], (pu + pv) / 2, rtol=1e-12)
        np.testing.assert_allclose(prop.draws[0, :, k], (1 - share_v) * pu + share_v * pv,
                                   rtol=1e-12)
        assert mm.table.loc[k, "mean"] == pytest.approx(np.mean((pu + pv) / 2), rel=1e-12)


def test_marginal_means_over_the_data_are_counterfactual_averages(logit_case):
    df, design, tree = logit_case
    b = beta_draws(tree)
    mm = marginal_means(tree, design, df, by="h", grid="data", groups="zero")
    for k, level in enumerate("uv"):
        hand = np.mean([expit(eta_of(b, r.x, r.f, level)) for r in df.itertuples()], axis=0)
        np.testing.assert_allclose(mm.draws[0, :, k], hand, rtol=1e-10)


def test_population_average_is_the_integral_over_the_group_distribution(logit_case):
    df, design, tree = logit_case
    b = beta_draws(tree)
    cov = np.array([[0.81, 0.3 * 0.9 * 0.5], [0.3 * 0.9 * 0.5, 0.25]])
    row = pd.DataFrame({"x": [0.7], "f": ["c"], "h": ["v"]})
    got = expected_draws(tree, design, row, groups="average")[0, :, 0]
    z = np.array([1.0, 0.7])
    s = np.sqrt(z @ cov @ z)
    for d in range(len(got)):
        m = eta_of(b[[d]], 0.7, "c", "v")[0]
        hand = integrate.quad(lambda e, m=m: expit(m + s * e) * np.exp(-e**2 / 2)
                              / np.sqrt(2 * np.pi), -12, 12, epsabs=1e-13)[0]
        assert got[d] == pytest.approx(hand, abs=1e-8)
    zero = expected_draws(tree, design, row, groups="zero")[0, :, 0]
    np.testing.assert_allclose(zero, expit(eta_of(b, 0.7, "c", "v")), rtol=1e-12)
    assert np.all(np.abs(got - 0.5) < np.abs(zero - 0.5))  # averaging pulls towards 1/2


def test_comparisons_are_differences_ratios_and_odds_ratios_of_the_draws(logit_case):
    df, design, tree = logit_case
    mm = marginal_means(tree, design, df, by=["f", "h"], groups="zero")
    cells = mm.table[["f", "h"]].apply(tuple, axis=1).tolist()
    m = {c: mm.draws[..., k] for k, c in enumerate(cells)}
    diff = comparisons(mm, "f")
    assert list(diff["contrast"]) == ["b - a", "c - a", "c - b"] * 2
    assert list(diff["h"]) == ["u"] * 3 + ["v"] * 3
    row = diff[(diff["contrast"] == "c - a") & (diff["h"] == "v")].iloc[0]
    assert row["mean"] == pytest.approx(np.mean(m[("c", "v")] - m[("a", "v")]), rel=1e-12)
    odds = lambda p: p / (1 - p)  # noqa: E731
    orat = mm.compare("h", pairs="reference", comparison="odds_ratio")
    assert list(orat["contrast"]) == ["odds(v) / odds(u)"] * 3
    hand = odds(m[("b", "v")]) / odds(m[("b", "u")])
    got = orat[orat["f"] == "b"].iloc[0]
    assert got["mean"] == pytest.approx(hand.mean(), rel=1e-12)
    # at groups = 0 the odds ratio of h is exp(β_h[v]) in every cell, draw by draw
    np.testing.assert_allclose(orat["mean"], np.exp(beta_draws(tree)[:, 4]).mean(), rtol=1e-10)
    lo, hi = np.quantile(hand.ravel(), [0.025, 0.975])
    assert (got["lower"], got["upper"]) == pytest.approx((lo, hi), rel=1e-12)
    ratio = comparisons(mm, "f", pairs="consecutive", comparison="ratio")
    assert list(ratio["contrast"][:2]) == ["b / a", "c / b"]
    link = marginal_means(tree, design, df, by="f", scale="link")
    np.testing.assert_allclose(link.compare(pairs="reference")["mean"],
                               beta_draws(tree)[:, 2:4].mean(axis=0), rtol=1e-10)
    with pytest.raises(ValueError, match="scale='response'"):
        link.compare(comparison="odds_ratio")


def test_slopes_are_the_average_marginal_effect(logit_case):
    df, design, tree = logit_case
    b = beta_draws(tree)
    ame = slopes(tree, design, df, "x", groups="zero")
    p = expit(np.stack([eta_of(b, r.x, r.f, r.h) for r in df.itertuples()], axis=-1))
    hand = (b[:, [1]] * p * (1 - p)).mean(axis=-1)
    assert ame.loc[0, "mean"] == pytest.approx(hand.mean(), rel=1e-6)
    by = slopes(tree, design, df, "x", by="h", groups="zero")
    mask = (df["h"] == "v").to_numpy()
    assert by.set_index("h").loc["v", "mean"] == pytest.approx(
        (b[:, [1]] * p * (1 - p))[:, mask].mean(), rel=1e-6)
    link = slopes(tree, design, df, "x", scale="link", grid="reference")
    assert link.loc[0, "mean"] == pytest.approx(b[:, 1].mean(), rel=1e-8)
    with pytest.raises(DataError, match="categorical"):
        slopes(tree, design, df, "f")


def test_predict_for_the_population_needs_no_group_column(logit_case):
    df, design, tree = logit_case
    b = beta_draws(tree)
    new = pd.DataFrame({"x": [0.0, 1.0], "f": ["a", "b"], "h": ["u", "u"]})
    t = predict(tree, design, new, groups="zero", kind="mean").table
    assert "new_group" not in t.columns
    np.testing.assert_allclose(t["mean"], [expit(eta_of(b, 0.0, "a", "u")).mean(),
                                           expit(eta_of(b, 1.0, "b", "u")).mean()], rtol=1e-12)
    with pytest.raises(DataError, match="'g'"):
        predict(tree, design, new, kind="mean")  # the groups' own effects need the column
    with pytest.raises(ValueError, match="groups must be one of"):
        predict(tree, design, new, groups="none")


def test_population_average_on_a_sampled_glmm_equals_monte_carlo(contraception):
    """The population-averaged probability of the reference cell (urban, no children, mean
    age) against a Monte Carlo integral over N(0, τ²), 4000 district effects per draw."""
    fit = contraception
    cell = pd.DataFrame({"age": [0.0], "urban": ["Y"], "livch": ["0"]})
    avg = fit.predict(cell, groups="average", kind="mean").draws
    got = avg[names.PREDICTIONS][names.EXPECTED].values[..., 0].ravel()
    beta = fit.idata["posterior"][names.FIXED].values.reshape(-1, len(fit.design.fixed_terms))
    tau = fit.idata["posterior"][names.group_sd("district")].values.reshape(-1)
    eta = beta[:, fit.design.fixed_terms.index("Intercept")] + \
        beta[:, fit.design.fixed_terms.index("urban[Y]")]
    rng = np.random.default_rng(5)
    mc = expit(eta[:, None] + tau[:, None] * rng.standard_normal((len(eta), 4000)))
    se = mc.std(axis=1, ddof=1) / np.sqrt(4000)
    assert np.all(np.abs(got - mc.mean(axis=1)) < 4 * se + 1e-12)
    assert abs(got.mean() - mc.mean()) < 4 * np.sqrt(np.mean(se**2) / len(se)) + 1e-12
    typical = fit.predict(cell, groups="zero", kind="mean").table["mean"].iloc[0]
    assert typical == pytest.approx(expit(eta).mean(), rel=1e-12)
    assert got.mean() > typical  # p < 1/2: averaging over districts raises it


def test_slope_of_a_quadratic_follows_the_transform(contraception):
    fit = contraception
    terms = fit.design.fixed_terms
    beta = fit.idata["posterior"][names.FIXED].values
    for a in (-10.0, 5.0):
        got = fit.slopes("age", at={"age": [a]}, grid="reference", scale="link")
        hand = beta[..., terms.index("age")] + 2 * a * beta[..., terms.index("I(age ** 2)")]
        assert got.loc[0, "mean"] == pytest.approx(hand.mean(), rel=1e-6)


def test_odds_ratios_and_exponentiated_summary(contraception):
    fit = contraception
    plain = fit.summary()
    ors = fit.odds_ratios()
    assert "Intercept" not in ors.index and set(ors["ratio"]) == {"odds ratio"}
    # quantiles are interpolated between two draws, so exp(quantile) and quantile(exp) differ
    # by the curvature of exp between neighbouring draws: 1e-3 relative covers it
    for term in ors.index:
        assert ors.loc[term, "lower"] == pytest.approx(np.exp(plain.loc[term, "lower"]), rel=1e-3)
        assert ors.loc[term, "upper"] == pytest.approx(np.exp(plain.loc[term, "upper"]), rel=1e-3)
    expd = fit.summary(exponentiate=True)
    assert expd.attrs["exponentiated"]
    for term in fit.design.fixed_terms:
        assert expd.loc[term, "upper"] == pytest.approx(np.exp(plain.loc[term, "upper"]),
                                                         rel=1e-3)
        draws = np.exp(fit.idata["posterior"][names.FIXED].sel({names.FIXED_DIM: term}).values)
        assert expd.loc[term, "mean"] == pytest.approx(draws.mean())
    sd_row = names.sd_label("district", "Intercept")
    assert expd.loc[sd_row, "mean"] == plain.loc[sd_row, "mean"]


def test_lme4_accessors(radon_vis):
    fit = radon_vis
    summ = fit.summary()
    fe = fit.fixef()
    assert list(fe.index) == ["Intercept", "floor"]
    assert fe["floor"] == pytest.approx(summ.loc["floor", "mean"])
    re = fit.ranef()["county"]
    assert re.shape == (85, 2) and list(re.columns) == ["Intercept", "floor"]
    effects = fit.group_effects()
    assert re.loc["AITKIN", "floor"] == pytest.approx(effects.loc[("floor", "AITKIN"), "mean"])
    co = fit.coef()["county"]
    np.testing.assert_allclose(co.to_numpy(), re.to_numpy() + fe.to_numpy(), rtol=1e-10)
    vc = fit.VarCorr()
    assert list(vc["grp"]) == ["county", "county", "county", "Residual"]
    sd = fit.idata["posterior"][names.group_sd("county")].values
    assert vc.loc[0, "vcov"] == pytest.approx(np.mean(sd[..., 0] ** 2))
    assert vc.loc[1, "sdcor"] == pytest.approx(summ.loc["sd(floor | county)", "mean"])
    assert vc.loc[2, "sdcor"] == pytest.approx(summ.loc["corr(Intercept, floor | county)", "mean"])
    assert vc.loc[3, "sdcor"] == pytest.approx(summ.loc["sigma", "mean"])
    med = fit.fixef("median")
    assert med["floor"] == pytest.approx(np.median(
        fit.idata["posterior"][names.FIXED].sel({names.FIXED_DIM: "floor"}).values))
    with pytest.raises(ValueError, match="statistic"):
        fit.fixef("mode")


# --- against lme4 (tests/reference/marginal/contraception.json, R 4.2.2, lme4 1.1-31) ---------


def glmer_reference() -> dict:
    return json.loads((Path(__file__).parent / "reference" / "marginal"
                       / "contraception.json").read_text())


LME4_TERMS = {"(Intercept)": "Intercept", "age": "age", "I(age^2)": "I(age ** 2)",
              "urbanY": "urban[Y]", "livch1": "livch[1]", "livch2": "livch[2]",
              "livch3+": "livch[3+]"}


def test_the_yes_no_fit_agrees_with_glmer(contraception):
    """Posterior means against glmer's Laplace estimates: the issue found the fixed effects
    within 0.14 SE of lme4; with 400 draws we allow 0.5 SE. The posterior mean of the district
    sd sits above the ML estimate (right skew, ML's downward bias): within 0.1."""
    ref = glmer_reference()["laplace"]
    summ = contraception.summary()
    for lme4_name, term in LME4_TERMS.items():
        diff = summ.loc[term, "mean"] - ref["fixef"][lme4_name]
        assert abs(diff) < 0.5 * ref["se"][lme4_name], (term, diff)
    assert summ.loc["sd(Intercept | district)", "mean"] == pytest.approx(ref["sd_district"],
                                                                         abs=0.1)


def test_typical_and_population_averaged_probabilities_equal_lme4s(contraception):
    """At glmer's estimates (a posterior of one repeated draw) the typical district's
    probability is predict(re.form = NA) and the population-averaged one R's integrate()."""
    ref = glmer_reference()
    fit = contraception
    beta = [ref["laplace"]["fixef"][k] for k in LME4_TERMS]
    tree = fake_tree(fit.design, beta, {"district": [ref["laplace"]["sd_district"]]}, draws=2,
                     seed=0)
    for groups, key in (("zero", "typical"), ("average", "averaged")):
        mm = marginal_means(tree, fit.design, fit.data, by=["urban", "livch"],
                            at={"age": 0.0}, groups=groups)
        got = mm.table.set_index(["urban", "livch"])["mean"]
        for cell in ref["cells"]:
            assert got[(cell["urban"], cell["livch"])] == pytest.approx(cell[key], abs=1e-9)
