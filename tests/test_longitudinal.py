"""The residual-structure kernel and its faces (hiermod/longitudinal, hiermod/marginal/residual_*).

Independent checks: the log-density equals SciPy's multivariate normal with the dense
covariance Z Σ Zᵀ + S R S built here from the data's columns (1e-8 relative: both are exact,
they differ by rounding in a sum of a few hundred terms); the hand gradient equals central
differences of that dense density (1e-6 relative: the differences' own error) and PyTensor's
automatic gradient of the graph face (1e-9); the nutpie callback equals PyMC's compile_logp /
compile_dlogp of the PyMC model (1e-9); the conditional means of the group effects, and the
leave-one-out densities, equal the dense formulas (1e-9). Panels are unbalanced, with missing
occasions, real-valued times (CAR(1)) and rows in random order.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

import hiermod as hm
from hiermod.formula import with_residuals
from hiermod.longitudinal import serial_data, simulate_panel
from hiermod.longitudinal.kernel import correlated_noise, serial_draws, serial_loo, serial_terms
from hiermod.marginal.residual_callback import CompiledSerialMarginal
from hiermod.marginal.residual_graph import serial_loglik
from hiermod.marginal.residual_model import assemble_residual_marginal_model
from support import tiered

#: (formula, correlation, sigma) on the small panel
CASES = [
    ("y ~ time + x + (1 + time | id)", "ar1(occasion | id)", None),
    ("y ~ time + x + (1 + time | id)", "car1(time | id)", "~ group"),
    ("y ~ time + x + (1 | id)", "ar1(occasion | id)", "~ group + x"),
    ("y ~ time + x + (0 + time | id)", "cs(id)", "~ group"),
    ("y ~ time + x + (1 + time || id)", None, "~ group"),
    ("y ~ time + x", "car1(time | id)", None),
    ("y ~ time + x", "cs(id)", "~ x"),
]
IDS = [f"{c or 'indep'}/{s or 'one sd'}/{f.split('~')[1].strip()}" for f, c, s in CASES]


@pytest.fixture(scope="module")
def panel():
    """9 units, 2–6 rows each, missing occasions, times jittered (car1), rows shuffled."""
    data, _ = simulate_panel(9, 6, kind="car1", p_missing=0.35, seed=5)
    return data


def design_of(panel, formula, corr, sigma):
    return hm.make_design(with_residuals(hm.parse_formula(formula), corr, sigma), panel)


def random_parameters(sd, kind, seed):
    rng = np.random.default_rng(seed)
    L = np.tril(rng.normal(size=(sd.q, sd.q))) * 0.6
    phi = {"ar1": -0.45, "car1": 0.55, "cs": 0.35}.get(kind, 0.0)
    return rng.normal(size=sd.p), L, 0.7, phi, rng.normal(size=sd.r) * 0.4


def dense_covariance(design, data, L, sigma, phi, delta):
    """Z Σ Zᵀ (same grouping level) + S R S (same unit), from the data's own columns."""
    res = design.residuals
    corr = design.spec.residuals.correlation
    sig = sigma * np.exp(res.V @ delta)
    n = design.n_obs
    cov = np.diag(sig**2)
    if corr is not None:
        unit = data[corr.group].to_numpy()
        same = unit[:, None] == unit[None, :]
        if corr.kind == "cs":
            R = np.where(same, phi, 0.0)
        else:
            t = data[corr.time].to_numpy(float)
            R = np.where(same, phi ** np.abs(t[:, None] - t[None, :]), 0.0)
        np.fill_diagonal(R, 1.0)
        cov = sig[:, None] * R * sig[None, :]
    for fd in design.factors:
        g = data[fd.name].to_numpy()
        cov = cov + np.where(g[:, None] == g[None, :], fd.Z @ (L @ L.T) @ fd.Z.T, 0.0)
    assert cov.shape == (n, n)
    return cov


def dense_logpdf(design, data, sd, theta, L, sigma, phi, delta):
    beta = sd.B @ (theta + sd.offset)
    return stats.multivariate_normal(design.X @ beta,
                                     dense_covariance(design, data, L, sigma, phi, delta)
                                     ).logpdf(design.y)


@pytest.mark.parametrize(("formula", "corr", "sigma"), tiered(CASES, [CASES[1], CASES[3]]), ids=IDS)
def test_log_density_equals_dense_mvn_and_gradient_its_differences(panel, formula, corr, sigma):
    design = design_of(panel, formula, corr, sigma)
    sd = serial_data(design)
    kind = design.residuals.kind
    theta, L, s, phi, delta = random_parameters(sd, kind, 1)
    args = (*sd.structure(), sd.y, sd.W, sd.Z, sd.V)
    ll, g_theta, g_L, g_s, g_phi, g_delta = serial_terms(*args, theta, L, s, phi, delta, True)
    ref = dense_logpdf(design, panel, sd, theta, L, s, phi, delta)
    assert abs(ll - ref) < 1e-8 * abs(ref)

    def f(v):
        q, p = sd.q, sd.p
        return dense_logpdf(design, panel, sd, v[:p], v[p:p + q * q].reshape(q, q),
                            v[p + q * q], v[p + q * q + 1], v[p + q * q + 2:])

    v0 = np.concatenate([theta, L.ravel(), [s, phi], delta])
    steps = np.eye(len(v0)) * 1e-5
    numeric = np.array([(f(v0 + h) - f(v0 - h)) / 2e-5 for h in steps])
    analytic = np.concatenate([g_theta, g_L.ravel(), [g_s, g_phi], g_delta])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-6 * np.abs(numeric).max())


GRAPH_CASES = [0, 3, 6]  # each graph is a PyTensor compilation: a few structures suffice


@pytest.mark.parametrize(("formula", "corr", "sigma"),
                         tiered([CASES[k] for k in GRAPH_CASES], [CASES[0]]),
                         ids=[IDS[k] for k in GRAPH_CASES])
def test_graph_face_and_its_autodiff_equal_the_kernel(panel, formula, corr, sigma):
    design = design_of(panel, formula, corr, sigma)
    sd = serial_data(design)
    theta, L, s, phi, delta = random_parameters(sd, design.residuals.kind, 2)
    th, Lv, sv, pv, dv = pt.dvector(), pt.dmatrix(), pt.dscalar(), pt.dscalar(), pt.dvector()
    ll = serial_loglik(sd, th, Lv if sd.q else None, sv, pv, dv)
    wrt = [th, Lv, sv, pv, dv] if sd.q else [th, sv, pv, dv]
    fn = pytensor.function([th, Lv, sv, pv, dv],
                           [ll, *pytensor.grad(ll, wrt, disconnected_inputs="ignore")],
                           on_unused_input="ignore")
    out = fn(theta, L, s, phi, delta)
    k = serial_terms(*sd.structure(), sd.y, sd.W, sd.Z, sd.V, theta, L, s, phi, delta, True)
    expected = [k[0], k[1], k[2], k[3], k[4], k[5]] if sd.q else [k[0], k[1], k[3], k[4], k[5]]
    for a, b in zip(out, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(b).max(initial=0)))


@pytest.mark.parametrize(("formula", "corr", "sigma", "implementation"),
                         tiered([(*c, "op") for c in CASES] + [(*CASES[1], "graph")],
                                [(*CASES[1], "op")]),
                         ids=[f"{i}-op" for i in IDS] + [f"{IDS[1]}-graph"])
def test_callback_equals_pymc_logp_and_dlogp(panel, formula, corr, sigma, implementation):
    design = design_of(panel, formula, corr, sigma)
    sd = serial_data(design)
    built = assemble_residual_marginal_model(design, stats=sd, implementation=implementation)
    cm = CompiledSerialMarginal(built, sd)
    logp = built.model.compile_logp(jacobian=True)
    dlogp = built.model.compile_dlogp(jacobian=True)
    rng = np.random.default_rng(3)
    for seed in range(3):
        x = cm.layout.initial_point(seed) + rng.normal(0, 0.4, cm.n_dim)
        point = cm.layout.split(x)
        assert list(point) == [v.name for v in built.model.value_vars]
        value, grad = cm.logp_and_grad(x)
        assert abs(value - logp(point)) < 1e-9 * abs(value)
        np.testing.assert_allclose(grad, dlogp(point), rtol=1e-9,
                                   atol=1e-9 * np.abs(grad).max())


@pytest.mark.parametrize(("formula", "corr", "sigma"),
                         tiered([c for c in CASES if "(" in c[0]], [CASES[1]]),
                         ids=[i for i, c in zip(IDS, CASES, strict=True) if "(" in c[0]])
def test_conditional_means_and_loo_densities_equal_dense_formulas(panel, formula, corr, sigma):
    design = design_of(panel, formula, corr, sigma)
    sd = serial_data(design)
    theta, L, s, phi, delta = random_parameters(sd, design.residuals.kind, 4)
    args = (*sd.structure(), sd.y, sd.W, sd.Z, sd.V)
    mean = serial_draws(*args, theta[None], L[None], np.array([s]), np.array([phi]),
                        delta[None], np.zeros((1, sd.n_blocks, sd.q)), True)[0]
    cov = dense_covariance(design, panel, L, s, phi, delta)
    beta = sd.B @ (theta + sd.offset)
    r = design.y - design.X @ beta
    (fd,) = design.factors
    Sig = L @ L.T
    for j in range(fd.n_levels):
        rows = fd.index == j
        Vj = cov[np.ix_(rows, rows)]
        expected = Sig @ fd.Z[rows].T @ np.linalg.solve(Vj, r[rows])
        np.testing.assert_allclose(mean[j], expected, rtol=1e-9, atol=1e-12)
    E = np.ascontiguousarray(sd.to_sorted(r)[None])
    loo = sd.to_rows(serial_loo(*sd.structure(), E, sd.Z, sd.V, L[None], np.array([s]),
                                np.array([phi]), delta[None])[0])
    Q = np.linalg.inv(cov)
    g, qd = Q @ r, np.diag(Q)
    np.testing.assert_allclose(loo, -0.5 * np.log(2 * np.pi / qd) - 0.5 * g**2 / qd, rtol=1e-9)


@pytest.mark.slow
def test_draws_have_the_conditional_covariance(panel):
    """Monte Carlo: 20,000 draws of one unit's effects; covariance within 4 standard errors."""
    design = design_of(panel, *CASES[1])
    sd = serial_data(design)
    theta, L, s, phi, delta = random_parameters(sd, "car1", 6)
    S = 20_000
    rng = np.random.default_rng(0)
    draws = serial_draws(*sd.structure(), sd.y, sd.W, sd.Z, sd.V, np.repeat(theta[None], S, 0),
                         np.repeat(L[None], S, 0), np.full(S, s), np.full(S, phi),
                         np.repeat(delta[None], S, 0),
                         rng.standard_normal((S, sd.n_blocks, sd.q)), False)[:, 0]
    cov = dense_covariance(design, panel, L, s, phi, delta)
    (fd,) = design.factors
    rows = fd.index == 0
    Sig = L @ L.T
    expected = Sig - Sig @ fd.Z[rows].T @ np.linalg.solve(cov[np.ix_(rows, rows)],
                                                          fd.Z[rows] @ Sig)
    got = np.cov(draws.T)
    se = np.sqrt((expected**2 + np.outer(np.diag(expected), np.diag(expected))) / S)
    assert np.all(np.abs(got - expected) < 4 * se)


@pytest.mark.parametrize("kind", tiered(["ar1", "car1", "cs"], ["car1"]))
def test_residual_draws_have_the_correlation(kind):
    data, _ = simulate_panel(1, 6, kind=kind, p_missing=0.0, seed=2)
    corr = {"ar1": "ar1(occasion | id)", "car1": "car1(time | id)", "cs": "cs(id)"}[kind]
    design = design_of(data, "y ~ 1", corr, None)
    sd = serial_data(design, by_unit=True)
    S, phi = 40_000, 0.6
    x = correlated_noise(sd.kind, sd.unit_starts, sd.gap,
                         np.random.default_rng(1).standard_normal((S, sd.n)), np.full(S, phi))
    t = design.residuals.time[sd.order]
    lag = np.abs(t[:, None] - t[None, :])
    expected = np.where(np.eye(sd.n, dtype=bool), 1.0, phi) if kind == "cs" else phi**lag
    assert np.abs(np.corrcoef(x.T) - expected).max() < 4.5 / np.sqrt(S)  # sd of r ≤ 1/√S


def test_row_order_does_not_matter(panel):
    """The same data in another order: the same log-density."""
    args = CASES[1]
    a = serial_data(design_of(panel, *args))
    shuffled = panel.sample(frac=1.0, random_state=9).reset_index(drop=True)
    b = serial_data(design_of(shuffled, *args))
    theta, L, s, phi, delta = random_parameters(a, "car1", 3)
    la = serial_terms(*a.structure(), a.y, a.W, a.Z, a.V, theta, L, s, phi, delta, False)[0]
    lb = serial_terms(*b.structure(), b.y, b.W, b.Z, b.V, theta, L, s, phi, delta, False)[0]
    assert abs(la - lb) < 1e-10 * abs(la)


def test_simulated_panel_has_gaps_and_shuffled_rows():
    data, truth = simulate_panel(30, 8, kind="ar1", p_missing=0.3, seed=1)
    per_unit = data.groupby("id")["occasion"].agg(["size", "min", "max"])
    assert (per_unit["size"] >= 2).all() and (per_unit["size"] < 8).any()
    assert not data["id"].is_monotonic_increasing
    assert truth["phi"] == 0.6 and set(data["group"]) == {"a", "b"}
