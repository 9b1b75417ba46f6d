"""Gaussian outcome, identity link: y ~ N(η, σ²)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from .base import Family


@dataclass(frozen=True)
class Gaussian(Family):
    name: str = "gaussian"
    link: str = "identity"
    has_sigma: bool = True

    def inverse_link(self, eta):
        return eta

    def likelihood(self, name, eta, design, sigma=None, dims=None):
        import pymc as pm

        return pm.Normal(name, mu=eta, sigma=sigma, observed=design.y, dims=dims)

    def draw(self, mean, rng, sigma=None, trials=None):
        return rng.normal(mean, sigma)

    def log_likelihood(self, y, mean, sigma=None, trials=None):
        return norm.logpdf(y, mean, sigma)

    def latent_variance(self, eta=None, sigma=None):
        return np.asarray(sigma) ** 2
