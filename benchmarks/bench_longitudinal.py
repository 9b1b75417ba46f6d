"""Benchmark: growth model with AR(1) residuals, hiermod's marginal path vs a brms-style dense
per-unit multivariate normal written in PyMC (and hiermod's own explicit model).

Data: 2,000 units × 10 occasions (balanced, so the dense peer can batch its factorisations),
``y ~ time + x + (1 + time | id)`` with AR(1) residuals (φ = 0.6) within a unit, simulated by
``hiermod.longitudinal.simulate_panel`` (seed fixed).

Engines (each in a fresh Python process, after an untimed warm-up fit of a tiny model with
the same engine, so numba's / PyTensor's per-process start-up is charged to none):

* ``hiermod-marginal`` — ``hm.fit(..., correlation="ar1(occasion | id)")``: the group effects
  integrated out (Woodbury per unit on the whitened rows, tridiagonal AR(1) precision, O(n) per
  gradient), NUTS by nutpie on hiermod's cached compiled log-density, the unit effects drawn
  afterwards exactly;
* ``hiermod-explicit`` — ``marginalize=False``: explicit non-centred unit effects, residual
  density whitened in PyTensor (O(n)), the PyMC model compiled by nutpie;
* ``dense-mvn`` — what ``brms`` writes for ``ar(time, gr = id, cov = TRUE)``: explicit
  non-centred unit effects (``LKJCholeskyCov``) and, per unit, ``MvNormal(X β + Z u,
  σ² R(φ))`` with the 10 × 10 AR(1) correlation R built from the unit's times and factorised
  (a batched Cholesky of 2,000 matrices per gradient); compiled by nutpie.

Priors are hiermod's defaults for hiermod; the dense model uses the same families (Normal
fixed effects, HalfNormal sds, Exponential σ, LKJ(2), uniform φ) with the same scales.

Recorded per fit (``longitudinal_results.jsonl``): wall time of the whole call, compile /
sampling time, min bulk ESS over the shared parameters (β, σ, φ, the two sds and their
correlation), ESS/s = min ESS / wall and / sampling time, divergences, max R-hat, and the
1-minute load average before the fit (the machine is shared).

Usage::

    python benchmarks/bench_longitudinal.py                 # all engines, default settings
    python benchmarks/bench_longitudinal.py --engines hiermod-marginal --draws 1000
    python benchmarks/bench_longitudinal.py --report        # markdown table of the results
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
RESULTS = HERE / "longitudinal_results.jsonl"
ENGINES = ("hiermod-marginal", "hiermod-explicit", "dense-mvn")
FORMULA = "y ~ time + x + (1 + time | id)"
CORRELATION = "ar1(occasion | id)"
SHARED = ("Intercept", "time", "x", "sigma", "phi", "sd(Intercept)", "sd(time)", "corr")


def panel(n_units: int, n_times: int):
    from hiermod.longitudinal import simulate_panel

    data, truth = simulate_panel(n_units, n_times, kind="ar1", p_missing=0.0,
                                 truth={"ratio_b": 1.0}, seed=20241)
    return data, truth


def dense_model(data):
    """brms-style: explicit unit effects, a dense AR(1) covariance factorised per unit."""
    import numpy as np
    import pymc as pm
    import pytensor.tensor as pt

    data = data.sort_values(["id", "occasion"]).reset_index(drop=True)
    units = data["id"].unique()
    J, T = len(units), len(data) // len(units)
    y = data["y"].to_numpy().reshape(J, T)
    t = data["time"].to_numpy().reshape(J, T)
    x = data["x"].to_numpy().reshape(J, T)
    occ = data["occasion"].to_numpy().reshape(J, T)
    lag = np.abs(occ[:, :, None] - occ[:, None, :]).astype("int64")  # per unit (J, T, T)
    s_y = float(np.std(data["y"]))
    s_t, s_x = float(np.std(data["time"])), float(np.std(data["x"]))
    with pm.Model() as model:
        alpha = pm.Normal("Intercept_centered", mu=float(data["y"].mean()), sigma=2.5 * s_y)
        b = pm.Normal("b", 0.0, sigma=np.array([2.5 * s_y / s_t, 2.5 * s_y / s_x]), shape=2)
        chol, _, _ = pm.LKJCholeskyCov("chol", n=2, eta=2.0, compute_corr=True,
                                       sd_dist=pm.HalfNormal.dist(sigma=np.array([s_y, s_y / s_t]),
                                                                  shape=2))
        z = pm.Normal("z", 0.0, 1.0, shape=(J, 2))
        u = pt.dot(z, chol.T)
        sigma = pm.Exponential("sigma", lam=1.0 / s_y)
        phi_unit = pm.Beta("phi_unit", 1.0, 1.0)
        phi = pm.Deterministic("phi", 2.0 * phi_unit - 1.0)
        tm, xm = float(data["time"].mean()), float(data["x"].mean())
        mu = (alpha + b[0] * (t - tm) + b[1] * (x - xm) + u[:, :1] + u[:, 1:] * t)
        cov = sigma**2 * pt.pow(phi, lag)
        pm.MvNormal("y", mu=mu, cov=cov, observed=y)
        pm.Deterministic("beta", pt.stack([alpha - b[0] * tm - b[1] * xm, b[0], b[1]]))
    return model


def shared_draws(engine: str, post):
    """name -> (chain, draw) array of the shared parameters."""
    import numpy as np

    if engine == "dense-mvn":
        beta = post["beta"].values
        sd = post["chol_stds"].values
        corr = post["chol_corr"].values[..., 0, 1]
    else:
        beta = post["beta"].values
        sd = post["sd_id"].values
        corr = post["corr_id"].values[..., 0, 1]
    return {"Intercept": beta[..., 0], "time": beta[..., 1], "x": beta[..., 2],
            "sigma": post["sigma"].values, "phi": post["phi"].values,
            "sd(Intercept)": sd[..., 0], "sd(time)": sd[..., 1], "corr": np.asarray(corr)}


def run_engine(engine: str, data, draws: int, tune: int, chains: int, seed: int) -> dict:
    import arviz as az
    import numpy as np
    import xarray as xr

    import hiermod as hm

    t0 = time.perf_counter()
    if engine.startswith("hiermod"):
        fit = hm.fit(FORMULA, data, correlation=CORRELATION, draws=draws, tune=tune,
                     chains=chains, random_seed=seed, progressbar=False,
                     marginalize=engine == "hiermod-marginal")
        wall = time.perf_counter() - t0
        post = fit.idata["posterior"]
        stats = fit.idata["sample_stats"]
        compile_s, sample_s = fit.timing["compile_s"], fit.timing["sample_s"]
    else:
        import nutpie

        model = dense_model(data)
        t1 = time.perf_counter()
        compiled = nutpie.compile_pymc_model(model)
        t2 = time.perf_counter()
        idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=seed,
                              progress_bar=False, cores=chains)
        wall = time.perf_counter() - t0
        post, stats = idata["posterior"], idata["sample_stats"]
        compile_s, sample_s = t2 - t1, time.perf_counter() - t2
    draws_by = shared_draws(engine, post)
    ds = xr.Dataset({k: (("chain", "draw"), np.asarray(v)) for k, v in draws_by.items()})
    ess = az.ess(ds, method="bulk")
    rhat = az.rhat(ds)
    min_ess = float(min(float(ess[k]) for k in ess.data_vars))
    return {"wall_s": wall, "compile_s": compile_s, "sample_s": sample_s, "min_ess": min_ess,
            "ess_per_s": min_ess / wall, "ess_per_sample_s": min_ess / sample_s,
            "ess": {k: float(ess[k]) for k in ess.data_vars},
            "max_rhat": float(max(float(rhat[k]) for k in rhat.data_vars)),
            "divergences": int(np.asarray(stats["diverging"]).sum()),
            "means": {k: float(np.mean(v)) for k, v in draws_by.items()}}


def gradient_costs(n_units: int, n_times: int, reps: int = 30) -> dict:
    """Seconds per log-density + gradient evaluation of each engine's model at the same data,
    warm (compiled once, then timed over ``reps`` calls at the model's initial point): the
    marginal callback, and the explicit and dense PyMC models compiled by PyTensor's numba
    backend (what nutpie runs)."""
    import numpy as np

    import hiermod as hm
    from hiermod.formula import with_residuals
    from hiermod.longitudinal import serial_data
    from hiermod.marginal.residual_callback import CompiledSerialMarginal
    from hiermod.marginal.residual_model import (
        assemble_residual_explicit_model,
        assemble_residual_marginal_model,
    )

    data, _ = panel(n_units, n_times)
    design = hm.make_design(with_residuals(hm.parse_formula(FORMULA), CORRELATION), data)
    sd = serial_data(design)
    cm = CompiledSerialMarginal(assemble_residual_marginal_model(design, stats=sd), sd)
    x = cm.layout.initial_point(0)
    cm.logp_and_grad(x)
    t0 = time.perf_counter()
    for _ in range(reps):
        cm.logp_and_grad(x)
    out = {"hiermod-marginal": (time.perf_counter() - t0) / reps}
    for name, model in (("hiermod-explicit", assemble_residual_explicit_model(design).model),
                        ("dense-mvn", dense_model(data))):
        fn = model.logp_dlogp_function(ravel_inputs=True, mode="NUMBA")
        fn.set_extra_values({})
        point = model.initial_point()
        arr = np.concatenate([np.ravel(point[v.name]) for v in model.continuous_value_vars]) + 0.1
        fn(arr)
        t0 = time.perf_counter()
        for _ in range(reps):
            fn(arr)
        out[name] = (time.perf_counter() - t0) / reps
    return out


def worker(args) -> None:
    data, truth = panel(args.units, args.times)
    warm, _ = panel(20, args.times)
    t0 = time.perf_counter()
    run_engine(args.engine, warm, 50, 50, args.chains, 1)
    warmup = time.perf_counter() - t0
    load = os.getloadavg()[0]
    out = run_engine(args.engine, data, args.draws, args.tune, args.chains, args.seed)
    out.update({"engine": args.engine, "n_units": args.units, "n_times": args.times,
                "n_obs": len(data), "draws": args.draws, "tune": args.tune,
                "chains": args.chains, "seed": args.seed, "warmup_s": warmup,
                "load_avg_before": load, "truth": {k: truth[k] for k in ("phi", "sigma")},
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "cpu_s": sum(resource.getrusage(w)[0] + resource.getrusage(w)[1] for w in
                             (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)),
                "python": platform.python_version(), "time": time.strftime("%Y-%m-%d %H:%M")})
    print(json.dumps(out))


def report() -> str:
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    grads = [r for r in rows if r.get("kind") == "gradient"]
    rows = [r for r in rows if r.get("kind") != "gradient"]
    lines = ["| engine | units × times | draws × chains | wall s | compile s | sampling s | "
             "min bulk ESS | ESS/s (wall) | ESS/s (sampling) | × dense ESS/s | divergences | "
             "max R-hat | peak RSS MB | load avg |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    dense = {(r["n_units"], r["n_times"]): r["ess_per_s"] for r in rows
             if r["engine"] == "dense-mvn"}
    for r in rows:
        ref = dense.get((r["n_units"], r["n_times"]))
        ratio = f"{r['ess_per_s'] / ref:.0f}" if ref else "–"
        lines.append(
            f"| {r['engine']} | {r['n_units']} × {r['n_times']} | {r['draws']} × {r['chains']} "
            f"| {r['wall_s']:.1f} | {r['compile_s']:.1f} | {r['sample_s']:.1f} | "
            f"{r['min_ess']:.0f} | {r['ess_per_s']:.2f} | {r['ess_per_sample_s']:.2f} | "
            f"{ratio} | {r['divergences']} | {r['max_rhat']:.3f} | {r['peak_rss_mb']:.0f} | "
            f"{r['load_avg_before']:.1f} |")
    for g in grads:
        c = g["seconds_per_gradient"]
        base = c["hiermod-marginal"]
        lines += ["", f"One log-density + gradient evaluation, {g['n_units']} × {g['n_times']} "
                  f"(warm; load average {g['load_avg_before']:.1f}):", "",
                  "| model | ms per evaluation | × hiermod-marginal |", "|---|---|---|"]
        lines += [f"| {k} | {1e3 * v:.2f} | {v / base:.1f} |" for k, v in c.items()]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--engine", help=argparse.SUPPRESS)
    p.add_argument("--units", type=int, default=2000)
    p.add_argument("--times", type=int, default=10)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--report", action="store_true")
    p.add_argument("--gradient", action="store_true",
                   help="time one log-density + gradient evaluation of each engine's model")
    p.add_argument("--out", default=str(RESULTS), help="JSONL file the results are appended to")
    args = p.parse_args()
    if args.report:
        print(report())
        return
    if args.engine:
        worker(args)
        return
    if args.gradient:
        load = os.getloadavg()[0]
        costs = gradient_costs(args.units, args.times)
        record = {"kind": "gradient", "n_units": args.units, "n_times": args.times,
                  "seconds_per_gradient": costs, "load_avg_before": load,
                  "time": time.strftime("%Y-%m-%d %H:%M")}
        with Path(args.out).open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(json.dumps(record, indent=1))
        return
    for engine in args.engines.split(","):
        cmd = [sys.executable, __file__, "--engine", engine, "--units", str(args.units),
               "--times", str(args.times), "--draws", str(args.draws), "--tune",
               str(args.tune), "--chains", str(args.chains), "--seed", str(args.seed)]
        print(f"[{time.strftime('%H:%M:%S')}] {engine} ...", file=sys.stderr, flush=True)
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stderr[-3000:], file=sys.stderr)
            continue
        line = res.stdout.strip().splitlines()[-1]
        with Path(args.out).open("a") as fh:
            fh.write(line + "\n")
        r = json.loads(line)
        print(f"  wall {r['wall_s']:.1f} s, min ESS {r['min_ess']:.0f}, "
              f"ESS/s {r['ess_per_s']:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
