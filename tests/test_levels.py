"""Level-wise equations (hiermod.spec.levels) and their LaTeX / HTML (hiermod.spec.equations)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hiermod as hm
from hiermod.design import make_design
from hiermod.errors import SpecError
from hiermod.formula import check_levels, levels, parse_formula
from hiermod.model import build_model
from hiermod.output.equations import Equations, equations, infer_levels

EFFICACY_L1 = "EFF ~ EDU + URB"
EFFICACY_L2 = {"Intercept": "1 + CORR + (1 | country)", "EDU": "1", "URB": "1"}
EFFICACY_FORMULA = "EFF ~ EDU + URB + CORR + (1 | country)"


@pytest.fixture(scope="module")
def efficacy():
    return hm.datasets.read_csv(hm.datasets.data_dir() / "efficacy_sim.csv")


@pytest.fixture(scope="module")
def hsb():
    return hm.datasets.load("hsb82")


# --- compiling to a Spec -------------------------------------------------------------------


def test_efficacy_levelwise_is_the_formula_spec():
    spec = levels(EFFICACY_L1, EFFICACY_L2, group="country")
    assert spec == parse_formula(EFFICACY_FORMULA)
    assert parse_formula(spec.formula) == spec
    assert spec.formula == "EFF ~ EDU + URB + CORR + (1 | country)"
    assert spec.levels is not None and spec.levels.n_levels == 2


def test_efficacy_levelwise_and_formula_build_identical_models(efficacy):
    """Same variables, same shapes, same log density at the initial and at a random point."""
    spec_l = levels(EFFICACY_L1, EFFICACY_L2, group="country", data=efficacy)
    spec_f = parse_formula(EFFICACY_FORMULA)
    d_l, d_f = make_design(spec_l, efficacy), make_design(spec_f, efficacy)
    assert d_l.fixed_terms == d_f.fixed_terms == ("Intercept", "EDU", "URB", "CORR")
    np.testing.assert_array_equal(d_l.X, d_f.X)
    np.testing.assert_array_equal(d_l.y, d_f.y)
    m_l, m_f = build_model(d_l), build_model(d_f)
    assert [v.name for v in m_l.free_RVs] == [v.name for v in m_f.free_RVs]
    assert [v.name for v in m_l.deterministics] == [v.name for v in m_f.deterministics]
    assert m_l.coords == m_f.coords
    logp_l, logp_f = m_l.compile_logp(mode="FAST_COMPILE"), m_f.compile_logp(mode="FAST_COMPILE")
    p0 = m_l.initial_point()
    assert p0.keys() == m_f.initial_point().keys()
    assert np.isfinite(logp_l(p0))
    assert logp_l(p0) == pytest.approx(logp_f(p0), rel=1e-12)
    rng = np.random.default_rng(3)
    p1 = {k: rng.normal(0, 0.5, size=np.shape(v)) for k, v in p0.items()}
    assert logp_l(p1) == pytest.approx(logp_f(p1), rel=1e-12)


def test_cross_level_interactions_and_random_slopes(hsb):
    spec = levels("mAch ~ cses",
                  {"Intercept": "1 + meanses + sector + (1 | school)",
                   "cses": "1 + meanses + sector + (1 | school)"}, group="school", data=hsb)
    ref = parse_formula("mAch ~ cses + meanses + sector + meanses:cses + sector:cses"
                        " + (1 + cses | school)")
    assert spec == ref
    assert make_design(spec, hsb).fixed_terms == (
        "Intercept", "cses", "meanses", "sector[Public]", "meanses:cses", "sector[Public]:cses")


def test_uncorrelated_varying_coefficients():
    spec = levels("Reaction ~ Days", {"Intercept": "(1 || Subject)", "Days": "(1 || Subject)"})
    assert spec.formula == "Reaction ~ Days + (1 + Days || Subject)"
    assert spec.groups[0].correlated is False


def test_implied_intercept_and_fixed_default():
    a = levels("y ~ x + z", {"Intercept": "w + (1 | g)"})
    assert a.formula == "y ~ x + z + w + (1 | g)"
    b = levels("y ~ 0 + x", {"x": "0 + w + (1 | g)"})
    assert b.formula == "y ~ 0 + w:x + (0 + x | g)"


def test_three_levels_pupils_classes_schools():
    spec = levels("y ~ x",
                  {"Intercept": "1 + z + (1 | school:class)", "x": "1"},
                  {"Intercept": "1 + w + (1 | school)", "z": "1 + (1 | school)"},
                  group=["school:class", "school"])
    assert spec.formula == "y ~ x + z + w + (1 | school:class) + (1 + z | school)"
    assert spec == parse_formula(spec.formula)
    assert spec.factors == ("school:class", "school")
    # a level-3 key may name a level-2 coefficient in either order of its parts
    s2 = levels("y ~ x", {"x": "1 + z + (1 | school:class)"},
                {"x:z": "1 + (1 | school)", "Intercept": "1 + (1 | school)"})
    assert s2.formula == "y ~ x + z:x + (0 + x | school:class) + (1 + z:x | school)"


def test_three_levels_checked_against_data():
    rng = np.random.default_rng(1)
    rows = []
    for s in range(4):
        w = rng.normal()
        for c in range(3):
            z = rng.normal()
            for _ in range(5):
                rows.append({"school": f"s{s}", "class": f"c{c}", "w": w, "z": z,
                             "x": rng.normal(), "y": rng.normal()})
    df = pd.DataFrame(rows)
    eqs = ({"Intercept": "1 + z + (1 | school:class)"}, {"Intercept": "1 + w + (1 | school)"})
    spec = levels("y ~ x", *eqs, data=df)  # class ids repeat across schools: school:class
    assert spec.factors == ("school:class", "school")
    with pytest.raises(SpecError, match=r"not nested.*group by 'school:class'"):
        levels("y ~ x", {"Intercept": "1 + z + (1 | class)"},
               {"Intercept": "1 + w + (1 | school)"}, data=df)


# --- errors ------------------------------------------------------------------------------------


def test_equation_for_a_coefficient_not_in_level1():
    with pytest.raises(SpecError, match=r"level-2 equation for 'CORR', which is not a "
                                        r"coefficient of level 1.*Intercept, EDU, URB"):
        levels(EFFICACY_L1, {**EFFICACY_L2, "CORR": "1"})


def test_unknown_grouping_factor():
    with pytest.raises(SpecError, match=r"unknown grouping factor 'county' .* grouped by 'country'"):
        levels(EFFICACY_L1, {"Intercept": "1 + CORR + (1 | county)"}, group="country")


def test_unknown_grouping_factor_column(efficacy):
    spec = levels(EFFICACY_L1, {"Intercept": "1 + CORR + (1 | nation)"})
    with pytest.raises(SpecError, match=r"unknown grouping factor 'nation'.*columns: country"):
        check_levels(spec, efficacy)


def test_level2_predictor_that_varies_within_groups(efficacy):
    spec = levels("EFF ~ URB", {"Intercept": "1 + EDU + (1 | country)"})
    with pytest.raises(SpecError, match=r"'EDU' in the level-2 equation for 'Intercept' varies "
                                        r"within groups of 'country'.*gmean\(EDU, country\)"):
        check_levels(spec, efficacy)
    with pytest.raises(SpecError, match="varies within groups"):
        levels("EFF ~ URB", {"Intercept": "1 + EDU + (1 | country)"}, data=efficacy)
    # the group mean is a proper level-2 predictor
    ok = levels("EFF ~ URB", {"Intercept": "1 + gmean(EDU, country) + (1 | country)"},
                data=efficacy)
    assert "gmean(EDU, country)" in ok.formula


@pytest.mark.parametrize("level1, eqs, message", [
    ("EFF ~ EDU + (1 | country)", {"Intercept": "1"}, "varying-effects term"),
    ("EFF ~ EDU", {"Intercept": "1 + (1 + CORR | country)"}, r"must be \(1 \| group\)"),
    ("EFF ~ EDU", {"Intercept": "1 + CORR"}, "no coefficient varies"),
    ("EFF ~ EDU * URB", {"Intercept": "1 + (1 | country)"}, "uses '\\*' or '/'"),
    ("EFF ~ EDU", {"Intercept": "1 + (1 | country) + (1 | country)"}, "twice"),
    ("EFF EDU", {"Intercept": "1 + (1 | country)"}, "exactly one '~'"),
    ("EFF ~ EDU", {"Intercept": "__import__('os') + (1 | country)"}, "not allowed"),
    ("EFF ~ EDU", {"Intercept": "system(x) + (1 | country)"}, "not an allowed function"),
    ("EFF ~ EDU", {"Intercept": ""}, "must be a string"),
])
def test_malformed_equations(level1, eqs, message):
    with pytest.raises(SpecError, match=message):
        levels(level1, eqs)


def test_same_factor_on_two_levels():
    with pytest.raises(SpecError, match="used at level 2 and level 3"):
        levels("y ~ x", {"Intercept": "1 + z + (1 | g)"}, {"Intercept": "1 + (1 | g)"})


def test_group_argument_must_match_the_levels():
    with pytest.raises(SpecError, match="one grouping factor per level"):
        levels("y ~ x", {"Intercept": "1 + (1 | g)"}, group=["g", "h"])


# --- equations ---------------------------------------------------------------------------------


def test_efficacy_equations_latex():
    eq = equations(levels(EFFICACY_L1, EFFICACY_L2, group="country"))
    assert isinstance(eq, Equations)
    assert eq.level_wise[0] == (r"\text{EFF}_{ij} = \beta_{0j} + \beta_{1j}\,\text{EDU}_{ij} + "
                                r"\beta_{2j}\,\text{URB}_{ij} + \varepsilon_{ij}",)
    assert eq.level_wise[1] == (r"\beta_{0j} = \gamma_{00} + \gamma_{01}\,\text{CORR}_{j} + u_{0j}",
                                r"\beta_{1j} = \gamma_{10}", r"\beta_{2j} = \gamma_{20}")
    assert eq.mixed == (r"\text{EFF}_{ij} = \gamma_{00} + \gamma_{10}\,\text{EDU}_{ij} + "
                        r"\gamma_{20}\,\text{URB}_{ij} + \gamma_{01}\,\text{CORR}_{j} + u_{0j} + "
                        r"\varepsilon_{ij}")
    assert r"u_{0j} \sim \mathcal{N}(0, \tau_{00})" in eq.assumptions
    assert r"\varepsilon_{ij} \sim \mathcal{N}(0, \sigma^2)" in eq.assumptions
    latex = eq.latex()
    assert latex.startswith(r"\begin{aligned}") and latex.endswith(r"\end{aligned}")
    assert latex.count("{") == latex.count("}")
    assert eq._repr_latex_().startswith("$$") and "Level 2" in eq._repr_latex_()
    md = eq._repr_markdown_()
    assert "`EFF ~ EDU + URB + CORR + (1 | country)`" in md and md.count("$$") == 4
    html = eq.html()
    assert "γ<sub>01</sub>" in html and "<script" not in html
    assert equations(levels(EFFICACY_L1, EFFICACY_L2)).mixed == eq.mixed


def test_correlated_slopes_have_a_covariance_matrix(hsb):
    spec = parse_formula("mAch ~ meanses + sector + cses + meanses:cses + sector:cses"
                         " + (1 + cses | school)")
    eq = equations(spec, hsb)  # data: meanses and sector are level-2 predictors
    assert eq.level_wise[1][1] == (r"\beta_{1j} = \gamma_{10} + \gamma_{11}\,\text{meanses}_{j}"
                                   r" + \gamma_{12}\,\text{sector[Public]}_{j} + u_{1j}")
    assert r"\left(u_{0j}, u_{1j}\right)^{\top} \sim \mathcal{N}(\mathbf{0}, \mathbf{T})" \
        in eq.assumptions
    no_data = equations(spec)  # without data every predictor is level 1
    assert len(no_data.levels.level1) == 6


def test_glmm_equations_give_the_likelihood():
    spec = parse_formula("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                         family="binomial")
    eq = equations(spec)
    assert eq.level_wise[0][0].startswith(r"\eta_{ij} = ")
    assert r"\text{incidence}_{ij} \sim \operatorname{Binomial}(\text{size}_{ij}, p_{ij})" \
        in eq.assumptions
    assert r"\operatorname{logit}(p_{ij}) = \eta_{ij}" in eq.assumptions
    assert r"\varepsilon" not in eq.latex()


def test_crossed_and_three_level_notation():
    eq = equations(parse_formula("diameter ~ 1 + (1 | plate) + (1 | sample)"))
    assert eq.level_wise[1] == (r"\beta_{0jk} = \gamma_{00} + u_{0j} + v_{0k}",)
    three = equations(levels("y ~ x", {"Intercept": "1 + z + (1 | school:class)"},
                             {"Intercept": "1 + w + (1 | school)"}))
    assert three.level_wise[1][0] == r"\pi_{0jk} = \beta_{00k} + \beta_{01k}\,\text{z}_{jk} + r_{0jk}"
    assert three.level_wise[2][0] == r"\beta_{00k} = \gamma_{000} + \gamma_{001}\,\text{w}_{k} + u_{00k}"


def test_infer_levels_matches_the_written_form(efficacy):
    written = levels(EFFICACY_L1, EFFICACY_L2)
    design = make_design(parse_formula(EFFICACY_FORMULA), efficacy)
    inferred = infer_levels(design.spec, design)
    assert inferred.level1 == written.levels.level1
    assert inferred.formula() == written.levels.formula()
    assert equations(design).latex() == equations(written).latex()
