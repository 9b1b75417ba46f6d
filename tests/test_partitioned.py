"""Dask DataFrames as data (hiermod.partitioned): the same statistics, the same sampler input
and the same draws as the pandas path, the checks of make_design with the partition named, and
the reports that need rows saying so.

The reference is hiermod's own pandas path on the same rows, which the rest of the suite holds
against lme4, SciPy and PyMC. Every sum reaching a sampler is exact (hiermod.exactsum), so the
comparisons are equalities — stronger than the 1e-10 asked — and identical draws follow from
identical inputs with the same seed."""

from __future__ import annotations

import warnings

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import hiermod as hm
from hiermod.marginal import marginal_stats
from hiermod.partitioned import partitioned_design
from hiermod.plan import make_plan
from support import partition_frame

FIT = {"draws": 100, "tune": 150, "chains": 2, "progressbar": False, "random_seed": 7}


@pytest.fixture(scope="module")
def frame():
    return partition_frame()


def as_dask(frame: pd.DataFrame, parts: int = 5) -> dd.DataFrame:
    return dd.from_pandas(frame, npartitions=parts)


def same_arrays(a, b, fields):
    for f in fields:
        x, y = np.asarray(getattr(a, f)), np.asarray(getattr(b, f))
        np.testing.assert_allclose(y, x, rtol=1e-10, atol=0, err_msg=f)
        assert np.array_equal(x, y), f  # bit for bit


def same_draws(f1, f2):
    post1, post2 = f1.idata["posterior"], f2.idata["posterior"]
    assert set(post1.data_vars) == set(post2.data_vars)
    for v in post1.data_vars:
        assert np.array_equal(post1[v].values, post2[v].values), v


GROUP_FIELDS = ("yty", "WtW", "Wty", "ZtZ", "ZtW", "Zty", "offset", "B")


def test_gaussian_statistics_and_draws_equal_the_pandas_path(frame, dask_client):
    """One grouping factor, a text predictor and a stateful transform (cwc), 5 partitions, on
    a 2-worker LocalCluster: statistics, priors, the compiled callback's buffer and every draw
    (including the group effects drawn afterwards) equal the pandas fit's."""
    spec = hm.parse_formula("y ~ x + s + cwc(x, g) + (1 + x | g)")
    design = hm.make_design(spec, frame)
    summary = partitioned_design(spec, as_dask(frame))
    assert summary.n_obs == design.n_obs and summary.fixed_terms == design.fixed_terms
    assert summary.factors[0].levels == design.factors[0].levels
    assert np.array_equal(summary.factors[0].sizes, design.factors[0].sizes)
    same_arrays(marginal_stats(design), marginal_stats(summary), GROUP_FIELDS)
    assert summary.data_scales == design.data_scales
    assert hm.default_priors(summary) == hm.default_priors(design)
    p1 = make_plan(design, None, "auto", None, "nutpie")
    p2 = make_plan(summary, None, "auto", None, "nutpie")
    assert np.array_equal(p1.compiled.buffer, p2.compiled.buffer)
    f1, f2 = hm.fit(spec, frame, **FIT), hm.fit(spec, as_dask(frame), **FIT)
    same_draws(f1, f2)
    assert f2.data is None and "observed_data" not in f2.idata.children
    pd.testing.assert_frame_equal(f1.icc(), f2.icc())


def test_binomial_cells_and_draws_equal_the_pandas_path(frame):
    """Successes out of trials, rows summed into cells: the cells (same order), the sampler's
    buffer and the draws equal the pandas path's; an empty partition is skipped."""
    spec = hm.parse_formula("cbind(k, n - k) ~ d + s + (1 | g)", family="binomial")
    parts = as_dask(frame, 4)
    parts = dd.concat([parts, dd.from_pandas(frame.iloc[:0], npartitions=1)])
    design, summary = hm.make_design(spec, frame), partitioned_design(spec, parts)
    c1, c2 = hm.design.aggregate(design), summary.cells
    for f in ("X", "y", "n", "count"):
        assert np.array_equal(getattr(c1, f), getattr(c2, f)), f
    assert all(np.array_equal(a, b) for a, b in zip(c1.index, c2.index, strict=True))
    p1 = make_plan(design, None, "auto", None, "nutpie")
    p2 = make_plan(summary, None, "auto", None, "nutpie")
    assert p1.n_cells == p2.n_cells < design.n_obs
    assert np.array_equal(p1.compiled.buffer, p2.compiled.buffer)
    same_draws(hm.fit(spec, frame, **FIT), hm.fit(spec, parts, **FIT))


@pytest.mark.parametrize("formula, family", [
    ("y ~ x + (1 | g) + (1 + x | h)", "gaussian"),
    ("b ~ d + (1 | g) + (1 | h)", "bernoulli"),
    ("k ~ d + (1 + d | g)", "poisson"),
])
def test_other_exact_paths_give_the_same_sampler_input(frame, formula, family):
    spec = hm.parse_formula(formula, family=family)
    design, summary = hm.make_design(spec, frame), partitioned_design(spec, as_dask(frame, 3))
    p1 = make_plan(design, None, "auto", None, "nutpie")
    p2 = make_plan(summary, None, "auto", None, "nutpie")
    assert p1.path == p2.path
    assert np.array_equal(p1.compiled.buffer, p2.compiled.buffer)


def test_reml_on_dask_data_equals_the_pandas_fit():
    """hm.reml from the partitions' sums (raw cross-products, exact) against the pandas fit,
    whose cross-products BLAS rounds: agreement to 1e-9."""
    df = hm.datasets.load("sleepstudy")
    for ddf in ("satterthwaite", "kenward-roger"):
        a = hm.reml("Reaction ~ Days + (Days | Subject)", df, ddf=ddf)
        b = hm.reml("Reaction ~ Days + (Days | Subject)", as_dask(df, 4), ddf=ddf)
        np.testing.assert_allclose(b.beta, a.beta, rtol=1e-9)
        np.testing.assert_allclose(b.theta, a.theta, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose([b.sigma, b.loglik], [a.sigma, a.loglik], rtol=1e-9)
        np.testing.assert_allclose(b.se, a.se, rtol=1e-7)
        np.testing.assert_allclose(b.df, a.df, rtol=1e-6)


# --- checks and refusals ------------------------------------------------------------------------


def test_bad_rows_are_named_with_their_partition(frame):
    bad = frame.copy()
    bad.loc[700, "x"] = np.nan
    parts = as_dask(bad, 5)  # rows 0..239 in partition 0, ... row 700 in partition 2
    with pytest.raises(hm.DataError, match=r"partition 2 .*'x'.*row 700"):
        hm.fit("y ~ x + (1 | g)", parts)
    with pytest.warns(hm.DataWarning, match=r"dropped 1 of 1200 rows .*partition 2"):
        summary = partitioned_design(hm.parse_formula("y ~ x + (1 | g)"), parts, dropna=True)
    assert summary.n_obs == 1199 and summary.n_dropped == 1
    coin = frame.copy()
    coin.loc[1100, "b"] = 2
    with pytest.raises(hm.DataError, match=r"partition 4 .*0 or 1.*row 1100"):
        hm.fit("b ~ d + (1 | g)", as_dask(coin), family="bernoulli")
    mixed = frame.astype({"x": object})
    mixed.loc[:239, "x"] = "text"
    with dask.config.set({"dataframe.convert-string": False}):  # else all become strings
        mixed_parts = as_dask(mixed)
    with pytest.raises(hm.DataError, match=r"text in partition 0; number in partition 1"):
        partitioned_design(hm.parse_formula("y ~ x + (1 | g)"), mixed_parts)
    const = frame.assign(y=1.0)
    with pytest.raises(hm.DataError, match="same value"):
        partitioned_design(hm.parse_formula("y ~ x + (1 | g)"), as_dask(const))
    with pytest.raises(hm.DataError, match="collinear"):
        partitioned_design(hm.parse_formula("y ~ x + I(2 * x) + (1 | g)"), as_dask(frame))


def test_models_off_the_exact_paths_are_refused_with_the_paths_named(frame):
    parts = as_dask(frame)
    with pytest.raises(hm.SpecError, match="explicit model.*needs every row"):
        hm.fit("y ~ x + (1 | g)", parts, marginalize=False)
    with pytest.raises(hm.SpecError, match="no grouping factor"):
        hm.fit("y ~ x", parts)
    with pytest.raises(hm.SpecError, match="C\\(\\)"):
        hm.fit("y ~ C(d) + (1 | g)", parts)
    with pytest.raises(hm.SpecError, match="poly\\(\\) .*not available for Dask data"):
        hm.fit("y ~ poly(x, 2) + (1 | g)", parts)
    with pytest.raises(hm.SpecError, match="Laplace ML .*Dask data"):
        hm.reml("b ~ d + (1 | g)", parts, family="bernoulli")
    with pytest.raises(hm.SpecError, match="one grouping factor"):
        hm.reml("y ~ x + (1 | g) + (1 | h)", parts)
    with pytest.raises(hm.SpecError, match="correlated or heteroscedastic residuals"):
        hm.fit("y ~ x + (1 | g)", parts, sigma="~ s")


def test_reports_that_need_the_rows_say_so(frame, tmp_path):
    """Reports from the posterior work (predictions equal the pandas fit's); those that need
    the rows raise RowsNotHeldError."""
    fit = hm.fit("y ~ x + (1 | g)", as_dask(frame), **FIT)
    assert fit.summary().shape[0] > 0 and fit.r2().shape[0] > 0
    for call in (fit.loo, fit.ppc, fit.pooling, lambda: fit.save(tmp_path / "f.nc")):
        with pytest.raises(hm.RowsNotHeldError, match="holds no rows|keeps no rows"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call()
    pred = fit.predict(frame.head(4), kind="mean")
    same = hm.fit("y ~ x + (1 | g)", frame, **FIT).predict(frame.head(4), kind="mean")
    assert len(pred.table) == 4
    pd.testing.assert_frame_equal(pred.table, same.table)
