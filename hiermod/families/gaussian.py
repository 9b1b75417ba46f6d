"""Gaussian outcome, identity link: y ~ N(η, σ²)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from ..errors import DataError
from .base import EtaStats, Family


@dataclass(frozen=True)
class Gaussian(Family):
    name: str = "gaussian"
    link: str = "identity"
    has_sigma: bool = True
    link_latex: str = ""
    link_html: str = ""

    def check_outcome(self, y, trials, rows, column):
        super().check_outcome(y, trials, rows, column)
        if len(y):
            self.check_outcome_range(float(np.min(y)), float(np.max(y)), column)

    def check_outcome_rows(self, y, trials, rows, column):
        Family.check_outcome(self, y, trials, rows, column)

    def check_outcome_range(self, low, high, column):
        if low == high:
            raise DataError(f"the outcome '{column}' has the same value ({low:g}) in every row: "
                            "there is no variation for a gaussian model to explain (its "
                            "residual sd would be 0)")

    def prior_location_scale(self, y, trials):
        s = float(np.std(y))
        return float(np.mean(y)), (s if s > 0 else 1.0)

    def prior_location_scale_sums(self, sums):
        s = float(np.sqrt(sums.sq_dev / sums.n))
        return float(sums.mean), (s if s > 0 else 1.0)

    def eta_stats(self, y, trials, eta):
        one = np.ones_like(eta)
        return EtaStats(eta, y - eta, one, np.zeros_like(eta))

    def loglik_kernel(self, y, trials, eta):
        return float(-0.5 * np.sum((y - eta) ** 2))

    def start_eta(self, y, trials):
        return np.asarray(y, dtype=float)

    def inverse_link(self, eta):
        return eta

    def likelihood(self, name, eta, y, trials=None, sigma=None, dims=None):
        import pymc as pm

        return pm.Normal(name, mu=eta, sigma=sigma, observed=y, dims=dims)

    def draw(self, mean, rng, sigma=None, trials=None):
        return rng.normal(mean, sigma)

    def log_likelihood(self, y, mean, sigma=None, trials=None):
        return norm.logpdf(y, mean, sigma)

    def variance(self, mean, sigma=None, trials=None):
        return np.broadcast_to(np.asarray(sigma, dtype=float) ** 2, np.shape(mean))

    def latent_variance(self, eta=None, sigma=None):
        return np.asarray(sigma) ** 2
