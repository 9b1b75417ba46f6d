"""Execute the workshop notebooks and write their outputs back into notebooks/*.ipynb.

    .venv/bin/python scripts/execute_notebooks.py              # all, full sampling settings
    .venv/bin/python scripts/execute_notebooks.py 02 05        # those whose name starts so
    .venv/bin/python scripts/execute_notebooks.py --quick 03   # quick mode (not for committing)

The committed notebooks carry the outputs of a full run (HIERMOD_NOTEBOOK_QUICK unset), one
notebook at a time. The kernel is this interpreter (a kernelspec made on the fly), so run the
script with the project's ``.venv/bin/python``. A notebook whose execution fails is left as it
was, and the script exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
KERNEL_NAME = "hiermod-notebooks"


def kernel_manager(kernel_dir: Path) -> KernelManager:
    """A kernel manager whose only kernelspec runs ``sys.executable`` (this venv's Python)."""
    spec_dir = kernel_dir / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"hiermod ({sys.executable})", "language": "python",
    }))
    ksm = KernelSpecManager(kernel_dirs=[str(kernel_dir)])
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)


def execute(nb: nbformat.NotebookNode, timeout: int = 1800, workdir: Path = ROOT
            ) -> nbformat.NotebookNode:
    """Execute ``nb`` in place (in memory) with a kernel on this interpreter; returns it."""
    with tempfile.TemporaryDirectory() as tmp:
        km = kernel_manager(Path(tmp))
        client = NotebookClient(nb, km=km, timeout=timeout, record_timing=False,
                                resources={"metadata": {"path": str(workdir)}})
        try:
            client.execute(cleanup_kc=True)  # shut the kernel down, though we made its manager
        finally:
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    return nb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook name prefixes (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="HIERMOD_NOTEBOOK_QUICK=1 (short chains; do not commit the result)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args()
    if args.quick:
        os.environ["HIERMOD_NOTEBOOK_QUICK"] = "1"
    else:
        os.environ.pop("HIERMOD_NOTEBOOK_QUICK", None)
    paths = sorted(p for p in NOTEBOOKS.glob("*.ipynb")
                   if not args.names or any(p.name.startswith(n) for n in args.names))
    failed = []
    for path in paths:
        t0 = time.perf_counter()
        nb = nbformat.read(path, as_version=4)
        try:
            execute(nb, args.timeout)
        except Exception as exc:  # noqa: BLE001 - report, keep the file, go on with the next
            failed.append(path.name)
            print(f"FAILED {path.name}: {type(exc).__name__}: {str(exc)[-2000:]}", flush=True)
            continue
        nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                     "name": "python3"}
        nbformat.write(nb, path)
        size = path.stat().st_size / 1e6
        print(f"executed {path.name} in {time.perf_counter() - t0:.0f} s ({size:.2f} MB)",
              flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
