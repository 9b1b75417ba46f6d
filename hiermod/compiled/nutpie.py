"""The glue between a compiled log-density and nutpie: the model object nutpie samples, and the
posterior mapped back to the PyMC model's variables.

nutpie stores one variable per draw, the unconstrained point x. The posterior is then computed
by the PyMC model's own graph — ``model.unobserved_value_vars`` (the constrained variables and
the deterministics as functions of the value variables), vectorised over all draws and
evaluated once with PyTensor's Python linker — so it has exactly the PyMC model's variables,
dims and coordinates, with nothing re-spelled here.

nutpie's ``CompiledPyMCModel`` is built through its dataclass fields, some of them private;
``pyproject.toml`` pins nutpie's minor version for that reason.
"""

from __future__ import annotations

import numba
import numpy as np
import pytensor
import pytensor.tensor as pt
import xarray as xr
from nutpie.compile_pymc import CompiledPyMCModel
from pytensor.graph.replace import vectorize_graph

from .buffer import scalar
from .layout import Layout, derive_layout

UNCONSTRAINED = "unconstrained_point"  # the one variable nutpie stores per draw

LOGP_SIGNATURE = numba.types.int64(numba.types.uint64, numba.types.CPointer(numba.types.double),
                                   numba.types.CPointer(numba.types.double),
                                   numba.types.CPointer(numba.types.double), numba.types.voidptr)
_EXPAND_SIG = numba.types.int64(numba.types.uint64, numba.types.uint64,
                                numba.types.CPointer(numba.types.double),
                                numba.types.CPointer(numba.types.double), numba.types.voidptr)


@numba.njit(cache=True)
def read_buffer(ptr):
    """The float64 buffer behind nutpie's user-data pointer (its first entry is its length)."""
    size = int(numba.carray(ptr, (1,), np.float64)[0])
    return numba.carray(ptr, (size,), np.float64)


@numba.cfunc(_EXPAND_SIG, cache=True)
def expand_identity(dim, expanded, x_, out_, user_data):
    """The stored draw is the unconstrained point itself; :func:`posterior` maps it to the
    model's variables afterwards, vectorised over draws."""
    if dim != expanded:
        return -1
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (dim,))
    out[:] = x
    return 0


@numba.njit(cache=True)
def status(value, out, logp_):
    """Write the log-density for nutpie and return its status: 0, or 3 / 4 for a non-finite
    gradient / value."""
    logp = numba.carray(logp_, (1,))
    logp[0] = value
    if not np.all(np.isfinite(out)):
        return 3
    if not np.isfinite(value):
        return 4
    return 0


@numba.njit(cache=True)
def n_dim_of(buf):
    """The number of coordinates: every callback's buffer holds it as its first scalar."""
    return int(scalar(buf, 0))


class CompiledCallback:
    """A model's compiled log-density for nutpie: its ``layout`` (derived from the built PyMC
    model), its ``buffer`` and, from the subclass, the numba ``kernel(buf, x, out)`` and the C
    callback ``cfunc`` around it. The posterior comes from the PyMC model's own graph."""

    kernel = None
    cfunc = None

    def __init__(self, built, factors: tuple[str, ...]) -> None:
        self.built = built
        self.layout: Layout = derive_layout(built, factors)

    @property
    def n_dim(self) -> int:
        return self.layout.n_dim

    def nutpie_model(self) -> CompiledPyMCModel:
        return nutpie_model(self.layout, self.cfunc, self.buffer)

    def logp_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The log-density (Jacobians included) and its gradient at unconstrained x."""
        out = np.zeros(self.n_dim)
        return self.kernel(self.buffer, np.asarray(x, float), out), out

    def posterior(self, stored: xr.Dataset) -> xr.Dataset:
        """The posterior as the PyMC model stores it (:func:`posterior`)."""
        return posterior(self.built.model, self.layout, stored)


def nutpie_model(layout: Layout, logp_cfunc, buffer: np.ndarray) -> CompiledPyMCModel:
    """A nutpie model whose log-density is ``logp_cfunc`` (nutpie's C calling convention)
    reading ``buffer``; its coordinates are ``layout``'s."""
    n = layout.n_dim
    shape_info = ([UNCONSTRAINED], [slice(0, n)], [(n,)])
    return CompiledPyMCModel(
        dims={}, _coords={}, _n_dim=n, _shapes={UNCONSTRAINED: (n,)},
        compiled_logp_func=logp_cfunc, compiled_expand_func=expand_identity,
        initial_point_func=layout.initial_point, shared_data={}, shared_var_keys={},
        user_data=buffer, n_expanded=n, shape_info=shape_info, logp_func=None,
        expand_func=None)


def posterior(model, layout: Layout, stored: xr.Dataset) -> xr.Dataset:
    """The posterior as the PyMC model stores it, from nutpie's draws of x.

    Parameters
    ----------
    model : pymc.Model
    layout : Layout
        The coordinates of x (:func:`hiermod.compiled.layout.derive_layout` of ``model``).
    stored : xarray.Dataset
        nutpie's posterior: ``unconstrained_point`` (chain, draw, n_dim).
    """
    x = np.asarray(stored[UNCONSTRAINED].transpose("chain", "draw", ...).values, dtype=float)
    n_chain, n_draw = x.shape[:2]
    values = layout.split(x.reshape(n_chain * n_draw, -1))
    inputs = model.value_vars
    transformed = {v.name for v in inputs if model.rvs_to_transforms.get(model.values_to_rvs[v])}
    # the free variables (constrained) and the deterministics, as PyMC stores them
    outputs = [v for v in model.unobserved_value_vars if v.name not in transformed]
    batched = [pt.tensor(name=v.name, dtype=v.dtype, shape=(None,) * (v.ndim + 1))
               for v in inputs]
    computed = [v for v in outputs if v not in inputs]
    fn = pytensor.function(batched, vectorize_graph(computed, dict(zip(inputs, batched))),
                           mode="FAST_COMPILE", on_unused_input="ignore")
    by_var = dict(zip(computed, fn(*[values[v.name] for v in inputs]), strict=True))
    results = [by_var[v] if v in by_var else values[v.name] for v in outputs]
    dims_of = model.named_vars_to_dims
    data_vars = {}
    for var, value in zip(outputs, results, strict=True):
        value = np.asarray(value).reshape((n_chain, n_draw) + np.shape(value)[1:])
        dims = dims_of.get(var.name) or tuple(f"{var.name}_dim_{i}"
                                              for i in range(value.ndim - 2))
        data_vars[var.name] = (("chain", "draw", *dims), value)
    used = {d for dims, _ in data_vars.values() for d in dims}
    coords = {k: list(v) for k, v in model.coords.items() if k in used}
    coords.update(chain=np.arange(n_chain), draw=np.arange(n_draw))
    return xr.Dataset(data_vars, coords=coords)
