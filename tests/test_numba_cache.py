"""numba's disk cache of hiermod's kernels: one stamp over all kernel sources, so that an edit to
a kernel recompiles the callbacks that inline it (numba alone keys on the defining file)."""

import importlib
import shutil
import sys

import numba

from hiermod.compiled import numba_cache as nc

KERNEL_MODULES = ["hiermod.compiled.buffer", "hiermod.compiled.coords", "hiermod.compiled.digits",
                  "hiermod.compiled.fastmath",
                  "hiermod.compiled.linalg", "hiermod.compiled.lkj", "hiermod.compiled.priors",
                  "hiermod.compiled.nutpie", "hiermod.glmm.kernel", "hiermod.glmm.callback",
                  "hiermod.longitudinal.kernel", "hiermod.marginal.kernel",
                  "hiermod.marginal.callback", "hiermod.marginal.crossed_kernel",
                  "hiermod.marginal.crossed_callback", "hiermod.marginal.residual_callback"]


def cached_functions(module):
    return [obj for obj in vars(module).values()
            if getattr(obj, "_cache", None) is not None and hasattr(obj._cache, "_impl")
            and getattr(obj, "__module__", module.__name__) == module.__name__]


def test_every_cached_kernel_carries_the_stamp_of_all_kernel_sources():
    seen = 0
    for name in KERNEL_MODULES:
        for fn in cached_functions(importlib.import_module(name)):
            locator = fn._cache._impl._locator
            assert isinstance(locator, nc._HiermodStamp), (name, fn)
            assert locator.get_source_stamp() == nc.sources_stamp()
            seen += 1
    assert seen > 20
    # the nutpie callbacks (numba cfuncs) too
    from hiermod.glmm.callback import _logp_cfunc

    assert isinstance(_logp_cfunc._cache._impl._locator, nc._HiermodStamp)


def test_an_edit_to_any_kernel_source_changes_the_stamp(tmp_path):
    root = tmp_path / "pkg"
    for pkg in nc.KERNEL_PACKAGES:
        shutil.copytree(nc._ROOT / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = nc.sources_stamp(root)
    assert before == nc.sources_stamp()  # the stamp depends on contents, not on where they lie
    kernel = root / "glmm" / "kernel.py"
    kernel.write_text(kernel.read_text() + "\n# an edit\n")
    assert nc.sources_stamp(root) != before
    (root / "compiled" / "extra.py").write_text("X = 1\n")
    assert len({before, nc.sources_stamp(root)}) == 2


def test_functions_outside_hiermod_keep_numbas_own_locators(tmp_path, monkeypatch):
    (tmp_path / "outside_mod.py").write_text(
        "import numba\n\n@numba.njit(cache=True)\ndef twice(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("outside_mod")
    try:
        assert mod.twice(2) == 4
        assert not isinstance(mod.twice._cache._impl._locator, nc._HiermodStamp)
    finally:
        sys.modules.pop("outside_mod", None)
    assert isinstance(mod.twice, numba.core.registry.CPUDispatcher)
