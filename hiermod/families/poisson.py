"""Counts, log link: y ~ Poisson(exp η)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln
from scipy.stats import poisson

from ..errors import DataError, format_rows
from .base import EtaStats, Family


@dataclass(frozen=True)
class Poisson(Family):
    name: str = "poisson"
    link: str = "log"
    link_latex: str = "\\log"
    link_html: str = "log"

    def check_outcome(self, y, trials, rows, column):
        super().check_outcome(y, trials, rows, column)
        bad = (y < 0) | (y != np.round(y))
        if bad.any():
            raise DataError(f"the outcome '{column}' of a poisson model must be whole numbers "
                            f">= 0; offending {format_rows(list(rows[bad]))}")

    def boundary_rows(self, y, trials):
        return y == 0, np.zeros(len(y), bool)

    def prior_location_scale(self, y, trials):
        return float(np.log(max(float(np.mean(y)), 0.01))), 1.0

    def prior_location_scale_sums(self, sums):
        return float(np.log(max(float(sums.mean), 0.01))), 1.0

    def eta_stats(self, y, trials, eta):
        mu = np.exp(eta)
        return EtaStats(mu, y - mu, mu, mu)

    def loglik_kernel(self, y, trials, eta):
        return float(np.sum(y * eta - np.exp(eta)))

    def loglik_constant(self, y, trials):
        return float(-np.sum(gammaln(y + 1)))

    def start_eta(self, y, trials):
        return np.log(y + 0.5)

    def inverse_link(self, eta):
        return np.exp(eta)

    def likelihood(self, name, eta, y, trials=None, sigma=None, dims=None):
        import pymc as pm

        return pm.Poisson(name, mu=pm.math.exp(eta), observed=y, dims=dims)

    def draw(self, mean, rng, sigma=None, trials=None):
        return rng.poisson(mean)

    def log_likelihood(self, y, mean, sigma=None, trials=None):
        return poisson.logpmf(y, mean)

    def log_density_eta(self, y, eta, sigma=None, trials=None):
        return y * eta - np.exp(eta) - gammaln(y + 1)

    def variance(self, mean, sigma=None, trials=None):
        return mean

    def latent_variance(self, eta=None, sigma=None):
        """log(1 + 1/λ) with λ = exp(β₀ + ½·Σ τ²), the lognormal approximation
        (Nakagawa, Johnson & Schielzeth 2017); ``eta`` is that log mean."""
        return np.log1p(np.exp(-np.asarray(eta)))
