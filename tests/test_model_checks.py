"""Model checks: posterior predictive checks of 0/1 outcomes, per-group checks with new group
effects, residuals, binned residuals, calibration, QQ of the group effects, prior predictive
checks.

Fake posteriors make the checks exact where a hand computation is the definition (binned
residuals, calibration bins, QQ positions); the per-group check is shown to catch a group whose
effect is far outside the population on a constructed data set, where the old check
(replications with the fitted effects) cannot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit

import hiermod as hm
from hiermod import names
from hiermod.report import ppc_groups, ppc_overall
from support import fake_tree


def test_binary_ppc_checks_the_proportion_not_min_and_max(contraception):
    fit = contraception
    table = fit.ppc()
    assert list(table.index) == ["mean"]
    assert table.loc["mean", "observed"] == pytest.approx(fit.design.y.mean())
    assert 0.05 < table.loc["mean", "p_value"] < 0.95
    with pytest.raises(ValueError, match="0 or 1 in nearly every replication"):
        fit.ppc(stats=("mean", "max"))
    groups = fit.ppc_groups()
    assert [c for c in groups.columns if c.startswith("obs_")] == ["obs_mean"]


@pytest.fixture(scope="module")
def outlier_case():
    """20 groups of 30 with u_j ~ N(0, 0.5²), except group g00 at +4 (8 sds out); the fake
    posterior knows the truth: β = 0, τ = 0.5, σ = 1 and each group's own effect."""
    rng = np.random.default_rng(7)
    u = rng.normal(0, 0.5, 20)
    u[0] = 4.0
    df = pd.DataFrame({"g": np.repeat([f"g{j:02d}" for j in range(20)], 30)})
    df["y"] = u[np.repeat(np.arange(20), 30)] + rng.normal(0, 1, len(df))
    design = hm.make_design(hm.parse_formula("y ~ 1 + (1 | g)"), df)
    tree = fake_tree(design, [0.0], {"g": [0.5]}, sigma=1.0, u={"g": u[:, None]}, draws=400)
    return design, tree


def test_group_check_with_new_effects_flags_an_outlying_group(outlier_case):
    design, tree = outlier_case
    fitted = ppc_groups(tree, design, groups="fitted", random_seed=1)
    new = ppc_groups(tree, design, groups="new", random_seed=1)
    assert not fitted.loc["g00", "outside_mean"]  # its own effect reproduces its mean
    assert new.loc["g00", "outside_mean"] and new.loc["g00", "p_mean"] == 0.0
    assert new["outside_mean"].sum() <= 3  # the others are plausible members
    assert new.attrs["outside"]["mean"] == int(new["outside_mean"].sum())
    # the new-group interval of a group mean has sd sqrt(τ² + σ²/n)
    width = (new["rep_mean_upper"] - new["rep_mean_lower"]).median()
    assert width == pytest.approx(2 * 1.96 * np.sqrt(0.25 + 1 / 30), rel=0.15)
    with pytest.raises(ValueError, match="groups must be one of"):
        ppc_groups(tree, design, groups="same")


def test_overall_ppc_defaults_follow_the_family(outlier_case):
    design, tree = outlier_case
    assert list(ppc_overall(tree, design).index) == ["mean", "sd", "min", "max"]
    assert list(ppc_groups(tree, design).filter(like="obs_").columns) == ["obs_mean", "obs_sd"]


# --- residuals, binned residuals, calibration, QQ ---------------------------------------------


@pytest.fixture(scope="module")
def logit_fake():
    """A bernoulli design (300 rows, 15 groups) with a fake posterior of 5 draws."""
    rng = np.random.default_rng(11)
    df = pd.DataFrame({"g": rng.choice([f"g{j:02d}" for j in range(15)], 300),
                       "x": rng.normal(size=300)})
    df["y"] = rng.binomial(1, expit(-0.2 + 1.1 * df["x"]))
    design = hm.make_design(hm.parse_formula("y ~ x + (1 | g)", family="bernoulli"), df)
    tree = fake_tree(design, [-0.2, 1.1], {"g": [0.6]}, draws=5, seed=3)
    u = tree["posterior"][names.group_effects("g")].values[..., 0]  # (1, 5, J)
    p = expit(-0.2 + 1.1 * df["x"].to_numpy() + u[..., design.factors[0].index])
    return design, tree, p


def test_residuals_and_binned_residuals_by_hand(logit_fake):
    design, tree, p = logit_fake
    res = hm.report.residuals(tree, design)
    pbar = p.mean(axis=(0, 1))
    np.testing.assert_allclose(res["fitted"], pbar, rtol=1e-12)
    np.testing.assert_allclose(res["residual"], design.y - pbar, rtol=1e-12)
    var = (p * (1 - p)).mean(axis=(0, 1))
    np.testing.assert_allclose(res["pearson"], (design.y - pbar) / np.sqrt(var), rtol=1e-12)
    binned = hm.report.binned_residuals(tree, design, n_bins=10)
    assert len(binned) == 10 and binned["n"].sum() == 300 and set(binned["n"]) == {30}
    order = np.argsort(pbar, kind="stable")
    first = order[:30]
    assert binned.loc[0, "residual"] == pytest.approx(np.mean(design.y[first] - pbar[first]))
    assert binned.loc[0, "bound"] == pytest.approx(2 * np.sqrt(var[first].sum()) / 30)
    assert len(hm.report.binned_residuals(tree, design)) == 18  # ceil(sqrt(300))


def test_calibration_by_hand(logit_fake):
    design, tree, p = logit_fake
    table = hm.report.calibration(tree, design, n_bins=5)
    pbar = p.mean(axis=(0, 1))
    order = np.argsort(pbar, kind="stable")
    top = order[-60:]
    row = table.loc[4]
    assert row["n"] == 60 and row["predicted"] == pytest.approx(pbar[top].mean())
    k = design.y[top].sum()
    assert row["observed"] == pytest.approx(k / 60)
    assert row["observed_lower"] == pytest.approx(stats.beta.ppf(0.025, k + 0.5, 60 - k + 0.5))
    per_draw = p[..., top].mean(axis=-1).ravel()
    assert row["predicted_upper"] == pytest.approx(np.quantile(per_draw, 0.975))
    assert table.attrs["brier"] == pytest.approx(np.mean((design.y - pbar) ** 2))
    with pytest.raises(ValueError, match="gaussian"):
        design_g = hm.make_design(hm.parse_formula("x ~ 1 + (1 | g)"),
                                  pd.DataFrame({"x": np.arange(20.0), "g": list("ab") * 10}))
        hm.report.calibration(fake_tree(design_g, [0.0], {"g": [1.0]}, sigma=1.0), design_g)


def test_group_effects_qq_sorts_standardized_draws(logit_fake):
    design, tree, _ = logit_fake
    qq = hm.report.group_effects_qq(tree, design)
    u = tree["posterior"][names.group_effects("g")].values[..., 0]
    z = np.sort(u / 0.6, axis=-1)
    np.testing.assert_allclose(qq["mean"], z.mean(axis=(0, 1)), rtol=1e-12)
    assert qq["theoretical"].iloc[0] == pytest.approx(stats.norm.ppf(0.625 / 15.25))
    assert qq["g"].iloc[-1] == design.factors[0].levels[int(np.argmax(u.mean(axis=(0, 1))))]


def test_checks_of_a_sampled_binary_model(contraception):
    fit = contraception
    cal = fit.calibration(n_bins=8)
    inside = (cal["observed_lower"] <= cal["predicted"]) & (cal["predicted"]
                                                             <= cal["observed_upper"])
    assert inside.sum() >= 6  # in-sample: nearly every bin on the diagonal
    assert cal.attrs["mean_predicted"] == pytest.approx(cal.attrs["mean_observed"], abs=0.01)
    binned = fit.binned_residuals()
    assert binned["outside"].mean() <= 0.2
    qq = fit.group_effects_qq()
    assert len(qq) == 60 and qq["lower"].iloc[0] < qq["theoretical"].iloc[0] < qq["upper"].iloc[0]


# --- prior predictive -----------------------------------------------------------------------------


def test_prior_predictive_draws_follow_the_priors(contraception):
    fit = contraception
    tree = fit.prior_predictive(draws=400, random_seed=9)
    assert tree[names.PRIOR_PREDICTIVE][names.OUTCOME].shape == (1, 400, fit.design.n_obs)
    beta = tree[names.PRIOR][names.FIXED].sel({names.FIXED_DIM: "urban[Y]"}).values.ravel()
    prior = fit.priors["urban[Y]"]
    assert prior.dist == "Normal"
    assert beta.std() == pytest.approx(prior.kwargs["sigma"], rel=0.12)  # SE of an sd ~3.5%
    check = hm.report.ppc_overall(tree, fit.design, group=names.PRIOR_PREDICTIVE)
    assert list(check.index) == ["mean"]
    assert check.loc["mean", "rep_lower"] < fit.design.y.mean() < check.loc["mean", "rep_upper"]
    with pytest.raises(ValueError, match="prior_predictive"):
        hm.report.ppc_overall(fit.idata, fit.design, group=names.PRIOR_PREDICTIVE)
