"""Benchmark: grouped K-fold cross-validation, refits in parallel processes vs one after the other.

The peer is the obvious alternative: the same K refits run serially in this process
(``n_jobs=1``). Both runs use the same folds and seeds, so their elpd must agree; what differs
is the wall time. A parallel run pays for starting its worker processes (each imports hiermod
and PyMC, a few seconds) and gains when the refits take longer than that and cores are free.

    python benchmarks/bench_kfold.py                 # contraception, K=10, 2 jobs
    python benchmarks/bench_kfold.py --k 5 --draws 500 --jobs 2
    python benchmarks/bench_kfold.py --report        # table of kfold_results.jsonl

Each run appends one JSON line to ``benchmarks/kfold_results.jsonl`` with the settings, the
1-minute load average before it (the machine may be shared), the wall times, the refits'
own times and the elpd of both runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import hiermod as hm

RESULTS = Path(__file__).with_name("kfold_results.jsonl")
FORMULA = "use ~ age + I(age**2) + urban + livch + (1 | district)"


def run(k: int, draws: int, jobs: int, seed: int) -> dict:
    contra = hm.datasets.load("contraception")
    fit = hm.fit(FORMULA, contra, family="bernoulli", event="Y", draws=draws, tune=draws,
                 chains=4, random_seed=seed, progressbar=False)
    out = {"case": "contraception", "formula": FORMULA, "K": k, "draws": draws, "chains": 4,
           "jobs": jobs, "cpus": os.cpu_count(), "load_before": os.getloadavg()[0],
           "python": platform.python_version(), "hiermod": hm.__version__}
    for name, n_jobs in (("serial", 1), ("parallel", jobs)):
        t0 = time.perf_counter()
        cv = hm.kfold(fit, K=k, folds="grouped", n_jobs=n_jobs, random_seed=seed + 1)
        out[f"{name}_wall_s"] = time.perf_counter() - t0
        out[f"{name}_refit_s"] = list(cv.fold_seconds)
        out[f"{name}_elpd"] = cv.elpd
    out["speedup"] = out["serial_wall_s"] / out["parallel_wall_s"]
    return out


def report() -> None:
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    print("| K | draws × chains | jobs / cpus | load before | serial s | parallel s | speed-up |"
          " elpd serial | elpd parallel |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['K']} | {r['draws']} × {r['chains']} | {r['jobs']} / {r['cpus']} | "
              f"{r['load_before']:.1f} | {r['serial_wall_s']:.0f} | {r['parallel_wall_s']:.0f} | "
              f"{r['speedup']:.2f} | {r['serial_elpd']:.2f} | {r['parallel_elpd']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.report:
        report()
        return
    result = run(args.k, args.draws, args.jobs, args.seed)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
