"""Benchmark: hiermod's sampling paths (the marginal gaussian path, one factor and several; the
bernoulli / binomial / poisson model on cells in the adaptive parameterization; the explicit
model) vs bambi (its default sampler and nutpie).

Every fit runs in a fresh Python process (so peak memory is that fit's own), after an untimed
warm-up fit of a tiny model with the same engine in that process (numba's and PyTensor's
one-off start-up costs, ~10-20 s per process, are reported as ``warmup_s``, not charged to the
fit). Engines are interleaved within each repetition. For each fit it records

* ``ttfd_s``   time to first draw: data -> design -> model -> compiled (hiermod; bambi's
               compile happens inside its ``fit`` and cannot be separated),
* ``wall_s``   the whole call, from the DataFrame to the result (incl. the conditional draws
               of the group effects on the marginal path),
* ``min_ess``  minimum bulk ESS over every reported parameter, group effects included (for
               hiermod: beta, sigma, sd_*, corr_* off-diagonal, u_*; for bambi: every variable
               of its posterior — intercept, slopes, sigma, group sds, group effects),
* ``ess_per_s`` = min_ess / wall_s, divergences, max R-hat, peak RSS (``ru_maxrss``),
* ``cpu_s``    CPU seconds the fit used (threads and child processes included) and the load
               average before it: the machine is shared, so wall times carry others' load.

Usage::

    python benchmarks/bench_marginal.py --case hsb82 --reps 2
    python benchmarks/bench_marginal.py --case sim_1m --engines hiermod-marginal
    python benchmarks/bench_marginal.py --report            # table from results.jsonl

Results are appended to ``benchmarks/results.jsonl`` (one JSON object per fit).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.jsonl"

#: case -> data source, hiermod formula, family, bambi's formula (None: the same), engines
ALL = ("hiermod-marginal", "hiermod-explicit", "bambi", "bambi-nutpie")
GLMM = ("hiermod", "hiermod-noncentered", "bambi", "bambi-nutpie")
#: run on request only (``--engines``): the default path on numpyro / JAX (GPU where JAX has one)
EXTRA = ("hiermod-marginal-numpyro", "hiermod-numpyro")
ENGINES = ("hiermod", *ALL[:2], "hiermod-noncentered", *ALL[2:], *EXTRA)
CASES: dict[str, tuple[str, str, str, str | None, tuple[str, ...]]] = {
    "radon_vis": ("radon", "log_radon ~ floor + (1 + floor | county)", "gaussian", None, ALL),
    "sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "gaussian", None, ALL),
    "hsb82": ("hsb82", "mAch ~ meanses*cses + sector*cses + (1 + cses | school)", "gaussian",
              None, ALL),
    "workshop_twin": ("sim:workshop", "y ~ x1 + x2 + x3 + (1 | site)", "gaussian", None, ALL),
    "sim_100k": ("sim:100000:1000", "y ~ x + (1 + x | g)", "gaussian", None,
                 ("hiermod-marginal", "hiermod-explicit", "bambi-nutpie")),
    "sim_1m": ("sim:1000000:1000", "y ~ x + (1 + x | g)", "gaussian", None, ("hiermod-marginal",)),
    "sim_10m": ("sim:10000000:10000", "y ~ x + (1 + x | g)", "gaussian", None,
                ("hiermod-marginal",)),
    # bernoulli / binomial: the cells path
    "binary_twin": ("sim:binary_twin", "part ~ educ_cwc + urban_cwc + cpi_cgm + (1 + educ_cwc | cnt)",
                    "bernoulli", None, GLMM),
    "cbpp": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial",
             "p(incidence, size) ~ period + (1 | herd)", GLMM),
    "bern_groups": ("sim:bern_groups", "y ~ x + z + w + (1 | g)", "bernoulli", None, GLMM),
    "bern_100k": ("sim:bern:100000:1000", "y ~ x + (1 + x | g)", "bernoulli", None,
                  ("hiermod", "bambi-nutpie")),
    "bern_1m": ("sim:bern:1000000:1000", "y ~ x + (1 + x | g)", "bernoulli", None,
                ("hiermod", "hiermod-numpyro")),
    # crossed gaussian: the several-factor marginal path
    "penicillin": ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", "gaussian", None,
                   ALL),
    "pupils_crossed": ("ref:crossed/pupils_crossed.csv", "y ~ x + (1 | primary) + (1 | secondary)",
                       "gaussian", None, ALL),
    "crossed_100k": ("sim:crossed:100000:1000:50", "y ~ x + (1 | a) + (1 | h)", "gaussian", None,
                     ("hiermod-marginal", "hiermod-explicit", "bambi-nutpie")),
    "crossed_1m": ("sim:crossed:1000000:1000:50", "y ~ x + (1 | a) + (1 | h)", "gaussian", None,
                   ("hiermod-marginal",)),
}


# --- one fit (worker process) ------------------------------------------------------------------


def load_data(source: str):
    sys.path.insert(0, str(HERE))
    import simulate

    import hiermod as hm

    if source == "sim:workshop":
        return simulate.workshop_twin()
    if source == "sim:binary_twin":
        return simulate.binary_twin()
    if source == "sim:bern_groups":
        return simulate.bernoulli_groups()
    if source.startswith("sim:bern:"):
        _, _, n, j = source.split(":")
        return simulate.bernoulli_continuous(int(n), int(j))
    if source.startswith("sim:crossed:"):
        _, _, n, a, b = source.split(":")
        return simulate.crossed(int(n), int(a), int(b))
    if source.startswith("sim:"):
        _, n, j = source.split(":")
        return simulate.varying_slope(int(n), int(j))
    if source.startswith("ref:"):
        return hm.datasets.read_csv(HERE.parent / "tests" / "reference" / source[4:])
    return hm.datasets.load(source)


def without_unit_diagonals(posterior, var_names):
    """The variables, with the constant diagonal (= 1) of each correlation matrix masked."""
    ds = posterior[var_names]
    for v in var_names:
        if v.startswith("corr_"):
            a, b = ds[v].dims[-2:]
            ds[v] = ds[v].where(ds[v][a] != ds[v][b])
    return ds


def all_values(ds):
    import numpy as np

    return np.concatenate([np.asarray(ds[v]).ravel() for v in ds.data_vars])


def min_bulk_ess(posterior, var_names) -> float:
    import arviz as az
    import numpy as np

    ess = az.ess(without_unit_diagonals(posterior, var_names), method="bulk")
    return float(np.nanmin(all_values(ess)))


def max_rhat(posterior, var_names) -> float:
    import arviz as az
    import numpy as np

    return float(np.nanmax(all_values(az.rhat(without_unit_diagonals(posterior, var_names)))))


def run_hiermod(formula, data, family, s, seed, sampler="nutpie", **options):
    import hiermod as hm
    from hiermod.diagnostics import checked_variables

    t0 = time.perf_counter()
    fit = hm.fit(formula, data, family=family, draws=s["draws"], tune=s["tune"],
                 chains=s["chains"], random_seed=seed, progressbar=False, sampler=sampler,
                 **options)
    wall = time.perf_counter() - t0
    post = fit.idata["posterior"].to_dataset()
    names = checked_variables(post, fit.design)
    stats = fit.idata["sample_stats"].to_dataset()
    return {"wall_s": wall, "ttfd_s": fit.timing["build_s"] + fit.timing["compile_s"],
            "build_s": fit.timing["build_s"], "compile_s": fit.timing["compile_s"],
            "sample_s": fit.timing["sample_s"],
            "conditional_s": fit.timing.get("conditional_s", 0.0),
            "model_path": fit.model_path, "parameterization": fit.parameterization,
            "implementation": fit.idata["posterior"].attrs.get("implementation"),
            "n_cells": fit.timing.get("cells"),
            "min_ess": min_bulk_ess(post, names), "max_rhat": max_rhat(post, names),
            "divergences": int(stats["diverging"].sum()) if "diverging" in stats else None,
            "n_params": int(sum(post[v].size // (post.sizes["chain"] * post.sizes["draw"])
                                for v in names))}


def run_bambi(formula, data, family, method, s, seed):
    import bambi as bmb

    t0 = time.perf_counter()
    model = bmb.Model(formula, data, family=family)
    model.build()
    t1 = time.perf_counter()
    kw = {"cores": min(s["chains"], os.cpu_count() or 1)} if method == "pymc" else {}
    idata = model.fit(draws=s["draws"], tune=s["tune"], chains=s["chains"], random_seed=seed,
                      inference_method=method, progressbar=False, **kw)
    wall = time.perf_counter() - t0
    post = idata["posterior"].to_dataset()
    names = list(post.data_vars)
    stats = idata["sample_stats"].to_dataset()
    return {"wall_s": wall, "ttfd_s": None, "build_s": t1 - t0, "compile_s": None,
            "sample_s": None, "conditional_s": 0.0, "model_path": f"bambi/{method}",
            "min_ess": min_bulk_ess(post, names), "max_rhat": max_rhat(post, names),
            "divergences": int(stats["diverging"].sum()) if "diverging" in stats else None,
            "n_params": int(sum(post[v].size // (post.sizes["chain"] * post.sizes["draw"])
                                for v in names))}


def warm_up(engine) -> float:
    """An untimed tiny fit with the same engine: pays the per-process start-up costs."""
    sys.path.insert(0, str(HERE))
    from simulate import varying_slope

    tiny = varying_slope(200, 10, seed=99)
    s = {"draws": 20, "tune": 20, "chains": 1}
    t0 = time.perf_counter()
    engine_call(engine, "y ~ x + (1 + x | g)", "gaussian", None, tiny, s, 1)
    tiny["y"] = (tiny["y"] > tiny["y"].median()).astype(int)
    engine_call(engine, "y ~ x + (1 + x | g)", "bernoulli", None, tiny, s, 1)
    return time.perf_counter() - t0


def engine_call(engine, formula, family, bambi_formula, data, s, seed):
    gaussian = family == "gaussian"
    if engine in ("hiermod", "hiermod-marginal"):
        return run_hiermod(formula, data, family, s, seed)
    if engine == "hiermod-explicit":
        return run_hiermod(formula, data, family, s, seed, marginalize=False)
    if engine == "hiermod-noncentered":
        return run_hiermod(formula, data, family, s, seed, parameterization="noncentered",
                           marginalize=None if not gaussian else False)
    if engine in ("hiermod-marginal-numpyro", "hiermod-numpyro"):
        out = run_hiermod(formula, data, family, s, seed, sampler="numpyro")
        import jax

        out["jax_backend"] = f"{jax.default_backend()} ({len(jax.devices())} devices)"
        return out
    if engine in ("bambi", "bambi-nutpie"):
        return run_bambi(bambi_formula or formula, data, family,
                         "pymc" if engine == "bambi" else "nutpie", s, seed)
    raise SystemExit(f"unknown engine {engine}")


def worker(job: dict) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    source, formula, family, bambi_formula, _ = CASES[job["case"]]
    warm = 0.0 if job.get("cold") else warm_up(job["engine"])
    data = load_data(source)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = engine_call(job["engine"], formula, family, bambi_formula, data, job["settings"],
                      job["seed"])
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # bambi/PyMC's chain processes
    out["cpu_s"] = cpu + (kids.ru_utime + kids.ru_stime) - (k0.ru_utime + k0.ru_stime)
    out.update({"case": job["case"], "engine": job["engine"], "rep": job["rep"],
                "cold": bool(job.get("cold")),
                "n_obs": len(data), "warmup_s": warm, "loadavg_before": load,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_after_warmup_and_data_mb": rss_before,
                "ess_per_s": out["min_ess"] / out["wall_s"], **job["settings"]})
    return out


# --- driver ------------------------------------------------------------------------------------


def versions() -> dict:
    import arviz
    import bambi
    import nutpie
    import pymc
    import pytensor

    import hiermod

    return {"python": platform.python_version(), "hiermod": hiermod.__version__,
            "pymc": pymc.__version__, "pytensor": pytensor.__version__,
            "nutpie": nutpie.__version__, "bambi": bambi.__version__, "arviz": arviz.__version__,
            "cpus": os.cpu_count()}


def run_job(job: dict, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {**job, "error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {**job, "error": (proc.stderr or proc.stdout)[-2000:]}
    return json.loads(lines[-1])


def format_table(rows: list[dict]) -> str:
    """Markdown: median over repetitions per (case, engine), ratios vs the better bambi."""
    import statistics as stt

    groups: dict[tuple, list] = {}
    for r in rows:
        if "error" not in r and not r.get("cold"):
            groups.setdefault((r["case"], r["engine"]), []).append(r)
    out = ["| case | n_obs | engine | reps | time to first draw s | sampling s | wall s | "
           "min bulk ESS | ESS/s | × best bambi ESS/s | divergences | max R-hat | peak RSS MB | "
           "CPU s | load avg |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for case in CASES:
        med = {}
        for eng in ENGINES:
            rs = groups.get((case, eng))
            if rs:
                med[eng] = {k: stt.median([r[k] for r in rs if r.get(k) is not None])
                            if any(r.get(k) is not None for r in rs) else None
                            for k in ("ttfd_s", "wall_s", "min_ess", "ess_per_s",
                                      "max_rhat", "peak_rss_mb", "sample_s", "conditional_s",
                                      "cpu_s")}
                med[eng]["div"] = sum(r["divergences"] or 0 for r in rs)
                med[eng]["reps"] = len(rs)
                med[eng]["n_obs"] = rs[0]["n_obs"]
                med[eng]["load"] = stt.median([r["loadavg_before"][0] for r in rs])
        bambi = [med[e]["ess_per_s"] for e in ("bambi", "bambi-nutpie") if e in med]
        best = max(bambi) if bambi else None
        for eng, m in med.items():
            ratio = f"{m['ess_per_s'] / best:.1f}" if best else "–"
            ttfd = f"{m['ttfd_s']:.1f}" if m["ttfd_s"] is not None else "–"
            samp = (f"{m['sample_s'] + (m['conditional_s'] or 0):.1f}"
                    if m["sample_s"] is not None else "–")
            cpu = f"{m['cpu_s']:.0f}" if m["cpu_s"] is not None else "–"
            out.append(f"| {case} | {m['n_obs']:,} | {eng} | {m['reps']} | {ttfd} | {samp} | "
                       f"{m['wall_s']:.1f} | {m['min_ess']:.0f} | {m['ess_per_s']:.1f} | {ratio} | "
                       f"{m['div']} | {m['max_rhat']:.3f} | {m['peak_rss_mb']:.0f} | {cpu} | "
                       f"{m['load']:.1f} |")
    cold = [r for r in rows if r.get("cold") and "error" not in r]
    if cold:
        out += ["", "First fit in a fresh process (no warm-up; numba's disk cache as left by "
                "earlier runs):", "",
                "| case | engine | time to first draw s | wall s | min bulk ESS | ESS/s |",
                "|---|---|---|---|---|---|"]
        out += [f"| {r['case']} | {r['engine']} | "
                f"{r['ttfd_s']:.1f} | {r['wall_s']:.1f} | {r['min_ess']:.0f} | "
                f"{r['ess_per_s']:.1f} |" if r["ttfd_s"] is not None else
                f"| {r['case']} | {r['engine']} | – | {r['wall_s']:.1f} | {r['min_ess']:.0f} | "
                f"{r['ess_per_s']:.1f} |" for r in cold]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", action="append", choices=list(CASES),
                    help="case to run (repeatable; default: all but sim_10m)")
    ap.add_argument("--engines", help=f"comma-separated subset of {', '.join(ENGINES)} "
                    "(default: the case's own list)")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per fit")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--cold", action="store_true",
                    help="no warm-up fit: time the first fit of a fresh process")
    ap.add_argument("--report", action="store_true", help="print the table of --out and exit")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if args.report:
        rows = [json.loads(ln) for ln in args.out.read_text().splitlines() if ln.strip()]
        print(format_table(rows))
        return 0
    cases = args.case or [c for c in CASES if c not in ("sim_10m", "bern_1m", "crossed_1m")]
    settings = {"draws": args.draws, "tune": args.tune, "chains": args.chains}
    print(json.dumps(versions()), file=sys.stderr)
    rows = []
    for rep in range(args.reps):
        for case in cases:
            engines = args.engines.split(",") if args.engines else CASES[case][4]
            for eng in engines:
                job = {"case": case, "engine": eng, "rep": rep, "seed": args.seed + rep,
                       "settings": settings, "cold": args.cold}
                res = run_job(job, args.timeout)
                rows.append(res)
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(res) + "\n")
                brief = ("ERROR " + res["error"][-300:] if "error" in res else
                         f"wall {res['wall_s']:.1f}s ess {res['min_ess']:.0f} "
                         f"ess/s {res['ess_per_s']:.1f} div {res['divergences']} "
                         f"rss {res['peak_rss_mb']:.0f}MB load {res['loadavg_before'][0]:.1f}")
                print(f"[rep {rep}] {case} {eng}: {brief}", file=sys.stderr, flush=True)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
