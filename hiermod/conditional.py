"""Exact draws of the group effects given each posterior draw of a marginalized gaussian model.

Given β, Σ = L Lᵀ and σ, the effects of group j have the Gaussian conditional posterior

    u_j | y, β, Σ, σ ~ N(m_j, V_j),   V_j = (Z_jᵀZ_j / σ² + Σ⁻¹)⁻¹,   m_j = V_j Z_jᵀ r_j / σ²

with r_j = y_j − X_j β. One draw of u_j per posterior draw of (β, Σ, σ) makes (β, Σ, σ, u) a
draw from the joint posterior of the usual model, so ``u_<g>`` can be stored under the same
name and dims and every report works unchanged.

Notes
-----
Written through L rather than Σ⁻¹ (finite as an sd goes to zero): u_j = L v_j with

    v_j ~ N(A_j⁻¹ c_j / σ²,  A_j⁻¹),   A_j = I + Lᵀ Z_jᵀZ_j L / σ² = C_j C_jᵀ,   c_j = Lᵀ Z_jᵀ r_j,

drawn as v_j = C_j⁻ᵀ (C_j⁻¹ c_j / σ² + ε_j), ε_j ~ N(0, I): the C_j⁻¹ c_j of the
log-density, then one back substitution. Vectorised over draws and groups, in chunks of draws
so that the work arrays stay small (O(chunk · J · q²) memory).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import names
from .build.marginal import backward_entries, chol_entries, forward_entries
from .build.suffstats import GroupStats

#: draws × groups per chunk: each of the few dozen (draws, groups) work arrays is then ≤ 2 MB
CHUNK_ELEMENTS = 250_000


def factor_from_draws(sd: np.ndarray, corr: np.ndarray | None) -> np.ndarray:
    """L = diag(sd) chol(R), draw by draw: (S, q) sds and (S, q, q) correlations -> (S, q, q)."""
    S, q = sd.shape
    if corr is None:
        return sd[:, :, None] * np.eye(q)
    return sd[:, :, None] * np.linalg.cholesky(corr)


def conditional_draws(stats: GroupStats, beta: np.ndarray | None, L: np.ndarray,
                      sigma: np.ndarray, rng: np.random.Generator, mean_only: bool = False
                      ) -> np.ndarray:
    """Draws of every group's effects, one per posterior draw.

    Parameters
    ----------
    stats : GroupStats
    beta : (S, p) array or None
        Fixed effects on the original scale (None: no fixed effects).
    L : (S, q, q) array
        Square roots of Σ.
    sigma : (S,) array
    rng : numpy Generator
    mean_only : bool
        Return the conditional means m_j instead of draws (for checks).

    Returns
    -------
    (S, J, q) array

    Notes
    -----
    Every q × q quantity is held entry by entry as an (S_chunk, J) array, so the work is a few
    dozen elementwise numpy operations per chunk whatever the number of groups.
    """
    S, q = L.shape[0], stats.q
    J = stats.n_groups
    out = np.empty((S, J, q))
    step = max(1, CHUNK_ELEMENTS // max(1, J))
    ZtZ = [[np.ascontiguousarray(stats.ZtZ[:, k, m]) for m in range(q)] for k in range(q)]
    for lo in range(0, S, step):
        hi = min(S, lo + step)
        Lc = L[lo:hi]
        Le = [[Lc[:, k, a][:, None] for a in range(q)] for k in range(q)]  # (s, 1) each
        s2 = sigma[lo:hi, None] ** 2
        if beta is None or stats.p == 0:
            d = [np.broadcast_to(stats.Zty[:, k], (hi - lo, J)) for k in range(q)]
        else:
            theta = stats.centred(beta[lo:hi])  # (s, p)
            d = [stats.Zty[:, k] - theta @ stats.ZtW[:, k, :].T for k in range(q)]
        c = [sum(Le[k][a] * d[k] for k in range(q)) / s2 for a in range(q)]
        T = [[sum(ZtZ[k][m] * Le[m][b] for m in range(q)) for b in range(q)] for k in range(q)]
        A = [[None] * q for _ in range(q)]
        for a in range(q):
            for b in range(a + 1):
                A[a][b] = sum(Le[k][a] * T[k][b] for k in range(q)) / s2 + (a == b)
        C = chol_entries(A, np.sqrt)
        g = forward_entries(C, c)  # C⁻¹ c / σ²
        if not mean_only:
            g = [g[i] + rng.standard_normal((hi - lo, J)) for i in range(q)]
        v = backward_entries(C, g)
        for a in range(q):
            out[lo:hi, :, a] = sum(Le[a][b] * v[b] for b in range(q))
    return out


def posterior_arrays(posterior: xr.Dataset, fd):
    """β (S, p), L (S, q, q) and σ (S,) from a posterior Dataset, draws flattened."""
    def flat(da):
        return np.asarray(da.values).reshape((-1,) + da.shape[2:])

    beta = flat(posterior[names.FIXED]) if names.FIXED in posterior else None
    sd = flat(posterior[names.group_sd(fd.name)])
    corr_name = names.group_corr(fd.name)
    corr = flat(posterior[corr_name]) if corr_name in posterior else None
    return beta, factor_from_draws(sd, corr), flat(posterior[names.SIGMA])


def draw_group_effects(posterior: xr.Dataset, design, stats: GroupStats,
                       random_seed: int | np.random.Generator | None) -> xr.DataArray:
    """``u_<g>`` (chain, draw, <g>, <g>_term) drawn from its conditional posterior.

    Parameters
    ----------
    posterior : xarray.Dataset
        The posterior of a marginalized model (``beta``, ``sigma``, ``sd_<g>``, ``corr_<g>``).
    design : Design
    stats : GroupStats
        Of the factor the model integrated out.
    random_seed : int or Generator
        Seeds the draws (the fit passes a seed derived from the sampler's).

    Returns
    -------
    xarray.DataArray
        Named ``u_<g>``, with the dims and coords of the usual model's group effects.
    """
    fd = design.factor(stats.factor)
    rng = np.random.default_rng(random_seed)
    beta, L, sigma = posterior_arrays(posterior, fd)
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    u = conditional_draws(stats, beta, L, sigma, rng).reshape(n_chain, n_draw, fd.n_levels, fd.q)
    gdim, tdim = names.group_dim(fd.name), names.term_dim(fd.name)
    return xr.DataArray(u, dims=("chain", "draw", gdim, tdim), name=names.group_effects(fd.name),
                        coords={"chain": posterior["chain"].values,
                                "draw": posterior["draw"].values,
                                gdim: list(fd.levels), tdim: list(fd.terms)})


def add_group_effects(idata: xr.DataTree, design, stats: GroupStats, seed: int) -> None:
    """Store the conditional draws of ``u_<g>`` in ``idata.posterior`` (in place)."""
    post = idata["posterior"].to_dataset()
    u = draw_group_effects(post, design, stats, np.random.SeedSequence([seed, 0x75]))
    attrs = dict(post.attrs)
    post = post.assign({u.name: u})
    post.attrs = attrs
    idata["posterior"] = xr.DataTree(post)
