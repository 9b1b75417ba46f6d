"""Complete, no and partial pooling side by side, with the shrinkage of each group's estimate.

For every varying term t of a grouping factor g and every group j the table puts:

* no pooling   — one regression with a separate coefficient of t per group (the factor's
  varying terms interacted with group indicators; predictors that do not vary by group keep a
  common coefficient; Gelman & Hill's ``lm(y ~ x + factor(county) - 1)``), with its se;
* complete pooling — one regression of y on the fixed part, ignoring the groups;
* partial pooling — the multilevel posterior of the group's own coefficient;
* the shrinkage factor λ_j and the approximate (precision-weighted) estimator.

A group's own coefficient includes the fixed effects of the level-2 predictors at the group's
values: the intercept of county j in ``y ~ floor + log_uranium + (1 | county)`` is
β₀ + β_u·uranium_j + u_j, and in ``... + meanses:cses + (1 + cses | school)`` the cses slope of
school j is β_cses + β_{meanses:cses}·meanses_j + u_j,cses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..families import get_family
from ..glm import fit_glm, independent_columns
from . import _posterior as P


def shrinkage_factor(n, sigma, tau):
    """λ_j = τ² / (τ² + σ²/n_j), the weight of a group's own mean in its partial-pooling estimate."""
    n, sigma, tau = (np.asarray(a, dtype=float) for a in (n, sigma, tau))
    return tau**2 / (tau**2 + sigma**2 / n)


def approximate_estimate(n, ybar, ybar_all, sigma, tau):
    """(n_j/σ² · ȳ_j + 1/τ² · ȳ_all) / (n_j/σ² + 1/τ²): the precision-weighted group mean."""
    n, ybar, ybar_all, sigma, tau = (np.asarray(a, dtype=float)
                                     for a in (n, ybar, ybar_all, sigma, tau))
    return (n / sigma**2 * ybar + ybar_all / tau**2) / (n / sigma**2 + 1 / tau**2)


# --- which fixed columns belong to a group's own coefficients ----------------------------------


@dataclass(frozen=True)
class CoefficientMap:
    """How the fixed columns enter group j's coefficient of each varying term.

    ``weights[k, j, a]``: group j's coefficient of term a gets β_k · weights[k, j, a];
    ``common``: fixed columns outside every group's coefficients (a common slope in the
    no-pooling fit).
    """

    weights: np.ndarray  # (p, J, q)
    common: tuple[int, ...]


def _constant_ratio(x: np.ndarray, z: np.ndarray, index: np.ndarray, J: int):
    """Per group: c_j with x = c_j·z on the group's rows, or None if no such constants exist."""
    nz = np.abs(z) > 1e-12
    if np.any(np.abs(x[~nz]) > 1e-12):
        return None
    ratio = np.where(nz, x / np.where(nz, z, 1.0), np.nan)
    lo = np.full(J, np.inf)
    hi = np.full(J, -np.inf)
    r = np.where(nz, ratio, np.inf)
    np.minimum.at(lo, index, r)
    np.maximum.at(hi, index, np.where(nz, ratio, -np.inf))
    has = np.isfinite(lo)
    scale = max(np.nanmax(np.abs(ratio)) if np.any(nz) else 1.0, 1e-12)
    if np.any(hi[has] - lo[has] > 1e-9 * scale):
        return None
    return np.where(has, lo, np.nan)


def coefficient_map(design, fd) -> CoefficientMap:
    """Assign each fixed column to the group coefficients it shifts (see module docstring)."""
    p, J, q = len(design.fixed_terms), fd.n_levels, fd.q
    W = np.zeros((p, J, q))
    common = []
    for k, term in enumerate(design.fixed_terms):
        if term in fd.terms:
            W[k, :, fd.terms.index(term)] = 1.0
            continue
        x = design.X[:, k]
        for a, t in enumerate(fd.terms):
            c = _constant_ratio(x, fd.Z[:, a], fd.index, J)
            if c is not None:
                W[k, :, a] = c
                break
        else:
            common.append(k)
    return CoefficientMap(W, tuple(common))


def group_coefficient_draws(dt: xr.DataTree, design, fd, cmap: CoefficientMap | None = None):
    """Each group's own coefficient per draw, (chain, draw, level, term): Σ_k β_k w_kja + u_ja."""
    cmap = coefficient_map(design, fd) if cmap is None else cmap
    beta = P.fixed(dt, design)
    u = P.group_effects(dt, fd)
    if beta.shape[-1] == 0:
        return u
    return np.einsum("cdk,kja->cdja", beta, np.nan_to_num(cmap.weights)) + u


def group_coefficients_from(coef: np.ndarray, cmap: CoefficientMap) -> np.ndarray:
    """(J, q) group coefficients implied by one vector of fixed effects (complete pooling)."""
    return np.einsum("k,kja->ja", np.nan_to_num(coef), cmap.weights)


# --- the three estimates ---------------------------------------------------------------------


def complete_pooling(design) -> tuple[np.ndarray, np.ndarray]:
    """One regression of y on the fixed part, ignoring the groups: (coef, se)."""
    res = fit_glm(design.X, design.y, design.family, design.trials)
    return res.coef, res.se


def no_pooling(design, fd, cmap: CoefficientMap | None = None):
    """Per-group coefficients of the varying terms, other predictors common: (est, se, s²).

    est and se are (J, q); NaN where a group's data cannot identify the coefficient (a slope
    in a group where its predictor does not vary, separation in a logit model).

    Notes
    -----
    Gaussian models are solved group by group (memory O(n·q), not O(n·J·q)) by the
    Frisch–Waugh–Lovell theorem, which gives the joint least-squares fit exactly: with P_j
    the projection on the group's own columns Z_j, the common coefficients are
    γ = lstsq((I − P)X_c, (I − P)y), then b_j = (Z_jᵀZ_j)⁻¹ Z_jᵀ(y_j − X_cj γ) and
    Var(b_j) = s² [(Z_jᵀZ_j)⁻¹ + A_j V_γ A_jᵀ], A_j = (Z_jᵀZ_j)⁻¹ Z_jᵀX_cj,
    s² = RSS / (n − rank). Logit / Poisson models fit one GLM with group-by-term columns.
    """
    cmap = coefficient_map(design, fd) if cmap is None else cmap
    if design.family == "gaussian":
        return _no_pooling_ls(design.y, fd, design.X[:, list(cmap.common)])
    J, q = fd.n_levels, fd.q
    n = design.n_obs
    G = np.zeros((n, J * q))
    cols = fd.index[:, None] * q + np.arange(q)[None, :]
    G[np.arange(n)[:, None], cols] = fd.Z
    W = np.hstack([G, design.X[:, list(cmap.common)]])
    res = fit_glm(W, design.y, design.family, design.trials)
    est = res.coef[: J * q].reshape(J, q)
    se = res.se[: J * q].reshape(J, q)
    return est, se, res.dispersion


def _no_pooling_ls(y: np.ndarray, fd, Xc: np.ndarray):
    """Least squares with group-specific coefficients of Z and common ones of Xc, group-wise."""
    J, q = fd.n_levels, fd.q
    rows = [np.flatnonzero(fd.index == j) for j in range(J)]
    keep, inv = [], []
    y_t, Xc_t = y.astype(float).copy(), Xc.astype(float).copy()
    rank = 0
    for j, r in enumerate(rows):
        Zj = fd.Z[r]
        k = independent_columns(Zj)
        Zk = Zj[:, k]
        Mi = np.linalg.inv(Zk.T @ Zk) if len(k) else np.zeros((0, 0))
        keep.append(k)
        inv.append(Mi)
        rank += len(k)
        if len(k):  # residualise on the group's own columns
            y_t[r] -= Zk @ (Mi @ (Zk.T @ y[r]))
            Xc_t[r] -= Zk @ (Mi @ (Zk.T @ Xc[r]))
    kc = independent_columns(Xc_t) if Xc.shape[1] else np.zeros(0, dtype=int)
    gamma = np.zeros(Xc.shape[1])
    Vg = np.zeros((len(kc), len(kc)))
    if len(kc):
        gamma[kc] = np.linalg.lstsq(Xc_t[:, kc], y_t, rcond=None)[0]
        Vg = np.linalg.inv(Xc_t[:, kc].T @ Xc_t[:, kc])
    resid = y_t - Xc_t @ gamma
    s2 = float(resid @ resid / max(len(y) - rank - len(kc), 1))
    est, se = np.full((J, q), np.nan), np.full((J, q), np.nan)
    for j, r in enumerate(rows):
        k, Mi = keep[j], inv[j]
        if not len(k):
            continue
        Zk = fd.Z[r][:, k]
        est[j, k] = Mi @ (Zk.T @ (y[r] - Xc[r] @ gamma))
        V = Mi
        if len(kc):
            A = Mi @ (Zk.T @ Xc[r][:, kc])
            V = Mi + A @ Vg @ A.T
        se[j, k] = np.sqrt(s2 * np.diag(V))
    return est, se, s2


def sampling_variance_factor(fd) -> np.ndarray:
    """h_ja = [(Z_jᵀ Z_j)⁻¹]_aa from the group's own rows (1/n_j for an intercept alone)."""
    J, q = fd.n_levels, fd.q
    h = np.full((J, q), np.inf)
    for j in range(J):
        Zj = fd.Z[fd.index == j]
        M = Zj.T @ Zj
        if np.linalg.matrix_rank(M) == q:
            h[j] = np.diag(np.linalg.inv(M))
        elif q == 1 and M[0, 0] > 0:
            h[j] = 1.0 / M[0, 0]
    return h


def pooling(dt: xr.DataTree, design, factor: str | None = None, prob: float = 0.95,
            sigma: float | None = None, tau: float | dict | None = None) -> pd.DataFrame:
    """No, partial and complete pooling estimates of each group's coefficients, and shrinkage.

    Parameters
    ----------
    dt : xarray.DataTree
    design : Design
    factor : str, optional
        The grouping factor (default the first).
    prob : float
        Probability of the partial-pooling interval.
    sigma, tau : float, optional
        σ and τ used for λ_j and the approximate estimator, instead of their posterior means
        (``tau`` may be a dict term -> τ for models with varying slopes).

    Returns
    -------
    pandas.DataFrame
        Index (term, <factor>), the level index named after the grouping factor; columns
        ``n``, ``no_pool``, ``no_pool_se``, ``partial_mean``,
        ``partial_sd``, ``partial_lower``, ``partial_upper``, ``complete_pool``, ``shrinkage``
        (λ_j), ``approx`` (the approximate estimator). attrs: factor, sigma, tau, prob.

    Notes
    -----
    For a varying intercept with no predictors (Gelman & Hill 2007, eq. 12.1):

    .. math::

        \\hat\\alpha_j \\approx
        \\frac{\\frac{n_j}{\\sigma^2}\\bar y_j + \\frac{1}{\\tau^2}\\bar y_{all}}
              {\\frac{n_j}{\\sigma^2} + \\frac{1}{\\tau^2}}
        = \\lambda_j \\bar y_j + (1-\\lambda_j)\\bar y_{all},\\qquad
        \\lambda_j = \\frac{\\tau^2}{\\tau^2 + \\sigma^2 / n_j}

    with σ, τ the posterior means of the residual sd and of the sd of the intercepts. In
    general the table uses λ_ja = τ_a² / (τ_a² + v_ja) and
    approx = λ_ja · no_pool + (1 − λ_ja) · complete_pool, where v_ja is the sampling variance
    of the group's own estimate: σ² [(Z_jᵀ Z_j)⁻¹]_aa for gaussian models (σ²/n_j for an
    intercept alone; Z_j the group's rows of the factor's varying-effect columns) and the
    squared no-pooling se for logit / Poisson models. A group whose data cannot identify the
    coefficient has v = ∞, λ = 0 and no no-pooling estimate. λ_j is the fraction of the
    distance from the complete-pooling value to the group's own estimate that the multilevel
    estimate keeps (1 − λ_j is the shrinkage). The no- and complete-pooling fits ignore the
    model's other grouping factors (crossed or nested); the partial-pooling column is the
    multilevel model's own coefficient of the group.
    """
    P.check_prob(prob)
    fd = P.pick_factor(design, factor)
    cmap = coefficient_map(design, fd)
    family = get_family(design.family)

    est_np, se_np, _ = no_pooling(design, fd, cmap)
    cp_coef, _ = complete_pooling(design)
    est_cp = group_coefficients_from(cp_coef, cmap)

    draws = group_coefficient_draws(dt, design, fd, cmap)
    lo, hi = P.quantiles(draws, prob)
    flat = P.flat_draws(draws)

    sd_mean = P.group_sds(dt, fd).mean(axis=(0, 1))
    taus = np.array([_tau_for(tau, t, sd_mean[a]) for a, t in enumerate(fd.terms)])
    if family.has_sigma:
        s = float(P.sigma(dt, design).mean()) if sigma is None else float(sigma)
        v = s**2 * sampling_variance_factor(fd)
    else:
        s = float("nan")
        v = np.where(np.isfinite(se_np), se_np**2, np.inf)
    lam = taus**2 / (taus**2 + v)
    no_pool_filled = np.where(np.isfinite(est_np), est_np, est_cp)
    approx = lam * no_pool_filled + (1 - lam) * est_cp

    sizes = fd.sizes
    frames = []
    for a, term in enumerate(fd.terms):
        frames.append(pd.DataFrame({
            "n": sizes,
            "no_pool": est_np[:, a], "no_pool_se": se_np[:, a],
            "partial_mean": flat[..., a].mean(axis=0), "partial_sd": flat[..., a].std(axis=0,
                                                                                     ddof=1),
            "partial_lower": lo[:, a], "partial_upper": hi[:, a],
            "complete_pool": est_cp[:, a],
            "shrinkage": lam[:, a], "approx": approx[:, a],
        }, index=pd.MultiIndex.from_product([[term], list(fd.levels)],
                                            names=["term", fd.name])))
    table = pd.concat(frames)
    table.attrs.update({"factor": fd.name, "sigma": s, "prob": prob,
                        "tau": dict(zip(fd.terms, map(float, taus), strict=True)),
                        "family": design.family})
    return table


def _tau_for(tau, term: str, default: float) -> float:
    if tau is None:
        return float(default)
    if isinstance(tau, dict):
        return float(tau.get(term, default))
    return float(tau)


def pooling_tables(dt: xr.DataTree, design, prob: float = 0.95) -> dict[str, pd.DataFrame]:
    """:func:`pooling` for every grouping factor: factor -> table."""
    return {fd.name: pooling(dt, design, fd.name, prob) for fd in design.factors}
