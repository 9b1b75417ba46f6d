"""K-fold cross-validation: folds, the held-out log density (against SciPy's multivariate normal
and an adaptive-quadrature integral over a new group's effect), and refits whose elpd agrees
with PSIS-LOO where LOO is reliable.

Tolerances: the gaussian held-out density is exact (1e-10); the logit density of one new group
is adaptive Gauss–Hermite quadrature, checked against SciPy's adaptive quadrature to 1e-7 (one
term) and 1e-5 (two terms, dblquad's own accuracy); several new groups in one unit go through a
scrambled-Sobol average of 1024 points per draw, checked to 2e-3 on the log (its Monte Carlo
error is ~1e-4 here). The LOO agreement bound is argued in the test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import expit

import hiermod as hm
from hiermod import names
from hiermod.report.kfold import fold_ids, heldout_log_density
from support import fake_tree


@pytest.fixture(scope="module")
def grouped_data():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"g": np.repeat([f"g{j:02d}" for j in range(24)], rng.integers(2, 12, 24)),
                       })
    df["x"] = rng.normal(size=len(df))
    df["y"] = 1 + 0.5 * df["x"] + rng.normal(size=len(df))
    df["b"] = rng.integers(0, 2, len(df))
    return df


def test_grouped_folds_hold_out_whole_groups(grouped_data):
    df = grouped_data
    design = hm.make_design(hm.parse_formula("y ~ x + (1 | g)"), df)
    ids = fold_ids(df, design, K=5, folds="grouped", random_seed=1)
    assert set(ids) == set(range(5))
    assert (df.assign(f=ids).groupby("g")["f"].nunique() == 1).all()
    sizes = np.bincount(ids)
    assert sizes.max() - sizes.min() <= df["g"].value_counts().max()
    np.testing.assert_array_equal(ids, fold_ids(df, design, 5, "grouped", random_seed=1))
    strat = fold_ids(df, design, K=2, folds="stratified", random_seed=1)
    both = df.assign(f=strat).groupby("g")["f"].nunique()
    assert (both == 2).all()  # every group (all have ≥ 2 rows) in both training sets
    with pytest.raises(ValueError, match="K must be"):
        fold_ids(df, design, K=30, folds="grouped")


def test_gaussian_heldout_density_of_a_new_group_is_the_marginal_normal(grouped_data):
    df = grouped_data
    design = hm.make_design(hm.parse_formula("y ~ x + (1 + x | g)"), df)
    tree = fake_tree(design, [1.0, 0.5], {"g": [0.7, 0.3]}, sigma=0.9,
                     corr={"g": [[1, -0.4], [-0.4, 1]]}, draws=3, seed=2)
    new = pd.DataFrame({"g": ["new"] * 4 + ["g03"] * 2, "x": [0.1, -1, 2, 0.5, 0.3, -0.2],
                        "y": [1.2, 0.1, 2.5, 1.0, 0.9, 1.4]})
    dens = heldout_log_density(tree, design, new, units=new["g"])
    assert list(dens.units) == ["g03", "new"]
    cov_g = np.array([[0.49, -0.4 * 0.21], [-0.4 * 0.21, 0.09]])
    Z = np.column_stack([np.ones(4), new["x"][:4]])
    mvn = stats.multivariate_normal(1 + 0.5 * new["x"][:4], Z @ cov_g @ Z.T + 0.81 * np.eye(4))
    np.testing.assert_allclose(dens.loglik[0, :, 1], mvn.logpdf(new["y"][:4]), rtol=1e-10)
    u = tree["posterior"][names.group_effects("g")].sel(g="g03").values[0]  # (draw, term)
    eta = 1 + 0.5 * new["x"][4:].to_numpy() + u[:, [0]] + u[:, [1]] * new["x"][4:].to_numpy()
    own = stats.norm.logpdf(new["y"][4:].to_numpy(), eta, 0.9).sum(axis=-1)
    np.testing.assert_allclose(dens.loglik[0, :, 0], own, rtol=1e-10)
    elpd = dens.elpd()
    assert elpd[0] == pytest.approx(np.log(np.mean(np.exp(own))))


def test_logit_heldout_density_of_a_new_group_is_the_integral(grouped_data):
    df = grouped_data
    design = hm.make_design(hm.parse_formula("b ~ x + (1 | g)", family="bernoulli"), df)
    tree = fake_tree(design, [0.3, -0.6], {"g": [1.2]}, draws=2, seed=1)
    new = pd.DataFrame({"g": ["new"] * 6, "x": [0.1, -1, 2, 0.5, 1.5, -0.3],
                        "b": [1, 1, 0, 1, 0, 1]})
    dens = heldout_log_density(tree, design, new, units=new["g"], random_seed=4)
    eta = 0.3 - 0.6 * new["x"].to_numpy()
    y = new["b"].to_numpy()

    def integrand(u):
        p = expit(eta + u)
        return np.prod(np.where(y == 1, p, 1 - p)) * stats.norm.pdf(u, 0, 1.2)

    exact = np.log(integrate.quad(integrand, -12, 12, epsabs=1e-14)[0])
    np.testing.assert_allclose(dens.loglik[0, :, 0], exact, atol=1e-7)  # adaptive quadrature
    # two new groups in one unit: the quasi-Monte Carlo path, against the product of integrals
    two = pd.concat([new, new.assign(g="other")], ignore_index=True)
    joint = heldout_log_density(tree, design, two, units=["u"] * len(two), random_seed=4)
    np.testing.assert_allclose(joint.loglik[0, :, 0], 2 * exact, atol=2e-3)


def test_logit_heldout_density_with_a_varying_slope_is_the_double_integral(grouped_data):
    df = grouped_data
    design = hm.make_design(hm.parse_formula("b ~ x + (1 + x | g)", family="bernoulli"), df)
    cov = np.array([[0.64, 0.5 * 0.8 * 0.6], [0.5 * 0.8 * 0.6, 0.36]])
    tree = fake_tree(design, [0.3, -0.6], {"g": [0.8, 0.6]}, corr={"g": [[1, 0.5], [0.5, 1]]},
                     draws=1, seed=1)
    new = pd.DataFrame({"g": ["new"] * 5, "x": [0.1, -1, 2, 0.5, 1.5], "b": [1, 1, 0, 1, 0]})
    got = heldout_log_density(tree, design, new, units=new["g"]).loglik[0, 0, 0]
    x, y = new["x"].to_numpy(), new["b"].to_numpy()
    prior = stats.multivariate_normal(np.zeros(2), cov)

    def integrand(u1, u0):
        p = expit(0.3 - 0.6 * x + u0 + u1 * x)
        return np.prod(np.where(y == 1, p, 1 - p)) * prior.pdf([u0, u1])

    exact = np.log(integrate.dblquad(integrand, -6, 6, -6, 6, epsabs=1e-12)[0])
    assert got == pytest.approx(exact, abs=1e-5)


@pytest.mark.slow
def test_stratified_kfold_agrees_with_loo_and_parallel_equals_serial():
    """radon, varying intercepts: all but a few Pareto k below good_k, so PSIS-LOO is reliable
    for those observations. Stratified 10-fold CV predicts the same quantity (a new home in a
    known county) from refits on 90% of the data; it may be a little lower, and the two differ
    by Monte Carlo and fold noise. Over the reliable observations the bound
    2·se_diff + 1% of |elpd| covers both (se_diff from the pointwise differences)."""
    radon = hm.datasets.load("radon")
    fit = hm.fit("log_radon ~ floor + (1 | county)", radon, draws=300, tune=300, chains=2,
                 random_seed=21, progressbar=False)
    loo = fit.loo()
    k = np.asarray(loo.pareto_k).ravel()
    reliable = k <= float(loo.good_k)
    assert reliable.mean() > 0.99
    cv = hm.kfold(fit, K=10, folds="stratified", n_jobs=1)
    assert cv.K == 10 and len(cv.pointwise) == 919
    order = cv.pointwise["unit"].to_numpy()
    loo_i = np.asarray(loo.elpd_i).ravel()[order]
    keep = reliable[order]
    diff = cv.pointwise["elpd"].to_numpy()[keep] - loo_i[keep]
    se_diff = np.sqrt(len(diff)) * diff.std(ddof=1)
    print(f"LOO {loo.elpd:.2f} (se {loo.se:.2f}); 10-fold {cv.elpd:.2f} (se {cv.se:.2f}); "
          f"difference over the {keep.sum()} reliable observations {diff.sum():.2f} "
          f"(se {se_diff:.2f}); fold times {cv.fold_seconds}")
    assert abs(diff.sum()) < 2 * se_diff + 0.01 * abs(loo_i[keep].sum())
    assert cv.se == pytest.approx(loo.se, rel=0.1)
    grouped = hm.kfold(fit, K=3, folds="grouped", n_jobs=1)
    parallel = hm.kfold(fit, K=3, folds="grouped", n_jobs=2)
    assert parallel.elpd == pytest.approx(grouped.elpd, abs=1e-8)
    assert len(grouped.pointwise) == 85 and grouped.elpd < cv.elpd  # new counties are harder
