"""numba's disk cache for hiermod's kernels, invalidated by a change to any of them.

numba keys a cached function on its own source file only, but the machine code it stores has
every callee compiled in: after an edit to ``glmm/kernel.py`` the nutpie callback cached from
``glmm/callback.py`` would keep running the old kernel. This locator gives every cached
function of hiermod one source stamp, the SHA-256 of all the package's numba sources
(:data:`KERNEL_PACKAGES`), so that a change to any of them recompiles them all; functions of
other packages keep numba's own locators. Registered when :mod:`hiermod.compiled` is imported,
which every module with cached numba code does before defining it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numba.core import caching

#: the packages whose modules hold cached numba code (and what it calls)
KERNEL_PACKAGES = ("compiled", "glmm", "longitudinal", "marginal")
_ROOT = Path(__file__).resolve().parent.parent


def kernel_sources(root: Path = _ROOT) -> list[Path]:
    """Every Python source of :data:`KERNEL_PACKAGES` under ``root`` (the package), sorted."""
    return sorted(p for pkg in KERNEL_PACKAGES for p in (root / pkg).glob("*.py"))


def sources_stamp(root: Path = _ROOT) -> str:
    """SHA-256 over the kernel sources' paths (relative to ``root``) and contents."""
    h = hashlib.sha256()
    for path in kernel_sources(root):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


_STAMP = sources_stamp()


class _HiermodStamp:
    """The stamp of all kernel sources, for functions defined in hiermod only."""

    def get_source_stamp(self):
        return _STAMP

    @classmethod
    def from_function(cls, py_func, py_file):
        if not Path(py_file).resolve().is_relative_to(_ROOT):
            return None  # not hiermod's: the next locator
        return super().from_function(py_func, py_file)


class HiermodUserProvidedLocator(_HiermodStamp, caching.UserProvidedCacheLocator):
    """numba's ``NUMBA_CACHE_DIR`` locator (when set) with the stamp of all kernel sources."""


class HiermodCacheLocator(_HiermodStamp, caching.InTreeCacheLocator):
    """numba's in-tree (``__pycache__``) locator with the stamp of all kernel sources."""


class HiermodUserCacheLocator(_HiermodStamp, caching.UserWideCacheLocator):
    """The same in the user-wide cache directory (a read-only installation)."""


def register() -> None:
    """Put hiermod's locators first in numba's locator list (once), in numba's own order:
    the user's ``NUMBA_CACHE_DIR``, then ``__pycache__``, then the user-wide directory."""
    classes = caching.CacheImpl._locator_classes
    for k, cls in enumerate((HiermodUserProvidedLocator, HiermodCacheLocator,
                             HiermodUserCacheLocator)):
        if cls not in classes:
            classes.insert(k, cls)


register()
