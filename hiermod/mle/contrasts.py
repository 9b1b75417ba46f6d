"""t and F tests of linear combinations of the fixed effects of a REML / ML fit (lmerTest's
``contest``), with the fit's denominator-df method."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import SpecError


def _row(terms: tuple[str, ...], weights: Mapping, name: str) -> np.ndarray:
    unknown = [t for t in weights if t not in terms]
    if unknown:
        raise SpecError(f"unknown fixed term(s) {', '.join(map(repr, unknown))} in contrast "
                        f"'{name}'; the fixed terms are: {', '.join(map(repr, terms))}")
    row = np.zeros(len(terms))
    for t, w in weights.items():
        if not isinstance(w, Real):
            raise SpecError(f"contrast weights must be numbers, got {w!r} for '{t}'")
        row[terms.index(t)] += float(w)
    return row


def contrast_matrix(terms: tuple[str, ...], weights) -> tuple[list[str], np.ndarray]:
    """Names and rows (k, p) of contrasts given as {term: w}, {name: {term: w}}, an array
    (k, p) or a DataFrame whose columns are fixed terms."""
    if isinstance(weights, pd.DataFrame):
        frame = weights.reindex(columns=list(terms), fill_value=0.0)
        extra = [c for c in weights.columns if c not in terms]
        if extra:
            raise SpecError(f"unknown fixed term(s) {extra} in the contrast matrix's columns")
        return [str(i) for i in frame.index], frame.to_numpy(float)
    if isinstance(weights, Mapping) and weights:
        values = list(weights.values())
        if all(isinstance(v, Real) for v in values):
            label = " + ".join(f"{w:g}*{t}" for t, w in weights.items())
            return [label], _row(terms, weights, label)[None]
        if all(isinstance(v, Mapping) and v for v in values):
            return ([str(k) for k in weights],
                    np.array([_row(terms, v, str(k)) for k, v in weights.items()]))
    else:
        L = np.atleast_2d(np.asarray(weights, float)) if not isinstance(weights, Mapping) \
            else np.zeros((0, 0))
        if L.ndim == 2 and L.shape[1] == len(terms) and L.shape[0] > 0:
            return [f"L{i + 1}" for i in range(len(L))], L
    raise SpecError("contrasts must be {term: weight}, {name: {term: weight}}, an array with "
                    f"one column per fixed term ({len(terms)}) or a DataFrame with the terms "
                    f"as columns; got {weights!r}")


def contrast_table(fit, weights, level: float = 0.95) -> pd.DataFrame:
    """Estimates, SEs, df, t (or z) and p of linear combinations cβ of the fixed effects.

    Parameters
    ----------
    fit : RemlFit
    weights
        {term: weight} (one contrast), {name: {term: weight}}, an array (k, p) or a DataFrame
        with the fixed terms as columns.
    level : float
        Level of the confidence interval.

    Returns
    -------
    pandas.DataFrame
        One row per contrast: estimate, se, df, t, p, lower, upper (GLMMs: z instead of t and
        no df). The df follow the fit's ``ddf`` (Satterthwaite, Kenward–Roger, ...); the SE
        uses :attr:`RemlFit.vcov_beta` (Φ_A for Kenward–Roger).
    """
    labels, C = contrast_matrix(tuple(fit.fixed_terms), weights)
    est = C @ fit.beta
    se = np.sqrt(np.einsum("ip,pq,iq->i", C, fit.vcov_beta, C))
    frame = pd.DataFrame({"estimate": est, "se": se}, index=pd.Index(labels, name="contrast"))
    q = 0.5 + level / 2
    if fit.inference is not None:
        df = fit.inference.df(C)
        frame["df"] = df
        frame["t"] = est / se
        frame["p"] = 2 * stats.t.sf(np.abs(est / se), df)
        crit = stats.t.ppf(q, df)
    else:
        frame["z"] = est / se
        frame["p"] = 2 * stats.norm.sf(np.abs(est / se))
        crit = stats.norm.ppf(q)
    frame["lower"], frame["upper"] = est - crit * se, est + crit * se
    frame.attrs.update({"ddf": fit.ddf or "none (Wald z)", "level": level})
    return frame


def joint_test(fit, L, rhs=None) -> dict[str, float]:
    """F test of Lβ = rhs (all rows jointly), as lmerTest's ``contest(joint = TRUE)``.

    Returns
    -------
    dict
        ``F``, ``ndf``, ``ddf``, ``p`` and ``ddf_method`` (Kenward–Roger adds ``F_scaling``:
        pbkrtest's scaled F). GLMMs: the Wald χ²/q with ddf = inf.
    """
    _, M = contrast_matrix(tuple(fit.fixed_terms), L)
    beta = np.asarray(fit.beta, float)
    if rhs is not None:
        beta = beta - np.linalg.pinv(M) @ np.atleast_1d(np.asarray(rhs, float))
    if fit.inference is not None:
        out = fit.inference.f_test(M, beta)
    else:
        q = int(np.linalg.matrix_rank(M))
        Lb = M @ beta
        F = float(Lb @ np.linalg.solve(M @ fit.vcov @ M.T, Lb)) / q
        out = {"F": F, "ndf": float(q), "ddf": np.inf, "p": float(stats.chi2.sf(q * F, q))}
    return {**out, "ddf_method": fit.ddf or "none (Wald chi-square)"}
