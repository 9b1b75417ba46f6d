"""Design: the numbers from a spec and data, and every bad-input error, before any sampling."""

import numpy as np
import pandas as pd
import pytest

import hiermod as hm
from hiermod.design import DataWarning
from hiermod.errors import DataError, SpecError


def design(formula, data, family="gaussian", **kw):
    return hm.make_design(hm.parse_formula(formula, family=family), data, **kw)


@pytest.fixture
def small():
    return pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0],
                         "x": [0.0, 1.0, 0.0, 1.0, 2.0, 2.0],
                         "w": [5.0, 6.0, 6.0, 7.0, 8.0, 9.0],
                         "g": ["a", "a", "b", "b", "c", "c"]})


def test_radon_varying_slope_design():
    df = hm.datasets.load("radon")
    d = design("log_radon ~ floor + (1 + floor | county)", df)
    assert d.X.shape == (919, 2) and d.fixed_terms == ("Intercept", "floor")
    (fd,) = d.factors
    assert fd.name == "county" and fd.n_levels == 85 and fd.terms == ("Intercept", "floor")
    assert fd.blocks == ((0, 1),) and fd.correlated
    np.testing.assert_array_equal(fd.Z[:, 1], df["floor"].to_numpy())
    # levels in byte order, index pointing at each row's county
    assert list(fd.levels) == sorted(df["county"].unique())
    assert all(fd.levels[j] == c for j, c in zip(fd.index, df["county"], strict=True))
    assert fd.sizes.sum() == 919


def test_uncorrelated_blocks_and_level2_detection():
    df = hm.datasets.load("hsb82")
    d = design("mAch ~ meanses + sector + cses + meanses:cses + sector:cses + (1 + cses || school)", df)
    assert d.factors[0].blocks == ((0,), (1,))
    assert d.level2("school") == ("meanses", "sector[Public]")
    assert d.fixed_terms[2] == "sector[Public]"


def test_same_factor_in_two_terms_merges_into_one_block_diagonal_factor():
    df = hm.datasets.load("sleepstudy")
    d = design("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", df)
    (fd,) = d.factors
    assert fd.terms == ("Intercept", "Days") and fd.blocks == ((0,), (1,))


def test_crossed_and_nested_factors():
    df = hm.datasets.load("penicillin")
    d = design("diameter ~ 1 + (1 | plate) + (1 | sample)", df)
    assert [(f.name, f.n_levels) for f in d.factors] == [("plate", 24), ("sample", 6)]
    rng = np.random.default_rng(0)
    pupils = pd.DataFrame({"school": np.repeat(["s1", "s2", "s3"], 12),
                           "klass": np.tile(np.repeat(["a", "b"], 6), 3),
                           "y": rng.normal(size=36)})
    nested = design("y ~ 1 + (1 | school/klass)", pupils)
    assert [(f.name, f.n_levels) for f in nested.factors] == [("school", 3), ("school:klass", 6)]
    assert nested.factors[1].levels[:2] == ("s1:a", "s1:b")


def test_centering_helpers(small):
    d = design("y ~ cwc(x, g) + gmean(x, g) + cgm(w) + (1 | g)", small)
    X = pd.DataFrame(d.X, columns=d.fixed_terms)
    gm = small.groupby("g")["x"].transform("mean")
    np.testing.assert_allclose(X["cwc(x, g)"], small["x"] - gm)
    np.testing.assert_allclose(X["gmean(x, g)"], gm)
    np.testing.assert_allclose(X["cgm(w)"], small["w"] - small["w"].mean())
    assert d.level2("g") == ("gmean(x, g)",)


def test_numeric_group_ids_are_factors_sorted_numerically(small):
    df = small.assign(g=[10, 10, 9, 9, 100, 100])
    d = design("y ~ x + (1 | g)", df)
    assert d.factors[0].levels == ("9", "10", "100")


# --- bad input ---------------------------------------------------------------------------


def test_unknown_column_names_it_and_lists_columns(small):
    with pytest.raises(DataError, match=r"unknown column 'z' \(fixed-effect predictor\).*columns: y, x, w, g"):
        design("y ~ z + (1 | g)", small)
    with pytest.raises(DataError, match=r"'h' \(grouping factor\)"):
        design("y ~ x + (1 | h)", small)
    with pytest.raises(DataError, match=r"'yy' \(outcome\)"):
        design("yy ~ x + (1 | g)", small)


def test_missing_values_error_names_column_and_rows(small):
    df = small.copy()
    df.loc[[1, 4], "x"] = np.nan
    df.loc[2, "g"] = None
    with pytest.raises(DataError, match=r"missing values in 'x' \(rows 1, 4\); 'g' \(row 2\).*dropna=True"):
        design("y ~ x + (1 | g)", df)


def test_missing_values_dropped_only_on_request_and_reported(small):
    df = small.copy()
    df.loc[1, "x"] = np.nan
    with pytest.warns(DataWarning, match=r"dropped 1 of 6 rows with missing values \(row 1\)"):
        d = design("y ~ x + (1 | g)", df, dropna=True)
    assert d.n_obs == 5 and d.dropped_rows == (1,)
    assert list(d.rows) == [0, 2, 3, 4, 5]


def test_unused_columns_with_missing_values_do_not_matter(small):
    df = small.assign(other=[np.nan] * 6)
    assert design("y ~ x + (1 | g)", df).n_obs == 6


def test_non_numeric_outcome(small):
    df = small.assign(y=["1", "2", "three", "4", "5", "x"])
    with pytest.raises(DataError, match=r"outcome 'y' must be numeric; non-numeric values \('three', 'x'\) in rows 2, 5"):
        design("y ~ x + (1 | g)", df)


def test_bernoulli_outcome_not_zero_one(small):
    df = small.assign(y=[0, 1, 1, 2, 0, 1])
    with pytest.raises(DataError, match=r"bernoulli model must be 0 or 1, found 2.*row 3"):
        design("y ~ x + (1 | g)", df, family="bernoulli")


def test_binomial_successes_above_trials(small):
    df = small.assign(s=[1, 2, 3, 9, 0, 1], n=[5, 5, 5, 5, 5, 5])
    with pytest.raises(DataError, match=r"more successes than trials; offending row 3"):
        design("cbind(s, n - s) ~ x + (1 | g)", df, family="binomial")


def test_poisson_negative_counts(small):
    df = small.assign(y=[0, 1, -2, 3, 0, 1.5])
    with pytest.raises(DataError, match=r"whole numbers >= 0; offending rows 2, 5"):
        design("y ~ x + (1 | g)", df, family="poisson")


def test_single_level_grouping_factor(small):
    with pytest.raises(DataError, match=r"grouping factor 'g' has a single level \('a'\)"):
        design("y ~ x + (1 | g)", small.assign(g="a"))


def test_one_observation_per_group_is_an_error(small):
    with pytest.raises(DataError, match="every level of the grouping factor 'g' has one observation"):
        design("y ~ x + (1 | g)", small.assign(g=list("abcdef")))


def test_single_observation_groups_with_varying_slope_are_named(small):
    df = pd.concat([small, pd.DataFrame({"y": [1.0], "x": [1.0], "w": [1.0], "g": ["d"]})],
                   ignore_index=True)
    with pytest.warns(DataWarning, match=r"1 level\(s\) of 'g' have a single observation \(d; row 6\)"):
        design("y ~ x + (1 + x | g)", df)


def test_formulae_failure_is_a_spec_error(small):
    with pytest.raises(SpecError, match="cannot build the fixed effects"):
        design("y ~ x * * w + (1 | g)", small)


def test_term_varying_twice_is_an_error(small):
    with pytest.raises(SpecError, match=r"vary by 'g' twice"):
        design("y ~ x + (1 | g) + (1 | g)", small)


def test_no_fixed_effects_gives_an_empty_fixed_part(small):
    d = design("y ~ 0 + (1 | g)", small)
    assert d.X.shape == (6, 0) and d.fixed_terms == ()
