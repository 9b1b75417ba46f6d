"""Formula parsing: lme4 syntax into a Spec; malformed and unsafe formulas are rejected."""

import pytest

import hiermod as hm
from hiermod.errors import SpecError


def test_varying_slope_correlated():
    s = hm.parse_formula("log_radon ~ floor + (1 + floor | county)")
    assert s.response.name == "log_radon"
    assert s.fixed == "floor"
    assert s.groups == (hm.GroupSpec("1 + floor", "county", True),)


def test_double_bar_is_uncorrelated():
    s = hm.parse_formula("y ~ x + (1 + x || g)")
    assert s.groups[0].correlated is False


def test_nested_factor_expands_to_outer_and_interaction():
    s = hm.parse_formula("y ~ 1 + (1 | school/class)")
    assert [g.factor for g in s.groups] == ["school", "school:class"]
    assert s.factors == ("school", "school:class")


def test_crossed_factors_and_intercept_removal():
    s = hm.parse_formula("diameter ~ 0 + x + (1 | plate) + (1 | sample)")
    assert s.fixed == "0 + x"
    assert s.factors == ("plate", "sample")


def test_binomial_outcomes():
    a = hm.parse_formula("cbind(s, n - s) ~ x + (1 | g)", family="binomial")
    b = hm.parse_formula("s | trials(n) ~ x + (1 | g)", family="binomial")
    c = hm.parse_formula("cbind(s, f) ~ x + (1 | g)", family="binomial")
    assert a.response == b.response == hm.Response("s", trials="n")
    assert c.response == hm.Response("s", failures="f")


@pytest.mark.parametrize("formula, message", [
    ("y x", "exactly one '~'"),
    ("y ~ x ~ z", "exactly one '~'"),
    ("y ~ x + (1 | g", "unbalanced"),
    ("y ~ x + 1 | g)", "unbalanced"),
    ("y ~ x + (1|)", "names no grouping factor"),
    ("y ~ x + ( | g)", "nothing before '|'"),
    ("y ~ x + ", "empty term"),
    ("~ x", "no outcome"),
    ("y ~ x | g", "outside parentheses"),
    ("y ~ __import__('os')", "double underscores"),
    ("y ~ np.log(x)", "attribute access ('np.log')"),
    ("y ~ evil(x)", "'evil(...)', which is not an allowed function"),
    ("y ~ C(x, levels=[1])", "character"),
])
def test_malformed_formula_errors(formula, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("|", r"\|")):
        hm.parse_formula(formula)


def test_family_checks():
    with pytest.raises(SpecError, match="unknown family 'gamma'"):
        hm.parse_formula("y ~ x", family="gamma")
    with pytest.raises(SpecError, match="need the number of trials"):
        hm.parse_formula("y ~ x + (1|g)", family="binomial")
    with pytest.raises(SpecError, match="only the binomial family"):
        hm.parse_formula("cbind(s, n - s) ~ x", family="poisson")
