"""Run NUTS on a built model: nutpie (default), PyMC's own NUTS, or numpyro (JAX).

Every run is reproducible: ``random_seed=None`` draws a seed, which is recorded in the
DataTree's attributes (``posterior.attrs["random_seed"]``) so the run can be repeated.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .compiled.blas import blas_threads
from .errors import HiermodError, SamplingError, SpecError

SAMPLERS = ("nutpie", "pymc", "numpyro")


#: seeds hiermod passes on unchanged to every sampler (numpy's legacy range)
SEED_MAX = 2**32 - 1
#: the deepest NUTS tree hiermod lets a user ask for (2^20 leapfrog steps per draw)
TREEDEPTH_MAX = 20


def whole(value) -> bool:
    """An int (not a bool) or numpy integer."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


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
        """Raise a SpecError naming the setting, before anything runs.

        ``draws``, ``tune``, ``chains`` and ``cores`` are whole numbers >= 1 (nutpie needs a
        warm-up and hangs on zero cores), ``max_treedepth`` from 1 to 20, ``target_accept``
        strictly between 0 and 1, ``random_seed`` None or a whole number from 0 to 2³² − 1.
        """
        if not isinstance(self.sampler, str) or self.sampler not in SAMPLERS:
            raise SpecError(f"unknown sampler {self.sampler!r}; choose one of "
                            f"{', '.join(SAMPLERS)}")
        for name in ("draws", "tune", "chains"):
            value = getattr(self, name)
            if not whole(value) or value < 1:
                raise SpecError(f"{name} must be a whole number >= 1, got {value!r}")
        if self.cores is not None and (not whole(self.cores) or self.cores < 1):
            raise SpecError(f"cores must be a whole number >= 1 (or None for all), got "
                            f"{self.cores!r}")
        if not whole(self.max_treedepth) or not 1 <= self.max_treedepth <= TREEDEPTH_MAX:
            raise SpecError(f"max_treedepth must be a whole number from 1 to {TREEDEPTH_MAX}, "
                            f"got {self.max_treedepth!r}")
        ta = self.target_accept
        if isinstance(ta, (bool, np.bool_)) or not isinstance(ta, (int, float, np.number)) \
                or not 0 < ta < 1:
            raise SpecError(f"target_accept must be a number strictly between 0 and 1, got "
                            f"{ta!r}")
        if self.random_seed is not None:
            check_seed(self.random_seed)
        if not isinstance(self.progressbar, (bool, np.bool_)):
            raise SpecError(f"progressbar must be True or False, got {self.progressbar!r}")


def check_seed(seed) -> int:
    if not whole(seed) or not 0 <= seed <= SEED_MAX:
        raise SpecError(f"random_seed must be a whole number from 0 to {SEED_MAX}, got {seed!r}")
    return int(seed)


def resolve_seed(seed: int | None) -> int:
    if seed is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    return check_seed(seed)


def run_nutpie(model, s: SamplerSettings, seed: int, compiled=None):
    """nutpie on the PyMC model (compiled by PyTensor's numba back end), or on ``compiled``: a
    :class:`~hiermod.marginal.callback.CompiledMarginal` of the same model, whose
    posterior it maps back to the model's variables."""
    import nutpie

    t0 = time.perf_counter()
    target = nutpie.compile_pymc_model(model) if compiled is None else compiled.nutpie_model()
    t1 = time.perf_counter()
    with blas_threads():  # chains run in parallel threads: one BLAS thread each
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
        with blas_threads():  # the kernels' BLAS calls, in each chain's process or thread
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


#: what a sampler's message means -> the cause in words and what to try
FAILURES = (
    (("initialization points failed", "initial evaluation", "starting point"),
     "no starting point gave a finite log-density and gradient; look for priors with extreme "
     "scales (e.g. 1e-300) and predictors or outcomes on very large scales (standardize "
     "them)"),
    (("mutex", "panicked", "poison"),
     "the sampler stopped with an internal error; try another sampler (sampler='pymc')"),
    (("nan", "inf", "non-finite"),
     "the log-density became non-finite while sampling; rescale the predictors or tighten "
     "the priors"),
)


def sampling_failure(exc: BaseException, sampler: str) -> SamplingError:
    """The sampler's failure as a SamplingError: its cause in one sentence, and the sampler's
    full message (a Rust backtrace included) only when ``HIERMOD_DEBUG`` is set."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    first = lines[0] if lines else type(exc).__name__
    caused = next((lines[i + 1] for i, ln in enumerate(lines[:-1]) if ln == "Caused by:"), "")
    said = f"{first}: {caused}" if caused else first
    low = text.lower()
    cause = next((why for keys, why in FAILURES if any(k in low for k in keys)),
                 "set HIERMOD_DEBUG=1 to see the sampler's own message")
    message = f"{sampler} could not sample ({said[:200]}): {cause}"
    if os.environ.get("HIERMOD_DEBUG"):
        message += f"\n{type(exc).__name__}: {text}"
    return SamplingError(message)


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
    try:
        if settings.sampler == "nutpie":
            dt, compile_s, sample_s = run_nutpie(model, settings, seed, compiled)
        else:
            dt, compile_s, sample_s = run_pymc(model, settings, seed, settings.sampler)
    except (KeyboardInterrupt, SystemExit, HiermodError):
        raise
    except BaseException as exc:  # noqa: BLE001 - Rust panics are BaseExceptions
        raise sampling_failure(exc, settings.sampler) from exc
    dt = tidy(dt)
    dt["posterior"].attrs.update({"random_seed": seed, "sampler": settings.sampler,
                                  "tune": settings.tune, "target_accept": settings.target_accept})
    return Samples(dt, seed, {"compile_s": compile_s, "sample_s": sample_s})
