"""Calibration study: simulation-based calibration (hm.sbc) of hiermod's three sampling paths.

    python benchmarks/sbc_calibration.py                   # all three cases, 200 simulations
    python benchmarks/sbc_calibration.py --case marginal --sims 250
    python benchmarks/sbc_calibration.py --report          # table of sbc_results/summary.json

Cases (small designs, so that each fit takes about a second):

* ``marginal`` — gaussian, ``y ~ x + (1 + x | g)``, 10 groups of 8 rows: the group effects
  integrated out, the compiled nutpie callback (hiermod's default for gaussian models);
* ``explicit`` — the same model with ``marginalize=False``: explicit non-centred group
  effects, the PyMC model compiled by nutpie;
* ``glmm`` — bernoulli, ``b ~ x + (1 | g)`` with x in {0, 1, 2}, 12 groups of 10 rows: the
  rows summed into cells, the adaptive parameterization, the compiled callback.

Each simulation draws θ* and y from the prior and model, fits y with the same priors (2 chains
× 500 draws after 500 tuning steps) and ranks θ* among 99 posterior draws taken at equal steps.
Reported per parameter: the coverage of the 50% and 90% central intervals (expected 0.50 and
0.90; Monte Carlo SEs 0.035 and 0.021 at 200 simulations) and the p-value of the χ² test of
uniform ranks (10 bins). Results go to ``benchmarks/sbc_results/`` (summary.json, the ranks of
each case as CSV, rank histograms as PNG). The fits run on a LocalCluster of 2 workers; the
machine is shared with other work, so the wall times are indicative only.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hiermod.calibration import sbc
from hiermod.plots import plot_sbc_ranks

OUT = Path(__file__).with_name("sbc_results")


def data(case: str) -> pd.DataFrame:
    rng = np.random.default_rng(20260)
    if case == "glmm":
        g = np.repeat(np.arange(12), 10)
        x = rng.integers(0, 3, len(g)).astype(float)
        eta = -0.3 + 0.5 * x + rng.normal(0, 0.7, 12)[g]
        return pd.DataFrame({"b": rng.binomial(1, 1 / (1 + np.exp(-eta))), "x": x, "g": g})
    g = np.repeat(np.arange(10), 8)
    x = rng.normal(size=len(g))
    y = 1 + 0.5 * x + rng.normal(0, 0.8, 10)[g] + rng.normal(0, 0.3, 10)[g] * x \
        + rng.normal(size=len(g))
    return pd.DataFrame({"y": y, "x": x, "g": g})


CASES = {
    "marginal": ("y ~ x + (1 + x | g)", "gaussian", {"marginalize": None}),
    "explicit": ("y ~ x + (1 + x | g)", "gaussian", {"marginalize": False}),
    "glmm": ("b ~ x + (1 | g)", "bernoulli", {}),
}


def run(case: str, sims: int, seed: int, client) -> dict:
    formula, family, opts = CASES[case]
    t0 = time.perf_counter()
    res = sbc(formula, data(case), family=family, n_sims=sims, random_seed=seed, client=client,
              progress=True, **opts)
    wall = time.perf_counter() - t0
    OUT.mkdir(exist_ok=True)
    res.ranks.to_csv(OUT / f"ranks_{case}.csv")
    fig = plot_sbc_ranks(res.ranks, res.n_ranked)
    fig.suptitle(f"SBC ranks: {case} ({formula}, {family}; path {res.path})", fontsize="medium")
    fig.savefig(OUT / f"ranks_{case}.png", dpi=90)
    summary = res.summary()
    return {"case": case, "formula": formula, "family": family, "path": res.path,
            "n_sims": sims, "n_failed": len(res.failures), "seed": seed,
            "divergent_fits": int((res.divergences > 0).sum()),
            "wall_s": round(wall, 1), "load_before": os.getloadavg()[0],
            "summary": json.loads(summary.to_json(orient="index"))}


def report() -> None:
    results = json.loads((OUT / "summary.json").read_text())
    for r in results:
        print(f"\n{r['case']}: {r['formula']} ({r['family']}, path {r['path']}), "
              f"{r['n_sims']} simulations, {r['n_failed']} failed, "
              f"{r['divergent_fits']} fits with divergences, {r['wall_s']} s")
        tab = pd.DataFrame(r["summary"]).T[["n", "coverage_50", "coverage_90", "p_uniform"]]
        print(tab.to_string(float_format=lambda v: f"{v:.3f}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", choices=[*CASES, "all"], default="all")
    ap.add_argument("--sims", type=int, default=200)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    if args.report:
        report()
        return
    from distributed import Client, LocalCluster

    cases = list(CASES) if args.case == "all" else [args.case]
    path = OUT / "summary.json"
    done = json.loads(path.read_text()) if path.exists() else []
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        for case in cases:
            result = run(case, args.sims, args.seed, client)
            done = [r for r in done if r["case"] != case] + [result]
            OUT.mkdir(exist_ok=True)
            path.write_text(json.dumps(done, indent=1))
    report()


if __name__ == "__main__":
    main()
