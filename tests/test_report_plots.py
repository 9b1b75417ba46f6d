"""Every report plot draws what its report holds: axis labels, the number of marks, data limits
(Agg backend; figures are returned, never shown), and saves as a modest PNG."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import hiermod.plots as hp  # noqa: E402
from support import load_reference  # noqa: E402

MAX_BYTES = 150_000


def save(fig, tmp_path, name):
    assert isinstance(fig, Figure)
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=80)
    assert 5_000 < path.stat().st_size < MAX_BYTES
    return path


def marks(ax, kind):
    """Number of points (PathCollection) or segments (LineCollection) drawn on an axis."""
    return sum(len(c.get_offsets()) if kind is PathCollection else len(c.get_segments())
               for c in ax.collections if type(c) is kind)


def test_caterpillar_one_interval_and_point_per_group(tmp_path, radon_vis):
    table = radon_vis.group_effects()
    fig = hp.plot_caterpillar(table)
    axes = fig.axes
    assert len(axes) == 2  # Intercept and floor
    for ax, term in zip(axes, ["Intercept", "floor"], strict=True):
        assert marks(ax, PathCollection) == 85 and marks(ax, LineCollection) == 85
        assert ax.get_xlabel().startswith(term)
        lo, hi = ax.get_xlim()
        t = table.loc[term]
        assert lo <= t["lower"].min() and hi >= t["upper"].max()
    assert "county" in fig._suptitle.get_text() and "95%" in fig._suptitle.get_text()
    save(fig, tmp_path, "caterpillar")


def test_shrinkage_draws_no_and_partial_pooling_per_group(tmp_path, radon_vis):
    table = radon_vis.pooling()
    fig = hp.plot_shrinkage(table)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("observations in the group")
    assert "group estimate" in ax.get_ylabel()
    n_partial = marks(ax, PathCollection)
    assert n_partial >= 85  # partial pooling of every county, plus no pooling where estimable
    save(fig, tmp_path, "shrinkage")


def test_icc_histogram_with_reference(tmp_path, radon_null):
    draws = radon_null.icc_draws()
    ref = load_reference("radon_null")["icc"]
    fig = hp.plot_icc(draws, reference={"county": ref})
    ax = fig.axes[0]
    assert ax.get_xlabel() == "ICC (county)"
    assert len(ax.patches) == 40 + 1  # one bar per bin, and the interval's band
    xs = [line.get_xdata()[0] for line in ax.lines]
    assert pytest.approx(ref) in xs and pytest.approx(float(draws.mean())) in xs
    save(fig, tmp_path, "icc")


def test_predictions_with_new_group(tmp_path, radon_vis):
    grid = pd.DataFrame([(c, f) for c in ["LAKE", "HENNEPIN", "AITKIN", "a new county"]
                         for f in (0, 1)], columns=["county", "floor"])
    table = radon_vis.predict(grid, random_seed=1).table
    fig = hp.plot_predictions(table, "floor", "county")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "floor" and ax.get_ylabel().startswith("predicted")
    assert len(ax.lines) == 4  # one line per county, the new one included
    assert ax.get_ylim()[0] <= table["lower"].min() and ax.get_ylim()[1] >= table["upper"].max()
    save(fig, tmp_path, "predictions")
    save(hp.plot_predictions(table, "floor", "county", interval="outcome"), tmp_path, "pred_y")
    with pytest.raises(ValueError, match="interval"):
        hp.plot_predictions(table, "floor", "county", interval="both")


def test_ppc_draws_replications_and_group_means(tmp_path, radon_vis):
    fit = radon_vis
    fit.posterior_predictive(random_seed=3)
    groups = fit.ppc_groups()
    fig = hp.plot_ppc(fit.idata, groups)
    left, right = fig.axes
    assert left.get_xlabel() == "outcome" and len(left.lines) >= 2
    assert marks(right, PathCollection) == len(groups)  # one observed mean per county
    assert right.get_ylabel() == "group mean"
    save(fig, tmp_path, "ppc")


def test_spaghetti_one_curve_per_group(tmp_path, sim_fit):
    fit = sim_fit
    table = fit.trajectories("time", n_points=10)
    n_groups = table["level"].nunique()
    assert n_groups == 40
    fig = hp.plot_spaghetti(table, observed=fit.data, y="y", group="subject")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time"
    assert len(ax.lines) == n_groups  # one fitted curve per subject
    assert marks(ax, PathCollection) == len(fit.data)  # the observations
    assert np.isclose(ax.get_xlim()[0], 0, atol=1.0)
    save(fig, tmp_path, "spaghetti")
    facets = hp.plot_spaghetti(table, facets=True)
    assert len([a for a in facets.axes if a.get_visible() and a.lines]) == n_groups
    save(facets, tmp_path, "spaghetti_facets")
