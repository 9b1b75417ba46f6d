"""One family table for every path: a link a family does not support (probit) and a name that
collides with hiermod's own are refused the same way by the formula parser, the level-wise
equations, Specs made by hand, the Bayesian fit, REML, model files and the command line —
before any data is touched or any model built."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

import hiermod as hm
from hiermod.families import FAMILIES, get_family
from hiermod.formula import GroupSpec, Response, Spec
from support import run_cli


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(12), 10)
    x = rng.normal(size=len(g))
    y = (rng.random(len(g)) < 1 / (1 + np.exp(-(0.5 * x + rng.normal(size=12)[g])))).astype(int)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def test_each_family_has_exactly_its_canonical_link():
    assert {n: f.link for n, f in FAMILIES.items()} == {
        "gaussian": "identity", "bernoulli": "logit", "binomial": "logit", "poisson": "log"}
    for name, fam in FAMILIES.items():
        assert get_family(name, fam.link) is fam


PROBIT = r"link 'probit' is not supported for the bernoulli family.*logit link only"


def test_probit_refused_by_the_parser_equations_and_specs():
    with pytest.raises(hm.SpecError, match=PROBIT):
        hm.parse_formula("y ~ x + (1 | g)", family="bernoulli", link="probit")
    with pytest.raises(hm.SpecError, match=PROBIT):
        hm.levels("y ~ x", {"Intercept": "1 + (1 | g)"}, family="bernoulli", link="probit")
    with pytest.raises(hm.SpecError, match=PROBIT):
        Spec(Response("y"), "x", (GroupSpec("1", "g"),), family="bernoulli", link="probit")
    assert hm.parse_formula("y ~ x + (1 | g)", family="bernoulli", link="logit").link == "logit"


def test_probit_refused_by_fit_and_reml_before_sampling(binary):
    """hm.fit and hm.reml take a Spec; neither can be handed a probit one."""
    with pytest.raises(hm.SpecError, match=PROBIT):
        spec = hm.parse_formula("y ~ x + (1 | g)", family="bernoulli", link="probit")
        hm.fit(spec, binary)
    spec = hm.parse_formula("y ~ x + (1 | g)", family="bernoulli")
    assert hm.reml(spec, binary).family == "bernoulli"  # logit: fine
    with pytest.raises(hm.SpecError, match="unknown family"):
        hm.reml("y ~ x + (1 | g)", binary, family="probit")


@pytest.mark.slow
def test_probit_refused_by_model_files_and_the_cli(tmp_path, binary):
    binary.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "m.toml").write_text(textwrap.dedent("""
        [data]
        path = "d.csv"
        [model]
        family = "bernoulli"
        link = "probit"
        formula = "y ~ x + (1 | g)"
    """))
    with pytest.raises(hm.SpecError, match=r"m.toml:\d+: model.link: " + PROBIT):
        hm.load_model(tmp_path / "m.toml")
    run = run_cli("fit", str(tmp_path / "m.toml"))
    assert run.returncode == 2 and "probit" in run.stderr and "Traceback" not in run.stderr


def test_latent_variance_comes_from_the_family():
    assert get_family("bernoulli").latent_variance() == pytest.approx(np.pi**2 / 3)
    assert get_family("binomial").latent_variance() == pytest.approx(np.pi**2 / 3)
    assert get_family("gaussian").latent_variance(sigma=2.0) == pytest.approx(4.0)
    assert get_family("poisson").latent_variance(eta=np.log(4.0)) == pytest.approx(np.log(1.25))


# --- names that would collide with hiermod's own ------------------------------------------------

RESERVED = [("residual", "rows"), ("Residual", "rows"), ("fixed", "fixed_term"),
            ("obs", "obs"), ("chain", "chain"), ("draw", "draw"), ("b", "variable"),
            ("beta", "variable"), ("mu", "variable"), ("cell", "cell")]


@pytest.mark.parametrize(("name", "what"), RESERVED)
def test_reserved_factor_names_refused_at_design_time(name, what, binary):
    df = binary.rename(columns={"g": name})
    with pytest.raises(hm.SpecError, match=f"grouping factor '{name}'.*rename"):
        hm.make_design(hm.parse_formula(f"y ~ x + (1 | {name})"), df)


def test_factor_names_whose_dims_coincide_are_refused(binary):
    df = binary.assign(g_term=binary["g"].str.upper() + "x")
    with pytest.raises(hm.SpecError, match="'g' and 'g_term' both give the dimension 'g_term'"):
        hm.make_design(hm.parse_formula("y ~ x + (1 | g) + (1 | g_term)"), df)


def test_a_predictor_named_sigma_is_refused(binary):
    with pytest.raises(hm.SpecError, match="named 'sigma'"):
        hm.make_design(hm.parse_formula("y ~ sigma + (1 | g)"), binary.rename(columns={"x": "sigma"}))


@pytest.mark.slow
def test_reserved_names_refused_on_every_path(tmp_path, binary):
    df = binary.rename(columns={"g": "residual"})
    formula = "y ~ x + (1 | residual)"
    with pytest.raises(hm.SpecError, match="'residual'"):
        hm.fit(formula, df, family="bernoulli", draws=10, tune=10, chains=1)
    with pytest.raises(hm.SpecError, match="'residual'"):
        hm.reml(formula, df, family="bernoulli")
    with pytest.raises(hm.SpecError, match="'residual'"):
        hm.equations(hm.parse_formula(formula, family="bernoulli"), df)
    df.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "m.toml").write_text(f'[data]\npath = "d.csv"\n[model]\nfamily = "bernoulli"\n'
                                     f'formula = "{formula}"\n')
    with pytest.raises(hm.SpecError, match="'residual'"):
        hm.load_model(tmp_path / "m.toml")
    run = run_cli("reml", "--formula", formula, "--family", "bernoulli", "--data",
                  str(tmp_path / "d.csv"))
    assert run.returncode == 2 and "'residual'" in run.stderr and "Traceback" not in run.stderr
