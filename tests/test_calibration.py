"""Simulation-based calibration (hm.sbc): a small run on the compiled marginal path (ranks,
coverage, the summary and the rank-histogram plot), and the rank-uniformity test against
ranks whose distribution is known. The 200-simulation study of each sampling path is a
benchmark (benchmarks/sbc_calibration.py), not a test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hiermod as hm
from hiermod.calibration import N_RANKED, rank_uniformity
from hiermod.plots import plot_sbc_ranks


@pytest.fixture(scope="module")
def small_sbc(dask_client):
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(8), 6)
    df = pd.DataFrame({"g": g, "x": rng.normal(size=48), "y": rng.normal(size=48)})
    return hm.sbc("y ~ x + (1 | g)", df, n_sims=24, draws=200, tune=200, random_seed=3,
                  client=dask_client)


@pytest.mark.slow
def test_small_sbc_run(small_sbc):
    res = small_sbc
    labels = ["Intercept", "x", "sd(Intercept | g)", "sigma"]
    assert res.path == "marginal" and list(res.ranks.columns) == labels
    assert res.ranks.shape == (24, 4) and res.failures.empty
    assert res.ranks.to_numpy().min() >= 0 and res.ranks.to_numpy().max() <= N_RANKED
    assert res.truth.shape == (24, 4) and (res.truth["sd(Intercept | g)"] > 0).all()
    summ = res.summary()
    assert list(summ.index) == [*labels, "all"]
    assert {"coverage_50", "coverage_90", "p_uniform"} <= set(summ.columns)
    # pooled over 96 (simulation, parameter) pairs the 90% intervals cover about 90%
    # (binomial sd 0.03; correlated within a simulation, so a wide band)
    assert 0.75 <= summ.loc["all", "coverage_90"] <= 1.0
    assert summ.loc["all", "coverage_50"] < summ.loc["all", "coverage_90"]
    cov = res.covered[0.9]["x"]
    assert summ.loc["x", "coverage_90"] == pytest.approx(cov.mean())


def test_rank_uniformity_tells_uniform_from_too_narrow():
    rng = np.random.default_rng(0)
    uniform = rng.integers(0, N_RANKED + 1, 400)
    chi2, p = rank_uniformity(uniform)
    counts = np.bincount(uniform // 10, minlength=10)
    assert chi2 == pytest.approx(stats.chisquare(counts).statistic) and p > 0.001
    # a posterior too narrow puts the truth in the tails: a ∪-shaped histogram
    narrow = np.clip(np.round(stats.norm.cdf(rng.normal(0, 1.6, 400)) * N_RANKED), 0, N_RANKED)
    assert rank_uniformity(narrow.astype(int))[1] < 1e-6


@pytest.mark.slow
def test_sbc_rank_plot(small_sbc):
    fig = plot_sbc_ranks(small_sbc.ranks, small_sbc.n_ranked)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == list(small_sbc.ranks.columns)
    assert sum(len(ax.patches) for ax in panels) == 4 * (10 + 1)  # 10 bars and the band
    assert "rank among 99 posterior draws" in fig.get_supxlabel()
    bars = panels[0].containers[0]  # the histogram's bars
    assert len(bars) == 10 and sum(b.get_height() for b in bars) == 24
    expected = np.bincount(small_sbc.ranks["Intercept"] // 10, minlength=10)
    assert np.array_equal([b.get_height() for b in bars], expected)


def test_sbc_refuses_too_few_simulations():
    with pytest.raises(hm.SpecError, match="n_sims"):
        hm.sbc("y ~ x + (1 | g)", pd.DataFrame({"y": [1.0], "x": [1.0], "g": [1]}), n_sims=1)
