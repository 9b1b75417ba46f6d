"""Counts, log link: y ~ Poisson(exp η)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from .base import Family


@dataclass(frozen=True)
class Poisson(Family):
    name: str = "poisson"
    link: str = "log"

    def inverse_link(self, eta):
        return np.exp(eta)

    def likelihood(self, name, eta, design, sigma=None, dims=None):
        import pymc as pm

        return pm.Poisson(name, mu=pm.math.exp(eta), observed=design.y, dims=dims)

    def draw(self, mean, rng, sigma=None, trials=None):
        return rng.poisson(mean)

    def log_likelihood(self, y, mean, sigma=None, trials=None):
        return poisson.logpmf(y, mean)

    def latent_variance(self, eta=None, sigma=None):
        """log(1 + 1/λ) with λ = exp(β₀ + ½·Σ τ²), the lognormal approximation
        (Nakagawa, Johnson & Schielzeth 2017); ``eta`` is that log mean."""
        return np.log1p(np.exp(-np.asarray(eta)))
