"""hm.compare: posterior next to REML, with flags; and its forest plot.

Fast tests use a fake fit whose posterior is normal draws around known values (no sampling).
The two tests marked slow sample sleep_vis and hsb_full with few draws through ``hiermod.fit``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hiermod import datasets, names
from hiermod.design import Design, make_design
from hiermod.errors import SpecError
from hiermod.formula import parse_formula
from hiermod.mle import RemlFit, fit_lmm, reml
from hiermod.priors import Prior
from hiermod.report import compare

SLEEP = "Reaction ~ Days + (Days | Subject)"
HSB = "mAch ~ meanses + sector + cses + meanses:cses + sector:cses + (1 + cses | school)"


@dataclass(frozen=True, eq=False)
class FakeFit:
    idata: xr.DataTree
    design: Design
    priors: dict = field(default_factory=dict)


@cache
def reml_fit(formula: str, dataset: str) -> RemlFit:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_lmm(make_design(parse_formula(formula), datasets.load(dataset)))


def fake_posterior(fit: RemlFit, shift_se: float = 0.5, sd_scale: float = 1.0,
                   n_draws: int = 500, seed: int = 0) -> xr.DataTree:
    """Normal draws: β around β̂ + shift_se·SE with sd SE·sd_scale; sds, corrs, σ around their
    REML values with sd 10% of the value (0.1 for correlations)."""
    rng = np.random.default_rng(seed)
    shape = (2, n_draws)
    d = fit.design
    noise = rng.standard_normal(shape + (len(fit.beta),))
    beta = fit.beta + shift_se * fit.se + sd_scale * fit.se * noise
    ds = xr.Dataset(coords={"chain": range(2), "draw": range(n_draws)})
    ds[names.FIXED] = (("chain", "draw", names.FIXED_DIM), beta)
    ds = ds.assign_coords({names.FIXED_DIM: list(d.fixed_terms)})
    for vc in fit.varcomps:
        g = vc.factor
        sd = vc.sd * (1 + 0.1 * rng.standard_normal(shape + (len(vc.sd),)))
        ds[names.group_sd(g)] = (("chain", "draw", names.cov_dim(g)), np.abs(sd))
        corr = np.broadcast_to(vc.corr, shape + vc.corr.shape).copy()
        for a, b in vc.pairs():
            r = np.clip(vc.corr[a, b] + 0.1 * rng.standard_normal(shape), -0.99, 0.99)
            corr[..., a, b] = corr[..., b, a] = r
        ds[names.group_corr(g)] = (("chain", "draw", names.cov_dim(g), names.cov_dim_bis(g)),
                                   corr)
        ds = ds.assign_coords({names.cov_dim(g): list(vc.terms),
                               names.cov_dim_bis(g): list(vc.terms)})
    if fit.sigma is not None:
        ds[names.SIGMA] = (("chain", "draw"), fit.sigma * (1 + 0.05 * rng.standard_normal(shape)))
    return xr.DataTree.from_dict({"posterior": ds})


def test_columns_values_and_few_groups_flag():
    fit = reml_fit(SLEEP, "sleepstudy")
    table = compare(FakeFit(fake_posterior(fit), fit.design), fit)
    assert list(table.index) == ["Intercept", "Days", "sd(Intercept | Subject)",
                                 "sd(Days | Subject)", "corr(Intercept, Days | Subject)", "sigma"]
    assert {"kind", "group", "post_mean", "post_sd", "post_lower", "post_upper", "reml",
            "reml_se", "diff", "diff_z", "diff_unit", "prior_sd", "flags"} <= set(table.columns)
    fixed = table[table["kind"] == "fixed"]
    np.testing.assert_allclose(fixed["diff_z"], 0.5, atol=0.1)  # 1000 draws: MC sd ~0.03
    np.testing.assert_allclose(fixed["post_sd"], fit.se, rtol=0.1)
    assert (fixed["diff_unit"] == "REML SE").all()
    assert table.loc["sd(Days | Subject)", "diff_unit"] == "posterior sd"
    assert np.isnan(table.loc["sigma", "reml_se"])
    assert table.loc["sd(Days | Subject)", "group"] == "Subject"
    lo, hi = table.loc["Days", ["post_lower", "post_upper"]]
    assert lo < table.loc["Days", "post_mean"] < hi
    # few groups bites on the variance components; the level-1 coefficients' REML t tests
    # already have 17 df, so they carry no flag
    for label in table.index[2:-1]:
        assert "few groups (18 levels of 'Subject')" in table.loc[label, "flags"]
    assert (table.loc[["Intercept", "Days", "sigma"], "flags"] == "").all()
    assert table.attrs["prior_check"].startswith("skipped")


def test_few_groups_flag_level2_coefficients_only():
    """12 countries of the efficacy twin: CORR (a country-level predictor) and the country sd
    are flagged, EDU and URB (level 1) are not."""
    d = datasets.read_csv(Path(__file__).parents[1] / "data" / "efficacy_sim.csv")
    d = d[d["country"].isin(sorted(d["country"].unique())[:12])]
    fit = fit_lmm(make_design(parse_formula("EFF ~ EDU + URB + CORR + (1 | country)"), d))
    table = compare(FakeFit(fake_posterior(fit, shift_se=0.0), fit.design), fit)
    assert "few groups (12 levels of 'country')" in table.loc["CORR", "flags"]
    assert "few groups" in table.loc["sd(Intercept | country)", "flags"]
    assert (table.loc[["Intercept", "EDU", "URB", "sigma"], "flags"] == "").all()


def test_why_explains_the_differences():
    """Right-skewed sd draws: mode vs mean; a correlation nearer 0: prior pull; an ML fit:
    ML vs REML; differences below 0.3 units are left unexplained."""
    fit = fit_lmm(make_design(parse_formula(SLEEP), datasets.load("sleepstudy")), "ML")
    post = fake_posterior(fit, shift_se=0.0).to_dict()["/posterior"]
    rng = np.random.default_rng(1)
    sd = post[names.group_sd("Subject")].values
    sd[..., 1] = fit.varcomp("Subject").sd[1] * rng.lognormal(0.3, 0.4, sd.shape[:2])
    corr = post[names.group_corr("Subject")].values
    corr[..., 0, 1] = corr[..., 1, 0] = 0.3 * corr[..., 0, 1]
    table = compare(FakeFit(xr.DataTree.from_dict({"posterior": post}), fit.design), fit,
                    prior_sd={"corr(Intercept, Days | Subject)": 0.45})
    why = table["why"]
    assert "mode vs mean" in why["sd(Days | Subject)"]
    assert "ML vs REML" in why["sd(Days | Subject)"]
    assert "few groups: 18 levels" in why["sd(Days | Subject)"]
    assert "LKJ prior (prior sd 0.45) pulls correlations toward 0" in why[
        "corr(Intercept, Days | Subject)"]
    assert (why[table["diff_z"].abs() < 0.3] == "").all()


def test_many_groups_raise_no_flag():
    fit = reml_fit(HSB, "hsb82")
    table = compare(FakeFit(fake_posterior(fit), fit.design), fit)
    assert (table["flags"] == "").all()
    assert len(table) == 6 + 3 + 1


def test_prior_dominated_flag():
    fit = reml_fit(SLEEP, "sleepstudy")
    post = fake_posterior(fit, sd_scale=1.0)
    days_se = fit.se[1]
    table = compare(FakeFit(post, fit.design), fit, prior_sd={"Days": days_se})
    assert "prior-dominated" in table.loc["Days", "flags"]
    assert "prior-dominated" not in table.loc["Intercept", "flags"]  # unknown: skipped
    table = compare(FakeFit(post, fit.design), fit, prior_sd={"Days": 10 * days_se})
    assert "prior-dominated" not in table.loc["Days", "flags"]


def test_prior_sds_from_the_fits_priors():
    fit = reml_fit(SLEEP, "sleepstudy")
    priors = {"Intercept": Prior("Normal", mu=250, sigma=100),
              "Days": Prior("Normal", mu=0, sigma=fit.se[1]),
              "sd(Intercept | Subject)": Prior("HalfNormal", sigma=50.0),
              "lkj(Subject)": Prior("LKJ", eta=2.0)}
    table = compare(FakeFit(fake_posterior(fit), fit.design, priors), fit)
    assert table.loc["Intercept", "prior_sd"] == 100
    np.testing.assert_allclose(table.loc["sd(Intercept | Subject)", "prior_sd"],
                               50 * np.sqrt(1 - 2 / np.pi))
    # LKJ(eta) in 2 dimensions: each correlation has sd 1/sqrt(2 eta + 1)
    np.testing.assert_allclose(table.loc["corr(Intercept, Days | Subject)", "prior_sd"],
                               1 / np.sqrt(5))
    assert "prior-dominated" in table.loc["Days", "flags"]
    assert np.isnan(table.loc["sigma", "prior_sd"])


def test_boundary_flag():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(40), 5)
    y = rng.normal(size=g.size)
    y = y - np.bincount(g, y)[g] / 5
    data = pd.DataFrame({"y": y, "g": g.astype(str)})
    fit = reml("y ~ 1 + (1 | g)", data)
    assert fit.singular
    table = compare(FakeFit(fake_posterior(fit), fit.design), fit)
    assert "boundary" in table.loc["sd(Intercept | g)", "flags"]
    assert "few groups" not in table.loc["sd(Intercept | g)", "flags"]


def test_different_models_are_refused():
    a, b = reml_fit(SLEEP, "sleepstudy"), reml_fit("Reaction ~ Days + (1 | Subject)", "sleepstudy")
    with pytest.raises(SpecError, match="different models"):
        compare(FakeFit(fake_posterior(a), a.design), b)


def test_plot_compare_returns_a_figure():
    from matplotlib.figure import Figure

    from hiermod.plots.compare import plot_compare

    fit = reml_fit(SLEEP, "sleepstudy")
    table = compare(FakeFit(fake_posterior(fit), fit.design), fit)
    fig = plot_compare(table)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == len(table)
    labels = [ax.get_yticklabels()[0].get_text() for ax in fig.axes]
    assert labels[0] == "Intercept" and labels[-1] == "sigma"
    assert labels[2] == "sd(Intercept | Subject) (!)"


# --- with the real Bayesian fit (NUTS, few draws) -------------------------------------------


def _bayes_fit(formula, dataset):
    from hiermod.fitting import fit
    return fit(formula, datasets.load(dataset), draws=150, tune=150, chains=2,
               random_seed=11, progressbar=False)


@pytest.mark.slow
def test_compare_real_fit_sleepstudy_few_groups():
    bayes = _bayes_fit(SLEEP, "sleepstudy")
    table = compare(bayes, reml(SLEEP, datasets.load("sleepstudy")))
    assert "few groups (18" in table.loc["sd(Days | Subject)", "flags"]
    assert "few groups" not in table.loc["Days", "flags"]
    assert table.attrs["prior_check"].startswith("ran")
    # the posterior and REML agree on the fixed effects within a couple of SEs
    assert (table.loc[["Intercept", "Days"], "diff_z"].abs() < 2).all()


@pytest.mark.slow
def test_compare_real_fit_hsb_many_groups():
    bayes = _bayes_fit(HSB, "hsb82")
    table = compare(bayes, reml(HSB, datasets.load("hsb82")))
    assert not table["flags"].str.contains("few groups").any()
    fixed = table[table["kind"] == "fixed"]
    assert (fixed["diff_z"].abs() < 2).all()
