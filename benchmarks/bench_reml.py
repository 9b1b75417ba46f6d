"""Time hiermod's REML / ML / Laplace fits of the reference cases against lme4's recorded times.

Usage::

    python benchmarks/bench_reml.py [--repeats 7] [--cases radon_vis sleep_vis ...]
                                    [--crossed] [--kr] [--live-r] [--markdown out.md]

For each case in tests/reference/cases.json and each method (REML and ML for gaussian cases,
Laplace ML for the others) it reports the median wall-clock time of

* ``fit``: :func:`hiermod.mle.fit_lmm` / :func:`fit_glmm` from a ready Design, and
* ``end-to-end``: :func:`hiermod.mle.reml` from the formula and the DataFrame (formula
  parsing and design matrices included, as in lme4's ``lmer()`` call),

next to lme4's ``time_s`` (median of 5 ``lmer`` / ``glmer`` calls, recorded in the reference
json on another shared 2-core machine) and the ratios. Not a test: timings on shared machines
are noisy, so each fit runs ``--repeats`` times after one warm-up and the median is reported.

``--crossed`` times the crossed and nested designs of tests/reference/crossed (REML and ML,
end to end from the formula and the data frame) against lme4's recorded ``lmer`` times;
``--kr`` times Kenward–Roger on the 2,000-group design of tests/reference/inference against
lmerTest's ``summary(ddf = "Kenward-Roger")``. With ``--live-r`` lme4 / lmerTest are timed in
the same run (``benchmarks/time_lme4.R``, ``Rscript`` on the PATH), which is the fair ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
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
from hiermod.mle import LmmProblem, fit_glmm, fit_lmm, reml  # noqa: E402
from hiermod.mle.kenward_roger import kenward_roger  # noqa: E402

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


def time_r(csv: Path, formula: str, what: str, repeats: int) -> float:
    """Median seconds of lme4 / lmerTest doing ``what`` (benchmarks/time_lme4.R), same run."""
    out = subprocess.run(["Rscript", str(ROOT / "benchmarks" / "time_lme4.R"), str(csv),
                          formula, what, str(repeats)], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=1800)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["median_s"])


def run_crossed(repeats: int, live_r: bool) -> list[dict]:
    """Crossed / nested designs end to end (formula + data frame), REML and ML."""
    rows = []
    for case in ("pupils_crossed", "nested3", "big_crossed"):
        ref = json.loads((REF / "crossed" / f"{case}.json").read_text())
        csv = REF / "crossed" / f"{case}.csv"
        # 'b' names a hiermod model variable, refused as a grouping factor: renamed here
        data = datasets.read_csv(csv).rename(columns={"b": "bfac"})
        formula = ref["formula"].replace("| b)", "| bfac)")
        for method in ("REML", "ML"):
            def end_to_end(method=method, formula=formula, data=data):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return reml(formula, data, method=method)

            reps = max(3, repeats // 3) if case == "big_crossed" else repeats
            t_all, c_all, fit = median_time(end_to_end, reps)
            recorded = ref["timing"][f"lmer_{method.lower()}_s"]["median_s"]
            live = time_r(csv, ref["formula"], f"lmer_{method.lower()}", reps) if live_r \
                else float("nan")
            rows.append({"case": case, "method": method, "n": ref["n_obs"],
                         "groups": " × ".join(f"{k} {v}" for k, v in ref["n_groups"].items()),
                         "ours_ms": 1e3 * t_all, "ours_cpu_ms": 1e3 * c_all,
                         "lme4_recorded_ms": 1e3 * recorded, "lme4_live_ms": 1e3 * live,
                         "ratio_recorded": t_all / recorded, "ratio_live": t_all / live,
                         "n_evals": fit.n_evals,
                         "d_criterion": fit.criterion - ref[method.lower()]["deviance_or_REMLcrit"]})
    return rows


def run_kr(repeats: int, live_r: bool) -> list[dict]:
    """Kenward–Roger on 2,000 groups × 5: hiermod's reml(ddf="kenward-roger") and the KR step
    alone, against lmerTest's fit + summary(ddf = "Kenward-Roger")."""
    ref = json.loads((REF / "inference" / "kr_timing.json").read_text())
    csv = ROOT / ref["data"]
    data = datasets.read_csv(csv)
    rows = []
    for formula, block in ref["models"].items():
        def kr_fit(formula=formula):
            return reml(formula, data, ddf="kenward-roger")

        def sat_fit(formula=formula):
            return reml(formula, data)

        t_kr, _, fit = median_time(kr_fit, repeats)
        t_sat, _, _ = median_time(sat_fit, repeats)
        problem = LmmProblem(fit.design)
        st = problem.solve(fit.theta)
        t_step, _, _ = median_time(
            lambda problem=problem, st=st, s=fit.sigma: kenward_roger(problem, st, s), repeats)
        recorded = block["time_lmerTest_fit_s"]["median_s"] + \
            block["time_lmerTest_summary_KR_s"]["median_s"]
        live = time_r(csv, formula, "kr", repeats) if live_r else float("nan")
        se_ref = block["kenward_roger"]["x2"]["se"]
        rows.append({"formula": formula, "ours_kr_fit_ms": 1e3 * t_kr,
                     "ours_satterthwaite_fit_ms": 1e3 * t_sat, "ours_kr_step_ms": 1e3 * t_step,
                     "lmerTest_kr_recorded_ms": 1e3 * recorded, "lmerTest_kr_live_ms": 1e3 * live,
                     "vcovAdj_recorded_ms": 1e3 * block["time_vcovAdj_s"]["median_s"],
                     "ratio_live": t_kr / live, "ratio_recorded": t_kr / recorded,
                     "x2_se_rel_err": abs(fit.fixed_table().loc["x2", "se"] / se_ref - 1)})
    return rows


def markdown_crossed(rows: list[dict]) -> str:
    head = ("| case | method | n | groups | hiermod end-to-end, wall (ms) | CPU (ms) | lme4 live "
            "(ms) | ratio live | lme4 recorded (ms) | ratio recorded | evals | criterion − "
            "lme4's |\n|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    return head + "".join(
        f"| {r['case']} | {r['method']} | {r['n']} | {r['groups']} | {r['ours_ms']:.0f} | "
        f"{r['ours_cpu_ms']:.0f} | {r['lme4_live_ms']:.0f} | {r['ratio_live']:.2f} | "
        f"{r['lme4_recorded_ms']:.0f} | {r['ratio_recorded']:.2f} | {r['n_evals']} | "
        f"{r['d_criterion']:.1e} |\n" for r in rows)


def markdown_kr(rows: list[dict]) -> str:
    head = ("| model | hiermod reml(ddf=KR) (ms) | of which the KR step (ms) | hiermod "
            "Satterthwaite fit (ms) | lmerTest fit + KR summary, live (ms) | ratio live | "
            "recorded (ms) | pbkrtest vcovAdj recorded (ms) | x2 KR SE rel. error |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    return head + "".join(
        f"| `{r['formula'].replace('|', '\\|')}` | {r['ours_kr_fit_ms']:.0f} | {r['ours_kr_step_ms']:.1f} | "
        f"{r['ours_satterthwaite_fit_ms']:.0f} | {r['lmerTest_kr_live_ms']:.0f} | "
        f"{r['ratio_live']:.2f} | {r['lmerTest_kr_recorded_ms']:.0f} | "
        f"{r['vcovAdj_recorded_ms']:.0f} | {r['x2_se_rel_err']:.1e} |\n" for r in rows)


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
    parser.add_argument("--crossed", action="store_true",
                        help="only the crossed / nested designs (tests/reference/crossed)")
    parser.add_argument("--kr", action="store_true",
                        help="only Kenward-Roger on the 2,000-group design")
    parser.add_argument("--live-r", action="store_true",
                        help="time lme4 / lmerTest in the same run (needs Rscript)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    text = f"Machine: {machine()}\nRepeats: {args.repeats} (median)\n\n"
    if args.crossed or args.kr:
        if args.crossed:
            text += markdown_crossed(run_crossed(args.repeats, args.live_r)) + "\n"
        if args.kr:
            text += markdown_kr(run_kr(args.repeats, args.live_r))
    else:
        rows = run(args.cases, args.repeats)
        text += markdown(rows)
        worst = max(rows, key=lambda r: r["ratio_fit"])
        text += (f"\nWorst ratio, fit from Design (wall): {worst['ratio_fit']:.2f} "
                 f"({worst['case']}, {worst['method']}); CPU: "
                 f"{max(r['ratio_fit_cpu'] for r in rows):.2f}; end-to-end (wall): "
                 f"{max(r['ratio_end_to_end'] for r in rows):.2f}\n")
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
