"""Likelihood families: one module each; :func:`get_family` looks one up by name."""

from __future__ import annotations

from ..errors import SpecError
from .base import Family
from .bernoulli import Bernoulli
from .binomial import Binomial
from .gaussian import Gaussian
from .poisson import Poisson

FAMILIES: dict[str, Family] = {f.name: f for f in (Gaussian(), Bernoulli(), Binomial(), Poisson())}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise SpecError(f"unknown family '{name}'; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


__all__ = ["FAMILIES", "Family", "get_family"]
