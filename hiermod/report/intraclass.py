"""Intraclass correlation: its posterior, per grouping factor, draw by draw.

The ICC is computed draw by draw from the posterior of the variance components, so it has a
full posterior (mean, sd, interval), not a plug-in value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..frame import is_nested
from . import _posterior as P

ICC_KINDS = ("adjusted", "conditional", "cumulative")
SLOPE_MODES = ("intercept", "average")


def nesting(design) -> dict[str, tuple[str, ...]]:
    """factor -> the factors it is nested in (each of its levels lies inside one of theirs)."""
    return {inner.name: tuple(outer.name for outer in design.factors
                              if outer is not inner and outer.n_levels < inner.n_levels
                              and is_nested(inner.index, outer.index, inner.n_levels))
            for inner in design.factors}


@dataclass(frozen=True)
class VarianceParts:
    """Per-draw variances on the latent scale, each (chain, draw): one per grouping factor
    (``random``), the level-1 ``residual`` and ``fixed`` (σ²_f = var(Xβ))."""

    random: dict[str, np.ndarray]
    residual: np.ndarray
    fixed: np.ndarray

    @property
    def random_total(self) -> np.ndarray:
        return sum(self.random.values(), np.zeros_like(self.residual))


def variance_parts(dt, design, slopes: str = "intercept") -> VarianceParts:
    """The variance parts of a fitted model (see :class:`VarianceParts`)."""
    if slopes not in SLOPE_MODES:
        raise ValueError(f"slopes must be one of {', '.join(SLOPE_MODES)}, got {slopes!r}")
    random = {fd.name: P.random_variance(dt, fd, slopes) for fd in design.factors}
    total_random = sum(random.values()) if random else None
    return VarianceParts(random, P.level1_variance(dt, design, total_random),
                         P.fixed_variance(dt, design))


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
    denom = parts.random_total + parts.residual
    if kind == "conditional":
        denom = denom + parts.fixed
    nested_in = nesting(design)
    out = []
    for fd in design.factors:
        num = parts.random[fd.name]
        if kind == "cumulative":
            num = num + sum((parts.random[o] for o in nested_in[fd.name]), np.zeros_like(num))
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
    >>> from hiermod.report import icc
    >>> icc(fit.idata, fit.design)             # doctest: +SKIP
    >>> fit.icc()                              # the same                   # doctest: +SKIP
    """
    P.check_prob(prob)
    da = icc_draws(dt, design, kind, slopes)
    table = P.summary_frame({f: da.sel(factor=f).values for f in da["factor"].values}, prob,
                            index_name="factor")
    parts = variance_parts(dt, design, slopes)
    table["residual_share"] = float(np.mean(parts.residual / (parts.residual
                                                               + parts.random_total)))
    table.attrs.update({"kind": kind, "slopes": slopes, "family": design.family})
    return table
