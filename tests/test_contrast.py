"""hiermod.report.contrast: linear combinations of the fixed effects, draw by draw (no sampling:
a hand-made posterior)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr

from hiermod.report import contrast, contrast_draws

TERMS = ("Intercept", "cwc(ses, school)", "gmean(ses, school)")


@pytest.fixture
def posterior():
    rng = np.random.default_rng(7)
    beta = rng.normal([12.0, 2.0, 6.0], [0.2, 0.1, 0.4], size=(2, 500, 3))
    ds = xr.Dataset({"beta": (("chain", "draw", "fixed_term"), beta)},
                    coords={"chain": [0, 1], "draw": np.arange(500), "fixed_term": list(TERMS)})
    dt = xr.DataTree.from_dict({"/posterior": ds})
    return dt, SimpleNamespace(fixed_terms=TERMS), beta


def test_one_contrast_is_the_difference_draw_by_draw(posterior):
    dt, design, beta = posterior
    table = contrast(dt, design, {"gmean(ses, school)": 1, "cwc(ses, school)": -1})
    diff = (beta[..., 2] - beta[..., 1]).ravel()
    assert list(table.index) == ["gmean(ses, school) - cwc(ses, school)"]
    row = table.iloc[0]
    assert row["mean"] == pytest.approx(diff.mean())
    assert row["sd"] == pytest.approx(diff.std(ddof=1))
    assert row["lower"] == pytest.approx(np.quantile(diff, 0.025))
    assert row["upper"] == pytest.approx(np.quantile(diff, 0.975))
    assert row["p_positive"] == pytest.approx(np.mean(diff > 0))
    assert table.attrs["interval_prob"] == 0.95


def test_named_contrasts_and_weights(posterior):
    dt, design, beta = posterior
    table = contrast(dt, design, {"slope at 2": {"Intercept": 1, "cwc(ses, school)": 2},
                                  "half": {"gmean(ses, school)": 0.5}}, prob=0.5)
    assert list(table.index) == ["slope at 2", "half"]
    assert table.loc["slope at 2", "mean"] == pytest.approx((beta[..., 0] + 2 * beta[..., 1]).mean())
    assert table.loc["half", "upper"] == pytest.approx(np.quantile(0.5 * beta[..., 2], 0.75))
    draws = contrast_draws(dt, design, {"x": {"Intercept": 1}})
    assert draws["x"].shape == (2, 500)


def test_label_of_weights(posterior):
    dt, design, _ = posterior
    table = contrast(dt, design, {"cwc(ses, school)": -1, "gmean(ses, school)": 2.5})
    assert table.index[0] == "-cwc(ses, school) + 2.5*gmean(ses, school)"


@pytest.mark.parametrize("weights, message", [
    ({"ses": 1}, "unknown fixed term"),
    ({}, "non-empty"),
    ({"Intercept": "one"}, "number"),
    ({"a": {"Intercept": "x"}}, "numbers"),
])
def test_bad_weights_raise_clearly(posterior, weights, message):
    dt, design, _ = posterior
    with pytest.raises(ValueError, match=message) as err:
        contrast(dt, design, weights)
    if "unknown" in message:
        assert "'cwc(ses, school)'" in str(err.value)  # lists the valid terms
