"""Time to the first draw in a fresh process: from the interpreter's start to the moment hiermod
hands the model to nutpie, for cbpp (binomial) and the 300-group bernoulli model.

    .venv/bin/python benchmarks/bench_first_draw.py [--reps 5]

Each repetition is a new Python process that imports hiermod, loads the data and calls
``hm.fit``; the process records when ``nutpie.sample`` is entered (the sampler's own set-up
before its first draw is a few milliseconds). Reported, medians over the repetitions:

* *imports*: ``import pymc, nutpie`` (nutpie imports ArviZ, which imports matplotlib and
  SciPy's statistics) — the libraries' start-up, before hiermod does anything;
* *hiermod*: design, model, compiled callback (loaded from numba's cache) after the imports;
* *to sampler*: the total, process start to the sampler call.

No assertion: the numbers go into RESULTS.md and the closing notes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CASES = {
    "cbpp": ("hm.datasets.load('cbpp')", "incidence | trials(size) ~ period + (1 | herd)",
             "binomial"),
    "bern_groups": ("simulate.bernoulli_groups()", "y ~ x + z + w + (1 | g)", "bernoulli"),
}

CHILD = """
import time
T0 = time.perf_counter()
import sys
sys.path.insert(0, {here!r})
import pymc, nutpie
t_imports = time.perf_counter() - T0
import hiermod as hm
import simulate
data = {data}
entered = {{}}
sample = nutpie.sample
def timed(*a, **k):
    entered.setdefault("t", time.perf_counter() - T0)
    return sample(*a, **k)
nutpie.sample = timed
t_data = time.perf_counter() - T0
hm.fit({formula!r}, data, family={family!r}, draws=100, tune=100, progressbar=False,
       random_seed=1)
print(__import__("json").dumps({{"imports": t_imports, "data": t_data - t_imports,
                                 "to_sampler": entered["t"],
                                 "hiermod": entered["t"] - t_data}}))
"""


def one_run(case: str) -> dict:
    data, formula, family = CASES[case]
    code = CHILD.format(here=str(HERE), data=data, formula=formula, family=family)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    print("| case | imports s | hiermod s | to sampler s |\n|---|---|---|---|")
    for case in CASES:
        one_run(case)  # fills numba's cache and the OS file cache
        runs = [one_run(case) for _ in range(args.reps)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"| {case} | {med['imports']:.2f} | {med['hiermod']:.2f} | "
              f"{med['to_sampler']:.2f} |")


if __name__ == "__main__":
    main()
