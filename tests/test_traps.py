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
from hiermod.output.html import write_report
from hiermod.output.json_report import fit_report


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


# --- yes/no outcomes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def contra():
    return hm.datasets.load("contraception")


def test_a_yes_no_outcome_is_recoded_by_its_event_level(contra):
    spec = hm.parse_formula("use ~ urban + (1 | district)", family="bernoulli").with_event("Y")
    design = hm.make_design(spec, contra)
    np.testing.assert_array_equal(design.y, (contra["use"] == "Y").to_numpy(dtype=float))
    assert hm.formula.null_spec(spec).response.event == "Y"  # the null model keeps it


def test_yes_no_outcome_errors_say_what_to_do(contra):
    plain = hm.parse_formula("use ~ urban + (1 | district)", family="bernoulli")
    with pytest.raises(hm.DataError, match=r"event='Y'"):
        hm.make_design(plain, contra)
    with pytest.raises(hm.DataError, match=r"no value 'yes'.*'N', 'Y'"):
        hm.make_design(plain.with_event("yes"), contra)
    with pytest.raises(hm.DataError, match=r"did you mean 'Y'"):
        hm.make_design(plain.with_event("y"), contra)
    with pytest.raises(hm.SpecError, match="only the bernoulli family"):
        hm.parse_formula("use ~ urban + (1 | district)").with_event("Y")
    with pytest.raises(hm.DataError, match="two values"):
        hm.make_design(hm.parse_formula("livch ~ urban + (1 | district)", family="bernoulli")
                       .with_event("0"), contra)


def test_event_in_a_model_file_and_in_a_saved_fit(tmp_path, contraception):
    path = tmp_path / "m.toml"
    path.write_text('[data]\ndataset = "contraception"\n\n[model]\nfamily = "bernoulli"\n'
                    'event = "Y"\nformula = "use ~ urban + (1 | district)"\n')
    mf = hm.load_model(path)
    assert mf.spec.response.event == "Y" and mf.design().y.sum() == (mf.data["use"] == "Y").sum()
    path.write_text(path.read_text().replace('event = "Y"', 'event = "yes"'))
    with pytest.raises(hm.DataError, match=r"m\.toml:6: model\.event: the outcome 'use' has no"):
        hm.load_model(path)
    contraception.save(tmp_path / "fit.nc")
    loaded = hm.load_fit(tmp_path / "fit.nc")
    assert loaded.spec.response.event == "Y"
    np.testing.assert_array_equal(loaded.design.y, contraception.design.y)


# --- model-file errors --------------------------------------------------------------------------


def test_a_misspelt_column_points_at_the_formula_line_with_a_suggestion(tmp_path):
    """The error named line 1 (the [data] table) for a misspelt column in the formula."""
    path = tmp_path / "m.toml"
    path.write_text('name = "x"\n\n[data]\ndataset = "radon"\n\n[model]\nfamily = "gaussian"\n'
                    'formula = "log_radon ~ flor + (1 | county)"\n')
    with pytest.raises(hm.DataError, match=r"m\.toml:8: model\.formula: unknown column 'flor' "
                                           r"\(fixed-effect predictor\) \(did you mean 'floor'\?\)"):
        hm.load_model(path)


def test_a_misspelt_level2_predictor_points_at_its_equation(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[data]\ndataset = "radon"\n\n[model]\nlevel1 = "log_radon ~ floor"\n'
                    'group = "county"\n\n[model.level2]\nIntercept = "1 + log_uranum + (1 | county)"\n'
                    'floor = "1"\n')
    with pytest.raises(hm.DataError, match=r"m\.toml:9: model\.level2\.Intercept: unknown column "
                                           r"'log_uranum'.*did you mean 'log_uranium'"):
        hm.load_model(path)


def test_a_misspelt_transform_argument_gets_a_suggestion(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[data]\ndataset = "radon"\n\n[transform]\nu_c = { fn = "cgm", args = '
                    '["log_uranim"] }\n\n[model]\nformula = "log_radon ~ u_c + (1 | county)"\n')
    with pytest.raises(hm.DataError, match=r"m\.toml:5: .*did you mean 'log_uranium'"):
        hm.load_model(path)


def test_a_misspelt_column_in_a_formula_gets_a_suggestion():
    with pytest.raises(hm.DataError, match=r"'flor' \(fixed-effect predictor\) \(did you mean "
                                           r"'floor'\?\)"):
        hm.make_design(hm.parse_formula("log_radon ~ flor + (1 | county)"),
                       hm.datasets.load("radon"))


# --- priors ----------------------------------------------------------------------------------------


def test_one_sd_of_a_block_can_have_its_own_prior_family():
    """'sd(Intercept | county)' alone with an Exponential, the slope's sd keeping its
    HalfNormal: listed as a valid key, it failed ("need sd priors of one family")."""
    radon = hm.datasets.load("radon")
    priors = {"sd(Intercept | county)": hm.Prior("Exponential", lam=3.0)}
    fit = hm.fit("log_radon ~ floor + (1 + floor | county)", radon, priors=priors, draws=100,
                 tune=150, chains=2, random_seed=4, progressbar=False)
    assert fit.priors["sd(Intercept | county)"] == hm.Prior("Exponential", lam=3.0)
    assert fit.priors["sd(floor | county)"].dist == "HalfNormal"
    assert np.isfinite(fit.summary().loc["sd(Intercept | county)", "mean"])
    explicit = hm.build_model(fit.design, priors)
    assert np.isfinite(explicit.compile_logp()(explicit.initial_point()))


# --- the report's ICC --------------------------------------------------------------------------


@pytest.mark.slow
def test_the_report_leads_with_the_null_model_icc(tmp_path, radon_vis, radon_null):
    """The HTML report called the residual ICC of the fitted model "Intraclass correlation"
    (0.128 where a reader expects the null model's 0.174 on exam) and said "(latent-scale)"
    for a gaussian model."""
    report = fit_report(radon_vis, null_fit=radon_null)
    null_icc = radon_null.icc().loc["county", "mean"]
    assert report["icc_null"]["county"]["mean"] == pytest.approx(null_icc)
    assert report["icc"]["county"]["mean"] == pytest.approx(radon_vis.icc().loc["county", "mean"])
    paths = write_report(radon_vis, tmp_path / "with", null_fit=radon_null, report=report)
    page = paths["html"].read_text()
    assert "latent-scale" not in page and "latent (logit)" not in page
    assert "<h3>Null model</h3>" in page and "<h3>Residual, this model</h3>" in page
    assert page.index("<h3>Null model</h3>") < page.index("<h3>Residual, this model</h3>")
    assert f"{null_icc:.3f}" in page
    md = paths["markdown"].read_text()
    assert "## Intraclass correlation of the null model" in md
    assert "## Residual intraclass correlation of this model" in md
    alone = write_report(radon_vis, tmp_path / "alone")["html"].read_text()
    assert "<h3>Null model</h3>" not in alone and "hm.null_model" in alone
    itself = fit_report(radon_null)
    assert itself["icc_null"] == itself["icc"]  # a null model's own ICC is the null ICC
    null_page = write_report(radon_null, tmp_path / "null", report=itself)["html"].read_text()
    assert "<h3>Residual, this model</h3>" not in null_page


@pytest.mark.slow
def test_a_logit_report_names_its_latent_scale(tmp_path, contraception):
    page = write_report(contraception, tmp_path)["html"].read_text()
    assert "latent (logit) scale" in page and "π²/3" in page
