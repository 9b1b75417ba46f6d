"""Posterior quantities of a fit with a residual structure (correlation= / sigma=): the
summary rows of φ and the residual sds, each row's residual sd, pointwise log-likelihoods and
replicated outcomes that respect the correlation.

Two pointwise log-likelihoods, both exact leave-one-out predictive densities of a normal
model with a known covariance (Bürkner, Gabry & Vehtari 2021, *Comput. Stat.* 36:1243: for
y ~ N(μ, C), y_i | y_−i ~ N(y_i − g_i/Q_ii, 1/Q_ii) with Q = C⁻¹, g = Q(y − μ)):

* :func:`conditional_log_likelihood` — given the group effects, C = Ω (the residual
  covariance): log p(y_i | y_−i, u, θ). With independent residuals it is log p(y_i | u, θ),
  the pointwise likelihood of every other hiermod fit, so LOO compares the two kinds;
* :func:`marginal_log_likelihood` — the group effects integrated out, C = Z Σ Zᵀ + Ω:
  log p(y_i | y_−i, θ), defined for any gaussian fit with one grouping factor (or none),
  with or without a residual structure; the comparison of residual structures uses it
  (its PSIS weights are far more stable than those of the conditional version).

Both come from :func:`hiermod.longitudinal.kernel.serial_loo`, O(n) per draw.
"""

from __future__ import annotations

import numpy as np

from .. import names
from ..longitudinal.kernel import correlated_noise, serial_loo
from ..longitudinal.layout import SerialData, serial_data
from . import _posterior as P


def _flat(dt, var: str, S: int, shape=()) -> np.ndarray:
    return np.ascontiguousarray(P.draws(dt, var).reshape((S, *shape)), dtype=float)


def residual_parameters(dt, design) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """σ (S,), φ (S,) (zeros without a correlation) and δ (S, r), draws flattened."""
    post = P.posterior(dt)
    S = post.sizes["chain"] * post.sizes["draw"]
    res = design.residuals
    sigma = _flat(dt, names.SIGMA, S)
    phi = (_flat(dt, names.RESIDUAL_CORR, S) if res is not None and res.has_correlation
           else np.zeros(S))
    r = 0 if res is None else res.r
    delta = (np.ascontiguousarray(post[names.SIGMA_EFFECTS].transpose(
        *names.SAMPLE_DIMS, names.SIGMA_DIM).values.reshape(S, r), dtype=float) if r
        else np.zeros((S, 0)))
    return sigma, phi, delta


def row_sigma(dt, design) -> np.ndarray:
    """σ_i = σ·exp(v_iᵀδ) per draw and row (chain, draw, n); σ broadcast without an sd model."""
    sigma = P.draws(dt, names.SIGMA)
    res = design.residuals
    if res is None or not res.r:
        return np.broadcast_to(sigma[..., None], sigma.shape + (design.n_obs,))
    _, _, delta = residual_parameters(dt, design)
    delta = delta.reshape(sigma.shape + (res.r,))
    return sigma[..., None] * np.exp(np.einsum("cdk,nk->cdn", delta, res.V))


def _factor_roots(dt, fd, S: int) -> np.ndarray:
    """L_s with L Lᵀ = Σ_g per draw (S, q, q): diag(sd)·chol(R)."""
    sd = P.group_sds(dt, fd).reshape(S, fd.q)
    cov = P.group_cov(dt, fd).reshape(S, fd.q, fd.q)
    with np.errstate(invalid="ignore", divide="ignore"):
        R = cov / (sd[:, :, None] * sd[:, None, :])
    R = np.where(np.isfinite(R), R, np.eye(fd.q))
    return np.ascontiguousarray(np.linalg.cholesky(R + 1e-12 * np.eye(fd.q)) * sd[:, :, None])


def _pointwise(dt, design, sd: SerialData, E: np.ndarray, L: np.ndarray) -> np.ndarray:
    """serial_loo in the Design's row order, (chain, draw, n)."""
    post = P.posterior(dt)
    c, d = post.sizes["chain"], post.sizes["draw"]
    sigma, phi, delta = residual_parameters(dt, design)
    ll = serial_loo(*sd.structure(), np.ascontiguousarray(sd.to_sorted(E)), sd.Z, sd.V, L,
                    sigma, phi, delta)
    return sd.to_rows(ll).reshape(c, d, design.n_obs)


def conditional_log_likelihood(dt, design) -> np.ndarray:
    """log p(y_i | y_−i, u, θ) per draw and row, (chain, draw, n) (module docstring)."""
    post = P.posterior(dt)
    S = post.sizes["chain"] * post.sizes["draw"]
    sd = serial_data(design, by_unit=True)
    E = (design.y - P.linear_predictor(dt, design)).reshape(S, design.n_obs)
    return _pointwise(dt, design, sd, E, np.zeros((S, 0, 0)))


def marginal_log_likelihood(dt, design) -> np.ndarray:
    """log p(y_i | y_−i, θ) with the group effects integrated out, (chain, draw, n).

    Raises
    ------
    ValueError
        A non-gaussian fit, or several grouping factors.
    """
    if design.family != "gaussian" or len(design.factors) > 1:
        raise ValueError("the marginal leave-one-out density needs a gaussian model with one "
                         "grouping factor or none")
    post = P.posterior(dt)
    S = post.sizes["chain"] * post.sizes["draw"]
    sd = serial_data(design)
    mean = np.einsum("cdp,np->cdn", P.fixed(dt, design), design.X).reshape(S, design.n_obs)
    E = design.y - mean
    L = (_factor_roots(dt, design.factors[0], S) if design.factors else np.zeros((S, 0, 0)))
    return _pointwise(dt, design, sd, E, L)


def replicated_outcomes(dt, design, rng: np.random.Generator) -> np.ndarray:
    """y_rep = η + e_rep, e_rep ~ N(0, Ω) per draw (chain, draw, n): residuals drawn with the
    unit's correlation and each row's sd, the group effects those of the draw."""
    post = P.posterior(dt)
    c, d = post.sizes["chain"], post.sizes["draw"]
    S, n = c * d, design.n_obs
    sd = serial_data(design, by_unit=True)
    _, phi, _ = residual_parameters(dt, design)
    z = rng.standard_normal((S, n))
    x = sd.to_rows(correlated_noise(sd.kind, sd.unit_starts, sd.gap, z, phi)).reshape(c, d, n)
    return P.linear_predictor(dt, design) + row_sigma(dt, design) * x
