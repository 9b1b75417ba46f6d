"""The posterior summary table: one row per reported parameter, named as the formula names it."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from .residual_rows import residual_parameter_draws

SAMPLE_DIMS = names.SAMPLE_DIMS


def interval(draws: np.ndarray, prob: float) -> tuple[float, float]:
    """Equal-tailed interval of a 1-d array of draws."""
    a = (1 - prob) / 2
    lo, hi = np.quantile(draws, [a, 1 - a])
    return float(lo), float(hi)


def parameter_draws(posterior, design) -> dict[str, np.ndarray]:
    """row name -> draws (chain, draw) for fixed effects, group sds, correlations, sigma and a
    residual structure's φ and sds ('phi(t | g)', 'sigma[v=level]')."""
    out: dict[str, np.ndarray] = {}
    for term in design.fixed_terms:
        out[term] = posterior[names.FIXED].sel({names.FIXED_DIM: term}).values
    for fd in design.factors:
        sd = posterior[names.group_sd(fd.name)]
        for term in fd.terms:
            out[names.sd_label(fd.name, term)] = sd.sel({names.cov_dim(fd.name): term}).values
        corr_name = names.group_corr(fd.name)
        if corr_name in posterior:
            corr = posterior[corr_name]
            for block in fd.blocks:
                for i, a in enumerate(block):
                    for b in block[i + 1:]:
                        ta, tb = fd.terms[a], fd.terms[b]
                        out[names.corr_label(fd.name, ta, tb)] = corr.sel(
                            {names.cov_dim(fd.name): ta, names.cov_dim_bis(fd.name): tb}).values
    if names.SIGMA in posterior:
        out[names.SIGMA] = posterior[names.SIGMA].values
    out.update(residual_parameter_draws(posterior, design))
    return out


def summarize_draws(draws: dict[str, np.ndarray], prob: float = 0.95) -> pd.DataFrame:
    """mean, sd, equal-tailed interval, ESS and R-hat for each named (chain, draw) array."""
    rows = {}
    for name, x in draws.items():
        x = np.asarray(x)
        flat = x.ravel()
        lo, hi = interval(flat, prob)
        arr = x.reshape(x.shape[0], -1) if x.ndim == 2 else x.reshape(1, -1)
        rows[name] = {
            "mean": float(flat.mean()), "sd": float(flat.std(ddof=1)), "lower": lo, "upper": hi,
            "ess_bulk": _ess(arr, "bulk"),
            "ess_tail": _ess(arr, "tail"),
            "r_hat": _rhat(arr),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs["interval_prob"] = prob
    return table


def _ess(arr: np.ndarray, method: str) -> float:
    da = xr.DataArray(arr, dims=SAMPLE_DIMS)
    return float(az.ess(xr.Dataset({"x": da}), method=method)["x"])


def _rhat(arr: np.ndarray) -> float:
    if arr.shape[0] < 2:
        return float("nan")
    return float(az.rhat(xr.Dataset({"x": xr.DataArray(arr, dims=SAMPLE_DIMS)}))["x"])


def summary(dt, design, prob: float = 0.95, exponentiate: bool = False) -> pd.DataFrame:
    """Posterior summary of the fixed effects, group-level sds and correlations, and sigma.

    Columns: mean, sd, lower, upper (equal-tailed ``prob`` interval), ess_bulk, ess_tail, r_hat.
    Rows: "Intercept", "floor", ..., "sd(Intercept | county)", "corr(Intercept, floor | county)",
    "sigma".

    With ``exponentiate=True`` the fixed-effect rows summarise exp(β) draw by draw: odds
    ratios of a logit model, rate ratios of a Poisson model (exp(Intercept) is the baseline
    odds or rate); their interval is exp of β's (exp is monotone), their mean is not exp of
    β's mean. The other rows are unchanged; ``attrs["exponentiated"]`` says so.
    """
    posterior = dt["posterior"].to_dataset()
    draws = parameter_draws(posterior, design)
    if exponentiate:
        draws.update({t: np.exp(draws[t]) for t in design.fixed_terms})
    table = summarize_draws(draws, prob)
    table.attrs["exponentiated"] = bool(exponentiate)
    return table
