"""The traps a new user hit (issue 16), each as a test that fails on the code before the fix.

Each test reproduces the report's example on a small fit or a fake posterior and checks what a
user would have read: labels of ``az.summary``, a prediction for a one-row new group, a
categorical axis, the ICC of the report, a prior key, a model file's error line.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import hiermod as hm
from hiermod import names


def test_az_summary_labels_each_group_effect_with_its_own_value(radon_vis):
    """``az.summary(fit.idata)`` printed school 2's intercept as ``u_school[1, standLRT]``: ArviZ
    1.3 stacks the values in the order the dims first appear across variables (``sd_<g>``'s
    term dim before ``u_<g>``'s level dim) but labels them in each variable's own order."""
    fit = radon_vis
    table = az.summary(fit.idata, round_to="none", kind="stats")
    effects = fit.group_effects()
    for (term, level), row in effects.iterrows():
        assert table.loc[f"u_county[{level}, {term}]", "mean"] == pytest.approx(row["mean"])
    sd = fit.summary()
    for term in ("Intercept", "floor"):
        assert table.loc[f"sd_county[{term}]", "mean"] == pytest.approx(
            sd.loc[names.sd_label("county", term), "mean"])
    corr = sd.loc[names.corr_label("county", "Intercept", "floor"), "mean"]
    assert table.loc["corr_county[Intercept, floor]", "mean"] == pytest.approx(corr)


def test_no_two_posterior_variables_share_a_dim_in_another_order(radon_vis):
    """The cause, checked on every variable of the posterior: the dims each variable has keep
    the order in which they first appear across the posterior (what ArviZ assumes)."""
    post = radon_vis.idata["posterior"].to_dataset()
    order: list[str] = []
    for da in post.data_vars.values():
        for d in da.dims:
            if d not in order:
                order.append(d)
    for var, da in post.data_vars.items():
        positions = [order.index(d) for d in da.dims]
        assert positions == sorted(positions), var


def test_a_fit_saved_with_the_old_dims_loads_with_the_new(radon_vis, tmp_path):
    fit = radon_vis
    post = fit.idata["posterior"].to_dataset()
    old = post.drop_vars(["sd_county", "corr_county"])
    old["sd_county"] = post["sd_county"].rename({"county_cov_term": "county_term"})
    old["corr_county"] = post["corr_county"].rename({"county_cov_term": "county_term",
                                                     "county_cov_term_": "county_term_"})
    old = old.drop_vars(["county_cov_term", "county_cov_term_"])
    tree = fit.idata.copy()
    tree["posterior"] = xr.DataTree(old)
    hm.Fit(tree, fit.spec, fit.design, fit.data).save(tmp_path / "old.nc")
    loaded = hm.load_fit(tmp_path / "old.nc")
    assert loaded.idata["posterior"]["sd_county"].dims[-1] == names.cov_dim("county")
    pd.testing.assert_frame_equal(loaded.summary(), fit.summary())
