"""Model files (hiermod.spec.toml): every file in models/ loads, builds and fits; errors name the
file, the line and the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hiermod.errors import DataError, SpecError
from hiermod.formula import levels, parse_formula
from hiermod.marginal.residual_model import residual_model
from hiermod.model import build_model
from hiermod.modelfile import TRANSFORMS, load_model
from hiermod.output.equations import equations

ROOT = Path(__file__).resolve().parents[1]
MODEL_FILES = sorted((ROOT / "models").glob("*.toml"))
SMALL = {"draws": 100, "tune": 200, "chains": 2, "progressbar": False}


def write(tmp_path: Path, text: str, name: str = "m.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip())
    return p


GOOD = """
    [data]
    dataset = "sleepstudy"

    [model]
    formula = "Reaction ~ Days + (1 | Subject)"

    [sampler]
    draws = 100
"""


def test_models_folder_has_every_reference_case_and_efficacy(cases):
    stems = {p.stem for p in MODEL_FILES}
    assert set(cases) <= stems
    assert "efficacy" in stems


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_model_file_loads_and_builds(path, cases):
    mf = load_model(path)
    assert mf.name == path.stem
    if path.stem in cases:  # the reference formula, as lme4 fitted it
        case = cases[path.stem]
        assert mf.spec == parse_formula(case["formula"], family=case["family"])
    design = mf.design()
    model = (build_model(design, mf.priors) if design.residuals is None
             else residual_model(design, mf.priors, "marginal").model)
    logp = model.compile_logp(mode="FAST_COMPILE")(model.initial_point())
    assert np.isfinite(logp)
    assert mf.fit_kwargs["draws"] == 1000 and mf.fit_kwargs["chains"] == 4


def test_efficacy_file_is_written_levelwise():
    mf = load_model(ROOT / "models" / "efficacy.toml")
    assert mf.spec.levels is not None
    assert mf.spec == levels("EFF ~ EDU + URB",
                             {"Intercept": "1 + CORR + (1 | country)", "EDU": "1", "URB": "1"})
    assert mf.data_source == "bundled data set 'efficacy_sim'"
    assert mf.data["country"].nunique() == 35
    eq = equations(mf.spec)
    assert r"\gamma_{01}\,\text{CORR}_{j}" in eq.level_wise[1][0]


@pytest.mark.slow
@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_model_file_fits(path):
    """Each model file fits (tiny draws; ~15-40 s each, mostly compiling: marked slow)."""
    mf = load_model(path)
    fit = mf.fit(**SMALL)
    table = fit.summary()
    assert np.isfinite(table["mean"]).all()
    assert fit.idata["posterior"].attrs["random_seed"] == mf.fit_kwargs["random_seed"]
    assert fit.settings.draws == 100


# --- transformations ---------------------------------------------------------------------------


def test_transformations_make_columns(tmp_path):
    p = write(tmp_path, """
        [data]
        dataset = "hsb82"

        [transform]
        ses_cwc = { fn = "cwc", args = ["ses", "school"] }
        ses_mean = { fn = "gmean", args = ["ses", "school"] }
        ses_cgm = { fn = "cgm", args = ["ses"] }
        mAch_z = { fn = "standardize", args = ["mAch"] }
        ses_exp = { fn = "exp", args = ["ses_mean"] }
        sch = { fn = "C", args = ["school"] }

        [model]
        level1 = "mAch ~ ses_cwc"
        [model.level2]
        Intercept = "1 + ses_mean + (1 | school)"
        ses_cwc = "1 + (1 | school)"
    """)
    mf = load_model(p)
    d = mf.data
    np.testing.assert_allclose(d.groupby("school")["ses_cwc"].mean(), 0, atol=1e-12)
    np.testing.assert_allclose(d["ses_cwc"] + d["ses_mean"], d["ses"], atol=1e-12)
    assert abs(d["ses_cgm"].mean()) < 1e-12 and abs(d["mAch_z"].std(ddof=0) - 1) < 1e-12
    assert not pd.api.types.is_numeric_dtype(d["sch"]) and (d["sch"] == d["school"]).all()
    assert [t[0] for t in mf.transforms] == ["ses_cwc", "ses_mean", "ses_cgm", "mAch_z",
                                            "ses_exp", "sch"]
    assert mf.spec.formula == "mAch ~ ses_cwc + ses_mean + (1 + ses_cwc | school)"


def test_transform_list_is_the_formula_functions_subset():
    from hiermod.transforms import SAFE_NAMESPACE

    assert set(TRANSFORMS) <= set(SAFE_NAMESPACE)


# --- errors ------------------------------------------------------------------------------------


def test_good_file_loads(tmp_path):
    mf = load_model(write(tmp_path, GOOD))
    assert mf.fit_kwargs["draws"] == 100 and mf.spec.family == "gaussian"


@pytest.mark.parametrize("text, cls, pattern", [
    # unknown keys, with the line
    ("bogus = 1\n" + GOOD, SpecError, r"m\.toml:1: bogus: unknown key 'bogus'; allowed: name"),
    (GOOD + "\nbogus = 1\n", SpecError, r"m\.toml:10: sampler\.bogus: unknown key 'bogus'"),
    (GOOD.replace("draws = 100", "drows = 100"), SpecError,
     r"m\.toml:8: sampler\.drows: unknown key 'drows' in \[sampler\]; allowed: draws, tune"),
    (GOOD.replace('dataset = "sleepstudy"', 'dataset = "sleepstudy"\nsep = ";"'), SpecError,
     r"m\.toml:3: data\.sep: unknown key 'sep'"),
    # malformed TOML, with the line
    (GOOD.replace("draws = 100", "draws = "), SpecError, r"m\.toml:8: malformed TOML"),
    ("[data\ndataset = 'radon'\n", SpecError, r"m\.toml:1: malformed TOML"),
    # model
    (GOOD.replace("(1 | Subject)", "(1 | Subject"), SpecError,
     r"m\.toml:5: model\.formula: unbalanced '\('"),
    (GOOD.replace("Reaction ~ Days", "Reaction ~ Days + nope"), DataError,
     r"unknown column 'nope'"),
    (GOOD.replace('formula = ', 'family = "weibull"\nformula = '), SpecError,
     r"model\.family: unknown family 'weibull'"),
    (GOOD.replace("[model]", "[model]\nlevel1 = 'y ~ x'"), SpecError, "not both"),
    (GOOD.replace('formula = "Reaction ~ Days + (1 | Subject)"', 'level1 = "Reaction ~ Days"'),
     SpecError, r"need a \[model\.level2\] table"),
    (GOOD.replace("[sampler]", "[priors]\nDays = { dist = 'Normal', mu = 0 }\n[sampler]"),
     SpecError, r"priors\.Days: prior Normal takes the parameters mu, sigma"),
    (GOOD.replace("[sampler]", "[priors]\nDayz = { dist = 'Normal', mu = 0, sigma = 1 }\n"
                               "[sampler]"), SpecError, r"priors\.Dayz: unknown prior key 'Dayz'"),
    (GOOD.replace("[sampler]", "[priors]\nsigma = { dist = 'Normal', mu = 0, sigma = 1 }\n"
                               "[sampler]"), SpecError, "positive prior"),
    (GOOD.replace("draws = 100", "draws = 'many'"), SpecError,
     r"m\.toml:8: sampler\.draws: must be a whole number, got 'many'"),
    (GOOD.replace("draws = 100", "sampler = 'metropolis'"), SpecError,
     r"sampler\.sampler: unknown sampler 'metropolis'"),
    (GOOD.replace("draws = 100", "target_accept = 1.5"), SpecError, "target_accept"),
    # data
    (GOOD.replace('dataset = "sleepstudy"', 'dataset = "sleeptime"'), DataError,
     r"data\.dataset: unknown data set 'sleeptime'"),
    (GOOD.replace('dataset = "sleepstudy"', 'path = "nothere.csv"'), DataError,
     r"m\.toml:2: data\.path: data file not found: 'nothere\.csv'"),
    (GOOD.replace('dataset = "sleepstudy"', 'dataset = "radon"\npath = "x.csv"'), SpecError,
     "exactly one of 'dataset'"),
    (GOOD.replace("[data]\n", "").replace('dataset = "sleepstudy"\n', ""), SpecError,
     r"needs a \[data\] table"),
])
def test_errors_name_file_line_and_key(tmp_path, text, cls, pattern):
    with pytest.raises(cls, match=pattern) as info:
        load_model(write(tmp_path, text))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("entry, pattern", [
    ('{ fn = "__import__(\'os\')", args = ["Days"] }', r"is not an allowed transformation"),
    ('{ fn = "eval", args = ["Days"] }', r"'eval' is not an allowed transformation; allowed: cwc"),
    ('{ fn = "log", args = ["__import__(\'os\').system(\'true\')"] }',
     r"is not a column of the data"),
    ('{ fn = "cwc", args = ["Days"] }', r"cwc\(\) takes 2 column name\(s\) \(x, group\)"),
    ('{ fn = "log", args = ["Days"], code = "x" }', r"unknown key 'code'"),
    ('"log(Days)"', r"must be a table"),
    ('{ fn = "log", args = ["Subject"] }', r"needs a numeric column"),
    ('{ fn = "log", args = ["Days"] }', r"log\(Days\) is not finite in rows"),
])
def test_transformations_never_run_code(tmp_path, entry, pattern):
    text = GOOD.replace("[model]", f"[transform]\nnew_col = {entry}\n\n[model]")
    with pytest.raises((SpecError, DataError), match=pattern) as info:
        load_model(write(tmp_path, text))
    assert "transform.new_col" in str(info.value)


def test_transformation_cannot_overwrite_or_use_odd_names(tmp_path):
    text = GOOD.replace("[model]", '[transform]\nDays = { fn = "abs", args = ["Days"] }\n[model]')
    with pytest.raises(SpecError, match="exists already"):
        load_model(write(tmp_path, text))
    text = GOOD.replace("[model]", '[transform]\n"__x" = { fn = "abs", args = ["Days"] }\n[model]')
    with pytest.raises(SpecError, match="plain name"):
        load_model(write(tmp_path, text))


def test_levelwise_errors_in_a_file(tmp_path):
    text = """
        [data]
        path = "eff.csv"

        [model]
        level1 = "EFF ~ EDU + URB"
        group = "country"

        [model.level2]
        Intercept = "1 + EDU + (1 | country)"
    """
    (tmp_path / "eff.csv").write_text((ROOT / "data" / "efficacy_sim.csv").read_text())
    with pytest.raises(SpecError, match=r"m\.toml:4: model: 'EDU' in the level-2 equation for "
                                        r"'Intercept' varies within groups of 'country'"):
        load_model(write(tmp_path, text))
    bad = text.replace('Intercept = "1 + EDU + (1 | country)"', 'CORR = "1 + (1 | country)"')
    with pytest.raises(SpecError, match=r"level-2 equation for 'CORR', which is not a coefficient"):
        load_model(write(tmp_path, bad))
    bad = text.replace("(1 | country)", "(1 | nation)")
    with pytest.raises(SpecError, match=r"unknown grouping factor 'nation'"):
        load_model(write(tmp_path, bad))


def test_missing_model_file():
    with pytest.raises(DataError, match="model file not found"):
        load_model("models/nothere.toml")


def test_marginalize_setting(tmp_path):
    on = load_model(write(tmp_path, GOOD.replace("[sampler]", "marginalize = false\n\n[sampler]")))
    assert on.fit_kwargs["marginalize"] is False
    assert "marginalize" not in load_model(write(tmp_path, GOOD, "plain.toml")).fit_kwargs
    with pytest.raises(SpecError, match="marginalize"):
        load_model(write(tmp_path, GOOD.replace("[sampler]", 'marginalize = "yes"\n\n[sampler]'),
                         "bad.toml"))
