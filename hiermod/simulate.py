"""New data from a fitted multilevel model: the true parameters, a design extended to more or
larger groups, and outcomes drawn from the model — what simulation-based power analysis
(:mod:`hiermod.power_analysis`) is made of.

The parameters (:class:`Truth`) come from a REML / ML fit (its estimates) or a Bayesian fit
(posterior means), and any of them can be set by its label — a fixed term ("treat"), a
variance component ("sd(Intercept | school)", "corr(Intercept, x | school)") or "sigma" — as
``fixef(model)["x"] <- ...`` and ``VarCorr(model) <- ...`` do in R's simr.

A design is extended along a grouping factor as simr's ``extend(along = g)`` does: new group k
(k = 0, 1, ...) is a copy of observed group k mod J (in level order), with its rows — its
level-2 values and level-1 predictors — and, with ``group_size``, with that many rows taken
cyclically from its source group's rows (simr's ``extend(within = ...)``). Other grouping
factors are copied as they are (a crossed factor keeps its levels).

Outcomes are drawn as y ~ family(g⁻¹(Xβ + Σ_g Z_g u_g)), u_{g,j} ~ N(0, Σ_g), with σ for
gaussian models.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr

from . import names
from .errors import SpecError
from .frame import factor_codes


@dataclass(frozen=True)
class Truth:
    """The parameters outcomes are simulated from: ``fixed`` term -> β, ``sd`` and ``corr``
    per factor (in the factor's term order), ``sigma`` (None without one)."""

    fixed: dict
    sd: dict
    corr: dict
    sigma: float | None

    def cov(self, factor: str) -> np.ndarray:
        sd = np.asarray(self.sd[factor], dtype=float)
        return np.asarray(self.corr[factor], dtype=float) * np.outer(sd, sd)

    def labels(self, design) -> dict[str, float]:
        """Every parameter by its label (fixed terms, 'sd(t | g)', 'corr(a, b | g)', 'sigma')."""
        out = dict(self.fixed)
        for fd in design.factors:
            for a, t in enumerate(fd.terms):
                out[names.sd_label(fd.name, t)] = float(self.sd[fd.name][a])
            for a, b in fd.pairs():
                out[names.corr_label(fd.name, fd.terms[a], fd.terms[b])] = float(
                    self.corr[fd.name][a, b])
        if self.sigma is not None:
            out[names.SIGMA] = self.sigma
        return out

    def set(self, design, values: dict | None) -> Truth:
        """The truth with some parameters set by label (a SpecError for an unknown label)."""
        if not values:
            return self
        known = self.labels(design)
        unknown = [k for k in values if k not in known]
        if unknown:
            raise SpecError(f"unknown parameter(s) {unknown}; the model's are: "
                            f"{', '.join(known)}")
        fixed = dict(self.fixed)
        sd = {g: np.array(v, dtype=float) for g, v in self.sd.items()}
        corr = {g: np.array(v, dtype=float) for g, v in self.corr.items()}
        sigma = self.sigma
        for key, value in values.items():
            if key in fixed:
                fixed[key] = float(value)
            elif key == names.SIGMA:
                sigma = float(value)
            for fd in design.factors:
                for a, t in enumerate(fd.terms):
                    if key == names.sd_label(fd.name, t):
                        sd[fd.name][a] = float(value)
                for a, b in fd.pairs():
                    if key == names.corr_label(fd.name, fd.terms[a], fd.terms[b]):
                        corr[fd.name][a, b] = corr[fd.name][b, a] = float(value)
        return Truth(fixed, sd, corr, sigma)


def truth_of_reml(fit) -> Truth:
    """The estimates of a RemlFit as the truth."""
    return Truth(dict(zip(fit.fixed_terms, map(float, fit.beta), strict=True)),
                 {vc.factor: np.asarray(vc.sd, float) for vc in fit.varcomps},
                 {vc.factor: np.asarray(vc.corr, float) for vc in fit.varcomps},
                 None if fit.sigma is None else float(fit.sigma))


def truth_of_posterior(idata: xr.DataTree, design) -> Truth:
    """Posterior means of a Bayesian fit as the truth."""
    post = idata["posterior"].to_dataset()

    def mean(name):
        return post[name].mean(("chain", "draw")).values

    fixed = ({} if names.FIXED not in post else
             dict(zip(design.fixed_terms, map(float, mean(names.FIXED)), strict=True)))
    sd, corr = {}, {}
    for fd in design.factors:
        sd[fd.name] = np.asarray(mean(names.group_sd(fd.name)), float)
        c = names.group_corr(fd.name)
        corr[fd.name] = np.asarray(mean(c), float) if c in post else np.eye(fd.q)
    sigma = float(mean(names.SIGMA)) if names.SIGMA in post else None
    return Truth(fixed, sd, corr, sigma)


def extend(frame: pd.DataFrame, factor: str, n_groups: int | None = None,
           group_size: int | None = None) -> pd.DataFrame:
    """``frame`` with ``n_groups`` groups of ``factor``, each a copy of an observed group
    (cycling in level order) with ``group_size`` rows taken cyclically from its rows (all of
    them when None); the copies are labelled '<source>#<copy>' (module docstring)."""
    if ":" in factor:
        raise SpecError(f"extend along a single grouping column, not the interaction '{factor}'")
    index, levels = factor_codes(frame, factor)
    J = len(levels)
    n_groups = J if n_groups is None else int(n_groups)
    if n_groups < 2:
        raise SpecError(f"n_groups must be at least 2, got {n_groups}")
    if group_size is not None and int(group_size) < 1:
        raise SpecError(f"group_size must be at least 1, got {group_size}")
    rows_of = [np.flatnonzero(index == j) for j in range(J)]
    take, labels = [], []
    for k in range(n_groups):
        src = rows_of[k % J]
        m = len(src) if group_size is None else int(group_size)
        take.append(src[np.arange(m) % len(src)])
        labels.append(np.full(m, f"{levels[k % J]}#{k // J}", dtype=object))
    out = frame.iloc[np.concatenate(take)].reset_index(drop=True)
    out[factor] = np.concatenate(labels)
    return out


def linear_predictor(design, truth: Truth, rng: np.random.Generator) -> np.ndarray:
    """η = Xβ + Σ_g Z_g u_g with new group effects u_g,j ~ N(0, Σ_g)."""
    beta = np.array([truth.fixed[t] for t in design.fixed_terms], dtype=float)
    eta = design.X @ beta if len(beta) else np.zeros(design.n_obs)
    for fd in design.factors:
        lam, V = np.linalg.eigh(truth.cov(fd.name))
        root = V * np.sqrt(np.clip(lam, 0.0, None))
        u = rng.standard_normal((fd.n_levels, fd.q)) @ root.T
        eta = eta + np.einsum("ia,ia->i", fd.Z, u[fd.index])
    return eta


def simulate_outcome(design, truth: Truth, rng: np.random.Generator) -> np.ndarray:
    """One outcome vector drawn from the model (module docstring)."""
    family = design.likelihood
    mean = family.inverse_link(linear_predictor(design, truth, rng))
    y = family.draw(mean, rng, sigma=truth.sigma, trials=design.trials)
    return np.asarray(y, dtype=float)


def with_outcome(design, y: np.ndarray):
    """The design with another outcome (X, Z, levels and trials unchanged)."""
    return replace(design, y=np.asarray(y, dtype=float))
