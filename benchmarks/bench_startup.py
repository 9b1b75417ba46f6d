"""Start-up time of the command line and of ``import hiermod``, against ``python -c pass``.

    .venv/bin/python benchmarks/bench_startup.py

Each command runs 15 times in a fresh process; the table gives the median wall time and its
ratio to a bare Python start. No assertion: the numbers go into the README / closing notes.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import hiermod": [sys.executable, "-c", "import hiermod"],
    "hiermod --help": [sys.executable, "-m", "hiermod", "--help"],
    "hiermod fit --help": [sys.executable, "-m", "hiermod", "fit", "--help"],
    "import hiermod; hiermod.fit": [sys.executable, "-c", "import hiermod; hiermod.fit"],
}


def median_time(cmd: list[str], reps: int = 15) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    base = median_time(COMMANDS["python -c pass"])
    print("| command | median s | × bare python |\n|---|---|---|")
    for label, cmd in COMMANDS.items():
        t = median_time(cmd)
        print(f"| `{label}` | {t:.3f} | {t / base:.1f} |")


if __name__ == "__main__":
    main()
