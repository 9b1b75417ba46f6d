"""Exact draws of the group effects of a marginalized model with a residual structure, one
per posterior draw (:func:`hiermod.longitudinal.kernel.serial_draws`): with whitened data the
conditional posterior of u_j is that of :mod:`.draws` with σ = 1, so (β, Σ, σ, φ, δ, u) is a
draw from the joint posterior of the model with explicit group effects, stored as ``u_<g>``."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import names
from ..longitudinal.kernel import serial_draws
from ..longitudinal.layout import SerialData
from .draws import posterior_arrays


def residual_arrays(posterior: xr.Dataset, design) -> tuple[np.ndarray, np.ndarray]:
    """φ (S,) (zeros without a correlation) and δ (S, r), draws flattened."""
    S = posterior.sizes["chain"] * posterior.sizes["draw"]
    res = design.residuals
    phi = (np.asarray(posterior[names.RESIDUAL_CORR].values, float).reshape(S)
           if res is not None and res.has_correlation else np.zeros(S))
    r = 0 if res is None else res.r
    delta = (np.asarray(posterior[names.SIGMA_EFFECTS].transpose("chain", "draw", ...).values,
                        float).reshape(S, r) if r else np.zeros((S, 0)))
    return phi, delta


def serial_effect_draws(sd: SerialData, beta: np.ndarray | None, L: np.ndarray,
                        sigma: np.ndarray, phi: np.ndarray, delta: np.ndarray,
                        rng: np.random.Generator, mean_only: bool = False) -> np.ndarray:
    """(S, J, q) draws (or conditional means) of every group's effects."""
    S = L.shape[0]
    theta = (np.zeros((S, sd.p)) if beta is None or sd.p == 0
             else sd.theta_from_beta(np.asarray(beta, dtype=float)))
    eps = (np.zeros((S, sd.n_blocks, sd.q)) if mean_only
           else rng.standard_normal((S, sd.n_blocks, sd.q)))
    return serial_draws(*sd.structure(), sd.y, sd.W, sd.Z, sd.V, np.ascontiguousarray(theta),
                        np.ascontiguousarray(L, dtype=float),
                        np.ascontiguousarray(sigma, dtype=float), np.ascontiguousarray(phi),
                        np.ascontiguousarray(delta), eps, mean_only)


def add_serial_group_effects(idata: xr.DataTree, design, sd: SerialData, seed: int) -> None:
    """Store the conditional draws of ``u_<g>`` in ``idata.posterior`` (in place; nothing to
    draw without a grouping factor)."""
    if sd.factor is None:
        return
    post = idata["posterior"].to_dataset()
    fd = design.factor(sd.factor)
    beta, L, sigma = posterior_arrays(post, fd)
    phi, delta = residual_arrays(post, design)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x75]))
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    u = serial_effect_draws(sd, beta, L, sigma, phi, delta, rng)
    u = u.reshape(n_chain, n_draw, fd.n_levels, fd.q)
    gdim, tdim = names.group_dim(fd.name), names.term_dim(fd.name)
    da = xr.DataArray(u, dims=("chain", "draw", gdim, tdim), name=names.group_effects(fd.name),
                      coords={"chain": post["chain"].values, "draw": post["draw"].values,
                              gdim: list(fd.levels), tdim: list(fd.terms)})
    attrs = dict(post.attrs)
    post = post.assign({da.name: da})
    post.attrs = attrs
    idata["posterior"] = xr.DataTree(post)
