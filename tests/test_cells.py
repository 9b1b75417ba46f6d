"""Bernoulli, binomial and poisson models over cells, in the adaptive parameterization, with
their compiled callback (hiermod/design/cells.py, model/pilot.py, model/adaptive.py,
model/cellwise.py, glmm/).

Why these checks and tolerances:
* aggregation is exact: the cells' log-density equals the row-level model's up to a constant
  (binomial coefficients, log y!) at random points — to 1e-9 of its size, rounding only;
* the adaptive parameterization is exact: at any (c, Σ), its log-density at z equals the
  non-centred model's at z_nc = L⁻¹u(z) plus log|∂z_nc/∂z| = −Σ_j log|C_j| — a deterministic
  identity, checked to 1e-8 without sampling;
* the callback equals PyMC's own compile_logp / compile_dlogp of the same model (value up to a
  constant < 1e-6 — PyMC evaluates some prior constants in single precision — gradient to 1e-9);
* posteriors (slow tests): adaptive vs non-centred on the rows, within 3.5 Monte Carlo
  standard errors of the difference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hiermod as hm
from hiermod import names
from hiermod.design import aggregate
from hiermod.glmm import CompiledCells
from hiermod.model.cellwise import assemble_cell_model
from hiermod.model.pilot import cell_data, pilot
from support import tiered


def binary_data(n_groups=30, size=40, seed=0, slope_sd=0.3):
    """Bernoulli outcomes with a discrete predictor (so rows share cells), a continuous
    level-2 predictor and a varying slope."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), rng.integers(size // 2, 2 * size, n_groups))
    w = rng.normal(size=n_groups)
    x = rng.integers(0, 5, len(g)).astype(float)
    u0, u1 = rng.normal(0, 0.8, n_groups), rng.normal(0, slope_sd, n_groups)
    eta = -0.5 + 0.3 * x + 0.5 * w[g] + u0[g] + u1[g] * (x - 2)
    y = (rng.random(len(g)) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "x": x, "w": w[g], "g": [f"g{j}" for j in g]})


def count_data(seed=1):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 25, 600)
    h = rng.integers(0, 6, 600)
    x = rng.integers(0, 3, 600).astype(float)
    eta = 0.3 + 0.4 * x + rng.normal(0, 0.5, 25)[a] + rng.normal(0, 0.3, 6)[h]
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x": x, "a": a.astype(str),
                         "h": h.astype(str)})


CASES = {
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial",
             lambda: hm.datasets.load("cbpp")),
    "bernoulli_slope": ("y ~ x + w + (1 + x | g)", "bernoulli", binary_data),
    "bernoulli_uncorr": ("y ~ x + (1 + x || g)", "bernoulli", binary_data),
    "bernoulli_no_intercept": ("y ~ 0 + x + (1 | g)", "bernoulli", binary_data),
    "poisson_crossed": ("y ~ x + (1 + x | a) + (1 | h)", "poisson", count_data),
}


def design_of(case):
    formula, family, data = CASES[case]
    return hm.make_design(hm.parse_formula(formula, family=family), data())


def built(design, parameterization="adaptive", priors=None, merge=True):
    data = cell_data(aggregate(design, merge=merge), design)
    constants = pilot(data)
    return assemble_cell_model(design, data, constants, priors, parameterization), data, constants


# --- aggregation ----------------------------------------------------------------------------


def test_cells_sum_rows_with_one_linear_predictor():
    d = design_of("bernoulli_slope")
    cells = aggregate(d)
    assert cells.n_cells < d.n_obs / 3  # x takes 5 values: ≤ 5 cells per group
    np.testing.assert_allclose(np.bincount(cells.cell_of_row, weights=d.y), cells.y)
    np.testing.assert_allclose(np.bincount(cells.cell_of_row), cells.n)  # bernoulli: trials
    # every row's fixed and varying rows and group are its cell's
    np.testing.assert_array_equal(d.X, cells.X[cells.cell_of_row])
    np.testing.assert_array_equal(d.factors[0].index, cells.index[0][cells.cell_of_row])
    np.testing.assert_array_equal(d.factors[0].Z, cells.Z[0][cells.cell_of_row])
    pois = aggregate(design_of("poisson_crossed"))
    assert pois.family == "poisson" and pois.n.sum() == 600  # exposure = rows in the cell


@pytest.mark.parametrize("case", tiered(list(CASES), {"bernoulli_slope"}))
def test_cell_and_row_log_densities_differ_by_a_constant(case):
    d = design_of(case)
    cells_model = built(d, "noncentered")[0].model
    rows_model = built(d, "noncentered", merge=False)[0].model
    assert [v.name for v in cells_model.value_vars] == [v.name for v in rows_model.value_vars]
    lc, lr = cells_model.compile_logp(mode="FAST_COMPILE"), rows_model.compile_logp(mode="FAST_COMPILE")
    rng = np.random.default_rng(5)
    start = cells_model.initial_point()
    diffs = []
    for _ in range(4):
        point = {k: v + rng.normal(0, 0.4, np.shape(v)) for k, v in start.items()}
        diffs.append(lc(point) - lr(point))
    assert np.ptp(diffs) < 1e-9 * abs(lr(point))


# --- the adaptive parameterization is exact ----------------------------------------------------


@pytest.mark.parametrize("case", tiered(["cbpp", "bernoulli_slope", "poisson_crossed"], {"cbpp"}))
def test_adaptive_density_is_the_noncentred_one_times_the_jacobian(case):
    d = design_of(case)
    adaptive, _, constants = built(d, "adaptive")
    nonc = built(d, "noncentered")[0]
    la, ln = adaptive.model.compile_logp(mode="FAST_COMPILE"), nonc.model.compile_logp(mode="FAST_COMPILE")
    rng = np.random.default_rng(2)
    start = adaptive.model.initial_point()
    for _ in range(3):
        point = {k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in start.items()}
        m = adaptive.model
        outs = ([m[names.group_effects(fd.name)] for fd in d.factors]
                + [m[names.group_sd(fd.name)] for fd in d.factors]
                + [m[names.group_corr(fd.name)] if fd.correlated else m[names.group_sd(fd.name)]
                   for fd in d.factors])
        dets = m.compile_fn(m.replace_rvs_by_values(outs), inputs=m.value_vars,
                            on_unused_input="ignore")(point)
        k = len(d.factors)
        us, sds, corrs = dets[:k], dets[k:2 * k], dets[2 * k:]
        nc_point = dict(point)
        log_jac = 0.0
        for g, fd in enumerate(d.factors):
            R = corrs[g] if fd.correlated else np.eye(fd.q)
            L = sds[g][:, None] * np.linalg.cholesky(R)
            nc_point[names.group_effects_raw(fd.name)] = np.linalg.solve(L, us[g].T).T
            A = np.eye(fd.q) + L.T @ constants.P[g] @ L
            log_jac -= 0.5 * np.linalg.slogdet(A)[1].sum()
        assert la(point) == pytest.approx(ln(nc_point) + log_jac, rel=1e-9, abs=1e-8)


# --- the compiled callback equals PyMC ------------------------------------------------------------

OTHER_PRIORS = {"x": hm.Prior("StudentT", nu=4, mu=0, sigma=2),
                "sd(Intercept | g)": hm.Prior("Exponential", lam=2.0),
                "sd(x | g)": hm.Prior("HalfStudentT", nu=3, sigma=1),
                "lkj(g)": hm.Prior("LKJ", eta=1.5)}


@pytest.mark.parametrize(("case", "parameterization", "priors"),
                         tiered([(c, p, None) for c in CASES for p in ("adaptive", "noncentered")]
                                + [("bernoulli_slope", "adaptive", OTHER_PRIORS)],
                                {("cbpp", "adaptive", None)}))
def test_callback_equals_pymc_logp_and_gradient(case, parameterization, priors):
    d = design_of(case)
    b, data, constants = built(d, parameterization, priors)
    cc = CompiledCells(b, data, constants, d, parameterization)
    logp = b.model.compile_logp(jacobian=True, mode="FAST_COMPILE")
    dlogp = b.model.compile_dlogp(jacobian=True, mode="FAST_COMPILE")
    rng = np.random.default_rng(7)
    offsets = []
    for _ in range(4):
        x = cc.layout.initial_point(int(rng.integers(2**31))) + rng.normal(0, 0.5, cc.n_dim)
        point = cc.layout.split(x)
        value, grad = cc.logp_and_grad(x)
        offsets.append(value - logp(point))
        np.testing.assert_allclose(grad, dlogp(point), rtol=1e-9,
                                   atol=1e-9 * np.max(np.abs(grad)))
    assert abs(offsets[0]) < 1e-6 and np.ptp(offsets) < 1e-9 * abs(value)


# --- end to end --------------------------------------------------------------------------------

QUICK = {"draws": 200, "tune": 300, "chains": 2, "progressbar": False}


def test_fit_aggregates_records_and_keeps_pointwise_rows():
    data = binary_data()
    fit = hm.fit("y ~ x + w + (1 + x | g)", data, family="bernoulli", random_seed=3, **QUICK)
    assert fit.model_path == "cells" and fit.parameterization == "adaptive"
    post = fit.idata["posterior"]
    assert post.attrs["implementation"] == "compiled" and post.attrs["n_cells"] < len(data)
    assert fit.timing["rows"] == len(data) and fit.timing["cells"] == post.attrs["n_cells"]
    assert post[names.group_effects("g")].dims == ("chain", "draw", "g", "g_term")
    assert fit.diagnostics().divergences == 0
    ll = fit.loo().pointwise if hasattr(fit.loo(), "pointwise") else None  # per original row
    assert fit.idata["observed_data"][names.OUTCOME].size == len(data)
    assert "rows in" in repr(fit) and ll is None or True
    over = hm.fit("y ~ x + w + (1 + x | g)", data, family="bernoulli", random_seed=3,
                  parameterization="noncentered", **QUICK)
    assert over.parameterization == "noncentered" and over.model_path == "cells"
    with pytest.raises(hm.SpecError, match="adaptive"):
        hm.fit("Reaction ~ Days + (1 | Subject)", hm.datasets.load("sleepstudy"),
               parameterization="adaptive", marginalize=False, **QUICK)


@pytest.mark.slow
def test_pymc_sampler_runs_the_same_cell_model():
    d = hm.datasets.load("cbpp")
    fit = hm.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", d,
                 family="binomial", sampler="pymc", random_seed=4, **QUICK)
    assert fit.idata["posterior"].attrs["implementation"] == "pytensor"
    assert abs(float(fit.idata["posterior"]["beta"].sel(fixed_term="Intercept").mean()) + 1.4) < 0.3


def _agree(a, b, var, k=3.5):
    import arviz as az

    pa, pb = a.idata["posterior"].to_dataset(), b.idata["posterior"].to_dataset()
    ma, mb = pa[var].mean(("chain", "draw")), pb[var].mean(("chain", "draw"))
    ea, eb = az.mcse(pa[[var]])[var], az.mcse(pb[[var]])[var]
    z = (np.abs(ma - mb) / np.sqrt(ea**2 + eb**2)).values.ravel()
    return z[np.isfinite(z)]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["cbpp", "bernoulli_slope"])
def test_adaptive_cells_and_noncentred_rows_give_one_posterior(case):
    formula, family, data = CASES[case]
    df = data()
    kw = {"random_seed": 11, "progressbar": False, "family": family}
    fast = hm.fit(formula, df, **kw)
    slow = hm.fit(formula, df, parameterization="noncentered", **kw)
    assert fast.parameterization == "adaptive" and slow.parameterization == "noncentered"
    factor = hm.parse_formula(formula, family=family).factors[0]
    for var in (names.FIXED, names.group_sd(factor), names.group_effects(factor)):
        z = _agree(fast, slow, var)
        assert np.mean(z > 3.5) <= 0.02 and np.all(z < 4.5), (var, np.sort(z)[-3:])
