"""The traps a new user hit (issue 16), each as a test that fails on the code before the fix.

Each test reproduces the report's example on a small fit or a fake posterior and checks what a
user would have read: labels of ``az.summary``, a prediction for a one-row new group, a
categorical axis, the ICC of the report, a prior key, a model file's error line.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import hiermod as hm
from hiermod import names


def test_az_summary_labels_each_group_effect_with_its_own_value(radon_vis):
    """``az.summary(fit.idata)`` printed school 2's intercept as ``u_school[1, standLRT]``: ArviZ
    1.3 stacks the values in the order the dims first appear across variables (``sd_<g>``'s
    term dim before ``u_<g>``'s level dim) but labels them in each variable's own order."""
    fit = radon_vis
    table = az.summary(fit.idata, round_to="none", kind="stats")
    effects = fit.group_effects()
    for (term, level), row in effects.iterrows():
        assert table.loc[f"u_county[{level}, {term}]", "mean"] == pytest.approx(row["mean"])
    sd = fit.summary()
    for term in ("Intercept", "floor"):
        assert table.loc[f"sd_county[{term}]", "mean"] == pytest.approx(
            sd.loc[names.sd_label("county", term), "mean"])
    corr = sd.loc[names.corr_label("county", "Intercept", "floor"), "mean"]
    assert table.loc["corr_county[Intercept, floor]", "mean"] == pytest.approx(corr)


def test_no_two_posterior_variables_share_a_dim_in_another_order(radon_vis):
    """The cause, checked on every variable of the posterior: the dims each variable has keep
    the order in which they first appear across the posterior (what ArviZ assumes)."""
    post = radon_vis.idata["posterior"].to_dataset()
    order: list[str] = []
    for da in post.data_vars.values():
        for d in da.dims:
            if d not in order:
                order.append(d)
    for var, da in post.data_vars.items():
        positions = [order.index(d) for d in da.dims]
        assert positions == sorted(positions), var


def test_a_fit_saved_with_the_old_dims_loads_with_the_new(radon_vis, tmp_path):
    fit = radon_vis
    post = fit.idata["posterior"].to_dataset()
    old = post.drop_vars(["sd_county", "corr_county"])
    old["sd_county"] = post["sd_county"].rename({"county_cov_term": "county_term"})
    old["corr_county"] = post["corr_county"].rename({"county_cov_term": "county_term",
                                                     "county_cov_term_": "county_term_"})
    old = old.drop_vars(["county_cov_term", "county_cov_term_"])
    tree = fit.idata.copy()
    tree["posterior"] = xr.DataTree(old)
    hm.Fit(tree, fit.spec, fit.design, fit.data).save(tmp_path / "old.nc")
    loaded = hm.load_fit(tmp_path / "old.nc")
    assert loaded.idata["posterior"]["sd_county"].dims[-1] == names.cov_dim("county")
    pd.testing.assert_frame_equal(loaded.summary(), fit.summary())


# --- cwc for a new group ---------------------------------------------------------------------


def country_data(seed: int = 3) -> pd.DataFrame:
    """30 countries of 15 respondents: education, urban (0/1), a country-level index cpi."""
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(30):
        mean_educ, cpi, u = rng.normal(13, 2), rng.normal(5, 1.5), rng.normal(0, 0.4)
        educ = rng.normal(mean_educ, 3, 15)
        urban = rng.integers(0, 2, 15)
        y = 2 + 0.15 * (educ - mean_educ) + 0.3 * urban + 0.2 * cpi + u + rng.normal(0, 1, 15)
        rows.append(pd.DataFrame({"poleff": y, "educ": educ, "urban": urban, "cpi": cpi,
                                  "cnt": f"c{j:02d}"}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def country_fit():
    return hm.fit("poleff ~ cwc(educ, cnt) + cwc(urban, cnt) + cgm(cpi) + (1 | cnt)",
                  country_data(), chains=2, draws=300, tune=300, random_seed=3,
                  progressbar=False)


def test_cwc_one_row_prediction_for_a_new_group_moves_with_the_predictor(country_fit):
    """The report's reproduction: two one-row predictions for a new country, education 10 and
    20, came out identical (2.8571 both): cwc centred each row on itself."""
    fit = country_fit
    preds = [fit.predict(pd.DataFrame({"educ": [ed], "urban": [1], "cpi": [5.3], "cnt": ["NEW"]}),
                         new_groups="zero", kind="mean").table["mean"].iloc[0] for ed in (10, 20)]
    slope = fit.summary().loc["cwc(educ, cnt)", "mean"]
    assert preds[1] - preds[0] == pytest.approx(10 * slope, rel=1e-9)
    assert abs(preds[1] - preds[0]) > 0.5  # the simulated within-country slope is 0.15


def test_cwc_of_a_new_group_centres_on_the_training_groups_mean(country_fit):
    fit = country_fit
    new = pd.DataFrame({"educ": [10.0, 20.0], "urban": [1, 0], "cpi": [5.3, 5.3],
                        "cnt": ["NEW", "NEW"]})
    X = hm.report.encode_newdata(fit.design, new).X
    k = fit.design.fixed_terms.index("cwc(educ, cnt)")
    centre = fit.data.groupby("cnt")["educ"].mean().mean()
    np.testing.assert_allclose(X[:, k], new["educ"] - centre)
    own = hm.report.encode_newdata(fit.design, new, new_group_means="newdata").X
    np.testing.assert_allclose(own[:, k], new["educ"] - 15.0)  # a whole new group: its own mean
    known = new.assign(cnt="c04")
    X4 = hm.report.encode_newdata(fit.design, known).X
    c4 = fit.data.loc[fit.data["cnt"] == "c04", "educ"].mean()
    np.testing.assert_allclose(X4[:, k], known["educ"] - c4)  # a fitted group: its fitted mean
    with pytest.raises(ValueError, match="new_group_means"):
        hm.report.encode_newdata(fit.design, new, new_group_means="own")
