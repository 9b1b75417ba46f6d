"""Predictions for existing and new groups on simulated longitudinal data with known truth."""

from __future__ import annotations

import pandas as pd
import pytest

from hiermod import names
from hiermod.errors import DataError


@pytest.fixture
def held_out_predictions(sim_data, sim_fit):
    _, held = sim_data
    return held, sim_fit.predict(held.drop(columns="y"), prob=0.9, random_seed=7)


def test_new_group_intervals_cover_at_nominal_rate(held_out_predictions):
    held, pred = held_out_predictions
    t = pred.table
    assert t["new_group"].all() and len(pred.new_levels["subject"]) == 200
    covered = (held["y"] >= t["y_lower"]) & (held["y"] <= t["y_upper"])
    rate = covered.mean()
    print(f"90% predictive intervals of 200 new subjects cover {rate:.3f}")
    assert 0.80 <= rate <= 0.97


def test_new_group_interval_wider_than_well_observed_group(sim_data, sim_fit):
    fit = sim_fit
    train, _ = sim_data
    big = train["subject"].value_counts().idxmax()  # 60 observations
    row = train[train["subject"] == big].iloc[[0]].drop(columns="y")
    new = row.assign(subject="never seen")
    both = pd.concat([row, new], ignore_index=True)
    t = fit.predict(both, prob=0.9, random_seed=1).table
    width = t["upper"] - t["lower"]
    y_width = t["y_upper"] - t["y_lower"]
    print(f"E[y] 90% width: existing {width[0]:.3f}, new {width[1]:.3f}; "
          f"y width: {y_width[0]:.3f} vs {y_width[1]:.3f}")
    assert width[1] > 2 * width[0]
    assert y_width[1] > y_width[0]
    # "zero": the population average of a new group is narrower than "sample"
    z = fit.predict(new, new_groups="zero", prob=0.9).table
    assert (z["upper"] - z["lower"]).iloc[0] < width[1]


def test_new_group_uses_its_level2_predictor_from_newdata(sim_fit):
    fit = sim_fit
    new = pd.DataFrame({"time": [0.0, 0.0], "w": [-2.0, 2.0], "subject": ["n1", "n2"]})
    t = fit.predict(new, new_groups="zero", kind="mean").table
    beta = fit.idata.posterior["beta"]
    b_w = float(beta.sel(fixed_term="w").mean())
    assert t["mean"].iloc[1] - t["mean"].iloc[0] == pytest.approx(4 * b_w, rel=1e-9)
    assert b_w == pytest.approx(0.5, abs=0.35)  # the simulation's truth


def test_predict_errors_and_draws_tree(sim_fit):
    fit = sim_fit
    new = pd.DataFrame({"time": [1.0], "w": [0.0], "subject": ["nobody"]}, index=["r1"])
    with pytest.raises(DataError, match=r"'nobody'.*row r1"):
        fit.predict(new, new_groups="refuse")
    with pytest.raises(DataError, match=r"'time' \(fixed-effect predictor\)"):
        fit.predict(new.drop(columns="time"))
    with pytest.raises(ValueError, match="new_groups must be one of"):
        fit.predict(new, new_groups="drop")
    out = fit.predict(new, random_seed=3)
    pred = out.draws[names.PREDICTIONS]
    assert set(pred.data_vars) == {names.LINPRED, names.EXPECTED, names.OUTCOME}
    assert pred[names.OUTCOME].dims == ("chain", "draw", "obs")
    again = fit.predict(new, random_seed=3).table
    pd.testing.assert_frame_equal(out.table, again)  # reproducible with a seed


def test_trajectories_follow_each_subject(sim_fit):
    fit = sim_fit
    tr = fit.trajectories("time", n_points=5)
    assert tr["level"].nunique() == 40 and len(tr) == 200
    assert not tr["new_group"].any()
