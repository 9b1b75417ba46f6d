"""Core fitting: known truths recovered from simulated data, priors, samplers, save/load."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import hiermod as hm
from hiermod.errors import SpecError


def simulate(n_groups=40, n_per=25, seed=11):
    """y_ij = 2 + 0.5 x_ij + u0_j + u1_j x_ij + e_ij, sd(u0)=1, sd(u1)=0.3, corr 0.5, σ=0.8."""
    rng = np.random.default_rng(seed)
    sd = np.array([1.0, 0.3])
    corr = np.array([[1.0, 0.5], [0.5, 1.0]])
    cov = corr * np.outer(sd, sd)
    u = rng.multivariate_normal(np.zeros(2), cov, size=n_groups)
    g = np.repeat(np.arange(n_groups), n_per)
    x = rng.normal(size=g.size)
    y = 2.0 + 0.5 * x + u[g, 0] + u[g, 1] * x + rng.normal(0, 0.8, size=g.size)
    truth = {"Intercept": 2.0, "x": 0.5, "sd(Intercept | g)": 1.0, "sd(x | g)": 0.3,
             "corr(Intercept, x | g)": 0.5, "sigma": 0.8}
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{j:02d}" for j in g]}), truth, u


@pytest.fixture(scope="module")
def simulated_fit():
    df, truth, u = simulate()
    fit = hm.fit("y ~ x + (1 + x | g)", df, draws=500, tune=500, chains=2, random_seed=5)
    return fit, truth, u


def test_recovers_known_parameters(simulated_fit):
    """Each true value inside the 95% interval, and the posterior mean within 3 sd of it."""
    fit, truth, u = simulated_fit
    table = fit.summary()
    for name, value in truth.items():
        row = table.loc[name]
        assert row["lower"] <= value <= row["upper"], (name, value, row.to_dict())
    # group effects: posterior means track the simulated ones closely (1,000 rows, 40 groups)
    post_u = fit.idata["posterior"]["u_g"].mean(("chain", "draw")).values
    assert np.corrcoef(post_u[:, 0], u[:, 0])[0, 1] > 0.95


def test_save_load_round_trip_is_exact(simulated_fit, tmp_path):
    fit = simulated_fit[0]
    path = tmp_path / "fit.nc"
    fit.save(path)
    back = hm.load_fit(path)
    for group in ("posterior", "sample_stats", "observed_data"):
        xr.testing.assert_identical(fit.idata[group].to_dataset(), back.idata[group].to_dataset())
    pd.testing.assert_frame_equal(fit.summary(), back.summary())
    assert back.spec == fit.spec and back.settings == fit.settings
    np.testing.assert_array_equal(back.design.X, fit.design.X)
    assert back.idata["posterior"].attrs["random_seed"] == 5


def test_same_seed_same_draws():
    df, _, _ = simulate(n_groups=10, n_per=10)
    a = hm.fit("y ~ x + (1 | g)", df, draws=50, tune=50, chains=1, random_seed=9)
    b = hm.fit("y ~ x + (1 | g)", df, draws=50, tune=50, chains=1, random_seed=9)
    np.testing.assert_array_equal(a.idata["posterior"]["beta"].values,
                                  b.idata["posterior"]["beta"].values)


def test_user_prior_override_and_bad_keys():
    df, _, _ = simulate(n_groups=10, n_per=10)
    d = hm.make_design(hm.parse_formula("y ~ x + (1 + x | g)"), df)
    defaults = hm.default_priors(d)
    assert set(defaults) == {"Intercept", "x", "sigma", "sd(Intercept | g)", "sd(x | g)", "lkj(g)"}
    sd_y = df["y"].std(ddof=0)
    assert defaults["Intercept"].kwargs == pytest.approx({"mu": df["y"].mean(), "sigma": 2.5 * sd_y})
    assert defaults["sigma"].kwargs["lam"] == pytest.approx(1 / sd_y)
    from hiermod.priors import resolve_priors
    tight = hm.Prior("Normal", mu=7.0, sigma=0.01)
    resolved = resolve_priors(d, {"x": tight, "sd(g)": hm.Prior("Exponential", lam=2.0)}).labelled()
    assert resolved["x"] == tight and resolved["sd(x | g)"].dist == "Exponential"
    with pytest.raises(SpecError, match="unknown prior key 'z'; valid keys: Intercept, x"):
        resolve_priors(d, {"z": tight})
    with pytest.raises(SpecError, match="needs a positive prior"):
        resolve_priors(d, {"sigma": hm.Prior("Normal", mu=0, sigma=1)})
    with pytest.raises(SpecError, match="unknown prior distribution 'Weird'"):
        hm.Prior("Weird", a=1)
    with pytest.raises(SpecError, match="takes the parameters mu, sigma"):
        hm.Prior("Normal", mu=1)
    fit = hm.fit("y ~ x + (1 + x | g)", df, priors={"x": tight}, draws=100, tune=100,
                 chains=1, random_seed=2)
    assert fit.summary().loc["x", "mean"] == pytest.approx(7.0, abs=0.05)


@pytest.mark.parametrize("family, formula, make", [
    ("bernoulli", "y ~ x + (1 | g)", lambda eta, rng, n: rng.binomial(1, 1 / (1 + np.exp(-eta)))),
    ("poisson", "y ~ x + (1 | g)", lambda eta, rng, n: rng.poisson(np.exp(eta))),
    ("binomial", "cbind(y, n - y) ~ x + (1 | g)",
     lambda eta, rng, n: rng.binomial(n, 1 / (1 + np.exp(-eta)))),
])
def test_glm_families_recover_slope(family, formula, make):
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(30), 20)
    x = rng.normal(size=g.size)
    eta = -0.3 + 0.8 * x + rng.normal(0, 0.5, 30)[g]
    n = np.full(g.size, 10)
    df = pd.DataFrame({"y": make(eta, rng, n), "x": x, "g": g.astype(str), "n": n})
    fit = hm.fit(formula, df, family=family, draws=300, tune=300, chains=2, random_seed=1)
    row = fit.summary().loc["x"]
    assert row["lower"] <= 0.8 <= row["upper"], row.to_dict()
    assert "sigma" not in fit.summary().index


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["pymc", "numpyro"])
def test_other_samplers_run(sampler):
    df, _, _ = simulate(n_groups=8, n_per=10)
    fit = hm.fit("y ~ x + (1 | g)", df, draws=100, tune=100, chains=2, sampler=sampler,
                 random_seed=3, cores=1)
    assert fit.idata["posterior"].attrs["sampler"] == sampler
    assert fit.idata["posterior"]["beta"].shape == (2, 100, 2)
    assert fit.summary().loc["x", "r_hat"] < 1.2


@pytest.mark.slow
def test_centered_parameterization_runs():
    df, _, _ = simulate(n_groups=8, n_per=30)
    fit = hm.fit("y ~ x + (1 + x | g)", df, draws=100, tune=200, chains=2,
                 parameterization="centered", random_seed=3, marginalize=False)
    assert fit.model_path == "explicit"
    assert fit.idata["posterior"]["u_g"].shape == (2, 100, 8, 2)


def test_bad_settings_errors():
    df, _, _ = simulate(n_groups=5, n_per=5)
    with pytest.raises(SpecError, match="unknown sampler 'hmc'"):
        hm.fit("y ~ x + (1 | g)", df, sampler="hmc")
    with pytest.raises(SpecError, match="draws must be a whole number >= 1"):
        hm.fit("y ~ x + (1 | g)", df, draws=0)
    with pytest.raises(SpecError, match="unknown parameterization"):
        hm.fit("y ~ x + (1 | g)", df, parameterization="sideways")
    with pytest.raises(SpecError, match="model must be an lme4 formula string"):
        hm.fit(42, df)


def test_diagnostics_explain_problems():
    from hiermod.diagnostics import diagnose

    rng = np.random.default_rng(0)
    bad = xr.DataTree.from_dict({
        "/posterior": xr.Dataset({"beta": (("chain", "draw", "fixed_term"),
                                           np.stack([rng.normal(0, 1, (50, 1)),
                                                     rng.normal(5, 1, (50, 1))]))}),
        "/sample_stats": xr.Dataset({"diverging": (("chain", "draw"),
                                                   np.r_[np.ones(3), np.zeros(97)].reshape(2, 50)
                                                   .astype(bool))}),
    })
    diag = diagnose(bad, SimpleNamespace(factors=()))
    assert not diag.ok and diag.divergences == 3 and diag.max_rhat > 1.5
    text = str(diag)
    assert "R-hat up to" in text and "target_accept" in text and "parameterization='centered'" in text
