"""Intraclass correlation: its posterior, per grouping factor, and the null model it comes from.

The ICC is computed draw by draw from the posterior of the variance components, so it has a
full posterior (mean, sd, interval), not a plug-in value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..errors import SpecError
from ..spec.types import Spec
from . import _posterior as P

ICC_KINDS = ("adjusted", "conditional", "cumulative")
SLOPE_MODES = ("intercept", "average")


def nesting(design) -> dict[str, tuple[str, ...]]:
    """factor -> the factors it is nested in (each of its levels lies inside one of theirs)."""
    out: dict[str, tuple[str, ...]] = {}
    for inner in design.factors:
        outer_of = []
        for outer in design.factors:
            if outer is inner or outer.n_levels >= inner.n_levels:
                continue
            pairs = np.unique(np.stack([inner.index, outer.index]), axis=1)
            if pairs.shape[1] == inner.n_levels:  # every inner level maps to one outer level
                outer_of.append(outer.name)
        out[inner.name] = tuple(outer_of)
    return out


def variance_parts(dt, design, slopes: str = "intercept") -> dict[str, np.ndarray]:
    """Per-draw variance components on the latent scale: one per factor, ``residual`` (level 1)
    and ``fixed`` (σ²_f = var(Xβ)); each (chain, draw)."""
    if slopes not in SLOPE_MODES:
        raise ValueError(f"slopes must be one of {', '.join(SLOPE_MODES)}, got {slopes!r}")
    parts = {fd.name: P.random_variance(dt, fd, slopes) for fd in design.factors}
    total_random = sum(parts.values()) if parts else None
    parts[names.RESIDUAL] = P.level1_variance(dt, design, total_random)
    parts["fixed"] = P.fixed_variance(dt, design)
    return parts


def icc_draws(dt: xr.DataTree, design, kind: str = "adjusted",
              slopes: str = "intercept") -> xr.DataArray:
    """Posterior draws of the ICC of every grouping factor.

    Parameters
    ----------
    dt : xarray.DataTree
        A fitted model's DataTree (``fit.idata``).
    design : Design
    kind : {"adjusted", "conditional", "cumulative"}
        See Notes.
    slopes : {"intercept", "average"}
        The variance a factor contributes: its intercept variance τ²_g only (default), or the
        average over the observations of z_i Σ_g z_iᵀ (random slopes included, as
        ``performance::icc`` does).

    Returns
    -------
    xarray.DataArray
        dims ``(chain, draw, factor)``.

    Notes
    -----
    With V_g the variance of factor g (τ²_g by default), σ²_ε the level-1 variance on the
    latent scale and σ²_f = var(X β) the variance of the fixed part:

    * adjusted:     ρ_g = V_g / (Σ_h V_h + σ²_ε)  — for the null model the classical
      τ²/(τ² + σ²); with predictors, the residual (conditional-on-x) ICC, performance's
      "adjusted ICC". With several factors, ρ_g is the share of factor g in the variance at
      its level: for three-level nesting these are the shares at levels 2 and 3, and
      σ²_ε / (Σ V + σ²_ε) is the level-1 share.
    * conditional:  V_g / (σ²_f + Σ_h V_h + σ²_ε), the share of the total including the
      variance explained by the fixed effects (performance's "conditional ICC").
    * cumulative:   (V_g + Σ_{h ⊃ g} V_h) / (Σ_h V_h + σ²_ε), the correlation of two level-1
      units in the same group of g, which therefore also share the groups g is nested in
      (pupils in the same class share the school). Equals "adjusted" for factors nested in
      no other.

    Level-1 variance on the latent scale (Nakagawa, Johnson & Schielzeth 2017): σ² for
    gaussian models; π²/3 for logit models (bernoulli, binomial); for Poisson models the
    lognormal approximation σ²_ε = log(1 + 1/λ), λ = exp(mean(Xβ) + ½ Σ_h V_h).

    With random slopes the variance of y within a group depends on the predictors; with the
    default ``slopes="intercept"`` the ICC is that at predictor values 0 (centre the slope
    predictors so 0 is a meaningful value), as the adjusted ICC of random-intercept models.
    """
    if kind not in ICC_KINDS:
        raise ValueError(f"kind must be one of {', '.join(ICC_KINDS)}, got {kind!r}")
    if not design.factors:
        raise ValueError("the model has no grouping factor: there is no ICC")
    parts = variance_parts(dt, design, slopes)
    random_total = sum(parts[fd.name] for fd in design.factors)
    denom = random_total + parts[names.RESIDUAL]
    if kind == "conditional":
        denom = denom + parts["fixed"]
    nested_in = nesting(design)
    out = []
    for fd in design.factors:
        num = parts[fd.name]
        if kind == "cumulative":
            num = num + sum((parts[o] for o in nested_in[fd.name]), np.zeros_like(num))
        out.append(num / denom)
    factors = [fd.name for fd in design.factors]
    return P.sample_dataarray(np.stack(out, axis=-1), dt, dims=("factor",),
                              coords={"factor": factors}, name=f"icc_{kind}")


def icc(dt: xr.DataTree, design, kind: str = "adjusted", slopes: str = "intercept",
        prob: float = 0.95) -> pd.DataFrame:
    """Posterior mean, sd and equal-tailed interval of the ICC of each grouping factor.

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    kind : {"adjusted", "conditional", "cumulative"}
        See :func:`icc_draws`.
    slopes : {"intercept", "average"}
        See :func:`icc_draws`.
    prob : float
        Probability of the equal-tailed interval.

    Returns
    -------
    pandas.DataFrame
        One row per factor; columns mean, sd, lower, upper, and ``residual_share`` (the posterior
        mean of the level-1 share σ²_ε / (Σ V + σ²_ε), the same on every row).

    Notes
    -----
    ρ = τ² / (τ² + σ²) draw by draw; see :func:`icc_draws` for the three kinds, the latent-scale
    level-1 variances (π²/3 for logit, log(1 + 1/λ) for Poisson) and random slopes.

    Examples
    --------
    >>> hm.icc(fit.idata, fit.design)          # doctest: +SKIP
    >>> fit.icc()                              # the same                   # doctest: +SKIP
    """
    P.check_prob(prob)
    da = icc_draws(dt, design, kind, slopes)
    table = P.summary_frame({f: da.sel(factor=f).values for f in da["factor"].values}, prob,
                            index_name="factor")
    parts = variance_parts(dt, design, slopes)
    resid = parts[names.RESIDUAL]
    table["residual_share"] = float(np.mean(
        resid / (resid + sum(parts[fd.name] for fd in design.factors))))
    table.attrs.update({"kind": kind, "slopes": slopes, "family": design.family})
    return table


# --- the null model -------------------------------------------------------------------------


def response_text(spec: Spec) -> str:
    """The outcome as written on the left of '~'."""
    r = spec.response
    if r.trials:
        return f"cbind({r.name}, {r.trials} - {r.name})"
    if r.failures:
        return f"cbind({r.name}, {r.failures})"
    return r.name


def null_formula(spec: Spec) -> str:
    """``y ~ 1 + (1 | g1) + (1 | g2) ...``: same outcome and grouping factors, intercepts only."""
    groups = " + ".join(f"(1 | {f})" for f in spec.factors)
    return f"{response_text(spec)} ~ 1" + (f" + {groups}" if groups else "")


def null_spec(model) -> Spec:
    """The null (intercept-only) Spec of a formula, Spec or Fit."""
    from ..spec.formula import parse_formula

    spec = getattr(model, "spec", model)
    if isinstance(spec, str):
        spec = parse_formula(spec)
    if not isinstance(spec, Spec):
        raise SpecError(f"null_model needs a formula, a Spec or a Fit, got {type(model).__name__}")
    if not spec.factors:
        raise SpecError(f"the model '{spec.formula}' has no grouping factor: no null multilevel "
                        "model to fit")
    return parse_formula(null_formula(spec), family=spec.family)


def null_model(model, data: pd.DataFrame | None = None, family: str | None = None,
               **fit_kwargs):
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
    from ..fit import fit as run_fit
    from ..spec.formula import parse_formula

    source = model
    if isinstance(model, str):
        model = parse_formula(model, family=family or "gaussian")
    elif family is not None and isinstance(model, Spec):
        model = model.with_family(family)
    spec = null_spec(model)
    kwargs = {}
    if hasattr(source, "settings") and hasattr(source, "data"):
        s = source.settings
        kwargs = {"draws": s.draws, "tune": s.tune, "chains": s.chains, "sampler": s.sampler,
                  "random_seed": s.random_seed, "target_accept": s.target_accept,
                  "max_treedepth": s.max_treedepth, "progressbar": s.progressbar,
                  "cores": s.cores}
        if data is None:
            data = source.data
    if data is None:
        raise SpecError("null_model needs the data (data=...) unless it is given a Fit")
    kwargs.update(fit_kwargs)
    return run_fit(spec, data, **kwargs)
