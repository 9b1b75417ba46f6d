"""REML / ML on crossed and nested designs against lme4 1.1-31 / lmerTest 3.1-3
(tests/reference/crossed, made by tests/reference/scripts/crossed_reference.R).

Several grouping factors go through the block-diagonal + Schur-complement algebra of
:mod:`hiermod.mle.schur`. Two kinds of check:

* the algebra: log|A|, solves, the criterion and its analytic gradient, conditional modes and
  variances equal the dense factorization of Λ'Z'ZΛ + I (the previous implementation, kept
  here as the oracle) to ~1e-10, and the gradient equals central differences;
* lme4: fixed effects, variance components, σ and the log-likelihood to 1e-4, SEs of the fixed
  effects and conditional SEs of the first ten levels of each factor to 1e-3, Satterthwaite df
  to 1e-2, conditional modes to 1e-4 of that term's sd of modes (the tolerances of
  tests/test_reml.py). Our criterion must be at least as low as lme4's.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hiermod as hm
from hiermod.datasets import read_csv
from hiermod.mle import GlmmProblem, LmmProblem, fit_lmm
from hiermod.mle.glmm import conditional_modes, conditional_var
from hiermod.mle.partition import Partition
from hiermod.mle.schur import SchurFactor
from support import central_gradient, lme4_term, tiered

REF = Path(__file__).parent / "reference" / "crossed"
CASES = ["pupils_crossed", "nested3", "big_crossed"]
TOL_EST, TOL_SE, TOL_DF = 1e-4, 1e-3, 1e-2


@cache
def reference(case: str) -> dict:
    return json.loads((REF / f"{case}.json").read_text())


#: the references' factor 'b' is the name of a hiermod model variable (the sampled fixed
#: slopes), which hiermod refuses as a grouping factor: the tests rename it
RENAMED = {"b": "bfac"}


def case_data(case: str, rows: int | None = None) -> tuple[str, pd.DataFrame]:
    """The reference's formula and data, with RENAMED factors."""
    formula = reference(case)["formula"]
    for old, new in RENAMED.items():
        formula = re.sub(rf"\|\s*{old}\s*\)", f"| {new})", formula)
    data = read_csv(REF / f"{case}.csv").rename(columns=RENAMED)
    return formula, (data if rows is None else data.iloc[:rows])


@cache
def design(case: str):
    formula, data = case_data(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hm.make_design(hm.parse_formula(formula), data)


@cache
def fitted(case: str, method: str):
    return fit_lmm(design(case), method)


def our_factor(name: str) -> str:
    """lme4's 'class:school' (inner:outer) -> ours 'school:class' (outer:inner)."""
    return ":".join(reversed([RENAMED.get(p, p) for p in name.split(":")]))


def our_level(factor: str, level: str) -> str:
    return our_factor(level) if ":" in factor else level


def rel(a, b):
    return np.abs(np.asarray(a, float) - b) / np.maximum(np.abs(b), 1e-300)


def dense_oracle(problem: LmmProblem) -> LmmProblem:
    """The same problem solved through one dense factorization of Λ'Z'ZΛ + I."""
    dense = copy.copy(problem)
    dense.schur = None
    dense.ZtZ = problem.bz.crossprod()
    return dense


# --- the algebra -----------------------------------------------------------------------


@pytest.mark.parametrize("case", tiered(["pupils_crossed", "nested3"], ["pupils_crossed"]))
@pytest.mark.parametrize("reml_", [True, False])
def test_schur_equals_dense_factorization(case, reml_):
    problem = LmmProblem(design(case))
    dense = dense_oracle(problem)
    rng = np.random.default_rng(2)
    theta = problem.tmap.start() * rng.uniform(0.3, 1.5, problem.tmap.n_theta) + 0.05
    a, b = problem.solve(theta), dense.solve(theta)
    assert a.logdetA == pytest.approx(b.logdetA, rel=1e-12)
    assert a.r2 == pytest.approx(b.r2, rel=1e-10)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10)
    assert problem.profiled(a, reml_) == pytest.approx(dense.profiled(b, reml_), rel=1e-12)
    np.testing.assert_allclose(problem.gradient(a, reml_), dense.gradient(b, reml_),
                               rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(problem.conditional_modes(a), dense.conditional_modes(b),
                               atol=1e-10)
    np.testing.assert_allclose(problem.conditional_cov(a, 1.3), dense.conditional_cov(b, 1.3),
                               rtol=1e-9)


@pytest.mark.slow
def test_correlated_slope_gradient_and_solve():
    """big_crossed's design cut to 2,000 rows: a correlated random slope in the block part,
    400 levels in the dense part; the Schur factor's solve and log-determinant equal dense
    linear algebra on the assembled matrix, and the gradient equals central differences."""
    formula, data = case_data("big_crossed", rows=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few levels of 'a' with one row
        d = hm.make_design(hm.parse_formula(formula), data)
    problem = LmmProblem(d)
    part = problem.schur.part
    assert (d.factors[part.root].name, part.b) == ("a", 2)
    theta = np.array([0.4, 0.5, 0.1, 0.3])
    lay = problem.schur.lay
    lam1, lam2 = lay.lam(theta)
    fac = SchurFactor(lay, lam1, lam2, *part.crossprod())
    Z = np.hstack([part.Z1.toarray(), part.Z2.toarray()])
    L = np.zeros((part.size, part.size))
    for j in range(part.J):
        L[j * part.b:(j + 1) * part.b, j * part.b:(j + 1) * part.b] = lam1[j]
    L[part.N1:, part.N1:] = lam2.toarray()
    A = L.T @ Z.T @ Z @ L + np.eye(part.size)
    assert fac.logdet == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    r = np.random.default_rng(0).normal(size=(part.size, 3))
    np.testing.assert_allclose(fac.solve(r), np.linalg.solve(A, r), atol=1e-10)
    np.testing.assert_allclose(fac.cond_var(), np.diag(L @ np.linalg.solve(A, L.T)),
                               atol=1e-12)
    for reml_ in (True, False):
        _, g = problem.deviance_and_grad(theta, reml_)
        num = central_gradient(lambda t, r=reml_: problem.deviance(t, r), theta)
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5)


def test_partition_puts_nested_factors_in_blocks():
    part = Partition.choose(design("nested3").factors, design("nested3").n_obs)
    assert design("nested3").factors[part.root].name == "school"
    assert part.m2 == 0 and len(part.part1) == 2  # classes inside their school's block
    part = Partition.choose(design("pupils_crossed").factors, design("pupils_crossed").n_obs)
    assert design("pupils_crossed").factors[part.root].name == "primary"
    assert part.m2 == 19


# --- against lme4 --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("case", tiered(CASES, [c for c in CASES if c != "big_crossed"]))
def test_matches_lme4(case, method):
    ref = reference(case)
    blk = ref[method.lower()]
    fit = fitted(case, method)
    assert fit.criterion <= blk["deviance_or_REMLcrit"] + 1e-9 * abs(blk["deviance_or_REMLcrit"])
    fe = fit.fixed_table()
    for name, v in blk["fixef"].items():
        row = fe.loc[lme4_term(name)]
        assert rel(row["estimate"], v["est"]) < TOL_EST, name
        assert rel(row["se"], v["se"]) < TOL_SE, name
        assert rel(row["df"], v["df_satterthwaite"]) < TOL_DF, name
    assert rel(fit.sigma, blk["sigma"]) < TOL_EST
    assert rel(fit.loglik, blk["loglik"]) < TOL_EST
    for factor, vc in blk["varcorr"].items():
        ours = fit.varcomp(our_factor(factor))
        for term, v in vc["sd"].items():
            assert rel(ours.sd[ours.terms.index(lme4_term(term))], v) < TOL_EST, (factor, term)
        for pair, v in vc["corr"].items():
            a, b = (ours.terms.index(lme4_term(t)) for t in pair.split("|"))
            assert rel(ours.corr[a, b], v) < TOL_EST, pair
    table = fit.ranef_table()
    for factor, first in blk["ranef_first10"].items():
        g = our_factor(factor)
        assert fit.n_groups[g] == first["n_levels"]
        sub_all = table.loc[g]
        for term in next(iter(first["ranef"].values())):
            levels = list(first["ranef"])
            ref_mode = np.array([first["ranef"][lv][term] for lv in levels])
            ref_se = np.array([first["ranef_se"][lv][term] for lv in levels])
            sub = sub_all.xs(lme4_term(term), level="term").loc[[our_level(factor, lv)
                                                                 for lv in levels]]
            all_modes = sub_all.xs(lme4_term(term), level="term")["mode"]
            assert np.max(np.abs(sub["mode"] - ref_mode)) < TOL_EST * all_modes.std(), term
            assert np.max(rel(sub["se"], ref_se)) < TOL_SE, term
    assert fit.converged == blk["converged"] and fit.singular == blk["singular"]


# --- Laplace GLMMs on the same algebra --------------------------------------------------------


def _crossed_binomial():
    rng = np.random.default_rng(11)
    n, A, B = 1500, 40, 25
    a, b = rng.integers(0, A, n), rng.integers(0, B, n)
    x = rng.normal(size=n)
    ua, sa, ub = rng.normal(0, 0.6, A), rng.normal(0, 0.3, A), rng.normal(0, 0.4, B)
    eta = -0.3 + 0.5 * x + ua[a] + sa[a] * x + ub[b]
    trials = rng.integers(1, 6, n)
    y = rng.binomial(trials, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "fail": trials - y, "x": x, "a": [f"a{i:02d}" for i in a],
                         "site": [f"s{i:02d}" for i in b]})


@pytest.mark.slow
@pytest.mark.parametrize("formula", [
    "cbind(y, fail) ~ x + (1 + x | a) + (1 | site)",
    "cbind(y, fail) ~ x + (1 | a) + (1 | a:site)",  # nested: a:site inside a
])
def test_glmm_schur_equals_dense(formula):
    d = hm.make_design(hm.parse_formula(formula, family="binomial"), _crossed_binomial())
    problem = GlmmProblem(d)
    assert problem.schur is not None
    dense = copy.copy(problem)
    dense.schur = None
    dense._u = np.zeros((1, problem.bz.m))
    rng = np.random.default_rng(4)
    x = np.concatenate([problem.tmap.start() * rng.uniform(0.3, 1.2, problem.n_theta) + 0.05,
                        [-0.2, 0.4]])
    a, b = problem.pirls(*problem.split(x)), dense.pirls(*dense.split(x))
    assert a.deviance == pytest.approx(b.deviance, rel=1e-10)
    np.testing.assert_allclose(problem.gradient(a), dense.gradient(b), rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(problem.leverages(a), dense.leverages(b), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(conditional_modes(problem, a), conditional_modes(dense, b),
                               atol=1e-8)
    np.testing.assert_allclose(conditional_var(problem, a), conditional_var(dense, b),
                               rtol=1e-8)
