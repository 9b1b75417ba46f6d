"""Convergence checks after sampling, each problem explained with what to try.

Thresholds follow Vehtari et al. (2021): R-hat ≤ 1.01 and bulk / tail ESS ≥ 100 per chain;
any divergent transition is a problem; hitting the maximum tree depth is an efficiency warning.
An R-hat or ESS that cannot be computed (one chain, a handful of draws: ArviZ gives NaN) is a
problem too: a check that could not run is not a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import arviz as az
import numpy as np

from . import names

RHAT_MAX = 1.01
ESS_PER_CHAIN = 100
#: what to try when a parameterization samples poorly
ALTERNATIVES = {
    "marginal": "marginalize=False (the model with explicit group effects)",
    "adaptive": "parameterization='noncentered' (or 'centered' for large groups)",
    "noncentered": "parameterization='centered'",
    "centered": "parameterization='noncentered'",
}


def checked_variables(posterior, design) -> list[str]:
    """The model's reported parameters: fixed effects, sds, correlations, sigma, group effects."""
    wanted = names.reported_variables(fd.name for fd in design.factors)
    return [v for v in wanted if v in posterior.data_vars]


def _extreme(ds, fn) -> float:
    vals = [np.asarray(ds[v]).ravel() for v in ds.data_vars]
    vals = np.concatenate(vals) if vals else np.array([np.nan])
    vals = vals[np.isfinite(vals)]
    return float(fn(vals)) if len(vals) else float("nan")


def _constant_free(posterior, var_names, design):
    """Drop entries that are constant by construction (the diagonal of a correlation matrix)."""
    ds = posterior[var_names]
    for fd in design.factors:
        v = names.group_corr(fd.name)
        if v in ds:
            a, b = names.cov_dim(fd.name), names.cov_dim_bis(fd.name)
            ds[v] = ds[v].where(ds[v][a] != ds[v][b])
    return ds


@dataclass(frozen=True)
class Diagnostics:
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    treedepth_hits: int
    n_chains: int
    n_draws: int
    problems: tuple[str, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        """JSON-ready: NaN becomes None."""
        def num(x):
            return float(x) if np.isfinite(x) else None

        return {"ok": self.ok, "max_rhat": num(self.max_rhat),
                "min_ess_bulk": num(self.min_ess_bulk), "min_ess_tail": num(self.min_ess_tail),
                "divergences": int(self.divergences), "treedepth_hits": int(self.treedepth_hits),
                "problems": list(self.problems), "notes": list(self.notes)}

    def __str__(self) -> str:
        head = (f"R-hat max {self.max_rhat:.3f}, ESS bulk min {self.min_ess_bulk:.0f}, "
                f"tail min {self.min_ess_tail:.0f}, {self.divergences} divergences, "
                f"{self.treedepth_hits} max-tree-depth hits")
        lines = [f"- {p}" for p in self.problems] + [f"- note: {n}" for n in self.notes]
        if self.ok:
            head += ": no problems found."
        return "\n".join([head, *lines])


def count_stat(stats, *candidates) -> int:
    for c in candidates:
        if c in stats:
            return int(np.asarray(stats[c]).sum())
    return 0


def diagnose(dt, design, parameterization: str = "noncentered") -> Diagnostics:
    """Check R-hat, ESS, divergences and tree depth over every reported parameter."""
    post = dt["posterior"].to_dataset()
    var_names = checked_variables(post, design)
    ds = _constant_free(post, var_names, design)
    n_chains, n_draws = post.sizes["chain"], post.sizes["draw"]
    rhat = _extreme(az.rhat(ds), np.max)
    ess_bulk = _extreme(az.ess(ds, method="bulk"), np.min)
    ess_tail = _extreme(az.ess(ds, method="tail"), np.min)
    stats = dt["sample_stats"].to_dataset()
    div = count_stat(stats, "diverging")
    depth = count_stat(stats, "maxdepth_reached", "reached_max_treedepth")
    alternative = ALTERNATIVES.get(parameterization, "parameterization='noncentered'")
    problems = []
    if not np.isfinite(rhat):
        why = ("one chain cannot be compared with another: run at least 2 chains" if n_chains < 2
               else f"{n_draws} draws per chain are too few: draw more (hundreds)")
        problems.append(f"R-hat could not be computed ({why}), so convergence is unchecked.")
    elif rhat > RHAT_MAX:
        problems.append(f"R-hat up to {rhat:.3f} (> {RHAT_MAX}): the chains disagree. Run longer "
                        "(more tune and draws), and check the model for weakly identified terms.")
    need = ESS_PER_CHAIN * n_chains
    if not (np.isfinite(ess_bulk) and np.isfinite(ess_tail)):
        problems.append(f"the effective sample size could not be computed from {n_draws} draws "
                        "per chain: draw more (hundreds).")
    elif ess_bulk < need or ess_tail < need:
        problems.append(f"effective sample size as low as {min(ess_bulk, ess_tail):.0f} (want "
                        f">= {need}): means and intervals are imprecise. Draw more, or try "
                        f"{alternative}.")
    if div:
        problems.append(f"{div} divergent transitions: the sampler missed part of the posterior. "
                        "Raise target_accept (e.g. 0.95), or try "
                        f"{alternative}; tighter priors on the group sds can help.")
    notes = []
    if depth:
        notes.append(f"{depth} draws hit the maximum tree depth: sampling is slow, not "
                        "wrong. Rescale predictors (cgm, standardize) or raise max_treedepth.")
    return Diagnostics(rhat, ess_bulk, ess_tail, div, depth, n_chains, n_draws, tuple(problems),
                       tuple(notes))
