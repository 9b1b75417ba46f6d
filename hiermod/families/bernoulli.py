"""Binary outcome, logit link: y ~ Bernoulli(logit⁻¹ η)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from scipy.stats import bernoulli

from .base import Family


@dataclass(frozen=True)
class Bernoulli(Family):
    name: str = "bernoulli"
    link: str = "logit"

    def inverse_link(self, eta):
        return expit(eta)

    def likelihood(self, name, eta, design, sigma=None, dims=None):
        import pymc as pm

        return pm.Bernoulli(name, logit_p=eta, observed=design.y, dims=dims)

    def draw(self, mean, rng, sigma=None, trials=None):
        return rng.binomial(1, mean)

    def log_likelihood(self, y, mean, sigma=None, trials=None):
        return bernoulli.logpmf(y, np.clip(mean, 1e-300, 1 - 1e-16))

    def latent_variance(self, eta=None, sigma=None):
        return np.pi**2 / 3
