"""Posterior predictive checks, pointwise log-likelihood, LOO and model comparison."""

from __future__ import annotations

import numpy as np
import pytest

import hiermod as hm
from hiermod import names
from hiermod.report import pareto_k_table


@pytest.fixture
def vis_with_ppc(radon_vis):
    fit = radon_vis
    fit.posterior_predictive(random_seed=1)
    return fit


def test_groups_added_to_datatree(vis_with_ppc):
    dt = vis_with_ppc.idata
    for group in (names.POSTERIOR_PREDICTIVE, names.LOG_LIKELIHOOD):
        da = dt[group][names.OUTCOME]
        assert da.dims == ("chain", "draw", "obs")
        assert da.shape == (2, 200, 919)
    assert np.isfinite(dt[names.LOG_LIKELIHOOD][names.OUTCOME].values).all()


def test_overall_and_group_checks(vis_with_ppc):
    overall = vis_with_ppc.ppc()
    # a gaussian model reproduces the mean and sd of log radon
    assert 0.05 < overall.loc["mean", "p_value"] < 0.95
    assert 0.05 < overall.loc["sd", "p_value"] < 0.95
    groups = vis_with_ppc.ppc_groups()
    assert len(groups) == 85
    # about 5% of the counties may fall outside their 95% interval, not many more
    assert groups.attrs["outside"]["mean"] <= 0.1 * 85
    assert groups.loc[groups["n"] == 1, "obs_sd"].isna().all()


def test_loo_with_pareto_k(vis_with_ppc):
    res = vis_with_ppc.loo()
    assert res.pareto_k.shape == (919,)
    k = pareto_k_table(res)
    assert k["count"].sum() == 919
    assert k["share"].iloc[0] > 0.9  # nearly all observations have a reliable PSIS estimate
    assert np.isfinite(res.elpd) and res.p > 2


def test_compare_fits_ranks_the_floor_model_first(vis_with_ppc, radon_null):
    null = radon_null
    table = hm.compare_fits({"null": null, "floor_slopes": vis_with_ppc})
    assert table.index[0] == "floor_slopes"
    assert table.loc["null", "elpd_diff"] < -2 * table.loc["null", "dse"]
    assert names.LOG_LIKELIHOOD not in null.idata.children  # the null fit was not modified
    with pytest.raises(ValueError, match="at least two"):
        hm.compare_fits({"null": null})
