"""What a likelihood family declares: link, parameters, PyMC likelihood, predictive draws."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Family(ABC):
    """One likelihood family. Subclasses implement the four methods below.

    ``latent_variance`` is the level-1 variance on the latent (link) scale used by the ICC
    and Nakagawa's R²: σ² for gaussian, π²/3 for logit, 1 for probit (Nakagawa et al. 2017).
    """

    name: str = ""
    link: str = "identity"
    has_sigma: bool = False

    @abstractmethod
    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        """The expected value (probability for binomial) from the linear predictor."""

    @abstractmethod
    def likelihood(self, name: str, eta, design, sigma=None, dims=None):
        """The observed PyMC variable, inside a model context."""

    @abstractmethod
    def draw(self, mean: np.ndarray, rng: np.random.Generator, sigma=None, trials=None):
        """Draws of the outcome given its expected value (broadcast over draws)."""

    @abstractmethod
    def latent_variance(self, eta: np.ndarray | None = None, sigma=None):
        """Level-1 variance on the latent scale."""

    @abstractmethod
    def log_likelihood(self, y: np.ndarray, mean: np.ndarray, sigma=None, trials=None):
        """Pointwise log density of y given its expected value (broadcast over draws)."""
