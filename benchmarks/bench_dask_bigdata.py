"""Data larger than memory: a Parquet data set written in partitions, fitted from a Dask
DataFrame on a LocalCluster, with the peak memory of the whole process tree.

    python benchmarks/bench_dask_bigdata.py --rows 10_000_000            # write, fit, delete
    python benchmarks/bench_dask_bigdata.py --rows 30_000_000 --keep     # keep the files
    python benchmarks/bench_dask_bigdata.py --pandas 10_000_000          # the pandas path
    python benchmarks/bench_dask_bigdata.py --report

Data: y = 1 + 0.5 x + u0_g + u1_g x + ε, 10,000 groups (integer ids, every partition holds
rows of every group), (u0, u1) ~ N(0, [[0.5², .3·.5·.2], [., 0.2²]]), σ = 1; partitions of
``--part-rows`` rows written one by one (pyarrow), so writing never holds more than one
partition. The model ``y ~ x + (1 + x | g)`` is fitted by ``hm.fit`` (2 chains × 500 draws
after 500 tuning steps on the compiled marginal path) and with ``--reml`` also by ``hm.reml``
(a pass of its own), both from ``dd.read_parquet``: each partition's exact sums on the
workers (two passes: a scan for levels and checks, then the sums), sampling / optimisation on
the small result in this process. ``fit_s`` is the whole ``hm.fit`` call, ``timing`` its
parts (``build_s``: the two passes over the partitions).

Peak memory: the sum of the resident set sizes of this process and all its descendants (the
cluster's workers and nannies), sampled every 0.2 s with psutil — the figure that must stay
under the machine's memory; also each process's own peak. Wall times of each stage. The
pandas path (``--pandas N``) reads the same files into one pandas DataFrame and fits it, for
the comparison. Results are appended to ``bigdata_results.jsonl`` with the 1-minute load
average (the machine is shared with other work).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import psutil

HERE = Path(__file__).parent
RESULTS = HERE / "bigdata_results.jsonl"
N_GROUPS = 10_000
FORMULA = "y ~ x + (1 + x | g)"


def group_effects(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sd = np.array([0.5, 0.2])
    R = np.array([[1.0, 0.3], [0.3, 1.0]])
    return rng.multivariate_normal(np.zeros(2), sd[:, None] * R * sd[None, :], size=N_GROUPS)


def write(folder: Path, rows: int, part_rows: int, seed: int = 1) -> float:
    """The data set as Parquet files of ``part_rows`` rows; returns seconds."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    u = group_effects(seed)
    seeds = np.random.SeedSequence(seed).spawn((rows + part_rows - 1) // part_rows)
    for k, ss in enumerate(seeds):
        n = min(part_rows, rows - k * part_rows)
        rng = np.random.default_rng(ss)
        g = rng.integers(0, N_GROUPS, n)
        x = rng.normal(size=n)
        y = 1.0 + 0.5 * x + u[g, 0] + u[g, 1] * x + rng.normal(size=n)
        table = pa.table({"y": y, "x": x, "g": g})
        pq.write_table(table, folder / f"part-{k:04d}.parquet", compression="snappy")
    return time.perf_counter() - t0


class TreeMemory:
    """Peak of the summed RSS of this process and its descendants, sampled in a thread."""

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.peak, self.own_peak = every, 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                self.own_peak[p.pid] = max(self.own_peak.get(p.pid, 0), rss)
            self.peak = max(self.peak, total)
            time.sleep(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def gb(b: float) -> float:
    return round(b / 2**30, 3)


def fit_dask(folder: Path, workers: int, draws: int, with_reml: bool) -> dict:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import hiermod as hm
    from hiermod import names

    out = {}
    t0 = time.perf_counter()
    with TreeMemory() as mem:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=":0") as cluster, \
                Client(cluster):
            out["cluster_s"] = round(time.perf_counter() - t0, 1)
            ddf = dd.read_parquet(str(folder))
            out["partitions"] = ddf.npartitions
            t2 = time.perf_counter()
            fit = hm.fit(FORMULA, ddf, draws=draws, tune=draws, chains=2, random_seed=1,
                         progressbar=False)
            out["fit_s"] = round(time.perf_counter() - t2, 1)
            out["timing"] = {k: round(float(v), 1) for k, v in fit.timing.items()}
            out["n_obs"] = int(fit.design.n_obs)
            if with_reml:
                t3 = time.perf_counter()
                reml = hm.reml(FORMULA, ddf)
                out["reml_s"] = round(time.perf_counter() - t3, 1)
    out["total_s"] = round(time.perf_counter() - t0, 1)
    out["peak_tree_gb"] = gb(mem.peak)
    out["peak_client_gb"] = gb(mem.own_peak.get(os.getpid(), 0))
    out["peak_process_gb_max"] = gb(max(mem.own_peak.values()))
    post = fit.idata["posterior"]
    out["beta_mean"] = [round(float(v), 4) for v in post[names.FIXED].mean(("chain", "draw")).values]
    if with_reml:
        out["reml_beta"] = [round(float(v), 4) for v in reml.beta]
        out["reml_sd"] = [round(float(v), 4) for v in reml.varcomps[0].sd]
        out["reml_sigma"] = round(float(reml.sigma), 4)
    out["divergences"] = int(fit.idata["sample_stats"]["diverging"].values.sum())
    return out


def fit_pandas(folder: Path, rows: int, draws: int) -> dict:
    import pandas as pd

    import hiermod as hm
    from hiermod import names

    out = {}
    t0 = time.perf_counter()
    with TreeMemory() as mem:
        files = sorted(folder.glob("*.parquet"))
        df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True).iloc[:rows]
        out["read_s"] = round(time.perf_counter() - t0, 1)
        t1 = time.perf_counter()
        fit = hm.fit(FORMULA, df, draws=draws, tune=draws, chains=2, random_seed=1,
                     progressbar=False)
        out["fit_s"] = round(time.perf_counter() - t1, 1)
        out["timing"] = {k: round(float(v), 1) for k, v in fit.timing.items()}
        out["n_obs"] = int(fit.design.n_obs)
    out["total_s"] = round(time.perf_counter() - t0, 1)
    out["peak_tree_gb"] = gb(mem.peak)
    post = fit.idata["posterior"]
    out["beta_mean"] = [round(float(v), 4) for v in post[names.FIXED].mean(("chain", "draw")).values]
    return out


def report() -> None:
    for line in RESULTS.read_text().splitlines():
        print(json.dumps(json.loads(line)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=lambda s: int(s.replace("_", "")), default=10_000_000)
    ap.add_argument("--part-rows", type=lambda s: int(s.replace("_", "")), default=2_000_000)
    ap.add_argument("--folder", type=Path, default=HERE / "bigdata_parquet")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--keep", action="store_true", help="keep the Parquet files")
    ap.add_argument("--reuse", action="store_true", help="use the files already written")
    ap.add_argument("--pandas", type=lambda s: int(s.replace("_", "")), default=None,
                    help="fit this many rows of the files with the pandas path instead")
    ap.add_argument("--reml", action="store_true", help="also hm.reml (another pass)")
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    if args.report:
        report()
        return
    record = {"rows": args.rows, "groups": N_GROUPS, "part_rows": args.part_rows,
              "load_before": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
              "memory_gb": gb(psutil.virtual_memory().total)}
    try:
        if not args.reuse:
            record["write_s"] = round(write(args.folder, args.rows, args.part_rows), 1)
            record["parquet_gb"] = gb(sum(f.stat().st_size for f in args.folder.iterdir()))
        if args.pandas:
            record.update(path="pandas", rows=args.pandas, **fit_pandas(args.folder,
                                                                        args.pandas, args.draws))
        else:
            record.update(path="dask", workers=args.workers,
                          **fit_dask(args.folder, args.workers, args.draws, args.reml))
    finally:
        if not args.keep:
            shutil.rmtree(args.folder, ignore_errors=True)
    record["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(record))
    with RESULTS.open("a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
