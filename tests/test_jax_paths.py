"""The PyMC faces of the new paths run on numpyro / JAX (the GPU route): the bernoulli model on
cells in the adaptive parameterization and the several-factor marginal gaussian model (its
dense graph face). Small draws; the estimates are checked loosely against the nutpie fits."""

from __future__ import annotations

import numpy as np
import pytest

import hiermod as hm

QUICK = {"draws": 150, "tune": 250, "chains": 1, "progressbar": False}


@pytest.mark.slow
def test_numpyro_runs_the_cell_model():
    import numpyro  # noqa: F401 - installed by the set-up (hiermod[jax])

    fit = hm.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                 hm.datasets.load("cbpp"), family="binomial", sampler="numpyro", random_seed=1,
                 **QUICK)
    assert fit.model_path == "cells" and fit.parameterization == "adaptive"
    beta = fit.idata["posterior"]["beta"].mean(("chain", "draw")).values
    np.testing.assert_allclose(beta, [-1.40, -0.99, -1.13, -1.58], atol=0.5)


@pytest.mark.slow
def test_numpyro_runs_the_crossed_marginal_model():
    fit = hm.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", hm.datasets.load("penicillin"),
                 sampler="numpyro", random_seed=2, **QUICK)
    assert fit.model_path == "marginal"
    assert fit.idata["posterior"].attrs["implementation"] == "graph"
    assert abs(float(fit.idata["posterior"]["beta"].mean()) - 22.97) < 1.0
    assert fit.idata["posterior"]["u_sample"].shape == (1, 150, 6, 1)
