"""Laplace ML fits of binomial, bernoulli and poisson models (glmer, nAGQ = 1).

Against lme4 1.1-31 (tests/reference/cbpp_binom.json, block ``ml``), relative tolerances:

* fixed effects, herd sd, conditional modes (in units of their sd), conditional SEs: 1e-3
* log-likelihood: 1e-5, and ours must be at least as high as lme4's
* SEs of the fixed effects: 1.5e-2 with the exact Laplace deviance (the default) — see
  ``test_lme4_se_come_from_its_pirls_stopping_rule``; 1e-3 with ``se="lme4"``, which
  differences the deviance as glmer evaluates it (hiermod/reml/lme4_laplace.py).
  glmer's SEs are the β block of 2H⁻¹, H a finite-difference Hessian of its Laplace deviance.
  lme4 stops PIRLS when the penalized deviance changes by less than 1e-7 (relative) and then
  evaluates log|L|² with the weights of the *previous* iterate, so its deviance is off the exact
  Laplace deviance by ~5e-4 in a way that changes with (θ, β); its Hessian, and the SEs, move
  by up to 1.2%. We compute the exact Laplace deviance (PIRLS to convergence); emulating lme4's
  stopping rule in the test reproduces its deviance to 1e-8 and its SEs to 1e-5, which shows
  the difference is that rule and not the Hessian or the formula.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from hiermod import datasets
from hiermod.design import make_design
from hiermod.errors import SpecError
from hiermod.formula import parse_formula
from hiermod.mle import GlmmProblem, fit_glmm, reml
from hiermod.mle.optimize import fd_hessian
from support import lme4_term, load_reference

TOL = 1e-3
TOL_LOGLIK = 1e-5
TOL_SE_VS_LME4 = 1.5e-2
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def lme4_name(name: str, ref: dict) -> str:
    """'(Intercept)' -> 'Intercept', 'period2' -> 'period[2]'."""
    return lme4_term(name, ref.get("factor_levels"))


@cache
def cbpp():
    ref = load_reference("cbpp_binom")
    d = make_design(parse_formula(CBPP, family="binomial"), datasets.load("cbpp"))
    return ref, d, fit_glmm(d)


def rel(a, b):
    return np.abs(np.asarray(a, float) - b) / np.abs(b)


def test_cbpp_matches_glmer_laplace():
    ref, d, fit = cbpp()
    blk = ref["ml"]
    assert fit.method == "Laplace" and fit.sigma is None and fit.df is None
    fe = fit.fixed_table()
    for name, v in blk["fixef"].items():
        row = fe.loc[lme4_name(name, ref)]
        assert rel(row["estimate"], v["est"]) < TOL, name
        assert rel(row["se"], v["se"]) < TOL_SE_VS_LME4, name
    assert rel(fit.varcomp("herd").sd[0], blk["varcorr"]["herd"]["sd"]["(Intercept)"]) < TOL
    assert rel(fit.loglik, blk["loglik"]) < TOL_LOGLIK
    assert fit.loglik >= blk["loglik"]
    assert rel(fit.criterion, blk["deviance_or_REMLcrit"]) < TOL_LOGLIK
    modes = fit.ranef_table().loc["herd"].xs("Intercept", level="term")
    levels = list(blk["ranef"]["herd"])
    ref_mode = np.array([blk["ranef"]["herd"][lv]["(Intercept)"] for lv in levels])
    ref_se = np.array([blk["ranef_se"]["herd"][lv]["(Intercept)"] for lv in levels])
    assert np.max(np.abs(modes.loc[levels, "mode"] - ref_mode)) < TOL * ref_mode.std()
    assert np.max(rel(modes.loc[levels, "se"], ref_se)) < TOL
    assert fit.converged and not fit.singular
    assert {"z", "p"} <= set(fe.columns)


# --- lme4's PIRLS, emulated (test only) ---------------------------------------------------


def _lme4_deviance_factory(problem: GlmmProblem):
    """glmer's nAGQ=1 deviance: PIRLS from the stage-1 linear predictor lp0, stopped when the
    penalized deviance changes by < 1e-7 relative, log|L|² at the previous iterate's weights.
    Single scalar random intercept only."""
    d, fam = problem.design, problem.family
    X, fd = d.X, d.factors[0]
    Z, idx, J = fd.Z[:, 0], fd.index, fd.n_levels

    def stage1(theta):  # nAGQ = 0: PIRLS over (u, β) jointly, to convergence
        M = np.hstack([theta * np.eye(J)[idx] * Z[:, None], X])
        P = np.diag(np.r_[np.ones(J), np.zeros(X.shape[1])])
        eta = fam.start_eta()
        for _ in range(100):
            st = fam.stats(eta)
            z = eta + st.score / st.weight
            sol = np.linalg.solve(M.T @ (M * st.weight[:, None]) + P, M.T @ (st.weight * z))
            new = M @ sol
            if np.max(np.abs(new - eta)) < 1e-12:
                break
            eta = new
        u, w = sol[:J], fam.stats(new).weight
        logdet = np.sum(np.log(theta**2 * np.bincount(idx, w * Z * Z, J) + 1))
        return logdet + u @ u - 2 * (fam.loglik(new) + problem.const), new

    t1 = optimize.minimize_scalar(lambda t: stage1(t)[0], bounds=(0, 5), method="bounded",
                                  options={"xatol": 1e-10}).x
    lp0 = stage1(t1)[1]

    def deviance(x):
        theta, beta = x[0], x[1:]
        offset, eta, old = X @ beta, lp0.copy(), np.inf
        for _ in range(30):
            st = fam.stats(eta)
            A = theta**2 * np.bincount(idx, st.weight * Z * Z, J) + 1
            z = eta - offset + st.score / st.weight
            u = theta * np.bincount(idx, st.weight * Z * z, J) / A
            eta = offset + theta * u[idx] * Z
            pdev = -2 * fam.loglik(eta) + u @ u
            if abs((old - pdev) / pdev) < 1e-7:
                break
            old = pdev
        return np.sum(np.log(A)) + u @ u - 2 * (fam.loglik(eta) + problem.const)

    return deviance


def _deriv12_hessian(f, x, delta=1e-4):
    """lme4's deriv12: central second differences of f with step 1e-4."""
    n, fx = len(x), f(x)
    H = np.zeros((n, n))
    for i in range(n):
        e_i = np.eye(n)[i] * delta
        H[i, i] = (f(x + e_i) - 2 * fx + f(x - e_i)) / delta**2
        for j in range(i):
            e_j = np.eye(n)[j] * delta
            H[i, j] = H[j, i] = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j)
                                 + f(x - e_i - e_j)) / (4 * delta**2)
    return H


def test_lme4_se_come_from_its_pirls_stopping_rule():
    ref, d, fit = cbpp()
    blk = ref["ml"]
    problem = GlmmProblem(d)
    x_lme4 = np.array([blk["varcorr"]["herd"]["sd"]["(Intercept)"]]
                      + [v["est"] for v in blk["fixef"].values()])
    lme4_dev = _lme4_deviance_factory(problem)
    assert rel(lme4_dev(x_lme4), blk["deviance_or_REMLcrit"]) < 1e-8
    exact = problem.deviance(x_lme4)
    assert 1e-4 < blk["deviance_or_REMLcrit"] - exact < 1e-3  # lme4's lag, ~5.6e-4
    se_emulated = np.sqrt(np.diag(2 * np.linalg.inv(_deriv12_hessian(lme4_dev, x_lme4))))[1:]
    np.testing.assert_allclose(se_emulated, [v["se"] for v in blk["fixef"].values()], rtol=1e-5)
    # the same Hessian of the exact Laplace deviance gives our SEs (to the FD error)
    H = _deriv12_hessian(problem.deviance, np.r_[fit.theta, fit.beta])
    se_exact = np.sqrt(np.diag(2 * np.linalg.inv(H)))[1:]
    np.testing.assert_allclose(se_exact, fit.se, rtol=1e-4)


def test_se_lme4_reproduces_glmer_standard_errors():
    ref, d, fit = cbpp()
    blk = ref["ml"]
    compat = fit_glmm(d, se="lme4")
    assert compat.se_method == "lme4" and fit.se_method == "exact"
    np.testing.assert_array_equal(compat.beta, fit.beta)  # same optimum, other Hessian
    glmer_se = np.array([v["se"] for v in blk["fixef"].values()])
    assert np.max(rel(compat.se, glmer_se)) < TOL
    assert np.max(rel(fit.se, glmer_se)) > 5e-3  # the exact ones do differ, by up to ~1%
    front = reml(CBPP, datasets.load("cbpp"), family="binomial", se="lme4")
    np.testing.assert_allclose(front.se, compat.se, rtol=1e-12)
    with pytest.raises(SpecError, match="unknown se"):
        reml(CBPP, datasets.load("cbpp"), family="binomial", se="glmer")


def test_package_lme4_deviance_equals_the_independent_emulation():
    """hiermod/reml/lme4_laplace.py (dense, any design) against this file's emulation."""
    from hiermod.mle.lme4_laplace import Lme4Laplace

    ref, d, fit = cbpp()
    problem = GlmmProblem(d)
    emulated = _lme4_deviance_factory(problem)
    package = Lme4Laplace(problem)
    for x in (np.r_[fit.theta, fit.beta], np.r_[fit.theta * 1.2, fit.beta + 0.05]):
        np.testing.assert_allclose(package.deviance(x), emulated(x), rtol=1e-9)


@pytest.mark.slow
def test_se_lme4_runs_on_correlated_slopes():
    data = bernoulli_data()
    d = make_design(parse_formula("high ~ floor + (1 + floor | county)", family="bernoulli"),
                    data)
    exact, compat = fit_glmm(d), fit_glmm(d, se="lme4")
    # the same model, a Hessian of a deviance that differs by PIRLS's early stop only
    np.testing.assert_allclose(compat.se, exact.se, rtol=0.05)


# --- the Laplace deviance -----------------------------------------------------------------


def bernoulli_data():
    data = datasets.load("radon").copy()
    data["high"] = (data["log_radon"] > 1.3).astype(int)
    return data


CASES = {
    "binomial": (CBPP, "binomial", lambda: datasets.load("cbpp")),
    "poisson": ("incidence ~ period + (1 | herd)", "poisson", lambda: datasets.load("cbpp")),
    "bernoulli": ("high ~ floor + (1 | county)", "bernoulli", bernoulli_data),
    "bernoulli_slopes": ("high ~ floor + (1 + floor | county)", "bernoulli", bernoulli_data),
    "poisson_crossed": ("count ~ 1 + (1 | plate) + (1 | sample)", "poisson",
                        lambda: datasets.load("penicillin").assign(
                            count=lambda df: np.round(df["diameter"] - 15).astype(int))),
}


@cache
def case_design(name):
    formula, family, load = CASES[name]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_design(parse_formula(formula, family=family), load())


@pytest.mark.parametrize("name", sorted(CASES))
def test_laplace_gradient(name):
    problem = GlmmProblem(case_design(name))
    K = problem.n_theta
    rng = np.random.default_rng(2)
    x = np.r_[problem.tmap.start() * rng.uniform(0.4, 1.2, K) + 0.03,
              rng.normal(0, 0.3, problem.p)]
    _, g = problem.deviance_and_grad(x)
    h = 1e-6
    num = [(problem.deviance(x + h * e) - problem.deviance(x - h * e)) / (2 * h)
           for e in np.eye(len(x))]
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["binomial", "poisson", "bernoulli"])
def test_laplace_deviance_by_hand(name):
    """Independent per-group Laplace for a scalar random intercept (scipy.stats pmfs)."""
    d = case_design(name)
    problem = GlmmProblem(d)
    fd = d.factors[0]
    theta, beta = 0.8, np.linspace(-1, 0.5, d.X.shape[1])
    eta0 = d.X @ beta

    def logpmf(eta, i):
        if d.family == "poisson":
            return stats.poisson.logpmf(d.y[i], np.exp(eta))
        n = d.trials[i] if d.family == "binomial" else 1
        return stats.binom.logpmf(d.y[i], n, 1 / (1 + np.exp(-eta)))

    total = 0.0
    for j in range(fd.n_levels):
        i = np.flatnonzero(fd.index == j)
        pen = optimize.minimize_scalar(
            lambda u: -2 * logpmf(eta0[i] + theta * u, i).sum() + u * u,  # noqa: B023
            bracket=(-1, 1), tol=1e-12)
        eta = eta0[i] + theta * pen.x
        p = 1 / (1 + np.exp(-eta))
        n = d.trials[i] if d.family == "binomial" else 1
        w = np.exp(eta) if d.family == "poisson" else n * p * (1 - p)
        total += pen.fun + np.log(1 + theta**2 * w.sum())
    np.testing.assert_allclose(problem.deviance(np.r_[theta, beta]), total, rtol=1e-9)


@pytest.mark.parametrize("name", ["poisson", "bernoulli_slopes", "poisson_crossed"])
def test_other_families_fit(name):
    fit = fit_glmm(case_design(name))
    assert fit.converged, fit.convergence_message
    assert np.all(np.isfinite(fit.se))
    problem = GlmmProblem(case_design(name))
    _, g = problem.deviance_and_grad(np.r_[fit.theta, fit.beta])
    free = np.r_[fit.theta > 0, np.ones(len(fit.beta), bool)]
    assert np.max(np.abs(g[free])) < 1e-3
    assert fit.n_groups == {fd.name: fd.n_levels for fd in case_design(name).factors}


def test_reml_front_door_picks_laplace():
    fit = reml(CBPP, datasets.load("cbpp"), family="binomial")
    assert fit.method == "Laplace"
    assert "Laplace" in fit.summary()
    assert "sigma" not in fit.varcorr_table().index
    assert isinstance(fit.fixed_table(), pd.DataFrame)
    H = fd_hessian(lambda z: GlmmProblem(fit.design).deviance_and_grad(z)[1],
                   np.r_[fit.theta, fit.beta], np.ones(5, bool))
    np.testing.assert_allclose(fit.vcov, 2 * np.linalg.inv(H)[1:, 1:], rtol=1e-6)
