"""Gaussian models with several grouping factors (crossed, nested) on the exact marginal path
(hiermod/marginal/crossed_*.py).

Tolerances: the block-factorised density equals scipy's multivariate normal with the dense
covariance σ²I + Σ_g Z_g Σ_g Z_gᵀ to 1e-9 relative (rounding only); the numba Op, the dense
PyTensor graph (autodiff) and the nutpie callback agree to 1e-8 (values and gradients; the
callback against PyMC's compile_logp / compile_dlogp, value up to a constant < 1e-6); the
conditional means at lme4's REML estimates are lme4's conditional modes (penicillin) to 1e-5 of
the conditional sd; the joint conditional draws have the directly computed mean and covariance
(Monte Carlo: 4.5 standard errors, 5% on covariances).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.stats as st

import hiermod as hm
from hiermod import names
from hiermod.marginal import assemble_marginal_model, marginal_stats
from hiermod.marginal import draws as draws_module
from hiermod.marginal.crossed_callback import CompiledCrossed
from hiermod.marginal.crossed_faces import crossed_loglik_graph, crossed_loglik_op
from hiermod.marginal.crossed_kernel import crossed_draws, crossed_terms, dense_crossing
from support import load_reference, tiered


def small_data(seed=0, n=150):
    rng = np.random.default_rng(seed)
    school = rng.integers(0, 6, n)
    klass = school * 3 + rng.integers(0, 3, n)  # classes nested in schools
    return pd.DataFrame({"y": rng.normal(size=n) + 0.3 * school, "x": rng.normal(size=n),
                         "a": rng.integers(0, 9, n).astype(str),
                         "h": rng.integers(0, 4, n).astype(str),
                         "c": rng.integers(0, 3, n).astype(str),
                         "school": school.astype(str), "klass": klass.astype(str)})


FORMULAS = {
    "crossed": "y ~ x + (1 | a) + (1 | h)",
    "crossed_slope": "y ~ x + (1 + x | a) + (1 | h)",
    "three_crossed": "y ~ x + (1 | a) + (1 + x | h) + (1 | c)",
    "uncorrelated": "y ~ x + (1 | h) + (1 + x || a)",
    "nested": "y ~ x + (1 | school/klass)",
    "no_intercept": "y ~ 0 + x + (1 | a) + (1 | h)",
}


def design_of(case, data=None):
    return hm.make_design(hm.parse_formula(FORMULAS[case]), small_data() if data is None else data)


def random_point(design, rng):
    Ls = []
    for fd in design.factors:
        L = np.tril(rng.normal(0, 0.4, (fd.q, fd.q)))
        L[np.diag_indices(fd.q)] = np.abs(L[np.diag_indices(fd.q)]) + 0.3
        Ls.append(L)
    beta = rng.normal(0, 0.5, len(design.fixed_terms))
    return beta, Ls, rng.uniform(0.6, 1.4)


def direct(design, beta, Ls, sigma):
    n = design.n_obs
    V = sigma**2 * np.eye(n)
    for fd, L in zip(design.factors, Ls, strict=True):
        Z = np.zeros((n, fd.n_levels * fd.q))
        for i in range(n):
            Z[i, fd.index[i] * fd.q:(fd.index[i] + 1) * fd.q] = fd.Z[i]
        V += Z @ np.kron(np.eye(fd.n_levels), L @ L.T) @ Z.T
    return st.multivariate_normal(design.X @ beta, V).logpdf(design.y)


def compiled_face(design, face, grad=False):
    stats = marginal_stats(design)
    beta = pt.vector("beta")
    Ls = [pt.matrix(f"L{g}") for g in range(len(design.factors))]
    s = pt.scalar("sigma")
    theta = pt.dot(np.linalg.inv(stats.B), beta) - stats.offset
    ll = face(stats, theta, Ls[stats.order[0]], [Ls[g] for g in stats.order[1:]], s)
    outs = [ll, *pt.grad(ll, [beta, *Ls, s])] if grad else ll
    return pytensor.function([beta, *Ls, s], outs, on_unused_input="ignore", mode="FAST_COMPILE")


@pytest.mark.parametrize("case", tiered(list(FORMULAS), {"crossed_slope", "nested"}))
@pytest.mark.parametrize("face", [crossed_loglik_op, crossed_loglik_graph])
def test_density_equals_the_multivariate_normal(case, face):
    d = design_of(case)
    f = compiled_face(d, face)
    rng = np.random.default_rng(1)
    for _ in range(3):
        beta, Ls, sigma = random_point(d, rng)
        ref = direct(d, beta, Ls, sigma)
        assert float(f(beta, *Ls, sigma)) == pytest.approx(ref, rel=1e-9), case


@pytest.mark.parametrize("case", tiered(list(FORMULAS), {"three_crossed"}))
def test_op_gradient_equals_autodiff_of_the_dense_graph(case):
    d = design_of(case)
    f_op, f_graph = compiled_face(d, crossed_loglik_op, True), compiled_face(d, crossed_loglik_graph, True)
    rng = np.random.default_rng(2)
    for _ in range(2):
        point = random_point(d, rng)
        args = (point[0], *point[1], point[2])
        for a, b in zip(f_op(*args), f_graph(*args), strict=True):
            np.testing.assert_allclose(np.tril(a) if np.ndim(a) == 2 else a,
                                       np.tril(b) if np.ndim(b) == 2 else b,
                                       rtol=1e-8, atol=1e-8 * np.abs(b).max())


@pytest.mark.parametrize("case", tiered(["crossed_slope", "three_crossed", "nested", "no_intercept"],
                                       {"three_crossed"}))
def test_callback_equals_pymc(case):
    d = design_of(case)
    stats = marginal_stats(d)
    built = assemble_marginal_model(d, stats=stats)
    cc = CompiledCrossed(built, stats, d)
    logp, dlogp = built.model.compile_logp(mode="FAST_COMPILE"), built.model.compile_dlogp(mode="FAST_COMPILE")
    rng = np.random.default_rng(3)
    offsets = []
    for _ in range(3):
        x = cc.layout.initial_point(int(rng.integers(2**31))) + rng.normal(0, 0.4, cc.n_dim)
        point = cc.layout.split(x)
        value, grad = cc.logp_and_grad(x)
        offsets.append(value - logp(point))
        np.testing.assert_allclose(grad, dlogp(point), rtol=1e-9, atol=1e-9 * np.abs(grad).max())
    assert abs(offsets[0]) < 1e-6 and np.ptp(offsets) < 1e-9 * abs(value)


def _kernel_args(design, stats, beta, Ls, sigma):
    first, rest = stats.order[0], stats.order[1:]
    qmax = max(fd.q for fd in design.factors)
    Lr = np.zeros((len(rest), qmax, qmax))
    for k, g in enumerate(rest):
        q = design.factors[g].q
        Lr[k, :q, :q] = Ls[g]
    return (stats.Z1tZ1, stats.Z1tW, stats.Z1ty, stats.Z1tZ2, stats.Z2tZ2, stats.Z2tW, stats.Z2ty,
            stats.WtW, stats.Wty, float(stats.yty), float(stats.n), np.asarray(stats.rest, float),
            stats.theta_from_beta(beta[None])[0], Ls[first], Lr, sigma)


@pytest.mark.parametrize("case", list(FORMULAS))
def test_dense_and_sparse_routes_agree(case):
    """The kernel's BLAS route (dense crossings) and its loops over non-zero columns (sparse
    ones) are the same algebra: equal values and gradients, and equal draws with the same
    normals, on every design (each is taken by default by one of the cases)."""
    d = design_of(case)
    stats = marginal_stats(d)
    rng = np.random.default_rng(7)
    for _ in range(2):
        beta, Ls, sigma = random_point(d, rng)
        args = _kernel_args(d, stats, beta, Ls, sigma)
        for a, b in zip(crossed_terms(*args, True), crossed_terms(*args, False), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11 * np.max(np.abs(b)))
        one, two = (_draw(d, stats, beta, Ls, sigma, 2, np.random.default_rng(8), dense=flag)
                    for flag in (True, False))
        for g in one:
            np.testing.assert_allclose(one[g], two[g], rtol=1e-10, atol=1e-12)


def test_draws_split_over_threads_equal_one_call(monkeypatch):
    """The posterior draws are cut into one chunk per core (here at least 3): the same
    normals give the same draws as one call over all of them."""
    d = design_of("crossed_slope")
    stats = marginal_stats(d)
    monkeypatch.setattr(draws_module, "DRAWS_PER_THREAD", 10)
    monkeypatch.setattr(draws_module.os, "cpu_count", lambda: 3)
    S, rng = 40, np.random.default_rng(9)
    beta, Ls, sigma = random_point(d, rng)
    args = _kernel_args(d, stats, beta, Ls, sigma)
    J1, q1, m2 = stats.Z1tZ2.shape
    per_draw = (np.tile(args[12], (S, 1)), np.tile(args[13], (S, 1, 1)),
                np.tile(args[14], (S, 1, 1, 1)), np.full(S, sigma),
                rng.standard_normal((S, J1, q1)), rng.standard_normal((S, m2)))
    one = crossed_draws(*args[:7], args[11], *per_draw, False, dense_crossing(stats.Z1tZ2))
    split = draws_module.crossed_draws_in_threads(stats, per_draw)
    for a, b in zip(one, split, strict=True):
        assert np.array_equal(a, b)


def test_dense_crossing_tells_crossed_from_nested():
    assert dense_crossing(marginal_stats(design_of("crossed")).Z1tZ2)
    assert not dense_crossing(marginal_stats(design_of("nested")).Z1tZ2)


def _reml_point(design, ref):
    reml = ref["reml"]
    beta = np.array([reml["fixef"]["(Intercept)"]["est"]])
    Ls = [np.array([[reml["varcorr"][fd.name]["sd"]["(Intercept)"]]]) for fd in design.factors]
    return beta, Ls, reml["sigma"]


def _draw(design, stats, beta, Ls, sigma, S, rng, mean_only=False, dense=None):
    theta = stats.theta_from_beta(np.tile(beta, (S, 1)))
    first, rest = stats.order[0], stats.order[1:]
    qmax = max(fd.q for fd in design.factors)
    Lr = np.zeros((S, len(rest), qmax, qmax))
    for k, g in enumerate(rest):
        q = design.factors[g].q
        Lr[:, k, :q, :q] = Ls[g]
    J1, q1, m2 = stats.Z1tZ2.shape
    u1, u2 = crossed_draws(stats.Z1tZ1, stats.Z1tW, stats.Z1ty, stats.Z1tZ2, stats.Z2tZ2,
                           stats.Z2tW, stats.Z2ty, np.asarray(stats.rest, float), theta,
                           np.tile(Ls[first], (S, 1, 1)), Lr, np.full(S, sigma),
                           rng.standard_normal((S, J1, q1)), rng.standard_normal((S, m2)),
                           mean_only, dense_crossing(stats.Z1tZ2) if dense is None else dense)
    out = {first: u1}
    for (o, J, q), g in zip(stats.rest, rest, strict=True):
        out[g] = u2[:, o:o + J * q].reshape(S, J, q)
    return out


def test_conditional_means_at_reml_estimates_are_lme4_modes():
    d = hm.make_design(hm.parse_formula("diameter ~ 1 + (1 | plate) + (1 | sample)"),
                       hm.datasets.load("penicillin"))
    ref = load_reference("penicillin_crossed")
    stats = marginal_stats(d)
    beta, Ls, sigma = _reml_point(d, ref)
    means = _draw(d, stats, beta, Ls, sigma, 1, np.random.default_rng(0), mean_only=True)
    for g, fd in enumerate(d.factors):
        mode = np.array([ref["reml"]["ranef"][fd.name][lvl]["(Intercept)"] for lvl in fd.levels])
        se = np.array([ref["reml"]["ranef_se"][fd.name][lvl]["(Intercept)"] for lvl in fd.levels])
        assert np.max(np.abs(means[g][0, :, 0] - mode) / se) < 1e-5, fd.name


@pytest.mark.slow
def test_joint_conditional_draws_have_the_direct_mean_and_covariance():
    d = design_of("crossed_slope")
    stats = marginal_stats(d)
    beta, Ls, sigma = random_point(d, np.random.default_rng(4))
    S = 20_000
    draws = _draw(d, stats, beta, Ls, sigma, S, np.random.default_rng(5))
    u = np.hstack([draws[g].reshape(S, -1) for g in range(len(d.factors))])
    n = d.n_obs
    Zs, Sig = [], []
    for fd, L in zip(d.factors, Ls, strict=True):
        Z = np.zeros((n, fd.n_levels * fd.q))
        for i in range(n):
            Z[i, fd.index[i] * fd.q:(fd.index[i] + 1) * fd.q] = fd.Z[i]
        Zs.append(Z)
        Sig.append(np.kron(np.eye(fd.n_levels), L @ L.T))
    Z = np.hstack(Zs)
    Sigma = np.block([[Sig[0], np.zeros((Sig[0].shape[0], Sig[1].shape[1]))],
                      [np.zeros((Sig[1].shape[0], Sig[0].shape[1])), Sig[1]]])
    V = np.linalg.inv(Z.T @ Z / sigma**2 + np.linalg.inv(Sigma))
    m = V @ Z.T @ (d.y - d.X @ beta) / sigma**2
    se = np.sqrt(np.diag(V) / S)
    assert np.all(np.abs(u.mean(0) - m) < 4.5 * se)
    np.testing.assert_allclose(np.cov(u.T), V, atol=0.05 * np.abs(V).max())


def test_fit_takes_the_marginal_path_and_draws_every_factor():
    fit = hm.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", hm.datasets.load("penicillin"),
                 random_seed=6, draws=300, tune=400, chains=2, progressbar=False)
    assert fit.model_path == "marginal" and fit.parameterization == "integrated"
    post = fit.idata["posterior"]
    assert post.attrs["implementation"] == "compiled"
    assert post[names.group_effects("plate")].shape == (2, 300, 24, 1)
    assert post[names.group_effects("sample")].shape == (2, 300, 6, 1)
