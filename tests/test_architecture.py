"""The package's shape: imports point one way (no cycles), no hiermod module is imported inside a
function, ``import hiermod`` and the command line's ``--help`` stay light (no PyMC), and no
module re-exports a function under its own name.

The graph is read from the source (AST): every ``import`` / ``from ... import`` of a hiermod
module, at any depth, and every ``lazy_loader.load("hiermod....")`` — a deferred import still
ties two modules, so it counts as an edge.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT

PACKAGE = ROOT / "hiermod"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def resolve(current: str, is_package: bool, node) -> list[str]:
    """hiermod modules an import node names (longest existing prefix of each name)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = current.split(".") if is_package else current.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            mod = ".".join(base + ([node.module] if node.module else []))
        else:
            mod = node.module or ""
        names = [mod] + [f"{mod}.{a.name}" for a in node.names]
    out = []
    for n in names:
        while n and n not in MODULES:
            n = n.rpartition(".")[0]
        if n.startswith("hiermod"):
            out.append(n)
    return out


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """(module -> the hiermod modules it imports, function-level imports 'a -> b')."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    lazy = []
    for m, path in MODULES.items():
        tree = ast.parse(path.read_text())
        is_package = path.name == "__init__.py"
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("lazy_loader.load") \
                    and node.args and isinstance(node.args[0], ast.Constant):
                graph[m].add(str(node.args[0].value))
                continue
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            in_function, q = False, node
            while q in parents:
                q = parents[q]
                in_function |= isinstance(q, (ast.FunctionDef, ast.AsyncFunctionDef))
            for target in resolve(m, is_package, node):
                own_face = m.startswith(target + ".") and MODULES[target].name == "__init__.py"
                if target == m or own_face:
                    continue
                graph[m].add(target)
                if in_function:
                    lazy.append(f"{m} -> {target}")
    return graph, lazy


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_and_no_function_level_imports():
    graph, lazy = import_graph()
    assert sum(len(v) for v in graph.values()) > 100  # the graph was really read
    assert cycles(graph) == []
    assert lazy == []


def test_a_cycle_is_detected():
    """The checker itself: a two-module cycle is found."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_lower_rooms_do_not_import_higher_ones():
    """Spot checks of the chain in docs/architecture.md."""
    graph, _ = import_graph()

    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for w in graph.get(todo.pop(), ()):
                if w not in seen:
                    seen.add(w)
                    todo.append(w)
        return seen

    assert not {m for m in reach("hiermod.design") if m.startswith(
        ("hiermod.model", "hiermod.marginal", "hiermod.mle", "hiermod.report", "hiermod.fitting"))}
    assert not {m for m in reach("hiermod.report") if m.startswith(
        ("hiermod.fitting", "hiermod.result", "hiermod.output", "hiermod.plots", "hiermod.cli"))}
    assert reach("hiermod.families") - {"hiermod.errors"} <= {m for m in MODULES
                                                             if m.startswith("hiermod.families")}
    assert "hiermod.plots" not in {m.rsplit(".", 1)[0] for m in reach("hiermod.fitting")}


def test_no_module_shadowed_by_a_function_of_its_name():
    """``import hiermod.x.y as m`` must give a module: no package re-exports a function under
    the name of one of its submodules."""
    import importlib

    for name in MODULES:
        parent, _, child = name.rpartition(".")
        if not parent:
            continue
        attr = getattr(importlib.import_module(parent), child, None)
        assert attr is None or isinstance(attr, type(sys)), f"{name} is shadowed by {attr!r}"


def run_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True).stdout.strip()


def test_import_hiermod_and_cli_do_not_import_pymc():
    out = run_python("import sys, hiermod, hiermod.cli; print('pymc' in sys.modules, "
                     "'arviz' in sys.modules, 'matplotlib' in sys.modules)")
    assert out == "False False False"


@pytest.mark.parametrize("args", [["--help"], ["fit", "--help"], ["--version"]])
def test_cli_help_imports_nothing_heavy(args):
    """The help path loads argparse and hiermod's errors only: no numpy, pandas, SciPy, PyMC,
    ArviZ or matplotlib (its time is measured in benchmarks/bench_startup.py)."""
    code = ("import runpy, sys\n"
            f"sys.argv = ['hiermod', *{args!r}]\n"
            "try:\n    runpy.run_module('hiermod', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "heavy = ('numpy', 'pandas', 'scipy', 'pymc', 'arviz', 'matplotlib', 'xarray')\n"
            "print([m for m in heavy if m in sys.modules])")
    out = run_python(code).splitlines()
    assert out[-1] == "[]"
    assert any("hiermod" in line for line in out[:-1])
