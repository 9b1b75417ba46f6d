"""Run the ``hiermod`` command line as a subprocess, and one shared demo run.

The demo run (radon_vis with --reml, --out and --json; small draws) is made once per test
session and shared by tests/test_cli.py (JSON schema) and tests/test_html_report.py (the
report in a browser): compiling the model is most of its cost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_ARGS = ["--draws", "500", "--tune", "500", "--chains", "2", "--seed", "7"]


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]


def cli_env() -> dict:
    env = dict(os.environ)
    env.pop("HIERMOD_DEBUG", None)
    env["PYTHONWARNINGS"] = "ignore"  # the one-line error checks look at all of stderr
    return env


def start(*args: str, cwd: Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hiermod", *args], cwd=cwd, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, args, timeout: float = 600) -> Run:
    out, err = proc.communicate(timeout=timeout)
    return Run(tuple(args), proc.returncode, out, err)


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 600) -> Run:
    return finish(start(*args, cwd=cwd), args, timeout)


_DEMO: dict = {}


def demo_run() -> tuple[Run, Path]:
    """``hiermod fit models/radon_vis.toml --reml --out DIR --json DIR/summary.json`` (small
    draws), run once per session; returns the run and DIR."""
    if "run" not in _DEMO:
        out = Path(tempfile.mkdtemp(prefix="hiermod_demo_"))
        run = run_cli("fit", "models/radon_vis.toml", *DEMO_ARGS, "--reml", "--out", str(out),
                      "--json", str(out / "summary.json"))
        _DEMO["run"], _DEMO["out"] = run, out
    return _DEMO["run"], _DEMO["out"]
