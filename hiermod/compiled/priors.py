"""Log-densities of hiermod's prior families on the unconstrained scale, compiled by numba.

Used by the compiled callbacks (:mod:`hiermod.compiled`), which evaluate a model without
PyTensor. Each prior is a code and up to three parameters; each unconstrained coordinate y maps
to the prior's support as PyMC's default transforms do:

    identity (real line):   v = y
    log (positive):         v = eᵞ,             log|dv/dy| = y
    log-odds (unit interval): v = 1/(1 + e⁻ʸ),  log|dv/dy| = log v + log(1 − v)

and the density on y is log p(v) + log|dv/dy|, with PyMC's normalising constants, so the values
equal ``model.compile_logp(jacobian=True)`` term by term (tested).
"""

from __future__ import annotations

import math

import numba
import numpy as np

#: prior family -> code (the parameters in the order of :data:`hiermod.priors.DISTRIBUTIONS`;
#: Beta: alpha, beta)
CODES = {"Normal": 1, "StudentT": 2, "Cauchy": 3, "HalfNormal": 4, "HalfStudentT": 5,
         "HalfCauchy": 6, "Exponential": 7, "Gamma": 8, "Beta": 9}
IDENTITY, LOG, LOGODDS = 0, 1, 2
_LOG_2PI = math.log(2.0 * math.pi)
_LOG_PI = math.log(math.pi)
_LOG_2 = math.log(2.0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _student_t(nu, mu, sigma, v):
    t = v - mu
    lp = (math.lgamma(0.5 * (nu + 1.0)) - math.lgamma(0.5 * nu) - 0.5 * math.log(nu * math.pi)
          - math.log(sigma) - 0.5 * (nu + 1.0) * math.log1p(t * t / (nu * sigma * sigma)))
    return lp, -(nu + 1.0) * t / (nu * sigma * sigma + t * t)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def prior_logp(code, a, b, c, v):
    """(log p(v), d log p / dv) on the constrained scale (not for Beta: see below)."""
    if code == 1:  # Normal(mu=a, sigma=b)
        t = (v - a) / b
        return -0.5 * t * t - math.log(b) - 0.5 * _LOG_2PI, -t / b
    if code == 2:  # StudentT(nu=a, mu=b, sigma=c)
        return _student_t(a, b, c, v)
    if code == 3:  # Cauchy(alpha=a, beta=b)
        t = v - a
        return -_LOG_PI - math.log(b) - math.log1p(t * t / (b * b)), -2.0 * t / (b * b + t * t)
    if code == 4:  # HalfNormal(sigma=a)
        t = v / a
        return _LOG_2 - 0.5 * t * t - math.log(a) - 0.5 * _LOG_2PI, -t / a
    if code == 5:  # HalfStudentT(nu=a, sigma=b)
        lp, d = _student_t(a, 0.0, b, v)
        return lp + _LOG_2, d
    if code == 6:  # HalfCauchy(beta=a)
        return (_LOG_2 - _LOG_PI - math.log(a) - math.log1p(v * v / (a * a)),
                -2.0 * v / (a * a + v * v))
    if code == 7:  # Exponential(lam=a)
        return math.log(a) - a * v, -a
    if code == 8:  # Gamma(alpha=a, beta=b)
        return (a * math.log(b) - math.lgamma(a) + (a - 1.0) * math.log(v) - b * v,
                (a - 1.0) / v - b)
    return math.nan, math.nan


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _softplus(y):
    return y + math.log1p(math.exp(-y)) if y > 0 else math.log1p(math.exp(y))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def unconstrained_logp(code, transform, a, b, c, y):
    """(v, dv/dy, log p(y), d log p(y)/dy) for one coordinate, Jacobian included."""
    if transform == LOGODDS:  # only Beta(a, b) in hiermod; written in y to stay finite
        log_v, log_1mv = -_softplus(-y), -_softplus(y)
        v = math.exp(log_v)
        lp = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
              + a * log_v + b * log_1mv)  # (a − 1) log v + (b − 1) log(1 − v) + log J
        return v, v * (1.0 - v), lp, a * (1.0 - v) - b * v
    if transform == LOG:
        v = math.exp(y)
        lp, d = prior_logp(code, a, b, c, v)
        return v, v, lp + y, d * v + 1.0
    lp, d = prior_logp(code, a, b, c, y)
    return y, 1.0, lp, d


def constrained(transform: int, y: np.ndarray) -> np.ndarray:
    """The constrained values of an array of unconstrained draws (for the posterior)."""
    if transform == LOG:
        return np.exp(y)
    if transform == LOGODDS:
        return 1.0 / (1.0 + np.exp(-y))
    return np.array(y, dtype=float)


def support_point(dist: str, params: tuple[float, ...]) -> float:
    """PyMC's default starting value of each family (before the ±1 jitter); ``params`` in the
    order of :data:`hiermod.priors.DISTRIBUTIONS` (Beta: alpha, beta)."""
    rules = {"Normal": lambda mu, sigma: mu, "StudentT": lambda nu, mu, sigma: mu,
             "Cauchy": lambda alpha, beta: alpha, "HalfNormal": lambda sigma: sigma,
             "HalfStudentT": lambda nu, sigma: sigma, "HalfCauchy": lambda beta: beta,
             "Exponential": lambda lam: 1.0 / lam, "Gamma": lambda alpha, beta: alpha / beta,
             "Beta": lambda alpha, beta: alpha / (alpha + beta)}
    return float(rules[dist](*params))
