"""Successes out of trials, logit link: y ~ Binomial(n, logit⁻¹ η)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from scipy.stats import binom

from .base import Family


@dataclass(frozen=True)
class Binomial(Family):
    name: str = "binomial"
    link: str = "logit"

    def inverse_link(self, eta):
        """The success probability (multiply by trials for the expected count)."""
        return expit(eta)

    def likelihood(self, name, eta, design, sigma=None, dims=None):
        import pymc as pm

        return pm.Binomial(name, n=design.trials.astype(np.int64), logit_p=eta,
                           observed=design.y, dims=dims)

    def draw(self, mean, rng, sigma=None, trials=None):
        return rng.binomial(np.asarray(trials, dtype=np.int64), mean)

    def log_likelihood(self, y, mean, sigma=None, trials=None):
        return binom.logpmf(y, np.asarray(trials, dtype=np.int64),
                           np.clip(mean, 1e-300, 1 - 1e-16))

    def latent_variance(self, eta=None, sigma=None):
        return np.pi**2 / 3
