"""Run NUTS on a built model: nutpie (default), PyMC's own NUTS, or numpyro (JAX).

Every run is reproducible: ``random_seed=None`` draws a seed, which is recorded in the
DataTree's attributes (``posterior.attrs["random_seed"]``) so the run can be repeated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .errors import SamplingError, SpecError

SAMPLERS = ("nutpie", "pymc", "numpyro")


@dataclass(frozen=True)
class SamplerSettings:
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    sampler: str = "nutpie"
    target_accept: float = 0.8
    max_treedepth: int = 10
    random_seed: int | None = None
    progressbar: bool = True
    cores: int | None = None

    def check(self) -> None:
        if self.sampler not in SAMPLERS:
            raise SpecError(f"unknown sampler '{self.sampler}'; choose one of {', '.join(SAMPLERS)}")
        for name in ("draws", "tune", "chains"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < (1 if name != "tune" else 0):
                raise SpecError(f"{name} must be a positive whole number, got {value!r}")
        if not 0 < self.target_accept < 1:
            raise SpecError(f"target_accept must lie between 0 and 1, got {self.target_accept}")


def resolve_seed(seed: int | None) -> int:
    if seed is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SpecError(f"random_seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def run_nutpie(model, s: SamplerSettings, seed: int, compiled=None):
    """nutpie on the PyMC model (compiled by PyTensor's numba back end), or on ``compiled``: a
    :class:`~hiermod.marginal.callback.CompiledMarginal` of the same model, whose
    posterior it maps back to the model's variables."""
    import nutpie

    t0 = time.perf_counter()
    target = nutpie.compile_pymc_model(model) if compiled is None else compiled.nutpie_model()
    t1 = time.perf_counter()
    dt = nutpie.sample(target, draws=s.draws, tune=s.tune, chains=s.chains, seed=seed,
                       progress_bar=s.progressbar, save_warmup=False, cores=s.cores,
                       target_accept=s.target_accept, maxdepth=s.max_treedepth)
    if compiled is not None:
        dt["posterior"] = xr.DataTree(compiled.posterior(dt["posterior"].to_dataset()))
    return dt, t1 - t0, time.perf_counter() - t1


def run_pymc(model, s: SamplerSettings, seed: int, nuts_sampler: str):
    import pymc as pm

    kwargs = {}
    if nuts_sampler == "pymc":
        kwargs = {"target_accept": s.target_accept, "max_treedepth": s.max_treedepth}
    else:
        kwargs = {"nuts_sampler_kwargs": {"chain_method": "sequential"},
                  "target_accept": s.target_accept}
    t0 = time.perf_counter()
    try:
        dt = pm.sample(draws=s.draws, tune=s.tune, chains=s.chains, random_seed=seed,
                       progressbar=s.progressbar, nuts_sampler=nuts_sampler, model=model,
                       cores=s.cores or min(s.chains, 2), compute_convergence_checks=False,
                       **kwargs)
    except ImportError as exc:
        raise SamplingError(f"sampler '{nuts_sampler}' needs a package that is not installed "
                            f"({exc}); install hiermod[jax] for numpyro") from exc
    return dt, 0.0, time.perf_counter() - t0


def tidy(dt) -> xr.DataTree:
    """Drop object-typed sample stats (not storable in netCDF) and warm-up groups."""
    stats = dt["sample_stats"].to_dataset()
    keep = [v for v in stats.data_vars if stats[v].dtype != object]
    groups = {"/posterior": dt["posterior"].to_dataset(),
              "/sample_stats": stats[keep]}
    for name in dt.children:
        if name not in ("posterior", "sample_stats") and not name.startswith("warmup"):
            groups[f"/{name}"] = dt[name].to_dataset()
    return xr.DataTree.from_dict(groups)


@dataclass(frozen=True)
class Samples:
    """The sampler's output: the DataTree, the seed it ran with and its timings
    ``{"compile_s", "sample_s"}``."""

    tree: xr.DataTree
    seed: int
    times: dict


def sample(model, settings: SamplerSettings, compiled=None) -> Samples:
    """Sample the model.

    ``compiled``: the same model as a :class:`~hiermod.marginal.callback.CompiledMarginal`,
    run by nutpie without compiling the PyMC graph (nutpie only).
    """
    settings.check()
    seed = resolve_seed(settings.random_seed)
    if compiled is not None and settings.sampler != "nutpie":
        raise SpecError("a compiled marginal model runs on nutpie only")
    if settings.sampler == "nutpie":
        dt, compile_s, sample_s = run_nutpie(model, settings, seed, compiled)
    else:
        dt, compile_s, sample_s = run_pymc(model, settings, seed, settings.sampler)
    dt = tidy(dt)
    dt["posterior"].attrs.update({"random_seed": seed, "sampler": settings.sampler,
                                  "tune": settings.tune, "target_accept": settings.target_accept})
    return Samples(dt, seed, {"compile_s": compile_s, "sample_s": sample_s})
