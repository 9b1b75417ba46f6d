"""Many fits on dask.distributed: the batch runner, simulation-based power against the
analytic power of a cluster-randomised trial, the parametric bootstrap and leave-one-group-out
CV on the cluster against their serial versions, and the power-curve plot.

All cluster work uses the session's 2-worker LocalCluster (``dask_client``, loopback only).

Power reference: a balanced two-arm cluster-randomised trial, J clusters of n, ICC ρ, total
variance 1 and effect Δ: SE(Δ̂) = √(4(1 + (n − 1)ρ)/(Jn)) (the design effect), power by the
normal approximation Φ(Δ/SE − z) + Φ(−Δ/SE − z). The simulated test is a t test with J − 2
Satterthwaite df, whose power is a little lower than the normal approximation's: at J = 100
the gap is < 0.01 (computed here from the noncentral t), so the tolerance is 3 Monte Carlo SEs
+ 0.01."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hiermod as hm
from hiermod.batch import run_batch, task_seeds
from hiermod.mle.bootstrap import bootstrap
from hiermod.plots import plot_power
from hiermod.power_analysis import analytic_power_crt, clopper_pearson
from support import crt_frame, flaky_square

ICC, EFFECT = 0.1, 0.25
TRUTH = {"treat": EFFECT, "sd(Intercept | cluster)": ICC**0.5, "sigma": (1 - ICC) ** 0.5}


def t_power(effect, J, n, icc, alpha=0.05):
    """Power of the t test with J − 2 df (noncentral t), the normal approximation's sibling."""
    se = np.sqrt(4 * (1 + (n - 1) * icc) / (J * n))
    df, c = J - 2, stats.t.ppf(1 - alpha / 2, J - 2)
    return stats.nct.sf(c, df, effect / se) + stats.nct.cdf(-c, df, effect / se)


@pytest.fixture(scope="module")
def pilot():
    return hm.reml("y ~ treat + (1 | cluster)", crt_frame())


# --- the runner ---------------------------------------------------------------------------------


def test_failures_are_recorded_and_results_gathered(dask_client):
    batch = run_batch(flaky_square, list(range(1, 23)), dask_client, chunk_size=3)
    assert batch.n_failed == 5 and [f.task for f in batch.failures] == [3, 7, 11, 15, 19]
    assert all(f.error == "ValueError" and "refuses" in f.message for f in batch.failures)
    frame = batch.to_frame()
    assert list(frame.index) == [i for i in range(22) if (i + 1) % 4]
    assert np.array_equal(frame["square"], (frame.index + 1) ** 2)
    assert frame["pid"].nunique() == 2  # both workers took chunks
    assert list(batch.failure_table().columns) == ["task", "error", "message"]
    assert run_batch(flaky_square, [], dask_client).results == []


def test_task_seeds_do_not_depend_on_how_many():
    assert task_seeds(5, 10)[:4] == task_seeds(5, 4) and task_seeds(5, 4) != task_seeds(6, 4)


# --- power --------------------------------------------------------------------------------------


def check_against_analytic(tab, J, nsim):
    for row in tab.itertuples():
        normal = analytic_power_crt(EFFECT, J, int(row.group_size), ICC)
        assert abs(t_power(EFFECT, J, int(row.group_size), ICC) - normal) < 0.01
        print(f"J={J} n={row.group_size:g}: simulated {row.power:.3f} ± {row.mc_se:.3f}, "
              f"analytic {normal:.3f}")
        assert abs(row.power - normal) < 3 * row.mc_se + 0.01
        assert row.lower < row.power < row.upper and row.nsim + row.n_failed == nsim


def test_reml_power_agrees_with_the_design_effect_formula(pilot, dask_client):
    """Two cluster sizes (design effects 1.4 and 2.9), 300 simulations each."""
    tab = hm.power(pilot, "treat", n_groups=100, group_size=[5, 20], nsim=300,
                   parameters=TRUTH, random_seed=1, client=dask_client)
    assert list(tab.columns[:4]) == ["n_groups", "group_size", "power", "mc_se"]
    assert list(tab["n_groups"]) == [100, 100] and list(tab["group_size"]) == [5.0, 20.0]
    check_against_analytic(tab, 100, 300)
    assert np.allclose(tab["mean_estimate"], EFFECT, atol=4 * tab["mean_se"] / np.sqrt(300))
    # the seed fixes every simulation (the first design of a grid takes the first seeds, so
    # it alone gives the same simulations)
    again = hm.power(pilot, "treat", n_groups=100, group_size=5, nsim=300,
                     parameters=TRUTH, random_seed=1, client=dask_client)
    assert again["power"].iloc[0] == tab["power"].iloc[0]
    assert again["mean_estimate"].iloc[0] == tab["mean_estimate"].iloc[0]


@pytest.mark.slow
def test_no_effect_gives_the_test_level(pilot, dask_client):
    tab = hm.power(pilot, "treat", n_groups=40, group_size=5, nsim=400,
                   parameters={**TRUTH, "treat": 0.0}, random_seed=2, client=dask_client,
                   ddf="kenward-roger")
    lo, hi = clopper_pearson(int(round(0.05 * 400)), 400, level=0.999)
    assert lo < tab["power"].iloc[0] < hi


@pytest.mark.slow
def test_reml_power_over_a_grid_with_many_simulations(pilot, dask_client):
    """2,000 simulations per design: Monte Carlo SE about 0.01."""
    tab = hm.power(pilot, "treat", n_groups=[60, 100], group_size=10, nsim=2000,
                   parameters=TRUTH, random_seed=3, client=dask_client)
    for J, part in tab.groupby("n_groups"):
        for row in part.itertuples():
            normal = analytic_power_crt(EFFECT, int(J), 10, ICC)
            gap = normal - t_power(EFFECT, int(J), 10, ICC)  # 0.014 at J = 60
            print(f"J={J}: simulated {row.power:.3f} ± {row.mc_se:.3f}, normal {normal:.3f}, "
                  f"t {normal - gap:.3f}")
            assert abs(row.power - (normal - gap)) < 3 * row.mc_se
            assert abs(row.power - normal) < 3 * row.mc_se + abs(gap)


@pytest.mark.slow
def test_bayes_power_and_a_cross_level_interaction(dask_client):
    """The posterior sign probability on the compiled marginal path (few fits, strong and null
    effects), and a cross-level interaction term by REML."""
    rng = np.random.default_rng(4)
    df = crt_frame(20, 6, seed=4).assign(x=rng.normal(size=120))
    df["y"] += 0.2 * df["x"]
    pilot = hm.fit("y ~ treat + (1 | cluster)", df, draws=200, tune=200, chains=2,
                   progressbar=False, random_seed=1)
    strong = hm.power(pilot, "treat", n_groups=30, nsim=6, method="bayes", draws=200,
                      tune=200, parameters={"treat": 3.0}, random_seed=5, client=dask_client)
    assert strong["power"].iloc[0] == 1.0 and strong["nsim"].iloc[0] == 6
    inter = hm.reml("y ~ x * treat + (1 + x | cluster)", df)
    tab = hm.power(inter, "x:treat", n_groups=[20, 80], nsim=150, random_seed=6,
                   parameters={"x:treat": 0.25}, client=dask_client)
    assert tab["power"].iloc[1] > tab["power"].iloc[0] + 0.2  # more groups, more power
    assert np.allclose(tab["effect"], 0.25)


def test_power_refuses_bad_requests(pilot, dask_client):
    with pytest.raises(hm.SpecError, match="unknown term 'dose'.*treat"):
        hm.power(pilot, "dose", nsim=2, client=dask_client)
    with pytest.raises(hm.SpecError, match="unknown parameter"):
        hm.power(pilot, "treat", nsim=2, parameters={"tau": 1.0}, client=dask_client)
    with pytest.raises(hm.SpecError, match="method"):
        hm.power(pilot, "treat", method="wald")


@pytest.mark.slow
def test_power_curve_plot(pilot, dask_client):
    tab = hm.power(pilot, "treat", n_groups=[20, 40, 60], group_size=[5, 10], nsim=20,
                   parameters=TRUTH, random_seed=7, client=dask_client)
    fig = plot_power(tab)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "n groups" and ax.get_ylabel() == "power"
    assert "treat" in ax.get_title() and "reml" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["group size 5", "group size 10"]
    lines = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]  # not the error caps
    assert len(lines) == 2 and np.array_equal(lines[0].get_xdata(), [20, 40, 60])
    assert np.array_equal(lines[1].get_ydata(), tab.loc[tab["group_size"] == 10, "power"])
    assert any(np.allclose(ln.get_ydata(), 0.8) for ln in ax.get_lines())  # the target


# --- resampling on the cluster ------------------------------------------------------------------


def test_parametric_bootstrap_on_the_cluster_equals_the_serial_one(dask_client):
    fit = hm.reml("Reaction ~ Days + (Days | Subject)", hm.datasets.load("sleepstudy"))
    serial = bootstrap(fit, nsim=24, random_seed=5, n_jobs=1)
    dist = hm.parametric_bootstrap(fit, nsim=24, random_seed=5, client=dask_client)
    assert dist.labels == serial.labels
    np.testing.assert_allclose(dist.replicates, serial.replicates, rtol=1e-10)
    np.testing.assert_array_equal(dist.estimate, serial.estimate)
    with pytest.raises(hm.SpecError, match="gaussian RemlFit"):
        hm.parametric_bootstrap(hm.reml("cbind(incidence, size - incidence) ~ period + "
                                        "(1 | herd)", hm.datasets.load("cbpp"),
                                        family="binomial"), client=dask_client)


@pytest.mark.slow
def test_leave_one_group_out_and_kfold_on_the_cluster_equal_serial_refits(dask_client):
    """Leave-one-group-out = grouped K-fold with K = the groups; on the cluster and in this
    process the refits are the same (same seeds), so the elpd agrees to rounding."""
    rng = np.random.default_rng(8)
    g = np.repeat(np.arange(5), 8)
    df = pd.DataFrame({"g": g, "x": rng.normal(size=40)})
    df["y"] = 1 + 0.5 * df["x"] + rng.normal(0, 0.7, 5)[g] + rng.normal(size=40)
    fit = hm.fit("y ~ x + (1 | g)", df, draws=200, tune=200, chains=2, progressbar=False,
                 random_seed=3)
    logo = hm.leave_one_group_out(fit, client=dask_client)
    serial = hm.kfold(fit, K=5, folds="grouped", n_jobs=1, cores=1)
    assert logo.K == 5 and logo.folds == "grouped" and logo.factor == "g"
    assert sorted(logo.pointwise["unit"]) == sorted(serial.pointwise["unit"])
    assert logo.elpd == pytest.approx(serial.elpd, abs=1e-8)
    assert np.isfinite(logo.se) and logo.elpd < 0
