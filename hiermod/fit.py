"""``hm.fit``: the composition spec -> design -> build -> sample, and the thin ``Fit`` result."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd
import xarray as xr

from .build import PARAMETERIZATIONS, build_model
from .build.marginal import PATH_EXPLICIT, PATH_MARGINAL, build_marginal_model, choose_model_path
from .build.suffstats import group_stats
from .conditional import add_group_effects
from .design import Design, make_design, used_columns
from .diagnostics import Diagnostics, diagnose
from .errors import SpecError
from .priors import Prior, resolve_priors
from .report.accessors import FitReports
from .report.summary import summary as summary_table
from .sample import SamplerSettings, sample
from .spec.formula import parse_formula
from .spec.types import Spec


def as_spec(model: str | Spec, family: str | None = None) -> Spec:
    """A formula string or a Spec (family given here overrides the spec's)."""
    if isinstance(model, Spec):
        return model if family is None or family == model.family else model.with_family(family)
    if isinstance(model, str):
        return parse_formula(model, family=family or "gaussian")
    raise SpecError(f"model must be an lme4 formula string or a hiermod Spec, "
                    f"got {type(model).__name__}")


@dataclass(frozen=True, eq=False)
class Fit(FitReports):
    """A sampled multilevel model: the ArviZ DataTree with the spec and design it came from."""

    idata: xr.DataTree
    spec: Spec
    design: Design
    data: pd.DataFrame
    user_priors: dict = field(default_factory=dict)
    parameterization: str = "noncentered"
    settings: SamplerSettings = field(default_factory=SamplerSettings)
    timing: dict = field(default_factory=dict)
    #: "marginal" (group effects integrated out, then drawn given each draw) or "explicit"
    model_path: str = PATH_EXPLICIT

    @cached_property
    def priors(self) -> dict[str, Prior]:
        """Every parameter's prior (defaults with the user's overrides)."""
        return resolve_priors(self.design, self.user_priors)

    @cached_property
    def model(self):
        """The PyMC model (rebuilt on demand, e.g. after :func:`load_fit`)."""
        if self.model_path == PATH_MARGINAL:
            return build_marginal_model(self.design, self.user_priors,
                                        implementation=pymc_implementation(self.settings))
        return build_model(self.design, self.user_priors, self.parameterization)

    def summary(self, prob: float = 0.95) -> pd.DataFrame:
        """Posterior mean, sd, equal-tailed interval, ESS and R-hat per parameter."""
        table = summary_table(self.idata, self.design, prob)
        table.attrs["model_path"] = self.model_path
        return table

    @cached_property
    def _diagnostics(self) -> Diagnostics:
        how = "marginal" if self.model_path == PATH_MARGINAL else self.parameterization
        return diagnose(self.idata, how)

    def diagnostics(self) -> Diagnostics:
        """R-hat, ESS, divergences and tree depth, with advice for each problem."""
        return self._diagnostics

    def save(self, path) -> None:
        """Write the fit to a netCDF file; :func:`hiermod.load_fit` reads it back exactly."""
        from .io import save_fit

        save_fit(self, path)

    def __repr__(self) -> str:
        groups = ", ".join(f"{f.name}: {f.n_levels}" for f in self.design.factors)
        s = self.settings
        how = ("group effects integrated out" if self.model_path == PATH_MARGINAL
               else self.parameterization)
        return (f"<hiermod.Fit {self.spec.formula!r} ({self.spec.family}); "
                f"{self.design.n_obs} obs; groups {groups}; {s.chains} chains x {s.draws} draws "
                f"({s.sampler}, {how})>")


def fit(model: str | Spec, data: pd.DataFrame, family: str | None = None, *,
        priors: dict | None = None, draws: int = 1000, tune: int = 1000, chains: int = 4,
        sampler: str = "nutpie", random_seed: int | None = None, target_accept: float = 0.8,
        max_treedepth: int = 10, parameterization: str = "noncentered", dropna: bool = False,
        progressbar: bool | None = None, cores: int | None = None,
        marginalize: bool | None = None) -> Fit:
    """Fit a Bayesian multilevel model by NUTS.

    Parameters
    ----------
    model : str or Spec
        An lme4 formula (``"y ~ x + (1 + x | g)"``) or a Spec from the level-wise / TOML
        front ends.
    data : pandas.DataFrame
    family : {"gaussian", "bernoulli", "binomial", "poisson"}, optional
        Default "gaussian" for formulas; a Spec carries its own.
    priors : dict, optional
        Overrides of the default priors, e.g. ``{"floor": hm.Prior("Normal", mu=0, sigma=1)}``;
        see :mod:`hiermod.priors` and ``hm.default_priors``.
    draws, tune, chains : int
    sampler : {"nutpie", "pymc", "numpyro"}
    random_seed : int, optional
        Recorded in ``fit.idata.posterior.attrs`` (a random one is drawn and recorded if None).
    target_accept, max_treedepth : NUTS settings.
    parameterization : {"noncentered", "centered"}
        How the usual model writes its group effects (unused when they are integrated out).
    dropna : bool
        Drop rows with missing values (reported) instead of raising.
    progressbar : bool, optional
        Default: shown when the output is a terminal.
    marginalize : bool, optional
        Integrate the group effects out of the likelihood, sample β, σ, the sds and the
        correlations by NUTS (cost per gradient independent of the number of rows), then draw
        the group effects exactly from their conditional posterior given each draw (see
        :mod:`hiermod.build.marginal`). ``None`` (default): wherever exact — gaussian outcome,
        one grouping factor; ``True``: insist (SpecError otherwise); ``False``: the usual model.
        The path taken is in ``fit.model_path`` and ``fit.idata.posterior.attrs["model_path"]``.
        With nutpie the marginal model runs as hiermod's own compiled (and disk-cached)
        log-density, with no per-fit compilation; ``posterior.attrs["marginal_implementation"]``
        says how it was evaluated (:func:`marginal_implementation`).

    Returns
    -------
    Fit

    Examples
    --------
    >>> df = hm.datasets.load("radon")                                   # doctest: +SKIP
    >>> fit = hm.fit("log_radon ~ floor + (1 + floor | county)", df)     # doctest: +SKIP
    >>> fit.summary()                                                    # doctest: +SKIP
    """
    t0 = time.perf_counter()
    spec = as_spec(model, family)
    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, sampler=sampler,
                               target_accept=target_accept, max_treedepth=max_treedepth,
                               random_seed=random_seed, cores=cores,
                               progressbar=sys.stdout.isatty() if progressbar is None
                               else progressbar)
    settings.check()
    if parameterization not in PARAMETERIZATIONS:  # checked on both paths, before any work
        raise SpecError(f"unknown parameterization '{parameterization}'; choose one of "
                        f"{', '.join(PARAMETERIZATIONS)}")
    design = make_design(spec, data, dropna=dropna)
    path = choose_model_path(design, marginalize)
    compiled, load_s = None, 0.0
    if path == PATH_MARGINAL:
        stats = group_stats(design)
        implementation = marginal_implementation(settings)
        pm_model = build_marginal_model(design, priors, stats=stats,
                                        implementation=pymc_implementation(settings))
        if implementation == "compiled":
            t_load = time.perf_counter()
            # numba loads the callback from its disk cache here (compiles it on first use)
            from .build.compiled_marginal import CompiledMarginal

            compiled = CompiledMarginal(design, resolve_priors(design, priors), stats, pm_model)
            load_s = time.perf_counter() - t_load
    else:
        pm_model = build_model(design, priors, parameterization)
    t1 = time.perf_counter()
    idata, times = sample(pm_model, settings, compiled)
    if path == PATH_MARGINAL:
        t2 = time.perf_counter()
        add_group_effects(idata, design, stats, idata["posterior"].attrs["random_seed"])
        times["conditional_s"] = time.perf_counter() - t2
    idata["posterior"].attrs["model_path"] = path
    if path == PATH_MARGINAL:
        idata["posterior"].attrs["marginal_implementation"] = implementation
    add_observed(idata, design)
    times["compile_s"] += load_s  # compiling (or loading) the callback counts as compiling
    timing = {"build_s": t1 - t0 - load_s, **times, "total_s": time.perf_counter() - t0}
    frame = data.loc[design.rows, list(used_columns(spec))]
    result = Fit(idata=idata, spec=spec, design=design, data=frame, user_priors=dict(priors or {}),
                 parameterization=parameterization, settings=settings, timing=timing,
                 model_path=path)
    result.__dict__["model"] = pm_model
    return result


def marginal_implementation(settings: SamplerSettings) -> str:
    """How the marginal log-density is evaluated: ``"compiled"`` with nutpie (the cached C
    callback of :mod:`hiermod.build.compiled_marginal`, no graph compilation), the PyMC model
    with the numba Op under PyMC's NUTS (``"op"``), or with plain PyTensor operations under
    JAX (``"graph"``, numpyro)."""
    return {"nutpie": "compiled", "numpyro": "graph"}.get(settings.sampler, "op")


def pymc_implementation(settings: SamplerSettings) -> str:
    """The PyMC marginal model's likelihood: the numba Op, or plain PyTensor under JAX."""
    return "graph" if settings.sampler == "numpyro" else "op"


def add_observed(idata: xr.DataTree, design: Design) -> None:
    """Store the outcome (and trials) as the ``observed_data`` group, dims ``obs``."""
    from . import names

    ds = xr.Dataset({names.OUTCOME: ((names.OBS_DIM,), design.y)},
                    coords={names.OBS_DIM: range(design.n_obs)})
    if design.trials is not None:
        ds = ds.assign(trials=((names.OBS_DIM,), design.trials))
    idata["observed_data"] = xr.DataTree(ds)
