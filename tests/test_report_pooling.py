"""Complete / no / partial pooling on the radon fits."""

from __future__ import annotations

import numpy as np

from hiermod.report import group_effects


def test_partial_pooling_lies_between_no_and_complete_pooling(radon_null):
    fit = radon_null
    t = fit.pooling().loc["Intercept"]
    ybar = fit.data.groupby("county")["log_radon"].mean().reindex(t.index)
    np.testing.assert_allclose(t["no_pool"], ybar, rtol=1e-10)
    assert np.allclose(t["complete_pool"], fit.data["log_radon"].mean())
    # The posterior shrinks toward the population mean μ (posterior mean of the intercept),
    # which differs a little from the complete-pooling ȳ in unbalanced data. Outside the band
    # between ȳ and μ the partial-pooling mean lies strictly between ȳ_j and ȳ; everywhere it
    # lies between ȳ_j and the nearer end of that band (within Monte Carlo error).
    mu = float(fit.idata.posterior["beta"].mean())
    lo_band, hi_band = sorted([t["complete_pool"].iloc[0], mu])
    mcse = 3 * t["partial_sd"] / np.sqrt(fit.settings.draws * fit.settings.chains / 2)
    outside = (t["no_pool"] < lo_band - mcse) | (t["no_pool"] > hi_band + mcse)
    assert outside.sum() > 60
    lo = np.minimum(t["no_pool"], t["complete_pool"]) - mcse
    hi = np.maximum(t["no_pool"], t["complete_pool"]) + mcse
    between = (t["partial_mean"] >= lo) & (t["partial_mean"] <= hi)
    assert between[outside].all(), t[outside & ~between]
    lo_all = np.minimum(t["no_pool"], lo_band) - mcse
    hi_all = np.maximum(t["no_pool"], hi_band) + mcse
    assert ((t["partial_mean"] >= lo_all) & (t["partial_mean"] <= hi_all)).all()


def test_shrinkage_falls_with_group_size_and_approximation_tracks_posterior(radon_null):
    t = radon_null.pooling().loc["Intercept"]
    order = np.argsort(t["n"].to_numpy())
    assert np.all(np.diff(t["shrinkage"].to_numpy()[order]) >= -1e-12)  # λ_j rises with n_j
    # the approximate estimator (posterior means of σ, τ plugged in) is within one posterior sd
    assert np.all(np.abs(t["approx"] - t["partial_mean"]) < t["partial_sd"])
    # the largest county is barely shrunk, a county of 2 homes a lot
    assert t.loc[t["n"].idxmax(), "shrinkage"] > 0.9 and t["shrinkage"].min() < 0.35


def test_varying_slopes_pooling_per_term(radon_vis):
    fit = radon_vis
    t = fit.pooling()
    assert set(t.index.get_level_values("term")) == {"Intercept", "floor"}
    fl = t.loc["floor"]
    # counties whose homes are all on one floor cannot estimate their own floor slope
    one_floor = fit.data.groupby("county")["floor"].nunique().reindex(fl.index) == 1
    assert fl.loc[one_floor, "no_pool"].isna().all() and (fl.loc[one_floor, "shrinkage"] == 0).all()
    assert fl.loc[~one_floor, "no_pool"].notna().all()
    # slopes are shrunk harder than intercepts: their no-pooling estimates are far noisier
    assert fl["shrinkage"].median() < t.loc["Intercept", "shrinkage"].median()
    assert fl["partial_mean"].std() < fl["no_pool"].std()


def test_group_effects_table_is_sorted_with_intervals(radon_vis):
    fit = radon_vis
    ge = group_effects(fit.idata, fit.design, term="Intercept")
    assert ge["mean"].is_monotonic_increasing
    assert (ge["lower"] < ge["mean"]).all() and (ge["mean"] < ge["upper"]).all()
    coef = fit.group_effects(coefficient=True).loc["Intercept"]
    beta0 = float(fit.idata.posterior["beta"].sel(fixed_term="Intercept").mean())
    np.testing.assert_allclose(coef["mean"], ge.loc["Intercept", "mean"].reindex(coef.index)
                               + beta0, atol=1e-9)
