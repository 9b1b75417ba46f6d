"""The workshop notebooks (notebooks/*.ipynb) run from top to bottom without an error.

Each notebook is executed in memory (the files in notebooks/ are not touched) in quick mode
(HIERMOD_NOTEBOOK_QUICK=1: short chains), by a kernel on this test run's own interpreter, from
a temporary working directory. The kernel set-up is that of scripts/execute_notebooks.py,
which writes the outputs of full runs into the committed notebooks.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 600  # seconds per cell; a quick-mode cell takes well under a minute

_spec = importlib.util.spec_from_file_location("execute_notebooks",
                                               ROOT / "scripts" / "execute_notebooks.py")
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

CHECK_CELL = ('import json, sys\n'
              'print(json.dumps({"prefix": sys.prefix, "executable": sys.executable, "quick": QUICK}))')


def test_notebooks_are_listed():
    """Every notebook is a row of the table in notebooks/README.md, and every row a notebook."""
    readme = (ROOT / "notebooks" / "README.md").read_text()
    rows = re.findall(r"^\| \[(\d\d_[a-z_]+\.ipynb)\]", readme, flags=re.MULTILINE)
    assert sorted(rows) == [p.name for p in NOTEBOOKS]
    assert len(NOTEBOOKS) >= 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_first_cell_sets_quick_mode(path):
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert 'os.environ.get("HIERMOD_NOTEBOOK_QUICK") == "1"' in first.source
    fits = [c.source for c in nb.cells if c.cell_type == "code" and "hm.fit(" in c.source]
    assert fits, "a workshop notebook fits at least one model"
    for src in fits:
        assert "**SAMPLING" in src and "random_seed=" in src, src


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("HIERMOD_NOTEBOOK_QUICK", "1")
    before = path.read_bytes()
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(CHECK_CELL))
    runner.execute(nb, timeout=CELL_TIMEOUT, workdir=tmp_path)

    for k, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            assert out.output_type != "error", f"cell {k}: {out.get('ename')}: {out.get('evalue')}"
            assert "Traceback" not in out.get("text", ""), f"cell {k} printed a traceback"
    check = json.loads(nb.cells[-1].outputs[0]["text"])
    assert (check["prefix"], check["executable"]) == (sys.prefix, sys.executable), \
        f"the notebook ran on {check['executable']}, not on the test suite's {sys.executable}"
    assert check["quick"] is True
    assert path.read_bytes() == before, "executing the notebook changed the file"
