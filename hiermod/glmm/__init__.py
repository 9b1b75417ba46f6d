"""Binomial, bernoulli and poisson models on their cells, evaluated by one numba callback for
nutpie: the adaptive parameterization's log-density and gradient, with no per-fit compile."""

from .callback import CompiledCells

__all__ = ["CompiledCells"]
