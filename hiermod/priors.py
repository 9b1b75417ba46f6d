"""Priors: a small declarative description, default choices scaled to the data, user overrides.

Defaults (weakly informative, in the spirit of rstanarm; s_y is sd(y) for gaussian models and
1 on the link scale otherwise, s_x the sd of a predictor column):

==========================  ===========================================================
parameter                   default prior
==========================  ===========================================================
Intercept                   Normal(ȳ_link, 2.5·s_y), on the intercept at the predictors'
                            means (predictors are centred internally, as brms does)
fixed slope of x            Normal(0, 2.5·s_y / s_x)
sigma (gaussian)            Exponential(rate = 1 / s_y)
sd(Intercept | g)           HalfNormal(s_y)
sd(x | g)                   HalfNormal(s_y / s_x)
lkj(g)                      LKJ(eta = 2) on each block of correlated varying effects
==========================  ===========================================================

Keys of ``priors=``: a fixed term ("floor", "Intercept"), ``"sigma"``, ``"sd(x | g)"`` for one
sd, ``"sd(g)"`` for every sd of g, ``"lkj(g)"``. Only the distributions in :data:`DISTRIBUTIONS`
can be named, so a prior read from a spec file never runs code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import names
from .errors import SpecError

#: distribution -> its parameters (all required), and whether its support is positive
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], bool]] = {
    "Normal": (("mu", "sigma"), False),
    "StudentT": (("nu", "mu", "sigma"), False),
    "Cauchy": (("alpha", "beta"), False),
    "HalfNormal": (("sigma",), True),
    "HalfStudentT": (("nu", "sigma"), True),
    "HalfCauchy": (("beta",), True),
    "Exponential": (("lam",), True),
    "Gamma": (("alpha", "beta"), True),
    "LKJ": (("eta",), True),
}


@dataclass(frozen=True)
class Prior:
    """A prior distribution by name, e.g. ``Prior("Normal", mu=0, sigma=1)``."""

    dist: str
    params: tuple[tuple[str, float], ...]

    def __init__(self, dist: str, **params: float) -> None:
        if dist not in DISTRIBUTIONS:
            raise SpecError(f"unknown prior distribution '{dist}'; choose one of "
                            f"{', '.join(DISTRIBUTIONS)}")
        need = DISTRIBUTIONS[dist][0]
        if set(params) != set(need):
            raise SpecError(f"prior {dist} takes the parameters {', '.join(need)}; "
                            f"got {', '.join(params) or 'none'}")
        for k, v in params.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
                raise SpecError(f"prior {dist}: parameter {k} must be a finite number, got {v!r}")
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "params", tuple((k, float(params[k])) for k in need))

    @property
    def kwargs(self) -> dict[str, float]:
        return dict(self.params)

    @property
    def positive(self) -> bool:
        return DISTRIBUTIONS[self.dist][1]

    def dist_obj(self):
        """An unnamed PyMC distribution (``pm.X.dist``) for use inside other distributions."""
        import pymc as pm

        return getattr(pm, self.dist).dist(**self.kwargs)

    def create(self, name: str, **kwargs):
        """Create the named PyMC random variable inside the current model context."""
        import pymc as pm

        return getattr(pm, self.dist)(name, **self.kwargs, **kwargs)

    def sd(self) -> float | None:
        """The prior's standard deviation where it has a finite one (for prior-dominance checks)."""
        p = self.kwargs
        match self.dist:
            case "Normal":
                return p["sigma"]
            case "HalfNormal":
                return p["sigma"] * np.sqrt(1 - 2 / np.pi)
            case "Exponential":
                return 1 / p["lam"]
            case "StudentT" if p["nu"] > 2:
                return p["sigma"] * np.sqrt(p["nu"] / (p["nu"] - 2))
            case "Gamma":
                return np.sqrt(p["alpha"]) / p["beta"]
        return None

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:.4g}" for k, v in self.params)
        return f"{self.dist}({args})"


def sd_key(factor: str) -> str:
    return f"sd({factor})"


def lkj_key(factor: str) -> str:
    return f"lkj({factor})"


def column_scale(x: np.ndarray) -> float:
    s = float(np.std(x))
    return s if s > 0 else 1.0


def outcome_scale(design) -> tuple[float, float]:
    """(centre, scale) of the outcome on the link scale: (ȳ, sd y) for gaussian models."""
    y = design.y
    match design.family:
        case "gaussian":
            return float(np.mean(y)), column_scale(y)
        case "bernoulli" | "binomial":
            p = float(np.sum(y) / (np.sum(design.trials) if design.trials is not None else len(y)))
            p = min(max(p, 0.01), 0.99)
            return float(np.log(p / (1 - p))), 1.0
        case "poisson":
            return float(np.log(max(np.mean(y), 0.01))), 1.0
    raise SpecError(f"no default priors for family '{design.family}'")


def default_priors(design) -> dict[str, Prior]:
    """The default prior of every parameter of the design, keyed as in ``priors=``."""
    centre, s_y = outcome_scale(design)
    out: dict[str, Prior] = {}
    for k, term in enumerate(design.fixed_terms):
        if term == names.INTERCEPT:
            out[term] = Prior("Normal", mu=centre, sigma=2.5 * s_y)
        else:
            out[term] = Prior("Normal", mu=0.0, sigma=2.5 * s_y / column_scale(design.X[:, k]))
    if design.family == "gaussian":
        out[names.SIGMA] = Prior("Exponential", lam=1.0 / s_y)
    for fd in design.factors:
        for k, term in enumerate(fd.terms):
            scale = s_y if term == names.INTERCEPT else s_y / column_scale(fd.Z[:, k])
            out[names.sd_label(fd.name, term)] = Prior("HalfNormal", sigma=scale)
        if fd.correlated:
            out[lkj_key(fd.name)] = Prior("LKJ", eta=2.0)
    return out


def resolve_priors(design, user: dict | None = None) -> dict[str, Prior]:
    """Defaults overridden by the user's priors; unknown keys are an error listing valid keys."""
    priors = default_priors(design)
    for key, prior in (user or {}).items():
        if not isinstance(prior, Prior):
            raise SpecError(f"priors['{key}'] must be a hiermod.Prior, got {type(prior).__name__}")
        if key in priors:
            targets = [key]
        else:
            fd_match = [fd for fd in design.factors if key in (sd_key(fd.name),)]
            if not fd_match:
                valid = list(priors) + [sd_key(fd.name) for fd in design.factors]
                raise SpecError(f"unknown prior key '{key}'; valid keys: {', '.join(valid)}")
            targets = [names.sd_label(fd_match[0].name, t) for t in fd_match[0].terms]
        for t in targets:
            want_lkj = t.startswith("lkj(")
            if want_lkj != (prior.dist == "LKJ"):
                raise SpecError(f"priors['{key}']: {'only LKJ' if want_lkj else 'LKJ only'} fits "
                                f"{'a correlation' if want_lkj else 'correlations (lkj(g) keys)'}")
            if (t == names.SIGMA or t.startswith("sd(")) and not prior.positive:
                raise SpecError(f"priors['{key}']: {prior.dist} puts mass on negative values; a "
                                "standard deviation needs a positive prior (HalfNormal, "
                                "Exponential, HalfStudentT, ...)")
            priors[t] = prior
    return priors


def prior_table(priors: dict[str, Prior]):
    """The priors as a printable DataFrame (parameter -> prior)."""
    import pandas as pd

    return pd.DataFrame({"prior": {k: str(v) for k, v in priors.items()}})
