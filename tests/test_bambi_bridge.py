"""hm.from_bambi: a bambi fit read into a hiermod Fit, its posterior renamed draw for draw.

The fast tests map bambi's prior draws (same names and dims as its posterior) without sampling;
the slow ones fit bambi's radon varying-slope and cbpp models (2 chains × 200 draws) and run
hiermod's reports on them, checking each renamed number against bambi's own variable.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import hiermod as hm
from hiermod import names
from hiermod.bambi_bridge import hiermod_formula
from hiermod.errors import SpecError

bmb = pytest.importorskip("bambi")
BAMBI_FIT = {"draws": 200, "tune": 300, "chains": 2, "random_seed": 1, "progressbar": False}


def prior_as_posterior(model, draws: int = 40):
    """bambi's prior draws, relabelled as a posterior (the names and dims are the same)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = model.prior_predictive(draws=draws, random_seed=2)
    return type(prior).from_dict({"/posterior": prior["prior"].to_dataset()})


def test_formulas():
    assert hiermod_formula("y ~ x + (1 + x | g) + (1 | h)") == \
        ("y ~ x + (1 + x || g) + (1 || h)", None)
    assert hiermod_formula('vote["yes"] ~ 1 + (1|g)') == ("vote ~ 1 + (1 || g)", "yes")


def test_yes_no_outcome_and_a_categorical_varying_term():
    contra = hm.datasets.load("contraception")
    model = bmb.Model("use['Y'] ~ urban + livch + (1 + urban | district)", contra,
                      family="bernoulli")
    model.build()
    tree = prior_as_posterior(model)
    fit = hm.from_bambi(model, tree)
    assert fit.spec.response.event == "Y" and fit.design.y.sum() == (contra["use"] == "Y").sum()
    assert fit.design.factors[0].terms == ("Intercept", "urban[Y]")
    assert not fit.design.factors[0].correlated
    post = tree["posterior"]
    u = fit.idata["posterior"][names.group_effects("district")]
    np.testing.assert_array_equal(
        u.sel(district="7", district_term="urban[Y]").values,
        post["urban|district"].sel(district__factor_dim="7").values[..., 0])
    np.testing.assert_array_equal(u.sel(district="12", district_term="Intercept").values,
                                  post["1|district"].sel(district__factor_dim="12").values)
    beta = fit.idata["posterior"][names.FIXED]
    np.testing.assert_array_equal(beta.sel(fixed_term="livch[3+]").values,
                                  post["livch"].sel(livch_dim="3+").values)
    sd = fit.idata["posterior"][names.group_sd("district")]
    np.testing.assert_array_equal(sd.sel(district_cov_term="urban[Y]").values,
                                  post["urban|district_sigma"].values[..., 0])
    assert list(fit.icc().index) == ["district"]  # a report runs on the renamed draws


def test_what_hiermod_cannot_read_is_refused():
    radon = hm.datasets.load("radon")
    probit = bmb.Model("floor ~ log_uranium + (1 | county)", radon, family="bernoulli",
                       link="probit")
    probit.build()
    with pytest.raises(SpecError, match="probit link"):
        hm.from_bambi(probit, prior_as_posterior(probit, 5))
    student = bmb.Model("log_radon ~ floor + (1 | county)", radon, family="t")
    with pytest.raises(SpecError, match="family 't'"):
        hm.from_bambi(student, None)


@pytest.mark.slow
def test_radon_varying_slope_fitted_by_bambi():
    radon = hm.datasets.load("radon")
    model = bmb.Model("log_radon ~ floor + (1 + floor | county)", radon)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = model.fit(**BAMBI_FIT)
    fit = hm.from_bambi(model, idata)
    post = idata["posterior"]
    summ = fit.summary()
    assert summ.loc["floor", "mean"] == pytest.approx(float(post["floor"].mean()))
    assert summ.loc["sd(floor | county)", "mean"] == pytest.approx(
        float(post["floor|county_sigma"].mean()))
    assert summ.loc["sigma", "mean"] == pytest.approx(float(post["sigma"].mean()))
    effects = fit.group_effects()
    assert effects.loc[("floor", "AITKIN"), "mean"] == pytest.approx(
        float(post["floor|county"].sel(county__factor_dim="AITKIN").mean()))
    assert fit.diagnostics().divergences == int(idata["sample_stats"]["diverging"].sum())
    # the reports of the issue: ICC, design effect, pooling, R², predictions, REML comparison
    icc = fit.icc().loc["county", "mean"]
    assert 0.05 < icc < 0.4
    assert fit.design_effect().loc[("county", "deff"), "mean"] > 1
    pool = fit.pooling()
    assert pool.loc[("Intercept", "AITKIN"), "partial_mean"] == pytest.approx(
        float((post["Intercept"] + post["1|county"].sel(county__factor_dim="AITKIN")).mean()))
    assert 0 < fit.r2().loc["marginal", "mean"] < fit.r2().loc["conditional", "mean"] < 1
    new = pd.DataFrame({"floor": [0, 1], "county": ["a new county"] * 2})
    pred = fit.predict(new, random_seed=1).table
    assert pred["new_group"].all() and (pred["upper"] - pred["lower"]).min() > 0.5
    comparison = fit.compare(hm.reml(fit.spec, fit.data))
    assert abs(comparison.loc["floor", "diff_z"]) < 2


@pytest.mark.slow
def test_cbpp_fitted_by_bambi():
    cbpp = hm.datasets.load("cbpp")
    model = bmb.Model("p(incidence, size) ~ period + (1 | herd)", cbpp, family="binomial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = model.fit(**BAMBI_FIT)
    fit = hm.from_bambi(model, idata)
    assert fit.spec.response.trials == "size" and fit.spec.family == "binomial"
    summ = fit.summary()
    post = idata["posterior"]
    assert summ.loc["period[4]", "mean"] == pytest.approx(
        float(post["period"].sel(period_dim="4").mean()))
    assert summ.loc["sd(Intercept | herd)", "mean"] == pytest.approx(
        float(post["1|herd_sigma"].mean()))
    ref = fit.compare(hm.reml(fit.spec, fit.data))
    assert abs(ref.loc["period[2]", "diff_z"]) < 2
    assert 0 < fit.icc().loc["herd", "mean"] < 0.5
    mm = fit.marginal_means(by="period", groups="average")
    assert list(mm.table["period"]) == ["1", "2", "3", "4"]
    assert mm.table["mean"].idxmax() == 0  # incidence is highest in the first period
