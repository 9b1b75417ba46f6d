"""Report formulas checked exactly on fake posteriors (no sampling)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hiermod as hm
from hiermod import names
from hiermod.errors import DataError
from hiermod.formula import null_formula, null_spec
from hiermod.report import (
    approximate_estimate,
    design_effect,
    icc,
    log_likelihood,
    pooling,
    posterior_predictive,
    ppc_groups,
    ppc_overall,
    predict,
    r2_nakagawa,
    shrinkage_factor,
    variance_components,
    variance_explained,
)
from hiermod.report.intraclass import nesting
from support import fake_tree


def design_of(formula, data, family="gaussian"):
    return hm.make_design(hm.parse_formula(formula, family=family), data)


@pytest.fixture(scope="module")
def groups_data():
    """Unbalanced groups (sizes 2..13), a level-1 x, a level-2 w, a count and a 0/1 outcome."""
    rng = np.random.default_rng(0)
    sizes = np.arange(2, 14)
    g = np.repeat([f"g{j:02d}" for j in range(len(sizes))], sizes)
    w = np.repeat(rng.normal(size=len(sizes)), sizes)
    x = rng.normal(size=len(g))
    y = 2.0 + 0.5 * x + np.repeat(rng.normal(0, 0.7, len(sizes)), sizes) + rng.normal(size=len(g))
    return pd.DataFrame({"y": y, "x": x, "w": w, "g": g, "count": rng.poisson(3, len(g)),
                         "b": rng.integers(0, 2, len(g))})


# --- ICC, design effect, R² ----------------------------------------------------------------


def test_icc_null_model_is_tau2_over_total(groups_data):
    d = design_of("y ~ 1 + (1 | g)", groups_data)
    dt = fake_tree(d, beta=[2.0], sds={"g": [0.6]}, sigma=1.2)
    table = icc(dt, d)
    assert table.loc["g", "mean"] == pytest.approx(0.36 / (0.36 + 1.44), rel=1e-12)
    assert table.loc["g", "sd"] == 0
    # conditional equals adjusted without predictors; the residual share completes it to 1
    assert icc(dt, d, kind="conditional").loc["g", "mean"] == pytest.approx(0.2, rel=1e-12)
    assert table.loc["g", "residual_share"] == pytest.approx(0.8, rel=1e-12)


def test_icc_latent_scales(groups_data):
    d = design_of("b ~ 1 + (1 | g)", groups_data, family="bernoulli")
    dt = fake_tree(d, beta=[0.3], sds={"g": [1.0]})
    assert icc(dt, d).loc["g", "mean"] == pytest.approx(1 / (1 + np.pi**2 / 3), rel=1e-12)
    dp = design_of("count ~ 1 + (1 | g)", groups_data, family="poisson")
    dt = fake_tree(dp, beta=[1.1], sds={"g": [0.5]})
    lam = np.exp(1.1 + 0.5 * 0.25)  # Nakagawa et al. (2017): lognormal approximation
    expect = 0.25 / (0.25 + np.log1p(1 / lam))
    assert icc(dt, dp).loc["g", "mean"] == pytest.approx(expect, rel=1e-12)


def test_icc_with_predictors_and_slopes(groups_data):
    d = design_of("y ~ x + (1 + x | g)", groups_data)
    dt = fake_tree(d, beta=[2.0, 0.5], sds={"g": [0.6, 0.3]}, sigma=1.0,
                   corr={"g": [[1, 0.4], [0.4, 1]]})
    # adjusted, intercept variance only
    assert icc(dt, d).loc["g", "mean"] == pytest.approx(0.36 / 1.36, rel=1e-12)
    # "average": mean over rows of z Σ zᵀ (performance / Johnson 2014)
    S = np.array([[0.36, 0.4 * 0.18], [0.4 * 0.18, 0.09]])
    Z = d.factors[0].Z
    vr = np.mean(np.einsum("ia,ab,ib->i", Z, S, Z))
    assert icc(dt, d, slopes="average").loc["g", "mean"] == pytest.approx(vr / (vr + 1), 1e-12)
    vf = np.var(d.X @ [2.0, 0.5], ddof=1)
    assert icc(dt, d, kind="conditional").loc["g", "mean"] == pytest.approx(
        0.36 / (0.36 + 1 + vf), rel=1e-12)


def test_three_level_nesting_shares():
    rng = np.random.default_rng(1)
    school = np.repeat([f"s{i}" for i in range(6)], 20)
    klass = np.repeat([f"c{i}" for i in range(24)], 5)
    df = pd.DataFrame({"y": rng.normal(size=120), "school": school, "class": klass})
    d = design_of("y ~ 1 + (1 | school/class)", df)
    assert nesting(d) == {"school": (), "school:class": ("school",)}
    dt = fake_tree(d, beta=[0.0], sds={"school": [1.0], "school:class": [0.5]}, sigma=1.5)
    total = 1 + 0.25 + 2.25
    shares = icc(dt, d)
    assert shares.loc["school", "mean"] == pytest.approx(1 / total, rel=1e-12)
    assert shares.loc["school:class", "mean"] == pytest.approx(0.25 / total, rel=1e-12)
    assert shares.loc["school", "residual_share"] == pytest.approx(2.25 / total, rel=1e-12)
    cum = icc(dt, d, kind="cumulative")
    assert cum.loc["school:class", "mean"] == pytest.approx(1.25 / total, rel=1e-12)
    assert cum.loc["school", "mean"] == pytest.approx(1 / total, rel=1e-12)


def test_design_effect_formulas(groups_data):
    d = design_of("y ~ 1 + (1 | g)", groups_data)
    dt = fake_tree(d, beta=[2.0], sds={"g": [0.5]}, sigma=1.0)
    rho = 0.25 / 1.25
    n = np.bincount(d.factors[0].index)
    table = design_effect(dt, d).loc["g"]
    nbar, nw = n.mean(), (n**2).sum() / n.sum()
    assert table.loc["mean_size", "mean"] == pytest.approx(nbar)
    assert table.loc["kish_size", "mean"] == pytest.approx(nw)
    assert table.loc["deff", "mean"] == pytest.approx(1 + (nbar - 1) * rho, rel=1e-12)
    assert table.loc["deff_kish", "mean"] == pytest.approx(1 + (nw - 1) * rho, rel=1e-12)
    assert table.loc["n_eff", "mean"] == pytest.approx(d.n_obs / (1 + (nbar - 1) * rho))
    # unequal sizes: Kish's n̄_w = n̄ (1 + CV²) > n̄
    assert nw == pytest.approx(nbar * (1 + n.var() / nbar**2))


def test_r2_nakagawa_formula(groups_data):
    d = design_of("y ~ x + w + (1 | g)", groups_data)
    dt = fake_tree(d, beta=[2.0, 0.5, -0.3], sds={"g": [0.7]}, sigma=0.9)
    vf = np.var(d.X @ [2.0, 0.5, -0.3], ddof=1)
    r2 = r2_nakagawa(dt, d)
    tot = vf + 0.49 + 0.81
    assert r2.loc["marginal", "mean"] == pytest.approx(vf / tot, rel=1e-12)
    assert r2.loc["conditional", "mean"] == pytest.approx((vf + 0.49) / tot, rel=1e-12)


def test_variance_components_and_explained(groups_data):
    d = design_of("y ~ x + (1 + x | g)", groups_data)
    dt = fake_tree(d, beta=[2.0, 0.5], sds={"g": [0.6, 0.3]}, sigma=1.0,
                   corr={"g": [[1, -0.4], [-0.4, 1]]})
    vc = variance_components(dt, d)
    assert vc.loc[names.var_label("g", "x"), "mean"] == pytest.approx(0.09)
    assert vc.loc[names.corr_label("g", "Intercept", "x"), "mean"] == pytest.approx(-0.4)
    assert vc.loc[names.RESIDUAL_VAR, "mean"] == pytest.approx(1.0)
    d0 = design_of("y ~ 1 + (1 | g)", groups_data)
    dt0 = fake_tree(d0, beta=[2.0], sds={"g": [0.8]}, sigma=1.25)
    ve = variance_explained(dt, d, dt0, d0)
    assert ve.loc["residual", "mean"] == pytest.approx(1 - 1 / 1.25**2)
    assert ve.loc["g", "mean"] == pytest.approx(1 - 0.36 / 0.64)


def test_null_formula():
    spec = hm.parse_formula("cbind(s, n - s) ~ x + (1 + x | a/b)", family="binomial")
    assert null_formula(spec) == "cbind(s, n - s) ~ 1 + (1 | a) + (1 | a:b)"
    assert null_spec(spec).family == "binomial"
    assert null_spec("y ~ x + (x || g)").formula == "y ~ 1 + (1 | g)"
    with pytest.raises(hm.SpecError, match="no grouping factor"):
        null_spec("y ~ x")


# --- pooling and shrinkage: the closed form with σ, τ known --------------------------------


def test_pooling_matches_closed_form_with_known_sigma_tau(groups_data):
    d = design_of("y ~ 1 + (1 | g)", groups_data)
    dt = fake_tree(d, beta=[2.0], sds={"g": [0.7]}, sigma=1.0, seed=1, draws=50)
    sigma, tau = 1.3, 0.45
    table = pooling(dt, d, sigma=sigma, tau=tau).loc["Intercept"]
    ybar = groups_data.groupby("g")["y"].mean().reindex(table.index)
    n = groups_data.groupby("g").size().reindex(table.index)
    ybar_all = groups_data["y"].mean()
    lam = tau**2 / (tau**2 + sigma**2 / n)
    np.testing.assert_allclose(table["shrinkage"], lam, rtol=1e-12)
    np.testing.assert_allclose(table["shrinkage"], shrinkage_factor(n, sigma, tau), rtol=1e-12)
    closed = (n / sigma**2 * ybar + ybar_all / tau**2) / (n / sigma**2 + 1 / tau**2)
    np.testing.assert_allclose(table["approx"], closed, rtol=1e-12)
    np.testing.assert_allclose(approximate_estimate(n, ybar, ybar_all, sigma, tau), closed)
    np.testing.assert_allclose(table["no_pool"], ybar, rtol=1e-10)
    np.testing.assert_allclose(table["complete_pool"], ybar_all, rtol=1e-12)
    s = np.sqrt(((groups_data["y"] - groups_data.groupby("g")["y"].transform("mean")) ** 2).sum()
                / (len(groups_data) - len(n)))
    np.testing.assert_allclose(table["no_pool_se"], s / np.sqrt(n), rtol=1e-10)
    assert (table["n"] == n).all()


def test_group_coefficients_include_level2_predictors(groups_data):
    d = design_of("y ~ x + w + (1 | g)", groups_data)
    u = np.linspace(-1, 1, d.factors[0].n_levels)[:, None]
    dt = fake_tree(d, beta=[2.0, 0.5, -0.3], sds={"g": [0.7]}, sigma=1.0, u={"g": u})
    table = pooling(dt, d).loc["Intercept"]
    w = groups_data.groupby("g")["w"].first().reindex(table.index)
    np.testing.assert_allclose(table["partial_mean"], 2.0 - 0.3 * w + u[:, 0], rtol=1e-12)
    # no pooling: separate intercepts and a common x slope (Gelman & Hill's lm(y ~ x + g - 1))
    X = np.column_stack([pd.get_dummies(groups_data["g"]).to_numpy(float), groups_data["x"]])
    coef = np.linalg.lstsq(X, groups_data["y"], rcond=None)[0]
    np.testing.assert_allclose(table["no_pool"], coef[:-1], rtol=1e-8)


# --- predictions -------------------------------------------------------------------------------


def test_predict_existing_zero_and_refuse(groups_data):
    d = design_of("y ~ x + w + (1 + x | g)", groups_data)
    J = d.factors[0].n_levels
    u = np.column_stack([np.linspace(-1, 1, J), np.linspace(0.2, -0.2, J)])
    dt = fake_tree(d, beta=[2.0, 0.5, -0.3], sds={"g": [0.7, 0.2]}, sigma=1.0, u={"g": u})
    new = pd.DataFrame({"x": [1.0, 2.0, 1.0], "w": [0.4, 0.4, 1.5], "g": ["g03", "g03", "zz"]},
                       index=[7, 8, 9])
    out = predict(dt, d, new, new_groups="zero", kind="mean")
    j = d.factors[0].levels.index("g03")
    exp_existing = 2.0 + 0.5 * np.array([1, 2]) - 0.3 * 0.4 + u[j, 0] + u[j, 1] * np.array([1, 2])
    np.testing.assert_allclose(out.table["mean"].iloc[:2], exp_existing, rtol=1e-12)
    # a new group at zero: the population average, with its level-2 predictor from newdata
    assert out.table["mean"].iloc[2] == pytest.approx(2.0 + 0.5 - 0.3 * 1.5)
    assert out.table["new_group"].tolist() == [False, False, True]
    assert out.new_levels == {"g": ("zz",)}
    assert out.draws[names.PREDICTIONS][names.EXPECTED].dims == ("chain", "draw", "obs")
    with pytest.raises(DataError, match=r"'zz'.*row 9"):
        predict(dt, d, new, new_groups="refuse")
    with pytest.raises(DataError, match=r"'w' \(fixed-effect predictor\)"):
        predict(dt, d, new.drop(columns="w"))
    with pytest.raises(DataError, match="missing values in 'x'"):
        predict(dt, d, new.assign(x=[1.0, np.nan, 2.0]))


def test_predict_new_group_draws_have_population_variance(groups_data):
    d = design_of("y ~ 1 + (1 + x | g)", groups_data)
    R = np.array([[1, 0.5], [0.5, 1]])
    dt = fake_tree(d, beta=[2.0], sds={"g": [0.7, 0.4]}, sigma=1.0, corr={"g": R},
                   seed=2, draws=4000)
    new = pd.DataFrame({"x": [0.0, 1.0], "g": ["new", "new"]})
    eta = predict(dt, d, new, kind="link", random_seed=5).draws[names.PREDICTIONS][
        names.LINPRED].values.reshape(-1, 2)
    # rows of one new group share its u draw: var(η₀) = τ₀², var(η₁ − η₀) = τ₁²
    assert np.var(eta[:, 0]) == pytest.approx(0.49, rel=0.08)
    assert np.var(eta[:, 1] - eta[:, 0]) == pytest.approx(0.16, rel=0.08)
    assert np.corrcoef(eta[:, 0], eta[:, 1] - eta[:, 0])[0, 1] == pytest.approx(0.5, abs=0.05)
    again = predict(dt, d, new, kind="link", random_seed=5).draws[names.PREDICTIONS]
    np.testing.assert_array_equal(again[names.LINPRED].values.reshape(-1, 2), eta)


def test_predict_stateful_transform_reuses_training_means():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40),
                       "g": np.repeat(list("abcd"), 10)})
    d = design_of("y ~ cwc(x, g) + (1 | g)", df)
    dt = fake_tree(d, beta=[0.0, 1.0], sds={"g": [1.0]}, sigma=1.0, u={"g": np.zeros((4, 1))})
    new = pd.DataFrame({"x": [5.0], "g": ["a"]})
    got = predict(dt, d, new, kind="mean").table["mean"].iloc[0]
    assert got == pytest.approx(5.0 - df.loc[df.g == "a", "x"].mean())


# --- log-likelihood and replications ---------------------------------------------------------


@pytest.mark.parametrize("family,formula", [("gaussian", "y ~ x + (1 | g)"),
                                            ("poisson", "count ~ x + (1 | g)"),
                                            ("bernoulli", "b ~ x + (1 | g)")])
def test_log_likelihood_matches_scipy(groups_data, family, formula):
    d = design_of(formula, groups_data, family=family)
    dt = fake_tree(d, beta=[0.2, 0.1], sds={"g": [0.5]}, sigma=1.1 if family == "gaussian"
                   else None, seed=4, draws=3)
    ll = log_likelihood(dt, d)[names.OUTCOME].values
    u = dt["posterior"][names.group_effects("g")].values[0, 1, :, 0]
    eta = 0.2 + 0.1 * groups_data["x"].to_numpy() + u[d.factors[0].index]
    expect = {"gaussian": lambda: stats.norm.logpdf(d.y, eta, 1.1),
              "poisson": lambda: stats.poisson.logpmf(d.y, np.exp(eta)),
              "bernoulli": lambda: stats.bernoulli.logpmf(d.y, 1 / (1 + np.exp(-eta)))}[family]()
    np.testing.assert_allclose(ll[0, 1], expect, rtol=1e-10)
    yrep = posterior_predictive(dt, d, random_seed=1)[names.OUTCOME]
    assert yrep.dims == ("chain", "draw", "obs") and yrep.shape == (1, 3, d.n_obs)


def test_ppc_tables(groups_data):
    d = design_of("y ~ 1 + (1 | g)", groups_data)
    dt = fake_tree(d, beta=[2.0], sds={"g": [0.7]}, sigma=1.0, seed=5, draws=300)
    overall = ppc_overall(dt, d)
    assert overall.loc["mean", "observed"] == pytest.approx(groups_data["y"].mean())
    assert 0 <= overall["p_value"].min() and overall["p_value"].max() <= 1
    per = ppc_groups(dt, d)
    assert len(per) == d.factors[0].n_levels
    np.testing.assert_allclose(per["obs_mean"], groups_data.groupby("g")["y"].mean())
    np.testing.assert_allclose(per["obs_sd"], groups_data.groupby("g")["y"].std())
    assert per.attrs["outside"]["mean"] <= 3
