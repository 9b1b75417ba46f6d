"""Compiled log-densities for nutpie: prior kernels, the C-vine map, the layout derived from a
PyMC model, and the glue that hands a callback to nutpie and maps its draws back."""

from . import numba_cache  # noqa: F401  (one cache stamp for all kernels: see the module)
