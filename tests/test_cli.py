"""The ``hiermod`` command line, run as a subprocess: outputs, JSON schema, exit codes."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from support import ROOT, finish, load_reference, run_cli, start

#: every test here runs the command line in a fresh interpreter (PyMC imported each time)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def schema():
    text = resources.files("hiermod").joinpath("schema/fit_report.schema.json").read_text()
    s = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(s)
    return s


def strict_json(text: str) -> dict:
    def no_constants(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=no_constants)


# --- a full run -------------------------------------------------------------------------------


def test_fit_writes_json_that_validates(schema, demo):
    run, out = demo
    assert run.returncode in (0, 3), run.stderr[-3000:]
    report = strict_json((out / "summary.json").read_text())
    jsonschema.validate(report, schema)
    assert (run.returncode == 0) == report["diagnostics"]["ok"]
    assert report["formula"] == "log_radon ~ floor + (1 + floor | county)"
    assert report["model"] == "radon_vis"
    assert report["groups"] == {"county": 85} and report["n_obs"] == 919
    assert list(report["fixed"]) == ["Intercept", "floor"]
    assert list(report["group_sd"]["county"]) == ["Intercept", "floor"]
    assert list(report["group_corr"]["county"]) == ["Intercept|floor"]
    assert 0.6 < report["sigma"]["mean"] < 0.85
    assert 0 < report["icc"]["county"]["mean"] < 1
    # the null model's ICC (fitted by the command), next to lme4's of the null model
    null_icc = load_reference("radon_null")["icc"]
    assert report["icc_null"]["county"]["mean"] == pytest.approx(null_icc, abs=0.04)
    assert "null model" in run.stderr
    assert report["sampler"]["draws"] == 500 and report["sampler"]["random_seed"] == 7
    assert report["sampler"]["model_path"] == "marginal"  # gaussian, one factor: the default
    t = report["timing"]
    assert t["total_s"] >= t["sample_s"] > 0 and t["build_s"] > 0
    reml = report["reml"]
    assert reml["method"] == "REML"
    ref = load_reference("radon_vis")["reml"]
    assert reml["fixed"]["floor"]["estimate"] == pytest.approx(ref["fixef"]["floor"]["est"],
                                                                rel=1e-4)
    assert reml["sigma"] == pytest.approx(ref["sigma"], rel=1e-4)
    assert set(reml["comparison"]) >= {"Intercept", "floor", "sd(floor | county)", "sigma"}
    # the posterior and REML agree here (919 homes, 85 counties)
    assert abs(reml["comparison"]["floor"]["diff_z"]) < 1


def test_schema_rejects_a_wrong_report(schema, demo):
    run, out = demo
    report = strict_json((out / "summary.json").read_text())
    del report["fixed"]["floor"]["upper"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, schema)


def test_failing_diagnostics_exit_3_and_json_on_stdout(schema):
    run = run_cli("fit", "--formula", "Reaction ~ Days + (1 | Subject)", "--data", "sleepstudy",
                  "--draws", "5", "--tune", "5", "--chains", "2", "--seed", "1", "--json", "-",
                  "--marginalize", "no")
    assert run.returncode == 3, run.stderr[-3000:]
    report = strict_json(run.stdout)  # stdout holds the JSON and nothing else
    jsonschema.validate(report, schema)
    assert report["sampler"]["model_path"] == "explicit"
    assert report["diagnostics"]["ok"] is False and report["reml"] is None
    assert "effective sample size" in run.stderr
    assert "Traceback" not in run.stderr


# --- bad input: exit 2 and one line ------------------------------------------------------------

GOOD_TOML = """[data]
dataset = "sleepstudy"

[model]
formula = "Reaction ~ Days + (1 | Subject)"
"""

BAD_FILES = {
    "malformed.toml": GOOD_TOML.replace('dataset = "sleepstudy"', 'dataset = "sleepstudy'),
    "code_fn.toml": GOOD_TOML.replace(
        "[model]", "[transform]\nx = { fn = \"__import__('os').system('touch {tmp}/pwned')\", "
                   "args = [\"Days\"] }\n\n[model]"),
    "unlisted_fn.toml": GOOD_TOML.replace(
        "[model]", "[transform]\nx = { fn = \"system\", args = [\"Days\"] }\n\n[model]"),
    "code_arg.toml": GOOD_TOML.replace(
        "[model]", "[transform]\nx = { fn = \"log\", args = [\"__import__('os')\"] }\n\n[model]"),
    "unknown_key.toml": GOOD_TOML + "\n[sampler]\ndrows = 10\n",
    "code_formula.toml": GOOD_TOML.replace("Days + (1", "__import__('os').getcwd() + (1"),
}

BAD_RUNS = {
    "missing_file": (["fit", "models/nothere.toml"], "model file not found"),
    "unknown_column": (["fit", "--formula", "log_radon ~ nope + (1 | county)", "--data", "radon"],
                       "unknown column 'nope'"),
    "malformed_toml": (["fit", "{tmp}/malformed.toml"], "malformed TOML"),
    "formula_error": (["fit", "--formula", "log_radon ~ floor + (1 | county", "--data", "radon"],
                      "unbalanced '('"),
    "formula_no_tilde": (["fit", "--formula", "log_radon floor", "--data", "radon"],
                         "exactly one '~'"),
    "code_in_transform_fn": (["fit", "{tmp}/code_fn.toml"], "is not an allowed transformation"),
    "unlisted_transform_fn": (["fit", "{tmp}/unlisted_fn.toml"],
                              "'system' is not an allowed transformation"),
    "code_in_transform_args": (["fit", "{tmp}/code_arg.toml"], "is not a column of the data"),
    "code_in_formula": (["fit", "{tmp}/code_formula.toml"], "not allowed"),
    "unknown_key": (["fit", "{tmp}/unknown_key.toml"], "unknown key 'drows'"),
    "unknown_data": (["fit", "--formula", "y ~ x + (1 | g)", "--data", "nosuch"],
                     "neither a bundled data set"),
    "model_and_formula": (["fit", "models/radon_vi.toml", "--formula", "y ~ 1 + (1 | g)"],
                          "not both"),
    "bad_option": (["fit", "models/radon_vi.toml", "--bogus"], "unrecognized arguments"),
    "negative_draws": (["fit", "models/radon_vi.toml", "--draws", "-5"], "non-negative"),
    "reml_bad_file": (["reml", "models/nothere.toml"], "model file not found"),
    "no_command": ([], None),
}


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory):
    """All the bad-input runs, started together (each pays Python's start-up only)."""
    tmp = tmp_path_factory.mktemp("bad_cli")
    for name, text in BAD_FILES.items():
        (tmp / name).write_text(text.replace("{tmp}", str(tmp)))
    procs = {}
    for key, (args, _) in BAD_RUNS.items():
        args = [a.replace("{tmp}", str(tmp)) for a in args]
        procs[key] = (start(*args), args)
    runs = {k: finish(p, a, timeout=300) for k, (p, a) in procs.items()}
    runs["tmp"] = tmp
    return runs


@pytest.mark.parametrize("case", list(BAD_RUNS))
def test_bad_input_exit_2_with_one_line(bad_runs, case):
    run = bad_runs[case]
    expected = BAD_RUNS[case][1]
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    if expected is None:  # no command: the usage text
        return
    assert len(run.error_lines) == 1, run.stderr
    assert run.error_lines[0].startswith("hiermod: error: ")
    assert expected in run.error_lines[0]


def test_no_code_ran(bad_runs):
    assert bad_runs["code_in_transform_fn"].returncode == 2
    assert not (bad_runs["tmp"] / "pwned").exists()


def test_reml_command_json():
    run = run_cli("reml", "models/sleep_vis.toml", "--json", "-")
    assert run.returncode == 0, run.stderr
    out = strict_json(run.stdout)
    ref = load_reference("sleep_vis")["reml"]
    assert out["reml"]["fixed"]["Days"]["estimate"] == pytest.approx(
        ref["fixef"]["Days"]["est"], rel=1e-5)
    assert out["reml"]["group_sd"]["Subject"]["Days"]["estimate"] == pytest.approx(
        ref["varcorr"]["Subject"]["sd"]["Days"], rel=1e-3)
    assert out["groups"] == {"Subject": 18}


def test_datasets_and_equations_commands():
    run = run_cli("datasets")
    assert run.returncode == 0 and "radon" in run.stdout and "919 rows" in run.stdout
    run = run_cli("equations", "models/efficacy.toml")
    assert run.returncode == 0
    assert r"\beta_{0j} &= \gamma_{00} + \gamma_{01}\,\text{CORR}_{j} + u_{0j}" in run.stdout
    run = run_cli("equations", "--formula", "mAch ~ meanses + cses + (1 + cses | school)",
                  "--data", "hsb82", "--format", "html")
    assert run.returncode == 0 and "<sub>j</sub>" in run.stdout


def test_help_exits_0():
    run = run_cli("fit", "--help")
    assert run.returncode == 0 and "--reml" in run.stdout
    assert Path(ROOT / "hiermod" / "__main__.py").is_file()


def test_reml_command_kenward_roger_json():
    """--ddf kenward-roger: KR-adjusted SEs and df in the JSON (efficacy, 35 countries)."""
    ref = json.loads((ROOT / "tests/reference/inference/efficacy.json").read_text())
    run = run_cli("reml", "--formula", ref["formula"], "--data", "data/efficacy_sim.csv",
                  "--ddf", "kenward-roger", "--json", "-")
    assert run.returncode == 0, run.stderr
    out = strict_json(run.stdout)["reml"]
    assert out["ddf"] == "Kenward-Roger"
    kr = ref["kenward_roger"]["CORR"]
    assert out["fixed"]["CORR"]["se"] == pytest.approx(kr["se"], rel=1e-4)
    assert out["fixed"]["CORR"]["df"] == pytest.approx(kr["df"], rel=1e-4)
