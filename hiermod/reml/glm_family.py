"""Conditional distributions of the GLMMs fitted by Laplace: binomial and bernoulli (logit),
poisson (log).

Only canonical links are implemented: with them the score of η is y − E(y), the Fisher and
observed informations coincide (w = Var(y)), and glmer's PIRLS weights, the Laplace
determinant and the analytic gradient all use the same w.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, gammaln, log_expit

from ..errors import SpecError

CANONICAL = {"binomial": "logit", "bernoulli": "logit", "poisson": "log"}


@dataclass(frozen=True)
class EtaStats:
    """Per-observation quantities at η: mean, score ∂ℓ/∂η, weight −∂²ℓ/∂η², its derivative."""

    mu: np.ndarray
    score: np.ndarray
    weight: np.ndarray
    dweight: np.ndarray


@dataclass(frozen=True, eq=False)
class GlmFamily:
    """Log-likelihood of y given η for one canonical-link family.

    ``trials`` is the number of trials of each binomial observation (1 for bernoulli).
    """

    name: str
    y: np.ndarray
    trials: np.ndarray | None

    @property
    def link(self) -> str:
        return CANONICAL[self.name]

    def constant(self) -> float:
        """Σ of the terms of log p(y | η) free of η (binomial coefficients, −log y!)."""
        if self.name == "binomial":
            n, y = self.trials, self.y
            return float(np.sum(gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)))
        if self.name == "poisson":
            return float(-np.sum(gammaln(self.y + 1)))
        return 0.0

    def loglik(self, eta: np.ndarray) -> float:
        """Σ log p(y_i | η_i) without :meth:`constant`."""
        if self.name == "poisson":
            return float(np.sum(self.y * eta - np.exp(eta)))
        n = 1.0 if self.trials is None else self.trials
        return float(np.sum(self.y * log_expit(eta) + (n - self.y) * log_expit(-eta)))

    def stats(self, eta: np.ndarray) -> EtaStats:
        if self.name == "poisson":
            mu = np.exp(eta)
            return EtaStats(mu, self.y - mu, mu, mu)
        n = 1.0 if self.trials is None else self.trials
        p = expit(eta)
        w = n * p * (1.0 - p)
        return EtaStats(n * p, self.y - n * p, w, w * (1.0 - 2.0 * p))

    def start_eta(self) -> np.ndarray:
        """A start for IRLS: the link of a slightly shrunken observed mean."""
        if self.name == "poisson":
            return np.log(self.y + 0.5)
        n = 1.0 if self.trials is None else self.trials
        p = (self.y + 0.5) / (n + 1.0)
        return np.log(p / (1.0 - p))


def glm_family(design) -> GlmFamily:
    """The family of a Design, checked to be one the Laplace fit supports."""
    fam = design.family
    if fam not in CANONICAL:
        raise SpecError(f"Laplace ML supports the families {', '.join(CANONICAL)}; got {fam!r}")
    link = design.spec.link
    if link is not None and link != CANONICAL[fam]:
        raise SpecError(f"the {fam} ML fit supports the canonical link '{CANONICAL[fam]}' "
                        f"only; got link={link!r}")
    trials = design.trials if fam == "binomial" else None
    return GlmFamily(fam, np.asarray(design.y, float), trials)
