"""The marginalized gaussian path: log-density, gradient, conditional draws, wiring, posterior.

Tolerances, and why:
* log-density: the Woodbury / determinant-lemma form against scipy's multivariate normal of
  each group's data, to 1e-8 relative — the two differ only by rounding.
* conditional means at lme4's REML estimates: they *are* lme4's conditional modes (BLUPs) of
  a linear mixed model, so they agree to 1e-5 of the conditional sd (``ranef_se``); the
  reference values are printed with ~15 digits.
* posterior means of u vs lme4's modes: the posterior mean also averages over the
  uncertainty of Σ, so it differs from the plug-in mode; close for the well-identified
  intercepts (corr > 0.99), looser for hsb82's cses slopes, whose sd is weakly identified
  (corr > 0.85 — the usual, explicit model gives the same ≈ 0.92).
* marginalized vs usual posterior: fixed effects, σ, sds and correlations within 3 Monte
  Carlo standard errors of the difference and sds within 10%; for the group effects (hundreds of
  comparisons) at most 1% beyond 3 MCSE, none beyond 4.5, and their sds within 15%.
"""


import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.stats as st

import hiermod as hm
from hiermod import names
from hiermod.marginal import (
    PATH_EXPLICIT,
    PATH_MARGINAL,
    build_marginal_model,
    choose_model_path,
    group_stats,
)
from hiermod.marginal import graph as marginal_graph
from hiermod.marginal.draws import factor_from_draws, group_effect_draws
from hiermod.marginal.graph import marginal_loglik
from hiermod.marginal.op import marginal_loglik_op
from support import MARGINAL_CASES as CASES
from support import design_of, lme4_term, load_reference, tiered

IMPLEMENTATIONS = {"graph": marginal_loglik, "op": marginal_loglik_op}


def random_parameters(design, rng):
    fd = design.factors[0]
    sd_y = design.y.std()
    beta = rng.normal(0, 1, design.X.shape[1]) * sd_y / np.maximum(design.X.std(0), 1)
    if names.INTERCEPT in design.fixed_terms:
        beta[design.fixed_terms.index(names.INTERCEPT)] = design.y.mean() + rng.normal()
    L = np.tril(rng.normal(0, 0.5, (fd.q, fd.q))) * sd_y
    L[np.diag_indices(fd.q)] = np.abs(L[np.diag_indices(fd.q)]) + 0.05 * sd_y
    return beta, L, rng.uniform(0.3, 1.5) * sd_y


def direct_loglik(design, beta, L, sigma):
    """Σ_j log N(y_j | X_j β, σ² I + Z_j L Lᵀ Z_jᵀ) by scipy, group by group."""
    fd = design.factors[0]
    Sigma = L @ L.T
    total = 0.0
    for j in range(fd.n_levels):
        rows = fd.index == j
        Z, X = fd.Z[rows], design.X[rows]
        V = sigma**2 * np.eye(rows.sum()) + Z @ Sigma @ Z.T
        total += st.multivariate_normal(X @ beta, V).logpdf(design.y[rows])
    return total


def compiled_loglik(design, fn, grad=False):
    stats = group_stats(design)
    beta, L, s = pt.vector("beta"), pt.matrix("L"), pt.scalar("sigma")
    c = pt.dot(np.linalg.inv(stats.B), beta)  # the sampled coordinates of β
    ll = fn(stats, c - stats.offset, L, s)
    outs = [ll, *pt.grad(ll, [beta, L, s])] if grad else ll
    return pytensor.function([beta, L, s], outs, mode="FAST_COMPILE")


# --- sufficient statistics and the log-density -----------------------------------------------


def test_group_stats_match_direct_sums():
    design = design_of("hsb_full")
    stats = group_stats(design)
    fd = design.factors[0]
    for j in (0, 17, fd.n_levels - 1):
        rows = fd.index == j
        Z = fd.Z[rows]
        # exact sums rounded once; BLAS's Z'Z rounds each product (entries near 0 differ by
        # ~1e-16 absolute)
        np.testing.assert_allclose(stats.ZtZ[j], Z.T @ Z, rtol=1e-12, atol=1e-12)
    # the centred problem reproduces y − Xβ exactly
    beta = np.linspace(-1, 1, design.X.shape[1])
    theta = stats.theta_from_beta(beta)
    r = design.y - design.X @ beta
    rss = stats.yty - 2 * theta @ stats.Wty + theta @ stats.WtW @ theta
    assert rss == pytest.approx(r @ r, rel=1e-10)
    j = 5
    rows = fd.index == j
    np.testing.assert_allclose(stats.Zty[j] - stats.ZtW[j] @ theta, fd.Z[rows].T @ r[rows],
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("case", tiered(list(CASES), {"sleep_vis", "sleep_uncorr"}))
def test_loglik_equals_multivariate_normal(case, impl):
    design = design_of(case)
    f = compiled_loglik(design, IMPLEMENTATIONS[impl])
    rng = np.random.default_rng(abs(hash((case, impl))) % 2**32)
    for _ in range(3):
        beta, L, sigma = random_parameters(design, rng)
        ref = direct_loglik(design, beta, L, sigma)
        assert abs(float(f(beta, L, sigma)) - ref) <= 1e-8 * max(1.0, abs(ref)), case


def test_batched_cholesky_branch_for_many_terms(monkeypatch):
    """q > UNROLL_MAX uses PyTensor's batched cholesky / solve_triangular: same value."""
    monkeypatch.setattr(marginal_graph, "UNROLL_MAX", 0)
    design = design_of("three_terms")
    f = compiled_loglik(design, marginal_graph.marginal_loglik)
    point = random_parameters(design, np.random.default_rng(4))
    ref = direct_loglik(design, *point)
    assert abs(float(f(*point)) - ref) <= 1e-8 * abs(ref)


@pytest.mark.parametrize("case", tiered(["sleep_vis", "hsb_full", "three_terms", "no_intercept"],
                                       {"sleep_vis"}))
def test_op_gradient_equals_autodiff(case):
    design = design_of(case)
    f_op = compiled_loglik(design, marginal_loglik_op, grad=True)
    f_graph = compiled_loglik(design, marginal_loglik, grad=True)
    rng = np.random.default_rng(3)
    for _ in range(3):
        point = random_parameters(design, rng)
        for a, b in zip(f_op(*point), f_graph(*point), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8 * np.abs(b).max())


def test_loglik_finite_as_an_sd_vanishes():
    """Written through L (not Σ⁻¹), the density stays finite and continuous at sd → 0."""
    design = design_of("sleep_vis")
    f = compiled_loglik(design, marginal_loglik_op)
    beta = np.array([251.4, 10.5])
    L0 = np.array([[24.7, 0.0], [0.0, 0.0]])
    L1 = np.array([[24.7, 0.0], [0.0, 1e-9]])
    assert np.isfinite(f(beta, L0, 25.6))
    assert float(f(beta, L0, 25.6)) == pytest.approx(float(f(beta, L1, 25.6)), rel=1e-12)


@pytest.mark.parametrize("case", tiered(["sleep_vis", "radon_l2", "sleep_uncorr"], {"sleep_vis"}))
def test_marginal_model_has_the_usual_priors_and_names(case):
    """logp(marginal) = prior terms of the usual model + the Potential, at any point."""
    design = design_of(case)
    marg = build_marginal_model(design)
    full = hm.build_model(design)
    shared = [v.name for v in marg.free_RVs]
    assert set(shared) <= {v.name for v in full.free_RVs}
    assert {names.FIXED, names.group_sd(design.factors[0].name)} <= set(marg.named_vars)
    point = marg.initial_point()
    rng = np.random.default_rng(0)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in point.items()}
    prior_marg = marg.compile_logp(vars=marg.free_RVs, mode="FAST_COMPILE")(point)
    full_point = {**full.initial_point(), **point}
    prior_full = full.compile_logp(vars=[full[n] for n in shared], mode="FAST_COMPILE")(full_point)
    assert prior_marg == pytest.approx(prior_full, rel=1e-12)
    total = marg.compile_logp(mode="FAST_COMPILE")(point)
    potential = marg.compile_logp(vars=marg.potentials, mode="FAST_COMPILE")(point)
    assert total == pytest.approx(prior_marg + potential, rel=1e-12)


# --- conditional draws of the group effects --------------------------------------------------


def reml_parameters(case, design):
    ref = load_reference(case)
    reml = ref["reml"]
    levels = ref.get("factor_levels", {})
    fixef = {lme4_term(k, levels): v["est"] for k, v in reml["fixef"].items()}
    beta = np.array([fixef[t] for t in design.fixed_terms])
    fd = design.factors[0]
    (vc,) = reml["varcorr"].values()
    sd = np.array([vc["sd"][t if t != "Intercept" else "(Intercept)"] for t in fd.terms])
    R = np.eye(fd.q)
    for pair, r in vc.get("corr", {}).items():
        a, b = (fd.terms.index(lme4_term(t)) for t in pair.split("|"))
        R[a, b] = R[b, a] = r
    return beta, sd[:, None] * np.linalg.cholesky(R), reml["sigma"], reml


@pytest.mark.parametrize("case", tiered(["hsb_full", "sleep_vis", "radon_vis"], {"sleep_vis"}))
def test_conditional_means_at_reml_estimates_are_lme4_modes(case):
    design = design_of(case)
    fd = design.factors[0]
    beta, L, sigma, reml = reml_parameters(case, design)
    stats = group_stats(design)
    m = group_effect_draws(stats, beta[None], L[None], np.array([sigma]),
                           np.random.default_rng(0), mean_only=True)[0]
    ranef, ranef_se = reml["ranef"][fd.name], reml["ranef_se"][fd.name]
    for k, term in enumerate(fd.terms):
        key = "(Intercept)" if term == "Intercept" else term
        ref = np.array([ranef[lvl][key] for lvl in fd.levels])
        se = np.array([ranef_se[lvl][key] for lvl in fd.levels])
        assert np.max(np.abs(m[:, k] - ref) / se) < 1e-5, (case, term)


def test_conditional_draws_have_the_conditional_mean_and_covariance():
    """Against V_j = (Z_jᵀZ_j/σ² + Σ⁻¹)⁻¹, m_j = V_j Z_jᵀ(y_j − X_jβ)/σ² computed directly."""
    design = design_of("sleep_vis")
    fd = design.factors[0]
    stats = group_stats(design)
    beta, L = np.array([250.0, 10.0]), np.array([[20.0, 0.0], [2.0, 5.0]])
    sigma = 25.0
    S = 20_000
    u = group_effect_draws(stats, np.tile(beta, (S, 1)), np.tile(L, (S, 1, 1)),
                           np.full(S, sigma), np.random.default_rng(1))
    Sigma_inv = np.linalg.inv(L @ L.T)
    for j in (0, 9, 17):
        rows = fd.index == j
        Z = fd.Z[rows]
        V = np.linalg.inv(Z.T @ Z / sigma**2 + Sigma_inv)
        m = V @ Z.T @ (design.y[rows] - design.X[rows] @ beta) / sigma**2
        se = np.sqrt(np.diag(V) / S)
        assert np.all(np.abs(u[:, j].mean(0) - m) < 4.5 * se), j
        np.testing.assert_allclose(np.cov(u[:, j].T), V, rtol=0.05, atol=0.05 * np.abs(V).max())


def test_factor_from_draws_is_a_square_root():
    rng = np.random.default_rng(2)
    sd = rng.uniform(0.5, 2, (5, 3))
    A = rng.normal(size=(5, 3, 3))
    C = A @ A.transpose(0, 2, 1) + 3 * np.eye(3)
    d = np.sqrt(np.diagonal(C, axis1=1, axis2=2))
    R = C / d[:, :, None] / d[:, None, :]
    L = factor_from_draws(sd, R)
    np.testing.assert_allclose(L @ L.transpose(0, 2, 1), sd[:, :, None] * R * sd[:, None, :])


# --- which path ------------------------------------------------------------------------------


def test_choose_model_path():
    assert choose_model_path(design_of("sleep_vis"), None) == PATH_MARGINAL
    assert choose_model_path(design_of("sleep_uncorr"), None) == PATH_MARGINAL
    assert choose_model_path(design_of("sleep_vis"), False) == PATH_EXPLICIT
    crossed = hm.make_design(hm.parse_formula("diameter ~ 1 + (1 | plate) + (1 | sample)"),
                             hm.datasets.load("penicillin"))
    assert choose_model_path(crossed, None) == PATH_MARGINAL  # crossed: marginal too
    assert choose_model_path(crossed, False) == PATH_EXPLICIT
    binom = hm.make_design(hm.parse_formula("cbind(incidence, size - incidence) ~ period + "
                                            "(1 | herd)", family="binomial"),
                           hm.datasets.load("cbpp"))
    assert choose_model_path(binom, None) == PATH_EXPLICIT
    with pytest.raises(hm.SpecError, match="binomial"):
        choose_model_path(binom, True)
    with pytest.raises(hm.SpecError, match="marginalize"):
        choose_model_path(binom, "yes")


# --- end to end ------------------------------------------------------------------------------

QUICK = {"draws": 200, "tune": 300, "chains": 2, "progressbar": False}


def test_fit_draws_group_effects_and_records_the_path(tmp_path):
    data = hm.datasets.load("sleepstudy")
    fit = hm.fit("Reaction ~ Days + (Days | Subject)", data, random_seed=11, **QUICK)
    assert fit.model_path == PATH_MARGINAL
    post = fit.idata["posterior"]
    assert post.attrs["model_path"] == PATH_MARGINAL
    u = post["u_Subject"]
    assert u.dims == ("chain", "draw", "Subject", "Subject_term")
    assert u.shape == (2, 200, 18, 2)
    assert list(u["Subject_term"].values) == ["Intercept", "Days"]
    assert "group effects integrated out" in repr(fit)
    assert fit.diagnostics().min_ess_bulk > 0
    assert "conditional_s" in fit.timing
    path = tmp_path / "fit.nc"
    fit.save(path)
    back = hm.load_fit(path)
    assert back.model_path == PATH_MARGINAL
    np.testing.assert_array_equal(back.idata["posterior"]["u_Subject"].values, u.values)
    assert back.model.potentials  # rebuilt as the marginalized model
    # same seed, same draws of u
    again = hm.fit("Reaction ~ Days + (Days | Subject)", data, random_seed=11, **QUICK)
    np.testing.assert_array_equal(again.idata["posterior"]["u_Subject"].values, u.values)


@pytest.mark.slow
def test_numpyro_backend_runs_the_marginal_model():
    import numpyro  # noqa: F401 - installed by the set-up (hiermod[jax]); fail loudly if not
    data = hm.datasets.load("sleepstudy")
    fit = hm.fit("Reaction ~ Days + (Days | Subject)", data, sampler="numpyro", random_seed=5,
                 draws=100, tune=200, chains=1, progressbar=False)
    assert fit.model_path == PATH_MARGINAL
    assert fit.idata["posterior"]["u_Subject"].shape == (1, 100, 18, 2)
    assert abs(float(fit.idata["posterior"]["beta"].sel(fixed_term="Days").mean()) - 10.5) < 2


def _compare(a, b, var, mc_k=3.0, sd_tol=0.10):
    """Means within mc_k MCSE of the difference and sds within sd_tol, element by element."""
    import arviz as az

    pa, pb = a.idata["posterior"].to_dataset(), b.idata["posterior"].to_dataset()
    da, db = pa[var], pb[var]
    if var.startswith("corr_"):  # off-diagonal entries only
        i, k = da.dims[-2:]
        keep = da[i] != da[k]
        da, db = da.where(keep), db.where(keep)
    ma, mb = da.mean(("chain", "draw")), db.mean(("chain", "draw"))
    sa, sb = da.std(("chain", "draw")), db.std(("chain", "draw"))
    ea = az.mcse(pa[[var]].where(~np.isnan(da)) if var.startswith("corr_") else pa[[var]])[var]
    eb = az.mcse(pb[[var]].where(~np.isnan(db)) if var.startswith("corr_") else pb[[var]])[var]
    z = (np.abs(ma - mb) / np.sqrt(ea**2 + eb**2)).values.ravel()
    rel_sd = (np.abs(sa - sb) / sb).values.ravel()
    ok = np.isfinite(z)
    return z[ok], rel_sd[ok]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["radon_vis", "sleep_vis"])
def test_marginal_and_usual_posteriors_agree(case):
    design_case = CASES[case]
    data = hm.datasets.load(design_case[0])
    kw = {"random_seed": 2026, "progressbar": False}
    marg = hm.fit(design_case[1], data, marginalize=True, **kw)
    full = hm.fit(design_case[1], data, marginalize=False, **kw)
    assert marg.model_path == PATH_MARGINAL and full.model_path == PATH_EXPLICIT
    assert marg.diagnostics().divergences <= 2
    fd = design_of(case).factors[0]
    for var in (names.FIXED, names.SIGMA, names.group_sd(fd.name), names.group_corr(fd.name)):
        z, rel_sd = _compare(marg, full, var)
        assert np.all(z < 3.0), (var, z)
        assert np.all(rel_sd < 0.10), (var, rel_sd)
    z, rel_sd = _compare(marg, full, names.group_effects(fd.name))
    assert np.mean(z > 3.0) <= 0.01 and np.all(z < 4.5), np.sort(z)[-5:]
    assert np.all(rel_sd < 0.15), np.sort(rel_sd)[-5:]


@pytest.mark.slow
def test_hsb82_group_effects_match_lme4_modes():
    data = hm.datasets.load("hsb82")
    fit = hm.fit(CASES["hsb_full"][1], data, random_seed=7, progressbar=False)
    assert fit.model_path == PATH_MARGINAL
    reml = load_reference("hsb_full")["reml"]
    u = fit.idata["posterior"]["u_school"]
    levels = list(reml["ranef"]["school"])
    for term, key, min_corr, max_dev in (("Intercept", "(Intercept)", 0.99, 0.1),
                                         ("cses", "cses", 0.85, 0.3)):
        ref = np.array([reml["ranef"]["school"][lvl][key] for lvl in levels])
        se = np.array([reml["ranef_se"]["school"][lvl][key] for lvl in levels])
        est = u.sel(school=levels, school_term=term).mean(("chain", "draw")).values
        assert np.corrcoef(ref, est)[0, 1] > min_corr, term
        assert np.mean(np.abs(ref - est) / se) < max_dev, term
        # posterior sd of u ≈ lme4's conditional sd (it adds the uncertainty of β and Σ)
        post_sd = u.sel(school=levels, school_term=term).std(("chain", "draw")).values
        assert 0.9 < np.median(post_sd / se) < 1.3, term
