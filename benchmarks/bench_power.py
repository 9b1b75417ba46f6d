"""hm.power by REML on a LocalCluster: how long 1,000 simulations take, against the same
simulations one after the other in this process and against lme4 + lmerTest (simr's way,
benchmarks/power_lme4.R) in the same run.

    python benchmarks/bench_power.py                 # 1,000 simulations, 2 workers
    python benchmarks/bench_power.py --nsim 2000 --r-nsim 200

Design: a balanced two-arm cluster-randomised trial extended to 100 clusters of 10 (1,000
rows), ICC 0.1, effect 0.25, total variance 1; ``y ~ treat + (1 | cluster)``, Satterthwaite t
test at α = 0.05. The analytic power (design effect, normal approximation) is printed next to
the simulated ones. Results are appended to ``power_results.jsonl`` with the 1-minute load
average (the machine is shared with other work: timings are indicative).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import hiermod as hm
from hiermod.batch import task_seeds
from hiermod.power_analysis import PowerTask, analytic_power_crt, run_power_task
from hiermod.simulate import extend, truth_of_reml

HERE = Path(__file__).parent
RESULTS = HERE / "power_results.jsonl"
J, N, ICC, EFFECT = 100, 10, 0.1, 0.25
TRUTH = {"treat": EFFECT, "sd(Intercept | cluster)": ICC**0.5, "sigma": (1 - ICC) ** 0.5}


def pilot_frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(20), 5)
    treat = (cl % 2).astype(float)
    y = 0.3 * treat + rng.normal(0, 0.3, 20)[cl] + rng.normal(size=len(cl))
    return pd.DataFrame({"y": y, "treat": treat, "cluster": cl})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nsim", type=int, default=1000)
    ap.add_argument("--serial-nsim", type=int, default=200)
    ap.add_argument("--r-nsim", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    record = {"nsim": args.nsim, "design": f"{J} clusters x {N}", "workers": args.workers,
              "load_before": round(os.getloadavg()[0], 2)}
    pilot = hm.reml("y ~ treat + (1 | cluster)", pilot_frame())
    t0 = time.perf_counter()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        record["cluster_start_s"] = round(time.perf_counter() - t0, 2)
        t1 = time.perf_counter()
        tab = hm.power(pilot, "treat", n_groups=J, group_size=N, nsim=args.nsim,
                       parameters=TRUTH, random_seed=1, client=client)
        record["power_s"] = round(time.perf_counter() - t1, 2)
    record["total_with_cluster_s"] = round(time.perf_counter() - t0, 2)
    record["power"] = round(float(tab["power"].iloc[0]), 4)
    record["mc_se"] = round(float(tab["mc_se"].iloc[0]), 4)
    record["n_failed"] = int(tab["n_failed"].iloc[0])
    record["analytic_normal"] = round(analytic_power_crt(EFFECT, J, N, ICC), 4)
    record["sims_per_minute"] = round(60 * args.nsim / record["power_s"])
    # the peer in this process: the same task function, one after the other
    design = hm.make_design(pilot.design.spec, extend(pilot.design.frame, "cluster", J, N))
    truth = truth_of_reml(pilot).set(design, TRUTH)
    seeds = task_seeds(2, args.serial_nsim)
    t2 = time.perf_counter()
    hits = [run_power_task(PowerTask(0, design, truth, "treat", "reml", 0.05, "satterthwaite",
                                     s))["detected"] for s in seeds]
    serial = time.perf_counter() - t2
    record["serial_per_sim_ms"] = round(1000 * serial / args.serial_nsim, 2)
    record["serial_power"] = round(float(np.mean(hits)), 4)
    # lme4 + lmerTest (simr's computation) on the same extended design
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "design.csv"
        extend(pilot.design.frame, "cluster", J, N).to_csv(csv, index=False)
        out = subprocess.run(["Rscript", str(HERE / "power_lme4.R"), str(csv),
                              str(args.r_nsim), str(EFFECT), str(ICC**0.5),
                              str((1 - ICC) ** 0.5)], capture_output=True, text=True,
                             check=True, timeout=1800)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    record["lme4_per_sim_ms"] = round(1000 * r["seconds"] / r["nsim"], 1)
    record["lme4_power"] = r["power"]
    record["lme4_nsim"] = r["nsim"]
    record["cluster_vs_lme4_ratio"] = round(
        record["lme4_per_sim_ms"] / (1000 * record["power_s"] / args.nsim), 1)
    record["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(record))
    with RESULTS.open("a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
