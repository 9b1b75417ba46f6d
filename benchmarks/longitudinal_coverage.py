"""Recovery study: do the Bayesian fits with residual structures cover the truth?

Simulates panels with known truth (``hiermod.longitudinal.simulate_panel``: 60 units, 8
occasions with 25% missing at random, rows shuffled; growth ``y ~ time + x`` with a varying
intercept and slope (sds 1 and 0.25, correlation −0.3), AR(1) or CAR(1) residuals with φ = 0.6
(CAR(1): times jittered by U(−0.3, 0.3)), residual sd 0.8 in group a and 1.2 in group b),
fits each by ``hm.fit(..., correlation=..., sigma="~ group")`` with hiermod's default priors,
and records whether each parameter's 90% equal-tailed posterior interval covers the truth.

With S panels the coverage of a calibrated interval is Binomial(S, 0.9)/S: about ±0.04 (one
sd) at S = 60. The truth is fixed, not drawn from the prior, so exact calibration is not
guaranteed; weakly informative priors with this much data should come close.

Usage::

    python benchmarks/longitudinal_coverage.py --kind ar1 --n 60
    python benchmarks/longitudinal_coverage.py --kind car1 --n 60
    python benchmarks/longitudinal_coverage.py --report     # markdown table of the results

One JSON line per panel in ``longitudinal_coverage.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "longitudinal_coverage.jsonl"
FORMULA = "y ~ time + x + (1 + time | id)"
PROB = 0.9


def truths(truth: dict, kind: str) -> dict[str, float]:
    """Summary row -> true value."""
    time_col = "occasion" if kind == "ar1" else "time"
    return {"Intercept": truth["Intercept"], "time": truth["time"], "x": truth["x"],
            "sd(Intercept | id)": truth["sd0"], "sd(time | id)": truth["sd1"],
            "corr(Intercept, time | id)": truth["corr"], "sigma": truth["sigma"],
            f"phi({time_col} | id)": truth["phi"],
            "sigma[group=b]": truth["sigma"] * truth["ratio_b"],
            "ratio sigma[group=b] / sigma": truth["ratio_b"]}


def one_panel(kind: str, i: int, draws: int, tune: int, chains: int) -> dict:
    import hiermod as hm
    from hiermod.longitudinal import simulate_panel

    data, truth = simulate_panel(60, 8, kind=kind, p_missing=0.25, seed=10_000 + i)
    corr = "ar1(occasion | id)" if kind == "ar1" else "car1(time | id)"
    t0 = time.perf_counter()
    fit = hm.fit(FORMULA, data, correlation=corr, sigma="~ group", draws=draws, tune=tune,
                 chains=chains, random_seed=i, progressbar=False)
    wall = time.perf_counter() - t0
    table = fit.summary(prob=PROB)
    ratio = np.exp(fit.idata["posterior"]["sigma_log_ratio"].values.ravel())
    lo, hi = np.quantile(ratio, [(1 - PROB) / 2, (1 + PROB) / 2])
    rows = {}
    for name, value in truths(truth, kind).items():
        if name.startswith("ratio"):
            mean, sd, lower, upper = float(ratio.mean()), float(ratio.std()), lo, hi
        else:
            r = table.loc[name]
            mean, sd, lower, upper = r["mean"], r["sd"], r["lower"], r["upper"]
        rows[name] = {"truth": value, "mean": float(mean), "sd": float(sd),
                      "lower": float(lower), "upper": float(upper),
                      "covered": bool(lower <= value <= upper)}
    diag = fit.diagnostics()
    return {"kind": kind, "panel": i, "n_obs": len(data), "wall_s": wall,
            "max_rhat": diag.max_rhat, "min_ess_bulk": diag.min_ess_bulk,
            "divergences": diag.divergences, "draws": draws, "tune": tune, "chains": chains,
            "load_avg_before": os.getloadavg()[0], "parameters": rows}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def report(path: Path = RESULTS) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out = []
    for kind in dict.fromkeys(r["kind"] for r in rows):
        runs = [r for r in rows if r["kind"] == kind]
        n = len(runs)
        out.append(f"**{kind}**: {n} panels, {runs[0]['n_obs']}–{max(r['n_obs'] for r in runs)}"
                   f" rows each; {runs[0]['chains']} chains × {runs[0]['draws']} draws; "
                   f"max R-hat {max(r['max_rhat'] for r in runs):.3f}, min bulk ESS "
                   f"{min(r['min_ess_bulk'] for r in runs):.0f}, divergences "
                   f"{sum(r['divergences'] for r in runs)} in all; median wall "
                   f"{np.median([r['wall_s'] for r in runs]):.1f} s per fit\n")
        out.append("| parameter | truth | 90% coverage | 95% interval of the coverage | "
                   "mean of posterior means | mean posterior sd | mean interval width |")
        out.append("|---|---|---|---|---|---|---|")
        for name in runs[0]["parameters"]:
            p = [r["parameters"][name] for r in runs]
            k = sum(x["covered"] for x in p)
            lo, hi = wilson(k, n)
            label = name.replace("|", "\\|")
            out.append(f"| {label} | {p[0]['truth']:g} | {k}/{n} = {k / n:.2f} | "
                       f"{lo:.2f}–{hi:.2f} | {np.mean([x['mean'] for x in p]):.3f} | "
                       f"{np.mean([x['sd'] for x in p]):.3f} | "
                       f"{np.mean([x['upper'] - x['lower'] for x in p]):.3f} |")
        total = sum(x["covered"] for r in runs for x in r["parameters"].values())
        m = sum(len(r["parameters"]) for r in runs)
        out.append(f"\nAll parameters pooled: {total}/{m} = {total / m:.3f}.\n")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=("ar1", "car1"), default="ar1")
    p.add_argument("--n", type=int, default=60)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--report", action="store_true")
    p.add_argument("--out", default=str(RESULTS), help="JSONL file the results go to")
    args = p.parse_args()
    if args.report:
        print(report(Path(args.out)))
        return
    for i in range(args.start, args.start + args.n):
        res = one_panel(args.kind, i, args.draws, args.tune, args.chains)
        with Path(args.out).open("a") as fh:
            fh.write(json.dumps(res) + "\n")
        covered = sum(v["covered"] for v in res["parameters"].values())
        print(f"{args.kind} panel {i}: {covered}/{len(res['parameters'])} covered, "
              f"{res['wall_s']:.1f} s, R-hat {res['max_rhat']:.3f}", flush=True)


if __name__ == "__main__":
    main()
