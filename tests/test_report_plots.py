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


def test_caterpillar_labels_every_group_in_one_order_across_panels(radon_vis):
    """85 counties (> 30): every county is labelled, and a county's row is the same row in
    the Intercept and the floor panels (each panel had been sorted on its own)."""
    table = radon_vis.group_effects()
    fig = hp.plot_caterpillar(table)
    first, second = fig.axes
    labels = [t.get_text() for t in first.get_yticklabels()]
    assert len(labels) == 85 and set(labels) == set(radon_vis.design.factors[0].levels)
    intercept = table.loc["Intercept"]
    assert labels == list(intercept.sort_values("mean", kind="stable").index)
    # the floor panel puts each county at the row of its Intercept
    ys = second.collections[1].get_offsets()[:, 1]
    xs = second.collections[1].get_offsets()[:, 0]
    floor = table.loc["floor"]
    np.testing.assert_allclose(xs[ys.argsort()], floor.loc[labels, "mean"].to_numpy())
    by_floor = hp.plot_caterpillar(table, sort_by="floor")
    assert [t.get_text() for t in by_floor.axes[0].get_yticklabels()] == list(
        floor.sort_values("mean", kind="stable").index)
    assert "sorted by floor" in by_floor.axes[0].get_ylabel()


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


@pytest.mark.slow
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


# --- what a plot shows when the table has lost its attrs ----------------------------------------


def without_attrs(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    out.attrs = {}
    return out


def test_plots_need_no_attrs_and_never_guess_a_label(radon_vis):
    """pandas drops ``attrs`` in many operations; a plot of such a table must still name the
    factor (from the index) and must not print a default "95%" for an 80% interval."""
    effects = radon_vis.group_effects(prob=0.8)
    fig = hp.plot_caterpillar(without_attrs(effects))
    title = fig._suptitle.get_text()
    assert "county" in title and "95%" not in title and "80%" not in title
    assert "80%" in hp.plot_caterpillar(without_attrs(effects), prob=0.8)._suptitle.get_text()
    assert "80%" in hp.plot_caterpillar(effects)._suptitle.get_text()  # attrs, when present
    pool = without_attrs(radon_vis.pooling())
    assert "county" in hp.plot_shrinkage(pool).axes[0].get_xlabel()
    grid = pd.DataFrame({"county": ["AITKIN", "AITKIN"], "floor": [0, 1]})
    pred = without_attrs(radon_vis.predict(grid, prob=0.8, kind="mean").table)
    ylabel = hp.plot_predictions(pred, "floor", "county").axes[0].get_ylabel()
    assert "%" not in ylabel
    assert "80%" in hp.plot_predictions(pred, "floor", "county", prob=0.8).axes[0].get_ylabel()


# --- categorical x, balanced and extreme shrinkage -----------------------------------------------


def test_predictions_with_a_categorical_x(tmp_path, radon_vis):
    """x="urban" with text values raised 'could not convert string to float'."""
    grid = pd.DataFrame([(c, f) for c in ["LAKE", "AITKIN", "a new county"]
                         for f in ("basement", "first floor")], columns=["county", "where"])
    grid["floor"] = (grid["where"] == "first floor").astype(int)
    table = radon_vis.predict(grid, random_seed=1, kind="mean").table
    table["where"] = grid["where"]
    fig = hp.plot_predictions(table, "where", "county")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["basement", "first floor"]
    assert marks(ax, PathCollection) == len(table) and marks(ax, LineCollection) == len(table)
    xs = np.sort(np.concatenate([c.get_offsets()[:, 0] for c in ax.collections
                                 if type(c) is PathCollection]))
    assert len(np.unique(np.round(xs, 6))) == 6  # the three counties side by side per category
    assert ax.get_ylim()[0] <= table["lower"].min() and ax.get_ylim()[1] >= table["upper"].max()
    assert ax.get_legend().get_title().get_text() == "county"
    save(fig, tmp_path, "predictions_categorical")


def pooling_table(n: np.ndarray, no_pool: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """A pooling table of one term over len(n) groups (partial = 60% of the way to 0)."""
    rng = np.random.default_rng(seed)
    levels = [f"g{j:02d}" for j in range(len(n))]
    partial = 0.6 * np.nan_to_num(no_pool) + rng.normal(0, 0.01, len(n))
    return pd.DataFrame({"n": n, "no_pool": no_pool, "partial_mean": partial,
                         "complete_pool": 0.0},
                        index=pd.MultiIndex.from_product([["Intercept"], levels],
                                                         names=["term", "school"]))


def test_shrinkage_on_balanced_data_draws_before_and_after(tmp_path):
    """Every n_j = 9: the log axis of n had nothing to show (all points in one column)."""
    rng = np.random.default_rng(1)
    table = pooling_table(np.full(30, 9), rng.normal(0, 1, 30))
    fig = hp.plot_shrinkage(table)
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["no pooling", "partial pooling"]
    assert len([ln for ln in ax.lines if len(ln.get_xdata()) == 2]) >= 30  # one line per group
    assert "n = 9" in ax.get_xlabel() and "school" in ax.get_xlabel()
    save(fig, tmp_path, "shrinkage_balanced")


def test_shrinkage_keeps_its_scale_when_one_estimate_is_extreme(tmp_path):
    """One no-pooling slope of 1000 squashed every other group into a flat line."""
    rng = np.random.default_rng(2)
    no_pool = rng.normal(0, 1, 40)
    no_pool[7] = 1000.0
    n = rng.integers(2, 60, 40)
    table = pooling_table(n, no_pool)
    table.loc[("Intercept", "g07"), "partial_mean"] = 0.5
    fig = hp.plot_shrinkage(table)
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert hi < 10 and lo > -10  # the scale of the other 39 groups
    others = np.delete(no_pool, 7)
    assert lo <= others.min() and hi >= others.max()
    assert lo <= table["partial_mean"].min() and hi >= table["partial_mean"].max()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "no pooling, off the scale (1)" in legend
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "10" in labels and all("^" not in s and "$" not in s for s in labels)
    save(fig, tmp_path, "shrinkage_extreme")


# --- binary outcomes ---------------------------------------------------------------------------


def test_ppc_of_a_binary_outcome_draws_proportions(tmp_path, contraception):
    fit = contraception
    fit.posterior_predictive(random_seed=2)
    groups = fit.ppc_groups(random_seed=2)
    fig = hp.plot_ppc(fit.idata, groups)
    left, right = fig.axes
    assert left.get_xlabel() == "proportion of ones (y = 1)"
    assert len(left.patches) == 30  # one bar per bin of the replications' proportions
    observed = [ln.get_xdata()[0] for ln in left.lines]
    assert pytest.approx(fit.design.y.mean()) in observed
    assert right.get_ylabel() == "group proportion" and "district" in right.get_xlabel()
    assert marks(right, PathCollection) == 60
    save(fig, tmp_path, "ppc_binary")


# --- model checks --------------------------------------------------------------------------------


def test_check_plots_draw_one_mark_per_row(tmp_path, contraception, radon_vis):
    fit = contraception
    binned = fit.binned_residuals()
    fig = hp.plot_binned_residuals(binned)
    ax = fig.axes[0]
    assert marks(ax, PathCollection) == len(binned) == 44  # ceil(sqrt(1934)) bins
    assert ax.get_xlabel() == "mean fitted value of the bin" and len(ax.lines) == 3  # ±2 SE, 0
    assert f"{int(binned['outside'].sum())} of 44" in ax.get_title(loc="left")
    save(fig, tmp_path, "binned_residuals")

    cal = fit.calibration(n_bins=10)
    fig = hp.plot_calibration(cal)
    ax = fig.axes[0]
    assert marks(ax, PathCollection) == 10 and marks(ax, LineCollection) == 20
    assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1)
    assert any("95%" in t.get_text() for t in ax.get_legend().get_texts())
    save(fig, tmp_path, "calibration")

    qq = fit.group_effects_qq()
    fig = hp.plot_qq(qq)
    ax = fig.axes[0]
    assert marks(ax, PathCollection) == 60 and marks(ax, LineCollection) == 60
    assert "district" in ax.get_ylabel() and "Intercept" in ax.get_ylabel()
    assert len(ax.texts) == 6  # three labelled districts at each end
    save(fig, tmp_path, "qq_group_effects")

    res = radon_vis.residuals()
    fig = hp.plot_residuals(res)
    ax = fig.axes[0]
    assert marks(ax, PathCollection) == 919 and ax.get_ylabel() == "Pearson residual"
    save(fig, tmp_path, "residuals")


def test_prior_predictive_check_plot(tmp_path, contraception):
    tree = contraception.prior_predictive(draws=200, random_seed=3)
    fig = hp.plot_ppc(tree, group="prior_predictive")
    ax = fig.axes[0]
    assert ax.get_title(loc="left").startswith("Prior predictive") and len(ax.patches) == 30
    save(fig, tmp_path, "prior_predictive")
    with pytest.raises(ValueError, match="fit.prior_predictive"):
        hp.plot_ppc(contraception.idata, group="prior_predictive")
