"""Session fixtures: the fits several test modules share, each made once and seeded here (the
one place the seeds live), handed to each test as its own copy so that a test which adds
groups to ``fit.idata`` (posterior predictive draws, log-likelihood) cannot change what
another test sees. Plain helpers are in support.py."""

from __future__ import annotations

import dataclasses
import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("PYTENSOR_FLAGS", "")

import hiermod as hm  # noqa: E402
import support  # noqa: E402

#: the seed of every shared fit
SEEDS = {"radon_vis": 11, "radon_null": 12, "hsb_null": 13, "sim_fit": 14, "contraception": 15,
         "panel": 17, "panel_fit": 18}


def _own_copy(fit):
    """The fit with its own DataTree (the arrays are shared, the groups are not)."""
    return dataclasses.replace(fit, idata=fit.idata.copy())


@pytest.fixture(scope="session")
def cases():
    return support.reference_cases()


@pytest.fixture(scope="session")
def _radon_vis():
    return hm.fit("log_radon ~ floor + (1 + floor | county)", hm.datasets.load("radon"),
                  random_seed=SEEDS["radon_vis"], **support.SETTINGS)


@pytest.fixture(scope="session")
def _radon_null(_radon_vis):
    """The null model of radon_vis, made by hm.null_model (same data and sampler settings)."""
    return hm.null_model(_radon_vis, random_seed=SEEDS["radon_null"])


@pytest.fixture(scope="session")
def _hsb_null():
    return hm.fit("mAch ~ 1 + (1 | school)", hm.datasets.load("hsb82"),
                  random_seed=SEEDS["hsb_null"], **support.SETTINGS)


@pytest.fixture(scope="session")
def sim_data():
    """(training data: 40 simulated subjects with 4–12 rows and one with 60; held-out: 200 new
    subjects with one row each)."""
    return support.make_sim_data()


@pytest.fixture(scope="session")
def _sim_fit(sim_data):
    train, _ = sim_data
    return hm.fit("y ~ time + w + (1 + time | subject)", train, random_seed=SEEDS["sim_fit"],
                  **support.SETTINGS)


@pytest.fixture(scope="session")
def _contraception():
    """A bernoulli GLMM with a yes/no outcome (event "Y"), factors and a quadratic in age."""
    return hm.fit(support.CONTRACEPTION, hm.datasets.load("contraception"), family="bernoulli",
                  event="Y", random_seed=SEEDS["contraception"], **support.SETTINGS)


@pytest.fixture
def contraception(_contraception):
    return _own_copy(_contraception)


@pytest.fixture
def radon_vis(_radon_vis):
    return _own_copy(_radon_vis)


@pytest.fixture
def radon_null(_radon_null):
    return _own_copy(_radon_null)


@pytest.fixture
def hsb_null(_hsb_null):
    return _own_copy(_hsb_null)


@pytest.fixture
def sim_fit(_sim_fit):
    return _own_copy(_sim_fit)


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The demo command run once: (run, output folder)."""
    out = tmp_path_factory.mktemp("hiermod_demo")
    return support.demo_run(out), out


@pytest.fixture(scope="session")
def panel_data():
    """A simulated growth panel with known truth (hiermod.longitudinal.simulate_panel): 300
    units, 8 occasions with 20% missing, AR(1) residuals, a residual sd per group, rows
    shuffled; (data, truth)."""
    return support.make_panel(SEEDS["panel"])


@pytest.fixture(scope="session")
def _panel_fit(panel_data):
    data, _ = panel_data
    return hm.fit(support.PANEL_FORMULA, data, correlation=support.PANEL_CORRELATION,
                  sigma=support.PANEL_SIGMA, random_seed=SEEDS["panel_fit"],
                  **support.PANEL_SETTINGS)


@pytest.fixture
def panel_fit(_panel_fit):
    return _own_copy(_panel_fit)


@pytest.fixture(scope="session")
def dask_client():
    """A LocalCluster of 2 single-threaded worker processes on the loopback interface, and its
    Client; closed at the end of the session (the tests of Dask data and of many fits)."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=":0")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()
