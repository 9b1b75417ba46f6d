"""Shared test helpers (plain functions, no fixtures): the reference fits of tests/reference,
the designs the marginal-path tests use, simulated data, fake posteriors and the command-line
runner. Session fixtures built on them are in conftest.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import hiermod as hm
from hiermod import names
from hiermod.longitudinal import simulate_panel

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).parent / "reference"
DATASET_OF = {"data/radon.csv": "radon", "data/sleepstudy.csv": "sleepstudy",
              "data/hsb82.csv": "hsb82", "data/cbpp.csv": "cbpp",
              "data/penicillin.csv": "penicillin"}

#: small, seeded sampler settings of the shared report fits (2 chains × 200 draws)
SETTINGS = {"draws": 200, "tune": 300, "chains": 2, "progressbar": False}
#: the bernoulli model of the shared contraception fit (lme4's glmer of mlmRev's example)
CONTRACEPTION = "use ~ age + I(age**2) + urban + livch + (1 | district)"


# --- reference fits (lme4 1.1-31) ---------------------------------------------------------------


def reference_cases() -> dict[str, dict]:
    """case -> {"data": dataset name, "family", "formula"} from tests/reference/cases.json."""
    cases = json.loads((REFERENCE / "cases.json").read_text())
    return {c["case"]: {**c, "dataset": DATASET_OF[c["data"]]} for c in cases}


def load_reference(case: str) -> dict:
    """lme4 1.1-31 / performance 0.10.2 reference fit (tests/reference/<case>.json)."""
    return json.loads((REFERENCE / f"{case}.json").read_text())


@cache
def inference_reference(case: str) -> dict:
    """lmerTest / pbkrtest / lme4 / sandwich references of tests/reference/inference."""
    return json.loads((REFERENCE / "inference" / f"{case}.json").read_text())


@cache
def inference_data(case: str) -> pd.DataFrame:
    """The data of an inference reference case, read with the project's CSV typing rule."""
    return hm.datasets.read_csv(ROOT / inference_reference(case)["data"])


def central_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar function f at x."""
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])


def lme4_term(name: str, factor_levels: dict | None = None) -> str:
    """lme4's coefficient name -> hiermod's (formulae's): '(Intercept)' -> 'Intercept',
    'sectorPublic' -> 'sector[Public]', 'period2' -> 'period[2]', 'sectorPublic:cses' ->
    'sector[Public]:cses'."""
    factor_levels = factor_levels or {}

    def one(part: str) -> str:
        if part == "(Intercept)":
            return "Intercept"
        for factor in factor_levels:
            m = re.fullmatch(re.escape(factor) + r"(.+)", part)
            if m:
                return f"{factor}[{m.group(1)}]"
        return part

    return ":".join(one(p) for p in name.split(":"))


# --- designs of the marginal-path tests ------------------------------------------------------------

MARGINAL_CASES = {
    "sleep_vis": ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    "sleep_uncorr": ("sleepstudy", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"),
    "radon_vi": ("radon", "log_radon ~ floor + (1 | county)"),
    "radon_l2": ("radon", "log_radon ~ floor + log_uranium + (1 | county)"),
    "radon_vis": ("radon", "log_radon ~ floor + (1 + floor | county)"),
    "hsb_full": ("hsb82", "mAch ~ meanses*cses + sector*cses + (1 + cses | school)"),
    "no_intercept": ("sleepstudy", "Reaction ~ 0 + Days + (1 + Days | Subject)"),
    "three_terms": ("hsb82", "mAch ~ ses + (1 + ses + minrty | school)"),
}


def design_of(case: str):
    dataset, formula = MARGINAL_CASES[case]
    return hm.make_design(hm.parse_formula(formula), hm.datasets.load(dataset))


# --- simulated longitudinal data: subjects measured over time, a level-2 predictor -----------

SIM_TRUTH = {"b0": 1.0, "b_time": 0.3, "b_w": 0.5, "sd0": 1.0, "sd1": 0.2, "corr": 0.3,
             "sigma": 0.8}


def simulate_subjects(n_subjects: int, sizes, rng: np.random.Generator,
                      prefix: str = "s") -> pd.DataFrame:
    """y = b0 + b_w w_j + b_time t + u0_j + u1_j t + e, (u0, u1) ~ N(0, Σ), e ~ N(0, σ²)."""
    t = SIM_TRUTH
    cov = np.array([[t["sd0"] ** 2, t["corr"] * t["sd0"] * t["sd1"]],
                    [t["corr"] * t["sd0"] * t["sd1"], t["sd1"] ** 2]])
    u = rng.multivariate_normal(np.zeros(2), cov, size=n_subjects)
    w = rng.normal(size=n_subjects)
    sizes = np.broadcast_to(np.asarray(sizes), (n_subjects,))
    rows = []
    for j in range(n_subjects):
        time = rng.integers(0, 10, size=sizes[j]).astype(float)
        mu = t["b0"] + t["b_w"] * w[j] + t["b_time"] * time + u[j, 0] + u[j, 1] * time
        y = mu + rng.normal(0, t["sigma"], size=sizes[j])
        rows.append(pd.DataFrame({"y": y, "time": time, "w": w[j],
                                  "subject": f"{prefix}{j:03d}"}))
    return pd.concat(rows, ignore_index=True)


def make_sim_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training data: 40 subjects with 4–12 rows and one with 60; held-out: 200 new subjects
    with one row each)."""
    rng = np.random.default_rng(2024)
    sizes = rng.integers(4, 13, size=40)
    sizes[0] = 60
    train = simulate_subjects(40, sizes, rng)
    held_out = simulate_subjects(200, 1, rng, prefix="new")
    return train, held_out


# --- a simulated growth panel with correlated residuals (tests/test_longitudinal_fit.py) -------

PANEL_FORMULA = "y ~ time + x + (1 + time | id)"
PANEL_CORRELATION = "ar1(occasion | id)"
PANEL_SIGMA = "~ group"
PANEL_SETTINGS = {"draws": 400, "tune": 400, "chains": 2, "progressbar": False}


def make_panel(seed: int):
    """(data, truth): 300 units × 8 occasions, 20% missing, AR(1) with φ = 0.6, residual sd
    0.8 (group a) and 1.2 (group b); time = occasion."""
    return simulate_panel(300, 8, kind="ar1", p_missing=0.2, seed=seed)


# --- fake posteriors ---------------------------------------------------------------------------


def fake_tree(design, beta, sds: dict, sigma=None, u: dict | None = None,
              corr: dict | None = None, draws: int = 4, seed: int | None = None) -> xr.DataTree:
    """A DataTree whose posterior repeats the given values ``draws`` times (1 chain), or with
    ``seed`` draws u_j from N(0, Σ) independently per draw."""
    rng = np.random.default_rng(seed)
    coords = {"chain": [0], "draw": np.arange(draws)}

    def rep(x):
        x = np.asarray(x, dtype=float)
        return np.broadcast_to(x, (1, draws) + x.shape).copy()

    data = {names.FIXED: (("chain", "draw", names.FIXED_DIM), rep(beta))}
    coords[names.FIXED_DIM] = list(design.fixed_terms)
    if sigma is not None:
        data[names.SIGMA] = (("chain", "draw"), rep(sigma))
    for fd in design.factors:
        g, gt = names.group_dim(fd.name), names.term_dim(fd.name)
        coords[g], coords[gt] = list(fd.levels), list(fd.terms)
        sd = np.asarray(sds[fd.name], dtype=float)
        cv = names.cov_dim(fd.name)
        coords[cv] = list(fd.terms)
        data[names.group_sd(fd.name)] = (("chain", "draw", cv), rep(sd))
        R = np.eye(fd.q) if not corr or fd.name not in corr else np.asarray(corr[fd.name])
        if fd.q > 1:
            coords[names.cov_dim_bis(fd.name)] = list(fd.terms)
            data[names.group_corr(fd.name)] = (("chain", "draw", cv, names.cov_dim_bis(fd.name)),
                                               rep(R))
        if u is not None and fd.name in u:
            uu = rep(u[fd.name])
        else:
            L = np.linalg.cholesky(R) * sd[:, None]
            uu = (rng.standard_normal((1, draws, fd.n_levels, fd.q)) @ L.T)
        data[names.group_effects(fd.name)] = (("chain", "draw", g, gt), uu)
    post = xr.Dataset(data, coords=coords)
    post.attrs["random_seed"] = 0
    return xr.DataTree.from_dict({"/posterior": post})


# --- the command line ---------------------------------------------------------------------------

DEMO_ARGS = ["--draws", "500", "--tune", "500", "--chains", "2", "--seed", "7"]


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]


def cli_env() -> dict:
    env = dict(os.environ)
    env.pop("HIERMOD_DEBUG", None)
    env["PYTHONWARNINGS"] = "ignore"  # the one-line error checks look at all of stderr
    return env


def start(*args: str, cwd: Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hiermod", *args], cwd=cwd, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, args, timeout: float = 600) -> Run:
    out, err = proc.communicate(timeout=timeout)
    return Run(tuple(args), proc.returncode, out, err)


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 600) -> Run:
    return finish(start(*args, cwd=cwd), args, timeout)


def demo_run(out: Path) -> Run:
    """``hiermod fit models/radon_vis.toml --reml --out OUT --json OUT/summary.json`` (small
    draws); conftest.py runs it once per session."""
    return run_cli("fit", "models/radon_vis.toml", *DEMO_ARGS, "--reml", "--out", str(out),
                   "--json", str(out / "summary.json"))


# --- test tiers --------------------------------------------------------------------------------


def tiered(cases, fast):
    """``cases`` as pytest params, those not in ``fast`` marked slow (CI runs every tier; the
    fast tier, ``-m "not slow"``, keeps one or two representatives of a family of cases)."""
    import pytest

    keep = list(fast)
    return [case if any(case == f for f in keep) else
            pytest.param(*(case if isinstance(case, tuple) else (case,)), marks=pytest.mark.slow)
            for case in cases]


# --- Dask data and many fits ---------------------------------------------------------------------


def partition_frame(n: int = 1200, J: int = 30, seed: int = 3) -> pd.DataFrame:
    """Simulated rows for the partitioned-design tests: a gaussian outcome with a varying
    intercept and slope, a text predictor, a second (crossed) factor, a 0/1 outcome and a
    binomial count out of 1–5 trials with x on three values (so rows share cells)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, J, n)
    h = rng.integers(0, 6, n)
    x = rng.normal(2.0, 1.5, n)
    d = rng.integers(0, 3, n).astype(float)
    s = rng.choice(["low", "mid", "high"], n)
    y = (1 + rng.normal(0, 1, J)[g] + (0.5 + rng.normal(0, 0.3, J)[g]) * x + 0.4 * (s == "mid")
         + rng.normal(0, 0.5, 6)[h] + rng.normal(size=n))
    eta = -0.4 + 0.6 * d + rng.normal(0, 0.8, J)[g]
    trials = rng.integers(1, 6, n)
    return pd.DataFrame({"y": y, "x": x, "d": d, "s": s, "g": g, "h": h,
                         "b": rng.binomial(1, 1 / (1 + np.exp(-eta))),
                         "k": rng.binomial(trials, 1 / (1 + np.exp(-eta))), "n": trials})


def crt_frame(n_clusters: int = 20, size: int = 5, seed: int = 0) -> pd.DataFrame:
    """A balanced two-arm cluster-randomised pilot: clusters alternate between arms."""
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(n_clusters), size)
    treat = (cl % 2).astype(float)
    y = 0.3 * treat + rng.normal(0, 0.3, n_clusters)[cl] + rng.normal(size=len(cl))
    return pd.DataFrame({"y": y, "treat": treat, "cluster": cl})


def flaky_square(task: int) -> dict:
    """A batch task (module level, so workers can unpickle it): task² and the worker's pid;
    raises for multiples of 4."""
    import os

    if task % 4 == 0:
        raise ValueError(f"task {task} refuses")
    return {"square": task * task, "pid": os.getpid()}
