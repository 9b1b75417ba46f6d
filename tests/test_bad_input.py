"""Bad input never crashes, never hangs and never gives a silently wrong answer (issue 13).

Two tables. ``API_CASES``: a call through the Python API (make_design, hm.fit, priors, sampler
settings, save / load_fit, REML, model files, the CSV reader, diagnostics), the exception
class it must raise and the key words of its message — or, for input hiermod accepts, the
warning it must give and a check of the answer. ``CLI_CASES``: arguments of the ``hiermod``
command, its exit status (0 ok, 2 bad input, 3 diagnostics failed, 4 sampler failure) and the
key words of its one-line answer; stderr must hold no traceback and only ``hiermod:`` lines.

Every API case runs in a worker thread with a deadline (:func:`within`), every CLI case in a
subprocess with ``timeout=``, so a hang fails its case instead of stalling the suite. No API
case samples: the errors must come before any sampling (a fit call that wrongly got through
would sample 20 draws and still fail its case); the API table runs in seconds. The CLI table
is marked slow (each case is an interpreter that imports PyMC, ~3 s of CPU); the two cases
that must sample (too few draws -> exit 3; a sampler failure -> exit 4) use a handful of
draws.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import hiermod as hm
from hiermod.design import DataWarning
from hiermod.diagnostics import diagnose
from hiermod.errors import DataError, FileError, HiermodError, SamplingError, SpecError
from hiermod.mle import reml
from hiermod.priors import resolve_priors
from hiermod.sample import SamplerSettings, sampling_failure
from support import ROOT, fake_tree

#: seconds an API case may take before it counts as a hang (none samples; most take ms)
API_DEADLINE = 60
#: seconds a CLI case may take (Python, pandas and PyMC start-up on a shared machine)
CLI_TIMEOUT = 240
#: fit settings for API calls that must fail before sampling (cheap if they did not)
NO_SAMPLING = {"draws": 20, "tune": 20, "chains": 1, "progressbar": False}


# --- data ---------------------------------------------------------------------------------


def frame(n: int = 60, groups: int = 6, seed: int = 13) -> pd.DataFrame:
    """y = 1 + 0.5 x + u_g + e, six groups of ten rows."""
    rng = np.random.default_rng(seed)
    g = np.repeat([f"g{j}" for j in range(groups)], n // groups)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + np.repeat(rng.normal(size=groups), n // groups) + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": g})


def edited(**columns) -> pd.DataFrame:
    """:func:`frame` with columns replaced or added (a callable gets the frame)."""
    d = frame()
    for name, value in columns.items():
        d[name] = value(d) if callable(value) else value
    return d


def at(d: pd.DataFrame, col: str, row: int, value) -> pd.DataFrame:
    d = d.copy()
    if not pd.api.types.is_object_dtype(d[col]) and isinstance(value, str):
        d[col] = d[col].astype(object)
    d.loc[row, col] = value
    return d


def design(formula: str, data, family: str = "gaussian", **kw):
    return hm.make_design(hm.parse_formula(formula, family=family), data, **kw)


def binary(d: pd.DataFrame) -> pd.DataFrame:
    return d.assign(b=(d["x"] > 0).astype(int))


def fake_fit(data: pd.DataFrame, formula: str = "y ~ x + (1 | g)") -> hm.Fit:
    """A Fit whose posterior repeats fixed values (no sampling): enough to save and load."""
    d = design(formula, data)
    tree = fake_tree(d, beta=np.zeros(len(d.fixed_terms)),
                     sds={fd.name: np.ones(fd.q) for fd in d.factors}, sigma=1.0, seed=0)
    return hm.Fit(idata=tree, spec=d.spec, design=d, data=d.frame,
                  settings=SamplerSettings(**NO_SAMPLING), timing={"total_s": 0.0})


def tiny_posterior(chains: int, draws: int) -> xr.DataTree:
    rng = np.random.default_rng(0)
    post = xr.Dataset({"beta": (("chain", "draw", "fixed_term"),
                                rng.normal(size=(chains, draws, 1)))},
                      coords={"fixed_term": ["Intercept"]})
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((chains, draws), bool))})
    return xr.DataTree.from_dict({"/posterior": post, "/sample_stats": stats})


def write(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


SECRET = "top secret first line, never to be echoed"
TOML = '[data]\npath = "{path}"\n\n[model]\nformula = "y ~ x + (1 | g)"\n'


def model_file(tmp: Path, data_path: str, csv_at: str | None = None) -> Path:
    """A model file in tmp/m/ reading ``data_path``; ``csv_at`` (relative to tmp) gets a
    valid CSV."""
    if csv_at:
        frame().to_csv(tmp / csv_at, index=False)
    return write(tmp, "m/model.toml", TOML.format(path=data_path))


def saved(tmp: Path, data: pd.DataFrame, name: str = "fit.nc") -> Path:
    path = tmp / name
    fake_fit(data).save(path)
    return path


def truncated(tmp: Path) -> Path:
    whole = saved(tmp, frame(), "whole.nc").read_bytes()
    return write(tmp, "truncated.nc", whole[: len(whole) // 3])


def foreign_netcdf(tmp: Path) -> Path:
    path = tmp / "foreign.nc"
    xr.Dataset({"a": ("x", np.arange(3))}).to_netcdf(path, engine="h5netcdf")
    return path


def newer_format(tmp: Path) -> Path:
    path = saved(tmp, frame(), "newer.nc")
    with xr.open_datatree(path, engine="h5netcdf") as opened:
        tree = opened.load()
    tree.attrs["hiermod_format"] = 99
    tree.to_netcdf(tmp / "newer99.nc", engine="h5netcdf")
    return tmp / "newer99.nc"


# --- the API table ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """``call(tmp)`` must raise ``error`` with every word of ``words`` in its message; with
    ``error=None`` it must return, give a ``warning`` holding ``words`` (if set) and pass
    ``check(result)``."""

    call: Callable[[Path], object]
    error: type[BaseException] | None
    words: tuple[str, ...] = ()
    warning: type[Warning] | None = None
    check: Callable[[object], bool] | None = field(default=None)


def raises(call, error, *words) -> Case:
    return Case(call, error, words)


def answers(call, check=None, warning=None, *words) -> Case:
    return Case(call, None, words, warning, check)


API_CASES: dict[str, Case] = {
    # --- the data frame and its columns -------------------------------------------------
    "data_not_a_frame": raises(lambda t: design("y ~ x + (1 | g)", {"y": [1.0]}), DataError,
                               "must be a pandas DataFrame", "dict"),
    "data_without_rows": raises(lambda t: design("y ~ x + (1 | g)", frame().iloc[:0]),
                                DataError, "no rows"),
    "unknown_column": raises(lambda t: design("y ~ nope + (1 | g)", frame()), DataError,
                             "unknown column 'nope'", "fixed-effect predictor"),
    "repeated_column_name": raises(
        lambda t: design("y ~ x + (1 | g)", pd.concat([frame(), frame()[["x"]]], axis=1)),
        DataError, "several columns named 'x'"),
    "missing_values": raises(lambda t: design("y ~ x + (1 | g)", at(frame(), "x", 7, np.nan)),
                             DataError, "missing values in 'x'", "row 7", "dropna=True"),
    "missing_in_nullable_int": raises(
        lambda t: design("y ~ k + (1 | g)", edited(k=pd.array([1, None] * 30, dtype="Int64"))),
        DataError, "missing values in 'k'"),
    "inf_in_predictor": raises(lambda t: hm.fit("y ~ x + (1 | g)", at(frame(), "x", 4, np.inf),
                                                **NO_SAMPLING),
                               DataError, "'x'", "non-finite", "inf", "row 4"),
    "minus_inf_in_outcome": raises(lambda t: design("y ~ x + (1 | g)",
                                                    at(frame(), "y", 9, -np.inf)),
                                   DataError, "outcome 'y'", "non-finite", "row 9"),
    "inf_in_outcome_is_not_a_prior_problem": raises(
        lambda t: hm.fit("y ~ x + (1 | g)", at(frame(), "y", 2, np.inf), **NO_SAMPLING),
        DataError, "outcome 'y'", "non-finite"),
    "log_of_negatives": raises(lambda t: hm.fit("y ~ log(x) + (1 | g)", frame(), **NO_SAMPLING),
                               DataError, "'log(x)'", "not finite", "log or sqrt"),
    "log_of_zero": raises(lambda t: design("y ~ log(z) + (1 | g)", edited(z=0.0)), DataError,
                          "'log(z)'", "-inf"),
    "sqrt_in_varying_part": raises(
        lambda t: design("y ~ 1 + (sqrt(x) | g)", frame()), DataError,
        "varying-effects (of 'g') column 'sqrt(x)'", "not finite"),
    "mixed_type_group_labels": raises(
        lambda t: design("y ~ x + (1 | g)", edited(g=[1] * 20 + ["1"] * 20 + ["b"] * 20)),
        DataError, "grouping factor 'g' mixes types", "1 (number", "'1' (text", "astype(str)"),
    "mixed_type_predictor": raises(
        lambda t: design("y ~ z + (1 | g)", edited(z=[1.5] * 30 + ["high"] * 30)),
        DataError, "'z' mixes types"),
    "mixed_categories": raises(
        lambda t: design("y ~ x + (1 | c)", edited(c=pd.Categorical([1, "1", "b"] * 20))),
        DataError, "categories of the grouping factor 'c' mix types"),
    "dates_as_predictor": raises(
        lambda t: design("y ~ d + (1 | g)", edited(d=pd.date_range("2024-01-01", periods=60))),
        DataError, "'d'", "datetime64", "cannot use"),
    "complex_numbers": raises(lambda t: design("y ~ z + (1 | g)", edited(z=np.ones(60) * 1j)),
                              DataError, "'z'", "complex"),
    "lists_in_cells": raises(lambda t: design("y ~ x + (1 | z)", edited(z=[[1, 2]] * 60)),
                             DataError, "'z'", "type list"),
    "numbers_as_text_predictor": answers(
        lambda t: design("y ~ z + (1 | g)", edited(z=["1", "2", "3"] * 20)),
        lambda d: d.fixed_terms == ("Intercept", "z[2]", "z[3]"), DataWarning,
        "'z' holds numbers written as text", "factor with 3 levels", "pd.to_numeric"),
    "numbers_as_text_categorical_is_explicit": answers(
        lambda t: design("y ~ z + (1 | g)", edited(z=pd.Categorical(["1", "2", "3"] * 20))),
        lambda d: d.fixed_terms == ("Intercept", "z[2]", "z[3]")),
    "numbers_as_text_outcome": answers(
        lambda t: design("y ~ x + (1 | g)", edited(y=lambda d: d["y"].map(repr))),
        lambda d: np.allclose(d.y, frame()["y"]), DataWarning, "outcome 'y'", "used as numbers"),
    "text_outcome": raises(lambda t: design("y ~ x + (1 | g)", edited(y=["high", "low"] * 30)),
                           DataError, "outcome 'y' must be numeric", "'high'", "rows 0, 1"),
    "numbers_and_text_in_outcome": raises(
        lambda t: design("y ~ x + (1 | g)", at(frame(), "y", 3, "high")), DataError,
        "outcome 'y' mixes types", "'high' (text, row 3)"),
    "predictor_named_intercept": raises(
        lambda t: design("y ~ Intercept + (1 | g)", edited(Intercept=lambda d: d["x"])),
        SpecError, "named 'Intercept'", "rename"),
    "predictor_named_sigma": raises(
        lambda t: design("y ~ sigma + (1 | g)", edited(sigma=lambda d: d["x"])),
        SpecError, "named 'sigma'"),
    "factor_named_obs": raises(lambda t: design("y ~ x + (1 | obs)", edited(obs=lambda d: d["g"])),
                               SpecError, "'obs'", "rename"),
    "factor_named_residual": raises(
        lambda t: design("y ~ x + (1 | residual)", edited(residual=lambda d: d["g"])),
        SpecError, "'residual'"),
    "outcome_on_both_sides": raises(lambda t: design("y ~ y + (1 | g)", frame()), SpecError,
                                    "outcome 'y' is also used on the right"),
    "zero_varying_terms": raises(lambda t: design("y ~ x + (0 | g)", frame()), SpecError,
                                 "(0 | g) has no columns"),
    "unicode_column_names": answers(
        lambda t: design("ÿ ~ größe + (1 | gruppe_ä)",
                         frame().rename(columns={"y": "ÿ", "x": "größe", "g": "gruppe_ä"})),
        lambda d: d.fixed_terms == ("Intercept", "größe") and d.factors[0].name == "gruppe_ä"),
    "duplicated_index": answers(
        lambda t: design("y ~ x + (1 | g)", frame().set_axis([0] * 60)),
        lambda d: d.n_obs == 60 and len(d.frame) == 60),
    "multiindex_rows_in_messages": raises(
        lambda t: design("y ~ x + (1 | g)", at(frame(), "x", 5, np.nan).set_axis(
            pd.MultiIndex.from_arrays([["a", "b"] * 30, range(60)]))),
        DataError, "missing values in 'x'", "('b', 5)"),
    # --- what a model cannot identify ---------------------------------------------------
    "constant_predictor": raises(lambda t: design("y ~ z + (1 | g)", edited(z=3.0)), DataError,
                                 "'z' has the same value (3)", "intercept"),
    "collinear_predictors": raises(lambda t: design("y ~ x + x2 + (1 | g)",
                                                    edited(x2=lambda d: 2 * d["x"])),
                                   DataError, "'x', 'x2' are collinear"),
    "empty_interaction_cell": raises(
        lambda t: design("y ~ a:c + (1 | g)",
                         edited(a=["p", "q"] * 30, c=["u", "v", "u", "u"] * 15)),
        DataError, "'c[v]', 'a[q]:c[v]' are collinear"),
    "all_zero_column": raises(lambda t: design("y ~ 0 + z + (1 | g)", edited(z=0.0)), DataError,
                              "'z' are 0 in every row"),
    "more_terms_than_rows": raises(
        lambda t: design("y ~ x + z + w + (1 | g)", edited(z=1.0, w=2.0).iloc[:2]),
        DataError, "only 2 rows"),
    "constant_gaussian_outcome": raises(lambda t: design("y ~ x + (1 | g)", edited(y=4.0)),
                                        DataError, "outcome 'y' has the same value (4)"),
    "single_level_factor": raises(lambda t: design("y ~ x + (1 | g)", edited(g="a")),
                                  DataError, "single level"),
    "one_row_per_level": raises(lambda t: design("y ~ x + (1 | r)", edited(r=range(60))),
                                DataError, "one observation"),
    "bernoulli_outcome_not_binary": raises(
        lambda t: design("y ~ x + (1 | g)", edited(y=2.0), family="bernoulli"), DataError,
        "must be 0 or 1"),
    "binomial_more_successes_than_trials": raises(
        lambda t: design("cbind(s, n - s) ~ x + (1 | g)", edited(s=5, n=4), family="binomial"),
        DataError, "more successes than trials"),
    "poisson_negative_counts": raises(
        lambda t: design("y ~ x + (1 | g)", edited(y=-1.0), family="poisson"), DataError,
        "whole numbers >= 0"),
    "probit_link": raises(lambda t: hm.parse_formula("y ~ x + (1 | g)", family="bernoulli",
                                                     link="probit"), SpecError, "probit"),
    "formula_not_a_string": raises(lambda t: hm.fit(42, frame()), SpecError,
                                   "must be an lme4 formula"),
    # --- priors -------------------------------------------------------------------------
    "priors_as_a_list": raises(
        lambda t: hm.fit("y ~ x + (1 | g)", frame(), priors=[hm.Prior("Normal", mu=0, sigma=1)],
                         **NO_SAMPLING), SpecError, "priors must be a dict", "list"),
    "prior_not_a_prior": raises(
        lambda t: resolve_priors(design("y ~ x + (1 | g)", frame()), {"x": {"dist": "Normal"}}),
        SpecError, "priors['x'] must be a hiermod.Prior"),
    "prior_key_not_text": raises(
        lambda t: resolve_priors(design("y ~ x + (1 | g)", frame()),
                                 {1: hm.Prior("Normal", mu=0, sigma=1)}),
        SpecError, "prior keys must be strings"),
    "unknown_prior_key": raises(
        lambda t: resolve_priors(design("y ~ x + (1 | g)", frame()),
                                 {"z": hm.Prior("Normal", mu=0, sigma=1)}),
        SpecError, "unknown prior key 'z'", "valid keys"),
    "negative_sd_prior": raises(lambda t: hm.Prior("HalfNormal", sigma=-1), SpecError,
                                "sigma must be > 0"),
    "zero_rate_prior": raises(lambda t: hm.Prior("Exponential", lam=0), SpecError,
                              "lam must be > 0"),
    "negative_lkj_eta": raises(lambda t: hm.Prior("LKJ", eta=-1), SpecError, "eta must be > 0"),
    "nan_prior_parameter": raises(lambda t: hm.Prior("Normal", mu=np.nan, sigma=1), SpecError,
                                  "finite number"),
    "bool_prior_parameter": raises(lambda t: hm.Prior("Normal", mu=True, sigma=1), SpecError,
                                   "finite number"),
    "normal_prior_on_an_sd": raises(
        lambda t: resolve_priors(design("y ~ x + (1 | g)", frame()),
                                 {"sd(g)": hm.Prior("Normal", mu=0, sigma=1)}),
        SpecError, "needs a positive prior"),
    # --- sampler settings (before any sampling; cores=0 used to hang nutpie) -------------
    "zero_cores": raises(lambda t: hm.fit("y ~ x + (1 | g)", frame(), cores=0, **NO_SAMPLING),
                         SpecError, "cores must be a whole number >= 1"),
    "zero_tune": raises(lambda t: hm.fit("y ~ x + (1 | g)", frame(),
                                         **{**NO_SAMPLING, "tune": 0}),
                        SpecError, "tune must be a whole number >= 1"),
    "huge_seed": raises(lambda t: hm.fit("y ~ x + (1 | g)", frame(), random_seed=2**70,
                                         **NO_SAMPLING), SpecError, "random_seed", "4294967295"),
    "negative_seed": raises(lambda t: SamplerSettings(random_seed=-1).check(), SpecError,
                            "random_seed"),
    "bool_draws": raises(lambda t: SamplerSettings(draws=True).check(), SpecError, "draws"),
    "fractional_chains": raises(lambda t: SamplerSettings(chains=2.5).check(), SpecError,
                                "chains"),
    "nan_target_accept": raises(lambda t: SamplerSettings(target_accept=float("nan")).check(),
                                SpecError, "target_accept"),
    "zero_treedepth": raises(lambda t: SamplerSettings(max_treedepth=0).check(), SpecError,
                             "max_treedepth"),
    "unknown_sampler": raises(lambda t: hm.fit("y ~ x + (1 | g)", frame(), sampler="hmc"),
                              SpecError, "unknown sampler 'hmc'"),
    "progressbar_not_bool": raises(lambda t: SamplerSettings(progressbar="yes").check(),
                                   SpecError, "progressbar"),
    # --- saved fits -----------------------------------------------------------------------
    "load_missing_file": raises(lambda t: hm.load_fit(t / "nothere.nc"), FileError,
                                "no saved fit"),
    "load_empty_file": raises(lambda t: hm.load_fit(write(t, "empty.nc", b"")), FileError,
                              "not a readable fit file"),
    "load_truncated_file": raises(lambda t: hm.load_fit(truncated(t)), FileError,
                                  "not a readable fit file"),
    "load_text_file": raises(lambda t: hm.load_fit(write(t, "text.nc", "y,x\n1,2\n")),
                             FileError, "not a readable fit file"),
    "load_foreign_netcdf": raises(lambda t: hm.load_fit(foreign_netcdf(t)), FileError,
                                  "not a fit saved by hiermod"),
    "load_newer_format": raises(lambda t: hm.load_fit(newer_format(t)), FileError,
                                "newer hiermod"),
    "save_period_index_as_text": answers(
        lambda t: (fake_fit(frame().set_axis(pd.period_range("2024-01", periods=60, freq="M")))
                   .save(t / "p.nc"), hm.load_fit(t / "p.nc"))[1],
        lambda fit: list(fit.data.index[:2]) == ["2024-01", "2024-02"], UserWarning,
        "saved as their text"),
    "save_into_missing_folder": raises(lambda t: fake_fit(frame()).save(t / "no" / "f.nc"),
                                       FileError, "does not exist"),
    "save_onto_a_folder": raises(lambda t: fake_fit(frame()).save(t), FileError, "is a folder"),
    "save_back_onto_the_loaded_file": answers(
        lambda t: hm.load_fit(saved(t, frame(), "again.nc")).save(t / "again.nc"),
        lambda r: r is None),
    # --- REML / ML ------------------------------------------------------------------------
    "reml_inf_is_not_nan_converged": raises(
        lambda t: reml("y ~ x + (1 | g)", at(frame(), "x", 4, np.inf)), DataError,
        "non-finite", "row 4"),
    "reml_collinear": raises(lambda t: reml("y ~ x + x2 + (1 | g)",
                                            edited(x2=lambda d: d["x"] - 1)),
                             DataError, "collinear"),
    "reml_constant_predictor": raises(lambda t: reml("y ~ z + (1 | g)", edited(z=1.5)),
                                      DataError, "'z' has the same value"),
    "reml_constant_outcome": raises(lambda t: reml("y ~ x + (1 | g)", edited(y=0.0)),
                                    DataError, "same value"),
    "reml_separation_is_said": answers(
        lambda t: reml("b ~ x + (1 | g)", binary(frame()), family="bernoulli"),
        lambda r: not r.converged and "separation" in r.summary(), DataWarning,
        "separation", "'x'", "infinite"),
    "reml_all_zero_outcome": answers(
        lambda t: reml("b ~ x + (1 | g)", frame().assign(b=0), family="bernoulli"),
        lambda r: not r.converged, DataWarning, "'b' is 0 in every row"),
    "reml_groups_that_separate": answers(
        lambda t: reml("b ~ x + (1 | g)", frame().assign(b=lambda d: (d["g"] < "g3") * 1),
                       family="bernoulli"),
        lambda r: "link scale" in r.summary(), DataWarning, "6 of 6 levels",
        "at one end of its range"),
    "reml_method_for_bernoulli": raises(
        lambda t: reml("b ~ x + (1 | g)", binary(frame()), method="REML", family="bernoulli"),
        SpecError, "REML"),
    "reml_design_and_data": raises(lambda t: reml(design("y ~ x + (1 | g)", frame()), frame()),
                                   SpecError, "not both"),
    # --- model files and CSV files ----------------------------------------------------------
    "model_file_data_outside_its_folder": raises(
        lambda t: hm.load_model(model_file(t, "../outside.csv", "outside.csv")), DataError,
        "outside the model file's folder", "--allow-outside-data"),
    "model_file_outside_allowed": answers(
        lambda t: hm.load_model(model_file(t, "../outside.csv", "outside.csv"),
                                allow_outside_data=True),
        lambda mf: len(mf.data) == 60),
    "model_file_absolute_path": raises(
        lambda t: hm.load_model(model_file(t, str(write(t, "secret.csv", SECRET + "\n1\n")))),
        DataError, "outside the model file's folder"),
    "model_file_path_relative_to_the_file": answers(
        lambda t: (write(t, "m/inside.csv", frame().to_csv(index=False)),
                   hm.load_model(model_file(t, "inside.csv")))[1],
        lambda mf: len(mf.data) == 60),
    "csv_empty": raises(lambda t: hm.datasets.read_csv(write(t, "e.csv", "")), DataError,
                        "is empty"),
    "csv_header_only": raises(lambda t: hm.datasets.read_csv(write(t, "h.csv", "y,x,g\n")),
                              DataError, "header but no data rows"),
    "csv_ragged": raises(lambda t: hm.datasets.read_csv(write(t, "r.csv",
                                                              "y,x,g\n1,2,a\n3,4\n5,6,b,7\n")),
                         DataError, "line 3 has 2", "line 4 has 4"),
    "csv_latin1": raises(lambda t: hm.datasets.read_csv(write(t, "l.csv",
                                                              "y,g\n1,caf\xe9\n".encode("latin-1"))),
                         DataError, "not UTF-8", "line 2"),
    "csv_repeated_header": raises(lambda t: hm.datasets.read_csv(write(t, "d.csv",
                                                                       "y,x,x\n1,2,3\n")),
                                  DataError, "repeats the column name", "'x'"),
    "csv_every_field_quoted": answers(
        lambda t: hm.datasets.read_csv(write(t, "q.csv", frame().to_csv(index=False,
                                                                         quoting=1))),
        lambda d: d["x"].dtype.kind == "f" and d["y"].dtype.kind == "f", UserWarning,
        "every field", "quoted"),
    # --- diagnostics and sampler failures ---------------------------------------------------
    "nan_rhat_is_a_failure": answers(
        lambda t: diagnose(tiny_posterior(2, 3), SimpleNamespace(factors=())),
        lambda diag: not diag.ok and "could not be computed" in str(diag)),
    "one_chain_rhat_is_a_failure": answers(
        lambda t: diagnose(tiny_posterior(1, 200), SimpleNamespace(factors=())),
        lambda diag: not diag.ok and "2 chains" in str(diag)),
    "sampler_failure_in_one_sentence": answers(
        lambda t: sampling_failure(RuntimeError(
            "All initialization points failed\n\nCaused by:\n    Logp function returned error: "
            "ErrorCode(3)\n\nStack backtrace:\n   0: <unknown>\n  10: start_thread"), "nutpie"),
        lambda e: isinstance(e, SamplingError) and "\n" not in str(e)
        and "backtrace" not in str(e) and "starting point" in str(e)),
}


def within(seconds: float, fn: Callable[[], object]) -> dict:
    """Run ``fn`` in a daemon thread; {"value"} or {"error"}, plus the warnings it gave. A
    call still running after ``seconds`` fails the test (the thread is abandoned)."""
    out: dict = {}

    def target():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 - the case checks what it was
                out["error"] = exc
        out["warnings"] = caught

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"no answer within {seconds} s: the call hangs")
    return out


@pytest.mark.parametrize("name", list(API_CASES))
def test_api_case(name, tmp_path):
    case = API_CASES[name]
    out = within(API_DEADLINE, lambda: case.call(tmp_path))
    if case.error is not None:
        exc = out.get("error")
        assert exc is not None, f"no error; returned {out.get('value')!r}"
        assert isinstance(exc, case.error), f"{type(exc).__name__}: {exc}"
        assert isinstance(exc, HiermodError), f"{type(exc).__name__} is not a HiermodError"
        for word in case.words:
            assert word in str(exc), f"{word!r} not in: {exc}"
        return
    if "error" in out:
        raise out["error"]
    if case.warning is not None:
        said = " | ".join(str(w.message) for w in out["warnings"]
                          if issubclass(w.category, case.warning))
        for word in case.words:
            assert word in said, f"{word!r} not in the warnings: {said!r}"
    if case.check is not None:
        assert case.check(out["value"]), out["value"]


def test_the_tables_hold_at_least_60_cases():
    assert len(API_CASES) + len(CLI_CASES) >= 60
    assert len(CLI_CASES) >= 20


def test_no_data_checks_by_assert():
    """Data are validated by raising HiermodErrors, never by ``assert`` (gone under -O)."""
    import ast

    found = [f"{p.relative_to(ROOT)}:{node.lineno}"
             for p in (ROOT / "hiermod").rglob("*.py")
             for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
             if isinstance(node, ast.Assert)]
    assert not found


# --- save / load round trips ----------------------------------------------------------------


def typed_frame() -> pd.DataFrame:
    """Every predictor kind hiermod accepts."""
    rng = np.random.default_rng(5)
    d = frame()
    d["b"] = rng.normal(size=60) > 0
    d["o"] = pd.Categorical(rng.choice(["lo", "mid", "hi"], 60), categories=["lo", "mid", "hi"],
                            ordered=True)
    d["u"] = pd.Categorical(rng.choice(["p", "q"], 60))
    d["s"] = rng.choice(["ä b", "c/d", ""], 60)
    d["i"] = rng.integers(0, 5, 60)
    return d


INDEXES = {
    "range": lambda n: pd.RangeIndex(n),
    "duplicated": lambda n: pd.Index([7] * n),
    "text": lambda n: pd.Index([f"r{k}é" for k in range(n)]),
    "multi": lambda n: pd.MultiIndex.from_arrays([np.repeat(["a", "b"], n // 2), np.arange(n)],
                                                 names=["half", None]),
    "dates": lambda n: pd.date_range("2024-01-01", periods=n, tz="Europe/Berlin", name="day"),
    "mixed": lambda n: pd.Index([k if k % 2 else f"k{k}" for k in range(n)], dtype=object),
}
FORMULA_ALL_KINDS = "y ~ x + b + o + u + s + i + (1 | g)"


@pytest.mark.parametrize("index", list(INDEXES))
def test_save_load_round_trip_every_kind_and_index(index, tmp_path):
    data = typed_frame().set_axis(INDEXES[index](60))
    fit = fake_fit(data, FORMULA_ALL_KINDS)
    assert len(fit.data) == 60  # a repeated index label does not double the rows
    path = tmp_path / "fit.nc"
    fit.save(path)
    back = hm.load_fit(path)
    pd.testing.assert_frame_equal(back.data, fit.data)
    assert back.design.fixed_terms == fit.design.fixed_terms
    np.testing.assert_array_equal(back.design.X, fit.design.X)
    pd.testing.assert_frame_equal(back.summary(), fit.summary())
    back.save(path)  # the file is closed: writing it again works
    assert not [p for p in tmp_path.iterdir() if p.name != "fit.nc"]  # no temporary left


def test_a_sampled_fit_with_a_duplicated_index_round_trips(tmp_path):
    """The one real fit of this module (tiny draws): fit.data has one row per observation,
    and a bool predictor keeps its term after save and load (issue 13's KeyError)."""
    data = typed_frame().set_axis([0] * 60)
    fit = hm.fit("y ~ x + b + (1 | g)", data, draws=30, tune=30, chains=2, random_seed=1,
                 progressbar=False)
    assert len(fit.data) == fit.design.n_obs == 60
    fit.save(tmp_path / "b.nc")
    back = hm.load_fit(tmp_path / "b.nc")
    pd.testing.assert_frame_equal(back.summary(), fit.summary())
    assert "b" in back.summary().index
    back.save(tmp_path / "b.nc")


# --- the command line -----------------------------------------------------------------------


@dataclass(frozen=True)
class CliCase:
    """``hiermod *args`` exits with ``status``; the words are in its stderr (exit 2 / 4: in
    the one ``hiermod: error`` / ``sampling failed`` line)."""

    args: tuple[str, ...]
    status: int
    words: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()  # must not appear anywhere in stdout or stderr
    stdout: tuple[str, ...] = ()
    debug: bool = False


def cli(*args, status=2, words=(), absent=(), stdout=(), debug=False) -> CliCase:
    return CliCase(tuple(args), status, tuple(words), tuple(absent), tuple(stdout), debug)


SLEEP = ("--formula", "Reaction ~ Days + (1 | Subject)", "--data", "sleepstudy")
XY = "y ~ x + (1 | g)"
BAD_TOML_PRIOR = ('[data]\ndataset = "sleepstudy"\n[model]\nformula = "Reaction ~ Days + '
                  '(1 | Subject)"\n[priors]\n"sd(Subject)" = { dist = "HalfNormal", sigma = -1 }\n')
FAILING_TOML = ('[data]\ndataset = "sleepstudy"\n[model]\nformula = "Reaction ~ Days + '
                '(1 | Subject)"\nmarginalize = false\n[priors]\n'
                '"sd(Subject)" = { dist = "HalfNormal", sigma = 1e-300 }\n')
ZERO_TUNE_TOML = ('[data]\ndataset = "sleepstudy"\n[model]\nformula = "Reaction ~ Days + '
                  '(1 | Subject)"\n[sampler]\ntune = 0\n')

CLI_FILES: dict[str, str | bytes | Callable[[], str]] = {
    "empty.csv": "",
    "header.csv": "y,x,g\n",
    "ragged.csv": "y,x,g\n1,2,a\n3,4\n5,6,b,7\n",
    "latin1.csv": "y,x,g\n1.5,2,caf\xe9\n".encode("latin-1"),
    "inf.csv": lambda: at(frame(), "x", 4, np.inf).to_csv(index=False),
    "collinear.csv": lambda: edited(x2=lambda d: 3 * d["x"]).to_csv(index=False),
    "unicode.csv": lambda: frame().rename(columns={"x": "größe"}).to_csv(index=False),
    "quoted.csv": lambda: frame().to_csv(index=False, quoting=1),
    "separated.csv": lambda: binary(frame()).to_csv(index=False),
    "existing.txt": SECRET + "\n",
    "outside.csv": lambda: frame().to_csv(index=False),
    "m/outside.toml": TOML.format(path="../outside.csv"),
    "m/secret.toml": TOML.format(path="../existing.txt"),
    "bad_prior.toml": BAD_TOML_PRIOR,
    "failing.toml": FAILING_TOML,
    "zero_tune.toml": ZERO_TUNE_TOML,
}

CLI_CASES: dict[str, CliCase] = {
    "empty_csv": cli("fit", "-f", XY, "-d", "{tmp}/empty.csv", words=["is empty"]),
    "header_only_csv": cli("fit", "-f", XY, "-d", "{tmp}/header.csv",
                           words=["header but no data rows"]),
    "ragged_csv": cli("reml", "-f", XY, "-d", "{tmp}/ragged.csv", words=["line 3 has 2"]),
    "latin1_csv": cli("fit", "-f", XY, "-d", "{tmp}/latin1.csv", words=["not UTF-8"],
                      absent=["caf"]),
    "inf_in_csv": cli("fit", "-f", XY, "-d", "{tmp}/inf.csv", words=["'x'", "non-finite"]),
    "collinear_csv": cli("reml", "-f", "y ~ x + x2 + (1 | g)", "-d", "{tmp}/collinear.csv",
                         words=["collinear"]),
    "unicode_columns_work": cli("reml", "-f", "y ~ größe + (1 | g)", "-d", "{tmp}/unicode.csv",
                                status=0, stdout=["größe"]),
    "quoted_csv_reads_numbers": cli("reml", "-f", XY, "-d", "{tmp}/quoted.csv", status=0,
                                    words=["hiermod: warning:", "quoted"], stdout=["x"]),
    "separation_note": cli("reml", "-f", "b ~ x + (1 | g)", "--family", "bernoulli", "-d",
                           "{tmp}/separated.csv", status=0, stdout=["separation"]),
    "out_onto_a_file": cli("fit", *SLEEP, "--out", "{tmp}/existing.txt",
                           words=["--out", "existing file"], absent=["fitting"]),
    "json_onto_a_folder": cli("fit", *SLEEP, "--json", "{tmp}", words=["--json", "folder"],
                              absent=["fitting"]),
    "data_outside_model_folder": cli("reml", "{tmp}/m/outside.toml",
                                     words=["outside the model file's folder"]),
    "outside_allowed_by_flag": cli("reml", "{tmp}/m/outside.toml", "--allow-outside-data",
                                   status=0, stdout=["Intercept"]),
    "no_file_contents_in_errors": cli("reml", "{tmp}/m/secret.toml", "--allow-outside-data",
                                      words=["no data rows"], absent=[SECRET[:10]]),
    "huge_seed": cli("fit", *SLEEP, "--seed", str(2**70), words=["random_seed"]),
    "nan_target_accept": cli("fit", *SLEEP, "--target-accept", "nan", words=["target_accept"]),
    "zero_tune_in_file": cli("fit", "{tmp}/zero_tune.toml", words=["sampler.tune", "tune"]),
    "negative_prior_scale_in_file": cli("fit", "{tmp}/bad_prior.toml",
                                        words=["sigma must be > 0"]),
    "debug_shows_the_traceback": cli("fit", "-f", XY, "-d", "{tmp}/empty.csv", "--debug",
                                     status=1, words=["Traceback", "DataError"], debug=True),
    "too_few_draws_fail_diagnostics": cli("fit", *SLEEP, "--draws", "3", "--tune", "5",
                                          "--chains", "2", "--seed", "1", status=3,
                                          words=["could not be computed"]),
    "sampler_failure_exit_4": cli("fit", "{tmp}/failing.toml", "--draws", "10", "--tune", "10",
                                  "--chains", "2", "--seed", "1", "--sampler", "pymc", status=4,
                                  words=["sampling failed", "starting point"]),
}


def run_case(case: CliCase, tmp: Path) -> subprocess.CompletedProcess | str:
    args = [a.replace("{tmp}", str(tmp)) for a in case.args]
    env = {k: v for k, v in os.environ.items() if k not in ("HIERMOD_DEBUG", "PYTHONWARNINGS")}
    try:
        return subprocess.run([sys.executable, "-m", "hiermod", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"no answer within {CLI_TIMEOUT} s: the command hangs"


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Every CLI case, three at a time (each pays Python's and PyMC's start-up, ~3 s of CPU)."""
    tmp = tmp_path_factory.mktemp("bad_cli")
    for name, content in CLI_FILES.items():
        write(tmp, name, content() if callable(content) else content)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {k: pool.submit(run_case, c, tmp) for k, c in CLI_CASES.items()}
        return {k: f.result() for k, f in futures.items()}


@pytest.mark.slow  # ~70 s of CPU: 21 interpreters that import PyMC, two tiny samplings
@pytest.mark.parametrize("name", list(CLI_CASES))
def test_cli_case(name, cli_runs):
    case, run = CLI_CASES[name], cli_runs[name]
    if isinstance(run, str):
        pytest.fail(run)
    assert run.returncode == case.status, (run.returncode, run.stderr[-3000:])
    for text in case.absent:
        assert text not in run.stderr and text not in run.stdout
    for text in case.stdout:
        assert text in run.stdout, run.stdout[-2000:]
    if case.debug:
        for word in case.words:
            assert word in run.stderr
        return
    assert "Traceback" not in run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    if case.status == 2:  # before any work: nothing but warnings, then the one error line
        assert run.stdout == ""
        assert all(ln.startswith("hiermod: warning: ") for ln in lines[:-1]), run.stderr
        assert lines[-1].startswith("hiermod: error: "), run.stderr
        said = lines[-1]
    elif case.status == 4:  # the run had started: its progress lines, then the one cause
        assert run.stdout == ""
        assert lines[-1].startswith("hiermod: sampling failed: "), run.stderr
        said = lines[-1]
    else:
        said = run.stderr
    for word in case.words:
        assert word in said, (word, run.stderr[-3000:])


@pytest.mark.slow
def test_cli_warnings_are_one_line_each(cli_runs):
    run = cli_runs["quoted_csv_reads_numbers"]
    warned = [ln for ln in run.stderr.splitlines() if "quoted" in ln]
    assert len(warned) == 1 and warned[0].startswith("hiermod: warning: ")


@pytest.mark.slow
def test_exit_3_still_prints_the_summary(cli_runs):
    """Exit 3 is not a crash: the summary table is printed with the problems."""
    run = cli_runs["too_few_draws_fail_diagnostics"]
    assert "Days" in run.stdout and "R-hat" in run.stderr
