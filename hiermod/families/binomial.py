"""Successes out of trials, logit link: y ~ Binomial(n, logit⁻¹ η); bernoulli is n = 1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, gammaln, log_expit
from scipy.stats import binom

from ..errors import DataError, format_rows
from .base import EtaStats, Family

#: latent-scale variance of the standard logistic distribution
LOGISTIC_VARIANCE = np.pi**2 / 3


@dataclass(frozen=True)
class Binomial(Family):
    name: str = "binomial"
    link: str = "logit"
    has_trials: bool = True
    link_latex: str = "\\operatorname{logit}"
    link_html: str = "logit"

    def _n(self, trials):
        return 1.0 if trials is None else trials

    def check_outcome(self, y, trials, rows, column):
        super().check_outcome(y, trials, rows, column)
        bad = (y < 0) | (y != np.round(y))
        if bad.any():
            raise DataError(f"the outcome '{column}' of a {self.name} model must be whole "
                            f"numbers >= 0; offending {format_rows(list(rows[bad]))}")
        bad_t = ~np.isfinite(trials) | (trials < 1) | (trials != np.round(trials))
        if bad_t.any():
            raise DataError(f"the number of trials must be a whole number >= 1; offending "
                            f"{format_rows(list(rows[bad_t]))}")
        over = y > trials
        if over.any():
            raise DataError(f"the outcome '{column}' of a {self.name} model has more successes "
                            f"than trials; offending {format_rows(list(rows[over]))}")

    def boundary_rows(self, y, trials):
        return y == 0, y == self._n(trials) * np.ones_like(y)

    def prior_location_scale(self, y, trials):
        p = float(np.sum(y) / np.sum(self._n(trials) * np.ones_like(y)))
        return self._logit_location(p)

    def prior_location_scale_sums(self, sums):
        trials = sums.n if sums.trials_total is None else sums.trials_total
        return self._logit_location(float(sums.total / trials))

    @staticmethod
    def _logit_location(p: float) -> tuple[float, float]:
        p = min(max(p, 0.01), 0.99)
        return float(np.log(p / (1 - p))), 1.0

    def eta_stats(self, y, trials, eta):
        n = self._n(trials)
        p = expit(eta)
        w = n * p * (1.0 - p)
        return EtaStats(n * p, y - n * p, w, w * (1.0 - 2.0 * p))

    def loglik_kernel(self, y, trials, eta):
        n = self._n(trials)
        return float(np.sum(y * log_expit(eta) + (n - y) * log_expit(-eta)))

    def loglik_constant(self, y, trials):
        if trials is None:
            return 0.0
        return float(np.sum(gammaln(trials + 1) - gammaln(y + 1) - gammaln(trials - y + 1)))

    def start_eta(self, y, trials):
        p = (y + 0.5) / (self._n(trials) + 1.0)
        return np.log(p / (1.0 - p))

    def inverse_link(self, eta):
        """The success probability (multiply by trials for the expected count)."""
        return expit(eta)

    def likelihood(self, name, eta, y, trials=None, sigma=None, dims=None):
        import pymc as pm

        return pm.Binomial(name, n=np.asarray(trials, dtype=np.int64), logit_p=eta,
                           observed=y, dims=dims)

    def draw(self, mean, rng, sigma=None, trials=None):
        return rng.binomial(np.asarray(trials, dtype=np.int64), mean)

    def log_likelihood(self, y, mean, sigma=None, trials=None):
        return binom.logpmf(y, np.asarray(trials, dtype=np.int64),
                            np.clip(mean, 1e-300, 1 - 1e-16))

    def latent_variance(self, eta=None, sigma=None):
        return LOGISTIC_VARIANCE

    def log_density_eta(self, y, eta, sigma=None, trials=None):
        n = self._n(trials)
        out = y * log_expit(eta) + (n - y) * log_expit(-eta)
        if trials is not None:
            out = out + gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
        return out

    def outcome_mean(self, mean, trials=None):
        return self._n(trials) * mean

    def variance(self, mean, sigma=None, trials=None):
        return self._n(trials) * mean * (1.0 - mean)


@dataclass(frozen=True)
class Bernoulli(Binomial):
    """Binary outcome, logit link: y ~ Bernoulli(logit⁻¹ η)."""

    name: str = "bernoulli"
    has_trials: bool = False

    def check_outcome(self, y, trials, rows, column):
        Family.check_outcome(self, y, trials, rows, column)
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            vals = ", ".join(f"{v:g}" for v in np.unique(y[bad])[:3])
            raise DataError(f"the outcome '{column}' of a bernoulli model must be 0 or 1, found "
                            f"{vals}; offending {format_rows(list(rows[bad]))}")

    def likelihood(self, name, eta, y, trials=None, sigma=None, dims=None):
        import pymc as pm

        return pm.Bernoulli(name, logit_p=eta, observed=y, dims=dims)

    def draw(self, mean, rng, sigma=None, trials=None):
        return rng.binomial(1, mean)

    def log_likelihood(self, y, mean, sigma=None, trials=None):
        return binom.logpmf(y, 1, np.clip(mean, 1e-300, 1 - 1e-16))
