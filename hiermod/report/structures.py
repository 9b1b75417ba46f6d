"""One table comparing residual structures: REML / ML likelihood-ratio tests, AIC and BIC for
the REML fits, PSIS-LOO for the Bayesian fits.

The REML columns follow ``nlme::anova``: df (parameters counted as nlme does: β, the
random-effect parameters, σ, φ, δ), logLik, AIC = −2 logLik + 2 df, BIC = −2 logLik +
df log(N − p) for REML (log N for ML: nlme's convention), and for each fit the likelihood-
ratio test against the largest fit in the table nested in it (same method, fixed part and
random part; a correlation absent or equal; a subset of the sd model's variables):
LR = 2 (logLik₁ − logLik₀) on df₁ − df₀ degrees of freedom, naive χ² p-value (conservative
when the smaller model sits on the boundary, e.g. φ = 0). REML LRTs are valid here because
nested structures share the fixed part (checked).

The LOO columns use the leave-one-out predictive density with the group effects integrated
out, log p(y_i | y_−i, θ) (:func:`hiermod.report.residual_draws.marginal_log_likelihood`),
the same quantity for fits with and without a residual structure.
"""

from __future__ import annotations

from collections.abc import Mapping

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from .. import names
from .residual_draws import marginal_log_likelihood

REML_COLUMNS = ["method", "df", "logLik", "AIC", "BIC", "versus", "LR", "LR_df", "p"]
LOO_COLUMNS = ["elpd_loo", "se", "p_loo", "elpd_diff", "se_diff", "bad_k"]


def structure_text(design) -> str:
    res = design.residuals
    return "independent, one sd" if res is None else res.spec.text


def _parts(value) -> tuple[object | None, object | None]:
    """(REML fit, Bayesian fit) of a table entry: one of them, or a pair."""
    items = value if isinstance(value, tuple) else (value,)
    reml = next((v for v in items if hasattr(v, "loglik") and hasattr(v, "n_params")), None)
    bayes = next((v for v in items if hasattr(v, "idata")), None)
    if reml is None and bayes is None or len(items) > 2:
        raise TypeError("compare_structures takes REML fits (hm.reml), Bayesian fits (hm.fit) "
                        "or (REML fit, Bayesian fit) pairs")
    return reml, bayes


def _random_part(design) -> tuple:
    return tuple((fd.name, fd.terms, fd.blocks) for fd in design.factors)


def nested(small, large) -> bool:
    """Whether REML fit ``small`` is a restriction of ``large`` in its residual structure."""
    ds, dl = small.design, large.design
    if small.method != large.method or tuple(ds.fixed_terms) != tuple(dl.fixed_terms) or \
            _random_part(ds) != _random_part(dl) or ds.n_obs != dl.n_obs or \
            small.n_params >= large.n_params:
        return False
    rs, rl = ds.residuals, dl.residuals
    if rs is None:
        return True
    if rl is None:
        return False
    if rs.spec.correlation is not None and rs.spec.correlation != rl.spec.correlation:
        return False
    vs = {t.column for t in rs.spec.variance.terms} if rs.spec.variance else set()
    vl = {t.column for t in rl.spec.variance.terms} if rl.spec.variance else set()
    return vs <= vl


def _reml_rows(fits: dict) -> dict[str, dict]:
    out = {}
    for name, fit in fits.items():
        n_eff = fit.n_obs - (len(fit.beta) if fit.method == "REML" else 0)
        out[name] = {"method": fit.method, "df": int(fit.n_params), "logLik": fit.loglik,
                     "AIC": -2 * fit.loglik + 2 * fit.n_params,
                     "BIC": -2 * fit.loglik + np.log(n_eff) * fit.n_params,
                     "versus": "", "LR": np.nan, "LR_df": np.nan, "p": np.nan}
    for name, fit in fits.items():
        below = [(o.n_params, o.loglik, other) for other, o in fits.items()
                 if other != name and nested(o, fit)]
        if not below:
            continue
        k, ll0, other = max(below, key=lambda b: (b[0], b[1]))
        lr = 2 * (fit.loglik - ll0)
        out[name].update(versus=other, LR=lr, LR_df=fit.n_params - k,
                         p=float(stats.chi2.sf(max(lr, 0.0), fit.n_params - k)))
    return out


def marginal_loo_tree(fit) -> xr.DataTree:
    """The fit's posterior with the marginal leave-one-out densities as its log_likelihood."""
    ll = marginal_log_likelihood(fit.idata, fit.design)
    post = fit.idata["posterior"].to_dataset()
    da = xr.DataArray(ll, dims=(*names.SAMPLE_DIMS, names.OBS_DIM),
                      coords={"chain": post["chain"].values, "draw": post["draw"].values,
                              names.OBS_DIM: np.arange(ll.shape[-1])})
    return xr.DataTree.from_dict({"/posterior": post,
                                  f"/{names.LOG_LIKELIHOOD}": xr.Dataset({names.OUTCOME: da})})


def _loo_rows(fits: dict) -> dict[str, dict]:
    """PSIS-LOO of each fit, and elpd_diff / se_diff against the best (from the pointwise
    elpd_i, as ``arviz.compare``: se_diff = √(n var(elpd_i − elpd_best,i)))."""
    out, pointwise = {}, {}
    for name, f in fits.items():
        res = az.loo(marginal_loo_tree(f), pointwise=True, var_name=names.OUTCOME)
        k = np.asarray(res.pareto_k).ravel()
        pointwise[name] = np.asarray(res.elpd_i).ravel()
        out[name] = {"elpd_loo": float(res.elpd), "se": float(res.se), "p_loo": float(res.p),
                     "bad_k": int(np.sum(k > float(res.good_k)))}
    if len({len(v) for v in pointwise.values()}) > 1:
        raise ValueError("the Bayesian fits have different numbers of observations; LOO "
                         "compares fits of the same data")
    best = max(out, key=lambda name: out[name]["elpd_loo"])
    for name in out:
        diff = pointwise[name] - pointwise[best]
        out[name]["elpd_diff"] = float(diff.sum())
        out[name]["se_diff"] = float(np.sqrt(len(diff) * np.var(diff, ddof=1)))
    return out


def compare_structures(fits: Mapping[str, object]) -> pd.DataFrame:
    """Compare fits of one model under different residual structures, in one table.

    Parameters
    ----------
    fits : dict of name -> REML fit, Bayesian fit, or (REML fit, Bayesian fit)
        Fits of the same outcome, data and fixed part; e.g. ``{"independent": (r0, b0),
        "car1": (r1, b1), "car1 + sd by diet": (r2, b2)}``.

    Returns
    -------
    pandas.DataFrame
        One row per name (in the given order): ``structure`` and ``n_obs``; REML columns
        ``method, df, logLik, AIC, BIC, versus, LR, LR_df, p`` (NaN / "" for Bayesian-only
        entries; see the module docstring); LOO columns ``elpd_loo, se, p_loo, elpd_diff,
        se_diff, bad_k`` (NaN for REML-only entries; elpd_diff and se_diff against the best
        fit by LOO, ``bad_k`` the number of observations with Pareto k above the threshold).

    Raises
    ------
    TypeError
        An entry that is not a fit.
    ValueError
        Fits of different numbers of observations.
    """
    reml, bayes, structure, n_obs = {}, {}, {}, {}
    for name, value in fits.items():
        r, b = _parts(value)
        if r is not None:
            reml[name] = r
        if b is not None:
            bayes[name] = b
        design = (r or b).design
        structure[name], n_obs[name] = structure_text(design), design.n_obs
    if len(set(n_obs.values())) > 1:
        raise ValueError(f"the fits have different numbers of observations ({n_obs}); compare "
                         "structures on the same data")
    rows = {name: {"structure": structure[name], "n_obs": n_obs[name]} for name in fits}
    for name, row in (_reml_rows(reml) if reml else {}).items():
        rows[name].update(row)
    for name, row in (_loo_rows(bayes) if bayes else {}).items():
        rows[name].update(row)
    table = pd.DataFrame.from_dict(rows, orient="index")
    for col in REML_COLUMNS + LOO_COLUMNS:
        if col not in table:
            table[col] = np.nan
    table = table[["structure", "n_obs", *REML_COLUMNS, *LOO_COLUMNS]]
    table.index.name = "model"
    table.attrs["note"] = ("REML columns as nlme::anova (naive chi-square LRT); LOO on "
                           "log p(y_i | y_-i, theta) with the group effects integrated out")
    return table
