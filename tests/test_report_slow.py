"""Slower reference checks (two more fits): latent-scale ICC / R² of a binomial GLMM and R²
with correlated random slopes on sleepstudy, against lme4 / performance."""

from __future__ import annotations

import pytest

import hiermod as hm
from support import SETTINGS, load_reference

pytestmark = pytest.mark.slow


def test_binomial_latent_icc_and_r2_agree_with_lme4():
    fit = hm.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                 hm.datasets.load("cbpp"), family="binomial", random_seed=21, **SETTINGS)
    ref = load_reference("cbpp_binom")
    row = fit.icc().loc["herd"]  # latent scale: τ² / (τ² + π²/3)
    assert abs(row["mean"] - ref["icc"]) < row["sd"]
    r2 = fit.r2()
    for k in ("marginal", "conditional"):
        assert abs(r2.loc[k, "mean"] - ref["r2"][k]) < r2.loc[k, "sd"]
    t = fit.pooling()
    assert t["no_pool"].notna().sum() >= 13  # herds with all-zero incidence have none
    assert t["partial_mean"].notna().all()


def test_sleepstudy_r2_agrees_with_performance():
    fit = hm.fit("Reaction ~ Days + (Days | Subject)", hm.datasets.load("sleepstudy"),
                 random_seed=22, **SETTINGS)
    ref = load_reference("sleep_vis")["r2"]
    r2 = fit.r2()
    for k in ("marginal", "conditional"):
        assert abs(r2.loc[k, "mean"] - ref[k]) < r2.loc[k, "sd"]
