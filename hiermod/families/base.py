"""What a likelihood family owns: its link, outcome checks, prior scale, IRLS quantities,
latent-scale variance, the PyMC likelihood and predictive draws.

Every path reads the family from here — the design's outcome checks, the default priors, the
explicit and compiled models, REML / Laplace ML, the complete- and no-pooling GLMs, the ICC and
R², the equations and the command line — so nothing else keeps a list of families.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, format_rows


@dataclass(frozen=True)
class EtaStats:
    """Per-observation quantities of the log-likelihood at η: the mean μ, the score ∂ℓ/∂η, the
    weight w = −∂²ℓ/∂η² and its derivative ∂w/∂η (canonical links: Fisher = observed)."""

    mu: np.ndarray
    score: np.ndarray
    weight: np.ndarray
    dweight: np.ndarray


@dataclass(frozen=True)
class OutcomeSums:
    """An outcome summarised by sums over its rows (data held elsewhere, e.g. in partitions):
    the number of rows ``n``, Σy, Σ(y − ȳ)², and Σ trials (None for a family without trials)."""

    n: int
    total: float
    sq_dev: float
    trials_total: float | None = None

    @property
    def mean(self) -> float:
        return self.total / self.n


@dataclass(frozen=True)
class Family(ABC):
    """One likelihood family with its (canonical) link.

    ``link_latex`` / ``link_html`` render g(μ) in the equations; ``mean_symbol`` names μ there.
    """

    name: str = ""
    link: str = "identity"
    has_sigma: bool = False
    has_trials: bool = False
    link_latex: str = ""
    link_html: str = ""

    # --- outcome ----------------------------------------------------------------------------

    def check_outcome(self, y: np.ndarray, trials: np.ndarray | None, rows, column: str) -> None:
        """Raise a DataError naming ``column`` and the offending ``rows`` (labels, same length as
        y) when y is not a valid outcome of this family."""
        bad = ~np.isfinite(y)
        if bad.any():
            raise DataError(f"the outcome '{column}' of a {self.name} model must be finite; "
                            f"non-finite values (inf, -inf) in {format_rows(list(rows[bad]))}")

    def check_outcome_rows(self, y: np.ndarray, trials: np.ndarray | None, rows,
                           column: str) -> None:
        """The checks of :meth:`check_outcome` that look at each row alone (those a part of
        the rows can pass or fail by itself); :meth:`check_outcome_range` holds the rest."""
        self.check_outcome(y, trials, rows, column)

    def check_outcome_range(self, low: float, high: float, column: str) -> None:
        """The checks of :meth:`check_outcome` on the whole outcome, from its smallest and
        largest value (none by default)."""
        return None

    def boundary_rows(self, y: np.ndarray, trials: np.ndarray | None):
        """(at_lower, at_upper): the rows whose outcome sits at the lower / upper end of its
        range (0 successes; all successes), where the ML linear predictor can run to −∞ / +∞;
        None for a family without such ends (gaussian). Used to detect separation."""
        return None

    def prior_location_scale(self, y: np.ndarray, trials: np.ndarray | None) -> tuple[float, float]:
        """(centre, scale) of the outcome on the link scale, for the default priors."""
        return 0.0, 1.0

    def prior_location_scale_sums(self, sums: OutcomeSums) -> tuple[float, float]:
        """:meth:`prior_location_scale` from the outcome's sums (:class:`OutcomeSums`)."""
        return 0.0, 1.0

    # --- IRLS / Laplace ---------------------------------------------------------------------

    @abstractmethod
    def eta_stats(self, y, trials, eta: np.ndarray) -> EtaStats:
        """μ, score, weight and ∂weight/∂η at η (see :class:`EtaStats`)."""

    @abstractmethod
    def loglik_kernel(self, y, trials, eta: np.ndarray) -> float:
        """Σ_i log p(y_i | η_i) without the terms free of η (:meth:`loglik_constant`)."""

    def loglik_constant(self, y, trials) -> float:
        """Σ_i of the terms of log p(y_i | η_i) free of η (binomial coefficients, −log y!)."""
        return 0.0

    @abstractmethod
    def start_eta(self, y, trials) -> np.ndarray:
        """A start for IRLS: the link of a slightly shrunken observed value."""

    # --- posterior ------------------------------------------------------------------------

    @abstractmethod
    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        """The expected value (probability for binomial) from the linear predictor."""

    @abstractmethod
    def likelihood(self, name: str, eta, y, trials=None, sigma=None, dims=None):
        """The observed PyMC variable, inside a model context."""

    @abstractmethod
    def draw(self, mean: np.ndarray, rng: np.random.Generator, sigma=None, trials=None):
        """Draws of the outcome given its expected value (broadcast over draws)."""

    @abstractmethod
    def log_likelihood(self, y: np.ndarray, mean: np.ndarray, sigma=None, trials=None):
        """Pointwise log density of y given its expected value (broadcast over draws)."""

    def log_density_eta(self, y, eta: np.ndarray, sigma=None, trials=None) -> np.ndarray:
        """log p(y_i | η_i) elementwise as a function of the linear predictor (broadcast over
        draws and quadrature points); the families override it with a direct formula."""
        return self.log_likelihood(y, self.inverse_link(eta), sigma=sigma, trials=trials)

    def outcome_mean(self, mean: np.ndarray, trials=None) -> np.ndarray:
        """E[y] in the outcome's own units from the expected value :meth:`inverse_link` gives
        (the count n·p of a binomial outcome; the same value otherwise)."""
        return mean

    @abstractmethod
    def variance(self, mean: np.ndarray, sigma=None, trials=None) -> np.ndarray:
        """Var(y | η) in the outcome's units, from the expected value (for Pearson and binned
        residuals)."""

    @abstractmethod
    def latent_variance(self, eta: np.ndarray | None = None, sigma=None):
        """Level-1 variance on the latent (link) scale for the ICC and Nakagawa's R²:
        σ² (gaussian), π²/3 (logit), log(1 + 1/λ) (log; Nakagawa et al. 2017)."""


@dataclass(frozen=True)
class Bound:
    """A family bound to its outcome (y, trials): the log-likelihood of η and its IRLS
    quantities, as REML / Laplace ML and the GLM fits use them."""

    family: Family
    y: np.ndarray
    trials: np.ndarray | None = None

    def stats(self, eta: np.ndarray) -> EtaStats:
        return self.family.eta_stats(self.y, self.trials, eta)

    def loglik(self, eta: np.ndarray) -> float:
        return self.family.loglik_kernel(self.y, self.trials, eta)

    def constant(self) -> float:
        return self.family.loglik_constant(self.y, self.trials)

    def start_eta(self) -> np.ndarray:
        return self.family.start_eta(self.y, self.trials)
