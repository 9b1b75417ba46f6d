"""Growth-model tools: piecewise-linear and since-first-occasion time (formula functions), the
unit grid for forecasts, and the figures of growth models (what each one draws)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import hiermod as hm  # noqa: E402
import hiermod.plots as hp  # noqa: E402
from hiermod.errors import DataError  # noqa: E402
from hiermod.transforms import pw  # noqa: E402


def test_pw_is_continuous_with_a_slope_per_segment():
    t = np.array([0.0, 1.0, 3.0, 4.0, 6.0, 9.0])
    cols = pw(t, 3, 6)
    np.testing.assert_array_equal(cols[:, 0], [0, 1, 3, 3, 3, 3])
    np.testing.assert_array_equal(cols[:, 1], [0, 0, 0, 1, 3, 3])
    np.testing.assert_array_equal(cols[:, 2], [0, 0, 0, 0, 0, 3])
    slopes = np.array([1.0, -0.5, 2.0])
    f = cols @ slopes
    assert np.allclose(np.diff(f) / np.diff(t), [1, 1, -0.5, -0.5, 2])  # slope per segment
    with pytest.raises(DataError, match="at least one knot"):
        pw(t)
    with pytest.raises(DataError, match="must increase"):
        pw(t, 5, 2)


def test_pw_in_a_formula_recovers_segment_slopes():
    """REML on exact piecewise data: the coefficients are the segments' slopes."""
    rng = np.random.default_rng(0)
    rows = []
    for j in range(20):
        t = np.arange(8.0)
        y = 1.0 + rng.normal(0, 0.5) + pw(t, 4) @ [1.5, -0.5] + rng.normal(0, 0.05, 8)
        rows.append(pd.DataFrame({"id": f"s{j}", "t": t, "y": y}))
    fit = hm.reml("y ~ pw(t, 4) + (1 | id)", pd.concat(rows, ignore_index=True))
    assert fit.fixed_terms == ("Intercept", "pw(t, 4)[0]", "pw(t, 4)[1]")
    np.testing.assert_allclose(fit.beta[1:], [1.5, -0.5], atol=0.01)


def test_since_is_learned_on_the_fitted_data():
    data = pd.DataFrame({"g": ["a", "a", "b", "b"], "age": [8.0, 10.0, 9.0, 13.0],
                         "y": [1.0, 2.0, 3.0, 4.0]})
    design = hm.make_design(hm.parse_formula("y ~ since(age, g) + (1 | g)"), data)
    np.testing.assert_array_equal(design.X[:, 1], [0, 2, 0, 4])
    new = pd.DataFrame({"g": ["a", "c", "c"], "age": [14.0, 5.0, 6.0]})
    X = np.asarray(design.fixed_matrix.evaluate_new_data(new))
    np.testing.assert_array_equal(X[:, 1], [6, 0, 1])  # unit a from its first age 8; c its own


def test_unit_grid_carries_each_units_columns():
    data = pd.DataFrame({"id": ["u1", "u1", "u2"], "time": [0.0, 1.0, 0.0],
                         "treat": ["x", "x", "y"], "y": [1.0, 2.0, 3.0]})
    grid = hm.report.unit_grid(data, "id", "time", [0, 1, 2, 3])
    assert len(grid) == 8 and grid["treat"].tolist() == ["x"] * 4 + ["y"] * 4
    assert grid["time"].tolist() == [0, 1, 2, 3] * 2
    with pytest.raises(DataError, match="no rows of unit 'u9'"):
        hm.report.unit_grid(data, "id", "time", [1], units=["u9"])


@pytest.fixture(scope="module")
def orthodont():
    return hm.datasets.load("orthodont")


def test_plot_growth_draws_each_unit_and_the_mean(orthodont, tmp_path):
    mean = pd.DataFrame({"age": [8.0, 14.0], "mean": [22.0, 26.0], "lower": [21.0, 25.0],
                         "upper": [23.0, 27.0]})
    fig = hp.plot_growth(orthodont, "age", "distance", "Subject", mean=mean)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.lines) == 27 + 1  # one trajectory per child, one fitted mean
    assert ax.get_xlabel() == "age" and ax.get_ylabel() == "distance"
    fig = hp.plot_growth(orthodont, "age", "distance", "Subject", by="Sex", max_units=5)
    assert len(fig.axes[0].lines) == 5
    fig.savefig(tmp_path / "growth.png", dpi=60)


def test_plot_unit_fits_one_panel_per_unit(orthodont):
    table = hm.report.unit_grid(orthodont, "Subject", "age", [8, 10, 12, 14, 16],
                                units=["M01", "F01", "M02"])
    table["mean"] = 20 + table["age"] / 2
    table["y_lower"], table["y_upper"] = table["mean"] - 2, table["mean"] + 2
    fig = hp.plot_unit_fits(table, orthodont, "age", "distance", "Subject")
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["M01", "F01", "M02"]
    for ax in shown:
        assert sum(len(c.get_offsets()) for c in ax.collections
                   if isinstance(c, PathCollection)) == 4  # four observed ages
        assert any(line.get_linestyle() == "--" for line in ax.lines)  # the forecast to 16


def test_plot_residual_acf_one_panel_per_fit():
    t = pd.DataFrame({"acf": [1.0, 0.4, 0.1], "bound": [0.1, 0.11, 0.12]},
                     index=pd.Index([0, 1, 2], name="lag"))
    fig = hp.plot_residual_acf({"before": t, "after": t.assign(acf=[1.0, 0.01, -0.02])})
    assert [ax.get_title() for ax in fig.axes] == ["before", "after"]
    segments = fig.axes[0].collections[0].get_segments()
    assert len(segments) == 3 and segments[1][1][1] == pytest.approx(0.4)
