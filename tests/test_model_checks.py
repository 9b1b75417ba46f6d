"""Model checks: posterior predictive checks of 0/1 outcomes, per-group checks with new group
effects, residuals, binned residuals, calibration, QQ of the group effects, prior predictive
checks.

Fake posteriors make the checks exact where a hand computation is the definition (binned
residuals, calibration bins, QQ positions); the per-group check is shown to catch a group whose
effect is far outside the population on a constructed data set, where the old check
(replications with the fitted effects) cannot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit

import hiermod as hm
from hiermod import names
from hiermod.report import ppc_groups, ppc_overall
from support import fake_tree


def test_binary_ppc_checks_the_proportion_not_min_and_max(contraception):
    fit = contraception
    table = fit.ppc()
    assert list(table.index) == ["mean"]
    assert table.loc["mean", "observed"] == pytest.approx(fit.design.y.mean())
    assert 0.05 < table.loc["mean", "p_value"] < 0.95
    with pytest.raises(ValueError, match="0 or 1 in nearly every replication"):
        fit.ppc(stats=("mean", "max"))
    groups = fit.ppc_groups()
    assert [c for c in groups.columns if c.startswith("obs_")] == ["obs_mean"]


@pytest.fixture(scope="module")
def outlier_case():
    """20 groups of 30 with u_j ~ N(0, 0.5²), except group g00 at +4 (8 sds out); the fake
    posterior knows the truth: β = 0, τ = 0.5, σ = 1 and each group's own effect."""
    rng = np.random.default_rng(7)
    u = rng.normal(0, 0.5, 20)
    u[0] = 4.0
    df = pd.DataFrame({"g": np.repeat([f"g{j:02d}" for j in range(20)], 30)})
    df["y"] = u[np.repeat(np.arange(20), 30)] + rng.normal(0, 1, len(df))
    design = hm.make_design(hm.parse_formula("y ~ 1 + (1 | g)"), df)
    tree = fake_tree(design, [0.0], {"g": [0.5]}, sigma=1.0, u={"g": u[:, None]}, draws=400)
    return design, tree


def test_group_check_with_new_effects_flags_an_outlying_group(outlier_case):
    design, tree = outlier_case
    fitted = ppc_groups(tree, design, groups="fitted", random_seed=1)
    new = ppc_groups(tree, design, groups="new", random_seed=1)
    assert not fitted.loc["g00", "outside_mean"]  # its own effect reproduces its mean
    assert new.loc["g00", "outside_mean"] and new.loc["g00", "p_mean"] == 0.0
    assert new["outside_mean"].sum() <= 3  # the others are plausible members
    assert new.attrs["outside"]["mean"] == int(new["outside_mean"].sum())
    # the new-group interval of a group mean has sd sqrt(τ² + σ²/n)
    width = (new["rep_mean_upper"] - new["rep_mean_lower"]).median()
    assert width == pytest.approx(2 * 1.96 * np.sqrt(0.25 + 1 / 30), rel=0.15)
    with pytest.raises(ValueError, match="groups must be one of"):
        ppc_groups(tree, design, groups="same")


def test_overall_ppc_defaults_follow_the_family(outlier_case):
    design, tree = outlier_case
    assert list(ppc_overall(tree, design).index) == ["mean", "sd", "min", "max"]
    assert list(ppc_groups(tree, design).filter(like="obs_").columns) == ["obs_mean", "obs_sd"]
