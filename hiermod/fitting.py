"""``hm.fit``: the composition formula -> design -> model -> sample -> Fit, and the fits made
of it (the null model, a fit loaded from a file)."""

from __future__ import annotations

import sys
import time
import warnings

import pandas as pd
import xarray as xr

from . import io, names
from .design import DataWarning, Design, SummaryDesign, make_design
from .errors import FileError, HiermodError, SpecError
from .formula import Spec, null_spec, parse_formula, with_residuals
from .marginal import PATH_MARGINAL
from .marginal.draws import add_group_effects
from .marginal.residual_draws import add_serial_group_effects
from .partitioned import PATHS_NOTE, is_dask_frame, partitioned_design
from .plan import check_choice, make_plan
from .result import Fit
from .sample import SamplerSettings, sample


def as_spec(model: str | Spec, family: str | None = None, event: str | None = None) -> Spec:
    """A formula string or a Spec (family and event given here override the spec's)."""
    if isinstance(model, Spec):
        spec = model if family is None or family == model.family else model.with_family(family)
    elif isinstance(model, str):
        spec = parse_formula(model, family=family or "gaussian")
    else:
        raise SpecError(f"model must be an lme4 formula string or a hiermod Spec, "
                        f"got {type(model).__name__}")
    return spec if event is None else spec.with_event(event)


def add_observed(idata: xr.DataTree, design: Design) -> None:
    """Store the outcome (and trials) as the ``observed_data`` group, dims ``obs``."""
    ds = xr.Dataset({names.OUTCOME: ((names.OBS_DIM,), design.y)},
                    coords={names.OBS_DIM: range(design.n_obs)})
    if design.trials is not None:
        ds = ds.assign({names.TRIALS: ((names.OBS_DIM,), design.trials)})
    idata["observed_data"] = xr.DataTree(ds)


def build_design(spec: Spec, data, dropna: bool, marginalize: bool | None
                 ) -> Design | SummaryDesign:
    """The Design of a pandas DataFrame, or the SummaryDesign of a Dask DataFrame (summed
    partition by partition, :mod:`hiermod.partitioned`), which the exact paths only take."""
    if not is_dask_frame(data):
        return make_design(spec, data, dropna=dropna)
    if marginalize is False:
        raise SpecError(f"marginalize=False builds the explicit model, which needs every row in "
                        f"memory. {PATHS_NOTE}")
    return partitioned_design(spec, data, dropna=dropna)


def fit(model: str | Spec, data: pd.DataFrame, family: str | None = None, *,
        priors: dict | None = None, draws: int = 1000, tune: int = 1000, chains: int = 4,
        sampler: str = "nutpie", random_seed: int | None = None, target_accept: float = 0.8,
        max_treedepth: int = 10, parameterization: str = "auto", dropna: bool = False,
        progressbar: bool | None = None, cores: int | None = None,
        marginalize: bool | None = None, event: str | None = None,
        correlation: str | None = None, sigma: str | None = None) -> Fit:
    """Fit a Bayesian multilevel model by NUTS.

    Parameters
    ----------
    model : str or Spec
        An lme4 formula (``"y ~ x + (1 + x | g)"``) or a Spec from the level-wise / TOML
        front ends.
    data : pandas.DataFrame or dask.dataframe.DataFrame
        A Dask DataFrame (data larger than memory, e.g. ``dd.read_parquet(...)``) is checked
        and summed partition by partition on Dask's current scheduler (a ``distributed``
        Client if one is active) and the model is fitted from the sums: gaussian models
        (group effects integrated out) and bernoulli / binomial / poisson models (cells) only.
        ``fit.data`` is then None and reports that need the rows say so
        (:mod:`hiermod.partitioned`).
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
    parameterization : {"auto", "adaptive", "noncentered", "centered"}
        How the group effects are written (unused when they are integrated out). "auto"
        (default): "adaptive" for bernoulli, binomial and poisson models — each group's effects
        reparameterized around its likelihood, centred where the data inform the group and
        non-centred where they do not (:mod:`hiermod.model.adaptive`) — and "noncentered" for
        gaussian models with explicit group effects. The choice is in
        ``fit.parameterization``. Bernoulli, binomial and poisson rows are also summed into
        cells with one linear predictor each (exact; ``fit.timing["cells"]``).
    dropna : bool
        Drop rows with missing values (reported) instead of raising.
    progressbar : bool, optional
        Default: shown when the output is a terminal.
    marginalize : bool, optional
        Integrate the group effects out of the likelihood, sample β, σ, the sds and the
        correlations by NUTS (cost per gradient independent of the number of rows), then draw
        the group effects exactly from their conditional posterior given each draw (see
        :mod:`hiermod.marginal`). ``None`` (default): wherever exact — gaussian outcome,
        one grouping factor; ``True``: insist (SpecError otherwise); ``False``: the usual model.
        The path taken is in ``fit.model_path`` and ``fit.idata.posterior.attrs["model_path"]``.
        With nutpie the marginal model (and the bernoulli / binomial / poisson model over cells)
        runs as hiermod's own compiled and disk-cached log-density, with no per-fit
        compilation; ``posterior.attrs["implementation"]`` says how it was evaluated
        (:mod:`hiermod.plan`).
    cores : int, optional
        Chains run in parallel on this many cores (default: all).
    event : str, optional
        For a yes/no outcome column (bernoulli): the value counted as 1, e.g. ``event="Y"``
        (bambi's ``use['Y'] ~ ...``); compared as text, so ``event="1"`` works on a numeric
        column too.
    correlation : str, optional
        Correlated residuals within units: ``"ar1(occasion | id)"`` (integer times, gaps
        allowed), ``"car1(time | id)"`` (continuous time), ``"cs(id)"`` (compound symmetry);
        rows in any order (:mod:`hiermod.formula.residuals`). Gaussian models; the group
        effects are integrated out exactly with one grouping factor or none (O(n) per
        gradient, no dense T × T factorisation), else the explicit model is built.
    sigma : str, optional
        A log-linear model of the residual sd: ``"~ treat"`` (one sd per level, as nlme's
        ``varIdent``), ``"~ time"`` (log σ linear in a numeric column).

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
    spec = with_residuals(as_spec(model, family, event), correlation, sigma)
    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, sampler=sampler,
                               target_accept=target_accept, max_treedepth=max_treedepth,
                               random_seed=random_seed, cores=cores,
                               progressbar=sys.stdout.isatty() if progressbar is None
                               else progressbar)
    settings.check()
    check_choice(parameterization)  # before any work
    design = build_design(spec, data, dropna, marginalize)
    t_build = time.perf_counter()
    plan = make_plan(design, priors, parameterization, marginalize, settings.sampler)
    t1 = time.perf_counter()
    samples = sample(plan.built.model, settings, plan.compiled)
    idata, times = samples.tree, samples.times
    if plan.path == PATH_MARGINAL:
        t2 = time.perf_counter()
        (add_serial_group_effects if design.residuals is not None else add_group_effects)(
            idata, design, plan.stats, samples.seed)
        times["conditional_s"] = time.perf_counter() - t2
    attrs = {"model_path": plan.path, "parameterization": plan.parameterization,
             "implementation": plan.implementation}
    if plan.path == PATH_MARGINAL:
        attrs["marginal_implementation"] = plan.implementation
    if plan.n_cells is not None:
        attrs["n_cells"] = plan.n_cells
    idata["posterior"].attrs.update(attrs)
    if not isinstance(design, SummaryDesign):  # no rows to store from Dask data
        add_observed(idata, design)
    # building the model counts as building; loading (or first compiling) a callback and
    # PyTensor's compile count as compiling
    build_s = t_build - t0 + (t1 - t_build if plan.compiled is None else 0.0)
    times["compile_s"] += t1 - t_build if plan.compiled is not None else 0.0
    timing = {"build_s": build_s, **times, "total_s": time.perf_counter() - t0}
    if plan.n_cells is not None:
        timing.update(rows=design.n_obs, cells=plan.n_cells)
    result = Fit(idata=idata, spec=spec, design=design,
                 data=None if isinstance(design, SummaryDesign) else design.frame,
                 user_priors=dict(priors or {}),
                 parameterization=plan.parameterization, settings=settings, timing=timing,
                 model_path=plan.path, seed=samples.seed)
    result.__dict__["model"] = plan.built.model
    return result


def null_model(model, data: pd.DataFrame | None = None, family: str | None = None,
               **fit_kwargs) -> Fit:
    """Fit the null model: same outcome, family and grouping factors, intercepts only.

    Parameters
    ----------
    model : str, Spec or Fit
        A formula (``"y ~ x + (1 + x | g)"``), a Spec, or a fitted model. From a Fit the data
        and sampler settings (draws, tune, chains, sampler, seed) are reused unless given.
    data : pandas.DataFrame, optional
        Required unless ``model`` is a Fit.
    family : str, optional
        Family of a formula (default gaussian); a Spec or Fit carries its own.
    **fit_kwargs
        Passed to :func:`hiermod.fit` (draws, tune, chains, random_seed, ...).

    Returns
    -------
    Fit
        Of ``y ~ 1 + (1 | g) ...``.

    Examples
    --------
    >>> null = hm.null_model("mAch ~ ses + (1 | school)", hsb, draws=500)   # doctest: +SKIP
    >>> null.icc()                                                           # doctest: +SKIP
    """
    kwargs = {}
    if isinstance(model, Fit):
        s = model.settings
        kwargs = {"draws": s.draws, "tune": s.tune, "chains": s.chains, "sampler": s.sampler,
                  "random_seed": s.random_seed, "target_accept": s.target_accept,
                  "max_treedepth": s.max_treedepth, "progressbar": s.progressbar,
                  "cores": s.cores}
        data = model.data if data is None else data
        spec = model.spec
    elif isinstance(model, str):
        spec = parse_formula(model, family=family or "gaussian")
    else:
        spec = model if family is None or not isinstance(model, Spec) else model.with_family(family)
    spec = null_spec(spec)
    if data is None:
        raise SpecError("null_model needs the data (data=...) unless it is given a Fit")
    kwargs.update(fit_kwargs)
    return fit(spec, data, **kwargs)


def upgrade_dims(idata: xr.DataTree, design: Design) -> xr.DataTree:
    """Rename the dims of a fit saved before the sds and correlations had their own
    (``<g>_term`` -> ``<g>_cov_term``; see :mod:`hiermod.names`)."""
    post = idata["posterior"].to_dataset()
    changed = False
    for fd in design.factors:
        old = {names.term_dim(fd.name): names.cov_dim(fd.name),
               f"{names.term_dim(fd.name)}_": names.cov_dim_bis(fd.name)}
        for var in (names.group_sd(fd.name), names.group_corr(fd.name)):
            if var in post and names.term_dim(fd.name) in post[var].dims:
                da = post[var]
                post = post.drop_vars(var)
                post[var] = da.rename({k: v for k, v in old.items() if k in da.dims})
                changed = True
    if changed:
        post = post.drop_vars([v for v in post.coords if v.endswith("_term_")
                               and v not in post.dims], errors="ignore")
        idata["posterior"] = xr.DataTree(post)
    return idata


def load_fit(path) -> Fit:
    """Read a Fit written by ``Fit.save``.

    Raises
    ------
    FileError
        No such file; an empty, truncated or foreign file; stored data that no longer give
        the saved model.
    """
    idata, frame, attrs = io.read_fit(path)
    try:
        spec = with_residuals(parse_formula(attrs["formula"], family=attrs["family"]).with_event(
            attrs.get("event")), attrs.get("correlation") or None, attrs.get("sigma") or None)
        with warnings.catch_warnings():  # shown when the fit was made
            warnings.simplefilter("ignore", DataWarning)
            design = make_design(spec, frame)
    except HiermodError as exc:
        raise FileError(f"'{path}': the saved data do not rebuild the model ({exc})") from None
    idata = upgrade_dims(idata, design)
    seed = idata["posterior"].attrs.get("random_seed")
    return Fit(idata=idata, spec=spec, design=design, data=frame,
               user_priors=io.priors_from_json(attrs["priors"]),
               parameterization=attrs["parameterization"],
               settings=SamplerSettings(**attrs["settings"]), timing=attrs["timing"],
               model_path=attrs.get("model_path", "explicit"),
               seed=None if seed is None else int(seed))
