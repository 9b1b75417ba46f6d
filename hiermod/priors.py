"""Priors: a small declarative description, default choices scaled to the data, user overrides.

Defaults (weakly informative, in the spirit of rstanarm; s_y is sd(y) for gaussian models and
1 on the link scale otherwise — the family's :meth:`~hiermod.families.Family.prior_location_scale`
— and s_x the sd of a predictor column):

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
phi(t | g)  (correlation=)  Beta(1, 1): uniform on (0, 1) (car1, cs) or on (−1, 1) (ar1,
                            through (φ + 1)/2)
sigma_log_ratio[v]          Normal(0, 1) on the log ratio of a level's residual sd to σ
  (sigma= ~ v)              (a factor v), Normal(0, 1 / s_v) on the slope of log σ (numeric v)
==========================  ===========================================================

Keys of ``priors=``: a fixed term ("floor", "Intercept"), ``"sigma"``, ``"sd(x | g)"`` for one
sd, ``"sd(g)"`` for every sd of g, ``"lkj(g)"``; with a residual structure the correlation's
summary row (``"phi(time | id)"``, a Beta prior) and ``"sigma_log_ratio[treat=B]"`` (one
coefficient of the sd model) or ``"sigma_log_ratio"`` (all of them). They are parsed into the typed
:class:`Priors`, so a key names one kind of parameter only. Only the distributions in
:data:`DISTRIBUTIONS` can be named, so a prior read from a spec file never runs code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import names
from .errors import SpecError
from .families import get_family

#: distribution -> its parameters (all required), whether its support is positive, and the
#: parameters that must be > 0
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], bool, tuple[str, ...]]] = {
    "Normal": (("mu", "sigma"), False, ("sigma",)),
    "StudentT": (("nu", "mu", "sigma"), False, ("nu", "sigma")),
    "Cauchy": (("alpha", "beta"), False, ("beta",)),
    "HalfNormal": (("sigma",), True, ("sigma",)),
    "HalfStudentT": (("nu", "sigma"), True, ("nu", "sigma")),
    "HalfCauchy": (("beta",), True, ("beta",)),
    "Exponential": (("lam",), True, ("lam",)),
    "Gamma": (("alpha", "beta"), True, ("alpha", "beta")),
    "LKJ": (("eta",), True, ("eta",)),
    "Beta": (("alpha", "beta"), True, ("alpha", "beta")),  # on (0, 1): residual correlations
}


@dataclass(frozen=True)
class Prior:
    """A prior distribution by name, e.g. ``Prior("Normal", mu=0, sigma=1)``."""

    dist: str
    params: tuple[tuple[str, float], ...]

    def __init__(self, dist: str, **params: float) -> None:
        if not isinstance(dist, str) or dist not in DISTRIBUTIONS:
            raise SpecError(f"unknown prior distribution {dist!r}; choose one of "
                            f"{', '.join(DISTRIBUTIONS)}")
        need, _, positive = DISTRIBUTIONS[dist]
        if set(params) != set(need):
            raise SpecError(f"prior {dist} takes the parameters {', '.join(need)}; "
                            f"got {', '.join(params) or 'none'}")
        for k, v in params.items():
            if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool) \
                    or not np.isfinite(v):
                raise SpecError(f"prior {dist}: parameter {k} must be a finite number, got {v!r}")
            if k in positive and v <= 0:
                raise SpecError(f"prior {dist}: parameter {k} must be > 0, got {v!r}")
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "params", tuple((k, float(params[k])) for k in need))

    @property
    def kwargs(self) -> dict[str, float]:
        return dict(self.params)

    @property
    def positive(self) -> bool:
        """Whether the distribution's support is the positive half-line."""
        return DISTRIBUTIONS[self.dist][1]

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
            case "Beta":
                a, b = p["alpha"], p["beta"]
                return np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        return None

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:.4g}" for k, v in self.params)
        return f"{self.dist}({args})"


@dataclass(frozen=True)
class Priors:
    """Every parameter's prior, by kind: fixed terms, σ, the sd of (factor, term), the LKJ of a
    factor's correlated blocks."""

    fixed: Mapping[str, Prior]
    sigma: Prior | None
    sd: Mapping[tuple[str, str], Prior]
    lkj: Mapping[str, Prior]
    #: the residual correlation φ (a Beta on (0, 1), or on (φ + 1)/2 for ar1), keyed by its
    #: summary row; None without a correlation
    phi: tuple[str, Prior] | None = None
    #: coefficient of the residual-sd model ('treat=B', 'time') -> prior of δ
    sigma_effects: Mapping[str, Prior] = field(default_factory=dict)

    def labelled(self) -> dict[str, Prior]:
        """The priors keyed as in ``priors=`` ("floor", "sigma", "sd(floor | county)", ...)."""
        out = dict(self.fixed)
        if self.sigma is not None:
            out[names.SIGMA] = self.sigma
        out.update({names.sd_label(f, t): p for (f, t), p in self.sd.items()})
        out.update({lkj_key(f): p for f, p in self.lkj.items()})
        if self.phi is not None:
            out[self.phi[0]] = self.phi[1]
        out.update({sigma_effect_key(t): p for t, p in self.sigma_effects.items()})
        return out


def sd_key(factor: str) -> str:
    return f"sd({factor})"


def lkj_key(factor: str) -> str:
    return f"lkj({factor})"


def column_scale(sd: float) -> float:
    """A column's sd as the divisor of a prior scale (1 for a constant column)."""
    return sd if sd > 0 else 1.0


def sigma_effect_key(term: str | None = None) -> str:
    """'sigma_log_ratio[treat=B]' (one coefficient of the sd model), or 'sigma_log_ratio'."""
    return names.SIGMA_EFFECTS if term is None else names.sigma_effect_term(term)


def residual_priors(design) -> tuple[tuple[str, Prior] | None, dict[str, Prior]]:
    """Default priors of the residual structure: φ's and each δ's (see the module table)."""
    res = getattr(design, "residuals", None)
    if res is None:
        return None, {}
    phi = (res.corr_label, Prior("Beta", alpha=1.0, beta=1.0)) if res.has_correlation else None
    effects = {}
    for k, (term, (_, level)) in enumerate(zip(res.sigma_terms, res.variance_columns,
                                               strict=True)):
        scale = 1.0 if level is not None else 1.0 / column_scale(float(np.std(res.V[:, k])))
        effects[term] = Prior("Normal", mu=0.0, sigma=scale)
    return phi, effects


def default_prior_set(design) -> Priors:
    """The default prior of every parameter of the design (scaled by ``design.data_scales``,
    :mod:`hiermod.design.scales`)."""
    family = get_family(design.family)
    scales = design.data_scales
    centre, s_y = scales.centre, scales.outcome_scale
    fixed = {}
    for k, term in enumerate(design.fixed_terms):
        if term == names.INTERCEPT:
            fixed[term] = Prior("Normal", mu=centre, sigma=2.5 * s_y)
        else:
            fixed[term] = Prior("Normal", mu=0.0,
                                sigma=2.5 * s_y / column_scale(scales.fixed_sd[k]))
    sigma = Prior("Exponential", lam=1.0 / s_y) if family.has_sigma else None
    sd, lkj = {}, {}
    for fd, zsd in zip(design.factors, scales.varying_sd, strict=True):
        for k, term in enumerate(fd.terms):
            scale = s_y if term == names.INTERCEPT else s_y / column_scale(zsd[k])
            sd[(fd.name, term)] = Prior("HalfNormal", sigma=scale)
        if fd.correlated:
            lkj[fd.name] = Prior("LKJ", eta=2.0)
    phi, effects = residual_priors(design)
    return Priors(fixed, sigma, sd, lkj, phi, effects)


def default_priors(design) -> dict[str, Prior]:
    """The default prior of every parameter of the design, keyed as in ``priors=``."""
    return default_prior_set(design).labelled()


_SD_TERM = re.compile(r"sd\((.+)\|(.+)\)")
_ONE_ARG = re.compile(r"(sd|lkj)\(([^|()]+)\)")


def _targets(design, key: str, priors: Priors) -> tuple[str, list]:
    """(kind, targets) that a user key names, or a SpecError listing the valid keys."""
    k = key.strip()
    factors = {fd.name: fd for fd in design.factors}
    if k in priors.fixed:
        return "fixed", [k]
    if k == names.SIGMA and priors.sigma is not None:
        return "sigma", [k]
    m = _SD_TERM.fullmatch(k)
    if m and (m.group(2).strip(), m.group(1).strip()) in priors.sd:
        return "sd", [(m.group(2).strip(), m.group(1).strip())]
    if priors.phi is not None and k == priors.phi[0]:
        return "phi", [k]
    if priors.sigma_effects and k == sigma_effect_key():
        return "sigma_effect", list(priors.sigma_effects)
    if k.startswith(sigma_effect_key() + "[") and k[len(sigma_effect_key()) + 1:-1] in \
            priors.sigma_effects and k.endswith("]"):
        return "sigma_effect", [k[len(sigma_effect_key()) + 1:-1]]
    m = _ONE_ARG.fullmatch(k)
    if m and m.group(2).strip() in factors:
        fd = factors[m.group(2).strip()]
        if m.group(1) == "sd":
            return "sd", [(fd.name, t) for t in fd.terms]
        if fd.name in priors.lkj:
            return "lkj", [fd.name]
    valid = list(priors.labelled()) + [sd_key(f) for f in factors] + \
        ([sigma_effect_key()] if priors.sigma_effects else [])
    hint = ""
    if k == names.SIGMA:
        hint = f" (a {design.family} model has no residual sd)"
    elif k.startswith("lkj("):
        hint = " (lkj(g) needs correlated varying effects of g: (1 + x | g))"
    raise SpecError(f"unknown prior key '{key}'{hint}; valid keys: {', '.join(valid)}")


def resolve_priors(design, user: Mapping | None = None) -> Priors:
    """Defaults overridden by the user's priors; unknown keys are an error listing valid keys.

    Raises
    ------
    SpecError
        ``user`` not a dict, a value not a :class:`Prior`, an unknown key, an LKJ prior on
        anything but ``lkj(g)`` (or another family there), a prior with negative support on
        an sd or σ.
    """
    defaults = default_prior_set(design)
    if user is None:
        return defaults
    if not isinstance(user, Mapping):
        raise SpecError(f"priors must be a dict of key -> hiermod.Prior, got "
                        f"{type(user).__name__}")
    fixed, sd, lkj = dict(defaults.fixed), dict(defaults.sd), dict(defaults.lkj)
    sigma, phi, effects = defaults.sigma, defaults.phi, dict(defaults.sigma_effects)
    for key, prior in user.items():
        if not isinstance(prior, Prior):
            raise SpecError(f"priors['{key}'] must be a hiermod.Prior, got {type(prior).__name__}")
        if not isinstance(key, str):
            raise SpecError(f"prior keys must be strings, got {key!r}")
        kind, targets = _targets(design, key, defaults)
        if (kind == "lkj") != (prior.dist == "LKJ"):
            raise SpecError(f"priors['{key}']: {'only LKJ' if kind == 'lkj' else 'LKJ only'} "
                            f"fits {'a correlation' if kind == 'lkj' else 'correlations (lkj(g) keys)'}")
        if kind in ("sd", "sigma") and not prior.positive:
            raise SpecError(f"priors['{key}']: {prior.dist} puts mass on negative values; a "
                            "standard deviation needs a positive prior (HalfNormal, "
                            "Exponential, HalfStudentT, ...)")
        if (kind == "phi") != (prior.dist == "Beta"):
            raise SpecError(f"priors['{key}']: " + (
                "a residual correlation takes a Beta prior (on φ for car1 and cs, on "
                "(φ + 1)/2 for ar1), e.g. Beta(alpha=2, beta=2)" if kind == "phi" else
                "Beta fits a residual correlation (the 'phi(...)' key) only"))
        if kind == "sigma_effect" and prior.positive:
            raise SpecError(f"priors['{key}']: the log ratio of residual sds is any real "
                            f"number; {prior.dist} allows positive values only (use Normal or "
                            "StudentT)")
        for t in targets:
            if kind == "fixed":
                fixed[t] = prior
            elif kind == "sigma":
                sigma = prior
            elif kind == "sd":
                sd[t] = prior
            elif kind == "phi":
                phi = (t, prior)
            elif kind == "sigma_effect":
                effects[t] = prior
            else:
                lkj[t] = prior
    return Priors(fixed, sigma, sd, lkj, phi, effects)
