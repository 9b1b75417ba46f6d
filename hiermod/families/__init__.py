"""Likelihood families, one object each; :func:`get_family` looks one up and checks its link.

Each family has one link, its canonical one (gaussian: identity; bernoulli and binomial: logit;
poisson: log). Any other link is refused here, with one message, for every path — the Bayesian
models, REML / Laplace ML, the reports and the equations all read the family from this table.
"""

from __future__ import annotations

from ..errors import SpecError
from .base import Bound, EtaStats, Family, OutcomeSums
from .binomial import Bernoulli, Binomial
from .gaussian import Gaussian
from .poisson import Poisson

FAMILIES: dict[str, Family] = {f.name: f for f in (Gaussian(), Bernoulli(), Binomial(), Poisson())}


def get_family(name: str, link: str | None = None) -> Family:
    """The family called ``name``; ``link`` (optional) must be its link.

    Raises
    ------
    SpecError
        An unknown family, or a link the family does not support (e.g. probit).
    """
    if name not in FAMILIES:
        raise SpecError(f"unknown family '{name}'; choose one of {', '.join(FAMILIES)}")
    family = FAMILIES[name]
    if link is not None and link != family.link:
        raise SpecError(f"link '{link}' is not supported for the {name} family: hiermod fits "
                        f"{name} models with the {family.link} link only (on every path: "
                        f"Bayesian, REML / ML, ICC and R²); leave link unset or use "
                        f"link='{family.link}'")
    return family


__all__ = ["FAMILIES", "Bound", "EtaStats", "Family", "OutcomeSums", "get_family"]
