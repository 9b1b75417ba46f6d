"""The marginal model as nutpie's C callback (hiermod/marginal/callback.py).

Independent check: the log-density and gradient must equal PyMC's own
``compile_logp(jacobian=True)`` / ``compile_dlogp`` of the PyMC model of the same design (priors,
transforms, Jacobians and likelihood written once in PyTensor, once by hand) to 1e-10 relative;
they differ only by rounding. A fit through the callback must store the same variables, dims
and coordinates as a fit of the PyMC model, and the two posteriors agree (within 4 Monte Carlo
standard errors of the difference: both are draws of one density).
"""

import numpy as np
import pytest

import hiermod as hm
from hiermod import names
from hiermod.compiled.nutpie import UNCONSTRAINED
from hiermod.marginal import assemble_marginal_model, group_stats
from hiermod.marginal.callback import CompiledMarginal
from hiermod.sample import SamplerSettings, sample
from support import MARGINAL_CASES as CASES
from support import design_of, tiered

OTHER_PRIORS = {  # every family the compiled path evaluates, on every kind of coordinate
    "Intercept": hm.Prior("StudentT", nu=4, mu=250, sigma=60),
    "Days": hm.Prior("Cauchy", alpha=0, beta=20),
    "sd(Intercept | Subject)": hm.Prior("HalfStudentT", nu=3, sigma=40),
    "sd(Days | Subject)": hm.Prior("HalfStudentT", nu=5, sigma=10),
    "sigma": hm.Prior("Gamma", alpha=2, beta=0.1),
    "lkj(Subject)": hm.Prior("LKJ", eta=1.5),
}
OTHER_PRIORS_2 = {
    "Days": hm.Prior("Normal", mu=5, sigma=3),
    "sd(Subject)": hm.Prior("HalfCauchy", beta=30),
    "sigma": hm.Prior("Exponential", lam=0.05),
}


def compiled_and_model(design, priors=None):
    stats = group_stats(design)
    built = assemble_marginal_model(design, priors, stats=stats)
    return CompiledMarginal(built, stats), built.model


@pytest.mark.parametrize(("case", "priors"),
                         tiered([(c, None) for c in CASES]
                                + [("sleep_vis", OTHER_PRIORS), ("sleep_uncorr", OTHER_PRIORS_2)],
                                {("sleep_vis", None)}))
def test_logp_and_gradient_equal_pymc(case, priors):
    design = design_of(case)
    cm, model = compiled_and_model(design, priors)
    logp = model.compile_logp(jacobian=True, mode="FAST_COMPILE")
    dlogp = model.compile_dlogp(jacobian=True, mode="FAST_COMPILE")
    rng = np.random.default_rng(3)
    offsets = []
    for _ in range(4):
        x = cm.layout.initial_point(int(rng.integers(2**31))) + rng.normal(0, 0.5, cm.n_dim)
        point = cm.layout.split(x)
        assert list(point) == [v.name for v in model.value_vars]
        value, grad = cm.logp_and_grad(x)
        offsets.append(value - logp(point))
        # PyMC takes log π of the Cauchy families in single precision: ~5e-8 per such prior
        assert abs(offsets[-1]) < 1e-6
        # the layout is PyMC's own order of the value variables: the gradients line up
        np.testing.assert_allclose(grad, dlogp(point), rtol=1e-9,
                                   atol=1e-9 * np.max(np.abs(grad)))
    assert np.ptp(offsets) < 1e-9 * abs(value)  # equal up to that constant


def test_non_finite_points_are_reported_not_raised():
    cm, _ = compiled_and_model(design_of("sleep_vis"))
    x = cm.layout.initial_point(0)
    x[cm.layout.variable(names.SIGMA).start] = -800.0  # σ = e^-800 underflows to 0
    value, grad = cm.logp_and_grad(x)
    assert not (np.isfinite(value) and np.all(np.isfinite(grad)))


@pytest.mark.slow
@pytest.mark.parametrize("case", ["sleep_vis", "sleep_uncorr", "three_terms"])
def test_compiled_fit_stores_what_the_pymc_model_stores(case):
    design = design_of(case)
    cm, model = compiled_and_model(design)
    settings = SamplerSettings(draws=300, tune=300, chains=2, random_seed=4, progressbar=False)
    a, b = sample(model, settings, compiled=cm).tree, sample(model, settings).tree
    pa, pb = a["posterior"].to_dataset(), b["posterior"].to_dataset()
    assert UNCONSTRAINED not in pa
    assert set(pa.data_vars) == set(pb.data_vars)
    for v in pb.data_vars:
        assert pa[v].dims == pb[v].dims and pa[v].shape == pb[v].shape, v
    for c in pb.coords:
        np.testing.assert_array_equal(pa[c].values, pb[c].values)
    # β is the Deterministic of the sampled intercept and slopes, as in the PyMC model
    beta = pa[names.FIXED].values
    np.testing.assert_allclose(beta[..., 1], pa[names.SLOPES].values[..., 0])
    g = design.factors[0].name
    for v in (names.FIXED, names.group_sd(g), names.group_corr(g), names.SIGMA):
        if v not in pb:
            continue
        diff = pa[v].mean(("chain", "draw")) - pb[v].mean(("chain", "draw"))
        mcse = np.sqrt(pa[v].var(("chain", "draw")) / 150 + pb[v].var(("chain", "draw")) / 150)
        assert np.all((np.abs(diff) < 4 * mcse) | (mcse == 0)), v


@pytest.mark.slow
def test_fit_uses_the_compiled_path_for_nutpie_only():
    data = hm.datasets.load("sleepstudy")
    kw = dict(draws=100, tune=100, chains=2, random_seed=2, progressbar=False)
    fast = hm.fit("Reaction ~ Days + (Days | Subject)", data, **kw)
    attrs = fast.idata["posterior"].attrs
    assert attrs["model_path"] == "marginal" and attrs["marginal_implementation"] == "compiled"
    assert names.group_effects("Subject") in fast.idata["posterior"]
    slow = hm.fit("Reaction ~ Days + (Days | Subject)", data, sampler="pymc", **kw)
    assert slow.idata["posterior"].attrs["marginal_implementation"] == "op"
    with pytest.raises(hm.SpecError, match="nutpie only"):
        sample(slow.model, SamplerSettings(sampler="pymc"), compiled=object())
