"""hm.compare_estimators: pooled OLS, cluster-robust OLS, LSDV, within-between, REML (and Bayes)
for one question. Cluster-robust covariances against sandwich 3.0-2's vcovCL to 1e-6
(tests/reference/inference/*.json, ``cluster_robust``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure

import hiermod as hm
from hiermod import names
from hiermod.errors import SpecError
from hiermod.estimators import ESTIMATORS, compare_estimators, ols
from support import fake_tree, inference_data, inference_reference, lme4_term, tiered

REF = Path(__file__).parent / "reference" / "inference"
CASES = ["sleep", "radon", "hsb", "efficacy"]


reference, data = inference_reference, inference_data


def frame(case: str, block: dict) -> pd.DataFrame:
    levels = reference(case).get("factor_levels")
    return pd.DataFrame(block["values"], index=[lme4_term(r, levels) for r in block["rows"]],
                        columns=[lme4_term(c, levels) for c in block["cols"]])


def regression(case: str, formula: str):
    d = hm.make_design(hm.parse_formula(formula + " + (1 | " + reference(case)["cluster_robust"]
                                        ["pooled_ols"]["cluster"] + ")"), data(case))
    return d


@pytest.mark.parametrize("case", CASES)
def test_pooled_ols_cluster_robust_equals_sandwich(case):
    block = reference(case)["cluster_robust"]["pooled_ols"]
    d = regression(case, block["formula"])
    groups = d.factors[0].index
    for kind, key in (("classical", "vcov_classical"), ("CR1", "CR1"), ("CR0", "CR0"),
                      ("HC0_cadjust", "HC0_cadjust")):
        beta, V, df = ols(d.X, d.y, groups, kind)
        ref = frame(case, block[key] if kind == "classical" else block[key]["vcov"])
        ours = pd.DataFrame(V, index=d.fixed_terms, columns=d.fixed_terms).loc[ref.index,
                                                                                ref.columns]
        R = ref.to_numpy()
        scale = np.sqrt(np.outer(np.diag(R), np.diag(R)))  # entries that are 0 by design
        assert np.max(np.abs(ours.to_numpy() - R) / scale) < 1e-6, kind
        assert df == (block["n"] - block["k"] if kind == "classical" else block["G"] - 1)
    coef = {lme4_term(k, reference(case).get("factor_levels")): v
            for k, v in block["coef"].items()}
    np.testing.assert_allclose([coef[t] for t in d.fixed_terms], beta, rtol=1e-9)


@pytest.mark.parametrize("case", tiered(CASES, ["sleep", "efficacy"]))
def test_lsdv_rows_equal_sandwich(case):
    """The LSDV rows of compare_estimators: within-cluster coefficients and their CR1 SEs
    (vcovCL(type = "HC1") on the dummy regression, k counting every dummy)."""
    block = reference(case)["cluster_robust"]["lsdv"]
    formula = reference(case)["formula"]
    table = compare_estimators(formula, data(case))
    lsdv = table.loc[ESTIMATORS[2]]
    for term in block["within_terms"]:
        ours = lme4_term(term, reference(case).get("factor_levels"))
        assert lsdv.loc[ours, "estimate"] == pytest.approx(block["coef"][term], rel=1e-9)
        assert lsdv.loc[ours, "se"] == pytest.approx(block["CR1_se"][term], rel=1e-6)
    absorbed = lsdv[lsdv["estimate"].isna()]
    assert "Intercept" in absorbed.index
    assert all("absorbed" in n for n in absorbed["note"])


def test_the_table_for_the_efficacy_twin():
    ref = reference("efficacy")
    table = compare_estimators(ref["formula"], data("efficacy"))
    assert table.attrs["n_clusters"] == 35 and table.attrs["cluster"] == "country"
    estimators = list(dict.fromkeys(table.index.get_level_values(0)))
    assert estimators == list(ESTIMATORS[:5])
    assert np.isnan(table.loc[(ESTIMATORS[2], "CORR"), "estimate"])  # level 2: absorbed
    kr = ref["kenward_roger"]["CORR"]
    row = table.loc[(ESTIMATORS[4], "CORR")]
    assert row["se"] == pytest.approx(kr["se"], rel=1e-4)
    assert row["df"] == pytest.approx(kr["df"], rel=1e-4)
    # the hybrid model's within slopes equal LSDV's (both use the within variation only)
    for t in ("EDU", "URB"):
        assert table.loc[(ESTIMATORS[3], t), "estimate"] == pytest.approx(
            table.loc[(ESTIMATORS[2], t), "estimate"], rel=1e-6)
    assert (ESTIMATORS[3], "EDU (between)") in table.index
    cr1 = ref["cluster_robust"]["pooled_ols"]["CR1"]["se"]
    assert table.loc[(ESTIMATORS[1], "CORR"), "se"] == pytest.approx(cr1["CORR"], rel=1e-6)
    assert any("CR2" in n for n in table.attrs["notes"])
    assert any("few clusters" in n for n in table.attrs["notes"])
    fig = hm.plots.plot_estimators(table)
    assert isinstance(fig, Figure) and len(fig.axes) == 6  # 4 terms + 2 between slopes


def test_errors():
    with pytest.raises(SpecError, match="gaussian"):
        compare_estimators("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                           hm.datasets.load("cbpp"))
    with pytest.raises(SpecError, match="name the clustering factor"):
        compare_estimators("diameter ~ 1 + (1 | plate) + (1 | sample)",
                           hm.datasets.load("penicillin"))


def test_bayesian_rows_from_a_posterior():
    """With ``bayes=``: posterior mean, sd and equal-tailed interval of each fixed effect."""
    ref = reference("efficacy")
    d = hm.make_design(hm.parse_formula(ref["formula"]), data("efficacy"))
    rng = np.random.default_rng(0)
    beta = np.array([3.1, 0.11, 0.28, -0.28]) + 0.01 * rng.standard_normal((400, 4))
    tree = fake_tree(d, beta[0], {"country": [0.4]}, sigma=0.99, draws=400)
    post = tree["posterior"].to_dataset()
    post[names.FIXED] = (("chain", "draw", names.FIXED_DIM), beta[None])
    tree = xr.DataTree.from_dict({"/posterior": post})
    table = compare_estimators(ref["formula"], data("efficacy"),
                               bayes=SimpleNamespace(idata=tree, design=d))
    rows = table.loc[ESTIMATORS[5]]
    assert rows.loc["CORR", "estimate"] == pytest.approx(beta[:, 3].mean())
    assert rows.loc["CORR", "se"] == pytest.approx(beta[:, 3].std(ddof=1))
    assert rows.loc["CORR", "upper"] == pytest.approx(np.quantile(beta[:, 3], 0.975))
