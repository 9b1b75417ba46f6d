"""Exact draws of the group effects given each posterior draw of a marginalized gaussian model.

Given β, Σ = L Lᵀ and σ, the effects of group j have the Gaussian conditional posterior

    u_j | y, β, Σ, σ ~ N(m_j, V_j),   V_j = (Z_jᵀZ_j / σ² + Σ⁻¹)⁻¹,   m_j = V_j Z_jᵀ r_j / σ²

with r_j = y_j − X_j β. One draw of u_j per posterior draw of (β, Σ, σ) makes (β, Σ, σ, u) a
draw from the joint posterior of the explicit model, so ``u_<g>`` is stored under the same
name and dims and every report works unchanged. The arithmetic is the kernel's
(:func:`hiermod.marginal.kernel.conditional_draws`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import xarray as xr

from .. import names
from ..compiled.blas import blas_threads
from .crossed_kernel import crossed_draws, dense_crossing
from .crossed_stats import CrossedStats
from .kernel import conditional_draws
from .suffstats import GroupStats

#: the fewest posterior draws worth a thread of their own in the several-factor draws
DRAWS_PER_THREAD = 100


def factor_from_draws(sd: np.ndarray, corr: np.ndarray | None) -> np.ndarray:
    """L = diag(sd) chol(R), draw by draw: (S, q) sds and (S, q, q) correlations -> (S, q, q)."""
    S, q = sd.shape
    if corr is None:
        return sd[:, :, None] * np.eye(q)
    return sd[:, :, None] * np.linalg.cholesky(corr)


def posterior_arrays(posterior: xr.Dataset, fd):
    """β (S, p) or None, L (S, q, q) and σ (S,) from a posterior Dataset, draws flattened."""
    def flat(da):
        return np.asarray(da.values, dtype=float).reshape((-1,) + da.shape[2:])

    beta = flat(posterior[names.FIXED]) if names.FIXED in posterior else None
    sd = flat(posterior[names.group_sd(fd.name)])
    corr_name = names.group_corr(fd.name)
    corr = flat(posterior[corr_name]) if corr_name in posterior else None
    return beta, factor_from_draws(sd, corr), flat(posterior[names.SIGMA])


def group_effect_draws(stats: GroupStats, beta: np.ndarray | None, L: np.ndarray,
                       sigma: np.ndarray, rng: np.random.Generator,
                       mean_only: bool = False) -> np.ndarray:
    """(S, J, q) draws (or conditional means) of every group's effects, one per posterior draw
    of β (S, p) or None, L (S, q, q) and σ (S,)."""
    S = L.shape[0]
    theta = (np.zeros((S, 0)) if beta is None or stats.p == 0
             else stats.theta_from_beta(np.asarray(beta, dtype=float)))
    eps = (np.zeros((1, 1, 1)) if mean_only
           else rng.standard_normal((S, stats.n_groups, stats.q)))
    return conditional_draws(stats.ZtZ, stats.ZtW, stats.Zty, np.ascontiguousarray(theta),
                             np.ascontiguousarray(L, dtype=float),
                             np.ascontiguousarray(sigma, dtype=float), eps, mean_only)


def draw_group_effects(posterior: xr.Dataset, design, stats: GroupStats,
                       random_seed: int | np.random.Generator | np.random.SeedSequence | None
                       ) -> xr.DataArray:
    """``u_<g>`` (chain, draw, <g>, <g>_term) drawn from its conditional posterior."""
    fd = design.factor(stats.factor)
    rng = np.random.default_rng(random_seed)
    beta, L, sigma = posterior_arrays(posterior, fd)
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    u = group_effect_draws(stats, beta, L, sigma, rng).reshape(n_chain, n_draw, fd.n_levels, fd.q)
    gdim, tdim = names.group_dim(fd.name), names.term_dim(fd.name)
    return xr.DataArray(u, dims=("chain", "draw", gdim, tdim), name=names.group_effects(fd.name),
                        coords={"chain": posterior["chain"].values,
                                "draw": posterior["draw"].values,
                                gdim: list(fd.levels), tdim: list(fd.terms)})


def crossed_draws_in_threads(stats: CrossedStats, per_draw: tuple, mean_only: bool = False
                             ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~hiermod.marginal.crossed_kernel.crossed_draws` over the posterior draws, split
    into one contiguous chunk per core (the kernel releases the GIL; each draw is independent,
    so the result does not depend on the split). ``per_draw``: θ, L₁, L_rest, σ, ε₁, ε₂."""
    S = len(per_draw[0])
    fixed = (stats.Z1tZ1, stats.Z1tW, stats.Z1ty, stats.Z1tZ2, stats.Z2tZ2, stats.Z2tW,
             stats.Z2ty, np.asarray(stats.rest, float))
    dense = dense_crossing(stats.Z1tZ2)

    def run(bounds):
        lo, hi = bounds
        return crossed_draws(*fixed, *(np.ascontiguousarray(a[lo:hi]) for a in per_draw),
                             mean_only, dense)

    n = max(1, min(os.cpu_count() or 1, S // DRAWS_PER_THREAD))
    edges = np.linspace(0, S, n + 1).astype(int)
    with blas_threads(), ThreadPoolExecutor(n) as pool:
        parts = list(pool.map(run, zip(edges[:-1], edges[1:], strict=True)))
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def crossed_group_effects(posterior: xr.Dataset, design, stats: CrossedStats,
                          random_seed) -> list[xr.DataArray]:
    """``u_<g>`` of every factor of a several-factor marginal model, drawn jointly from their
    conditional posterior (:func:`hiermod.marginal.crossed_kernel.crossed_draws`)."""
    rng = np.random.default_rng(random_seed)
    S = posterior.sizes["chain"] * posterior.sizes["draw"]
    beta = (np.asarray(posterior[names.FIXED].values, float).reshape(S, -1)
            if names.FIXED in posterior else np.zeros((S, 0)))
    theta = stats.theta_from_beta(beta) if stats.p else np.zeros((S, 0))
    Ls = [posterior_arrays(posterior, fd)[1] for fd in design.factors]
    sigma = np.asarray(posterior[names.SIGMA].values, float).reshape(-1)
    first, rest = stats.order[0], stats.order[1:]
    qmax = max(fd.q for fd in design.factors)
    Lr = np.zeros((S, len(rest), qmax, qmax))
    for k, g in enumerate(rest):
        q = design.factors[g].q
        Lr[:, k, :q, :q] = Ls[g]
    J1, q1, m2 = stats.Z1tZ2.shape
    u1, u2 = crossed_draws_in_threads(
        stats, (np.ascontiguousarray(theta), np.ascontiguousarray(Ls[first]), Lr, sigma,
                rng.standard_normal((S, J1, q1)), rng.standard_normal((S, m2))))
    values = {first: u1}
    for (o, J, q), g in zip(stats.rest, rest, strict=True):
        values[g] = u2[:, o:o + J * q].reshape(S, J, q)
    out = []
    for g, fd in enumerate(design.factors):
        gdim, tdim = names.group_dim(fd.name), names.term_dim(fd.name)
        u = values[g].reshape(posterior.sizes["chain"], posterior.sizes["draw"], fd.n_levels,
                              fd.q)
        out.append(xr.DataArray(u, dims=("chain", "draw", gdim, tdim),
                                name=names.group_effects(fd.name),
                                coords={"chain": posterior["chain"].values,
                                        "draw": posterior["draw"].values,
                                        gdim: list(fd.levels), tdim: list(fd.terms)}))
    return out


def add_group_effects(idata: xr.DataTree, design, stats: GroupStats | CrossedStats,
                      seed: int) -> None:
    """Store the conditional draws of every ``u_<g>`` in ``idata.posterior`` (in place);
    ``seed`` is the sampler's seed, from which the draws' own stream is derived."""
    post = idata["posterior"].to_dataset()
    stream = np.random.SeedSequence([seed, 0x75])
    if isinstance(stats, CrossedStats):
        us = crossed_group_effects(post, design, stats, stream)
    else:
        us = [draw_group_effects(post, design, stats, stream)]
    attrs = dict(post.attrs)
    post = post.assign({u.name: u for u in us})
    post.attrs = attrs
    idata["posterior"] = xr.DataTree(post)
