"""Linear combinations of the fixed effects, draw by draw: contextual effects, simple slopes.

A quantity such as the contextual effect of a school's mean SES (the between-school slope
minus the within-school slope, with CWC centering) is a linear combination Σ_k w_k β_k of the
fixed effects; its posterior is that of the combination computed at every draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import numpy as np
import pandas as pd
import xarray as xr

from . import _posterior as P


def _label(weights: Mapping[str, float]) -> str:
    """{"a": 1, "b": -1} -> "a - b"; {"a": 2, "b": 0.5} -> "2*a + 0.5*b"."""
    out = ""
    for k, (term, w) in enumerate(weights.items()):
        sign = "-" if w < 0 else "+"
        size = abs(w)
        part = term if size == 1 else f"{size:g}*{term}"
        out += (f"-{part}" if sign == "-" else part) if k == 0 else f" {sign} {part}"
    return out


def _as_named(weights) -> dict[str, dict[str, float]]:
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError("weights must be a non-empty dict term -> weight, or name -> such a "
                         f"dict, got {weights!r}")
    values = list(weights.values())
    if all(isinstance(v, Real) for v in values):
        return {_label(weights): {str(t): float(w) for t, w in weights.items()}}
    if all(isinstance(v, Mapping) and v for v in values):
        bad = {t: w for v in values for t, w in v.items() if not isinstance(w, Real)}
        if bad:
            raise ValueError(f"contrast weights must be numbers, got {bad!r}")
        return {str(name): {str(t): float(w) for t, w in v.items()}
                for name, v in weights.items()}
    raise ValueError("weights must be a dict term -> number (one contrast) or name -> "
                     f"{{term: number}} (several), got {weights!r}")


def contrast_draws(dt: xr.DataTree, design, weights) -> dict[str, np.ndarray]:
    """Draws (chain, draw) of each contrast; ``weights`` as in :func:`contrast`."""
    named = _as_named(weights)
    terms = list(design.fixed_terms)
    beta = P.fixed(dt, design)
    out = {}
    for name, w in named.items():
        unknown = [t for t in w if t not in terms]
        if unknown:
            raise ValueError(f"unknown fixed term(s) {', '.join(repr(t) for t in unknown)} in "
                             f"contrast '{name}'; the fixed terms are: "
                             f"{', '.join(repr(t) for t in terms) or '(none)'}")
        vec = np.zeros(len(terms))
        for t, v in w.items():
            vec[terms.index(t)] += v
        out[name] = beta @ vec
    return out


def contrast(dt: xr.DataTree, design, weights, prob: float = 0.95) -> pd.DataFrame:
    """Posterior of linear combinations Σ_k w_k β_k of the fixed effects.

    Parameters
    ----------
    dt : xarray.DataTree
        A fitted model's DataTree (``fit.idata``).
    design : Design
        Its design (``fit.design``); the terms are named as in ``fit.summary()``.
    weights : dict
        One contrast, term -> weight (``{"gmean(ses, school)": 1, "cwc(ses, school)": -1}``),
        or several, name -> {term: weight}. Terms left out have weight 0.
    prob : float
        Probability of the equal-tailed interval.

    Returns
    -------
    pandas.DataFrame
        One row per contrast (index ``contrast``: its name, or "a - b" made from the weights);
        columns mean, sd, lower, upper and ``p_positive``, the posterior probability that the
        combination is > 0. ``attrs``: interval_prob, weights.

    Raises
    ------
    ValueError
        Empty or non-numeric weights, or a term that is not a fixed term of the model (the
        message lists the fixed terms).

    Notes
    -----
    With CWC centering, ``y ~ cwc(x, g) + gmean(x, g) + (1 | g)`` estimates the within-group
    slope β_W (of ``cwc``) and the between-group slope β_B (of ``gmean``); the contextual
    effect β_B − β_W is the difference between two units of equal x in groups whose means of x
    differ by one (Raudenbush & Bryk 2002, sec. 5.2; Enders & Tofighi 2007). The combination
    is computed at every posterior draw, so its interval accounts for the posterior
    correlation of the coefficients.

    Examples
    --------
    >>> contrast(fit.idata, fit.design,
    ...          {"gmean(ses, school)": 1, "cwc(ses, school)": -1})   # doctest: +SKIP
    """
    P.check_prob(prob)
    draws = contrast_draws(dt, design, weights)
    table = P.summary_frame(draws, prob, index_name="contrast")
    table["p_positive"] = [float(np.mean(v > 0)) for v in draws.values()]
    table.attrs.update({"interval_prob": prob, "weights": _as_named(weights)})
    return table


__all__ = ["contrast", "contrast_draws"]
