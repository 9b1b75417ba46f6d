"""Every report plot renders (Agg backend) and saves as a modest PNG."""

from __future__ import annotations

import matplotlib

from support import load_reference

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import hiermod.plots as hp  # noqa: E402

MAX_BYTES = 150_000


def save(fig, tmp_path, name):
    assert isinstance(fig, Figure)
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=80)
    size = path.stat().st_size
    assert 5_000 < size < MAX_BYTES, size
    return path


def test_caterpillar(tmp_path, radon_vis):
    save(hp.plot_caterpillar(radon_vis.group_effects()), tmp_path, "caterpillar")


def test_shrinkage(tmp_path, radon_vis):
    save(hp.plot_shrinkage(radon_vis.pooling()), tmp_path, "shrinkage")


def test_icc(tmp_path, radon_null):
    fit = radon_null
    fig = hp.plot_icc(fit.icc_draws(), reference={"county": load_reference("radon_null")["icc"]})
    save(fig, tmp_path, "icc")


def test_predictions_with_new_group(tmp_path, radon_vis):
    grid = pd.DataFrame([(c, f) for c in ["LAKE", "HENNEPIN", "AITKIN", "a new county"]
                         for f in (0, 1)], columns=["county", "floor"])
    table = radon_vis.predict(grid, random_seed=1).table
    save(hp.plot_predictions(table, "floor", "county"), tmp_path, "predictions")
    save(hp.plot_predictions(table, "floor", "county", interval="outcome"), tmp_path, "pred_y")
    with pytest.raises(ValueError, match="interval"):
        hp.plot_predictions(table, "floor", "county", interval="both")


def test_ppc(tmp_path, radon_vis):
    fit = radon_vis
    fit.posterior_predictive()
    save(hp.plot_ppc(fit.idata, fit.ppc_groups()), tmp_path, "ppc")


def test_spaghetti(tmp_path, sim_fit):
    fit = sim_fit
    table = fit.trajectories("time", n_points=10)
    save(hp.plot_spaghetti(table, observed=fit.data, y="y", group="subject"), tmp_path,
         "spaghetti")
    save(hp.plot_spaghetti(table, facets=True), tmp_path, "spaghetti_facets")
