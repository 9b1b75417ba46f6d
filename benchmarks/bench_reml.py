"""Time hiermod's REML / ML / Laplace fits of the reference cases against lme4's recorded times.

Usage::

    python benchmarks/bench_reml.py [--repeats 7] [--cases radon_vis sleep_vis ...]
                                    [--markdown out.md]

For each case in tests/reference/cases.json and each method (REML and ML for gaussian cases,
Laplace ML for the others) it reports the median wall-clock time of

* ``fit``: :func:`hiermod.mle.fit_lmm` / :func:`fit_glmm` from a ready Design, and
* ``end-to-end``: :func:`hiermod.mle.reml` from the formula and the DataFrame (formula
  parsing and design matrices included, as in lme4's ``lmer()`` call),

next to lme4's ``time_s`` (median of 5 ``lmer`` / ``glmer`` calls, recorded in the reference
json on another shared 2-core machine) and the ratios. Not a test: timings on shared machines
are noisy, so each fit runs ``--repeats`` times after one warm-up and the median is reported.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import scipy  # noqa: E402

from hiermod import datasets  # noqa: E402
from hiermod.design import make_design  # noqa: E402
from hiermod.formula import parse_formula  # noqa: E402
from hiermod.mle import fit_glmm, fit_lmm, reml  # noqa: E402

REF = ROOT / "tests" / "reference"


def median_time(fn, repeats: int) -> tuple[float, float, object]:
    """Median wall-clock and CPU (process) time of fn() over ``repeats`` calls after a warm-up."""
    out = fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu), out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import os

        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    import os

    return (f"{cpu}; {os.cpu_count()} logical CPUs; load average {load}; "
            f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}"
            f", {platform.system()} {platform.release()}")


def run(cases: list[str] | None, repeats: int) -> list[dict]:
    rows = []
    for entry in json.loads((REF / "cases.json").read_text()):
        case = entry["case"]
        if cases and case not in cases:
            continue
        ref = json.loads((REF / f"{case}.json").read_text())
        data = datasets.load(Path(entry["data"]).stem)
        family = entry["family"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            design = make_design(parse_formula(entry["formula"], family=family), data)
        methods = ["REML", "ML"] if family == "gaussian" else ["ML"]
        for method in methods:
            block = ref[method.lower()]
            fitter = fit_lmm if family == "gaussian" else fit_glmm

            def from_design(fitter=fitter, method=method, design=design):
                return fitter(design, method)

            def end_to_end(method=method, entry=entry, data=data, family=family):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return reml(entry["formula"], data, method=method, family=family)

            t_fit, c_fit, fit = median_time(from_design, repeats)
            t_all, _, _ = median_time(end_to_end, repeats)
            lme4 = block["time_s"]
            rows.append({
                "case": case, "method": "Laplace" if family != "gaussian" else method,
                "fit_ms": 1e3 * t_fit, "fit_cpu_ms": 1e3 * c_fit, "end_to_end_ms": 1e3 * t_all,
                "lme4_ms": 1e3 * lme4, "ratio_fit": t_fit / lme4, "ratio_fit_cpu": c_fit / lme4,
                "ratio_end_to_end": t_all / lme4,
                "n_evals": fit.n_evals, "converged": fit.converged,
                "d_criterion": fit.criterion - block["deviance_or_REMLcrit"],
            })
    return rows


def markdown(rows: list[dict]) -> str:
    head = ("| case | method | fit from Design, wall (ms) | fit, CPU (ms) | end-to-end, wall (ms) "
            "| lme4 (ms) | ratio fit wall | ratio fit CPU | ratio end-to-end | deviance evals "
            "| criterion − lme4's |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    body = "".join(
        f"| {r['case']} | {r['method']} | {r['fit_ms']:.1f} | {r['fit_cpu_ms']:.1f} | "
        f"{r['end_to_end_ms']:.1f} | {r['lme4_ms']:.0f} | {r['ratio_fit']:.2f} | "
        f"{r['ratio_fit_cpu']:.2f} | {r['ratio_end_to_end']:.2f} | {r['n_evals']} | "
        f"{r['d_criterion']:.1e} |\n" for r in rows)
    return head + body


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cases", nargs="*")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    rows = run(args.cases, args.repeats)
    text = f"Machine: {machine()}\nRepeats: {args.repeats} (median)\n\n" + markdown(rows)
    worst = max(rows, key=lambda r: r["ratio_fit"])
    text += (f"\nWorst ratio, fit from Design (wall): {worst['ratio_fit']:.2f} ({worst['case']}, "
             f"{worst['method']}); CPU: {max(r['ratio_fit_cpu'] for r in rows):.2f}; "
             f"end-to-end (wall): {max(r['ratio_end_to_end'] for r in rows):.2f}\n")
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
