"""What REML / ML cannot estimate, found before and after the optimisation and said in words.

The design stage has already refused non-finite values, collinear or constant predictors and
constant gaussian outcomes (:mod:`hiermod.design.validate`). What remains is particular to
maximum likelihood:

* **separation** (binomial, bernoulli, poisson): some combination of the fixed effects
  predicts every outcome at the end of its range (0 successes, all successes, a zero count),
  so the likelihood keeps rising as the coefficients run to ±∞ and the ML estimates do not
  exist. Found by a linear programme before fitting (:func:`separated_terms`); the fit is
  returned with ``converged=False`` and the explanation.
* **groups that separate**: levels of a grouping factor whose outcomes are all at one end.
  A few are harmless (their effects are shrunk), but when the estimated sd on the link scale
  is huge (> :data:`LARGE_LINK_SD`) they are why, and a note says so.
* **non-finite estimates**: never reported as converged.

Notes go to ``RemlFit.notes`` (printed by ``summary()``) and are issued as warnings.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.optimize import linprog

from .. import names
from ..design import Design, SummaryDesign
from ..design.checks import warn
from .result import RemlFit

#: an sd of the group effects on the logit / log scale beyond which the groups' effects are
#: not plausibly estimated (exp(5) is a 150-fold odds or rate ratio for one sd)
LARGE_LINK_SD = 5.0
#: the LP's objective, relative to the number of rows, above which the data are separated
SEPARATION_TOL = 1e-7


def separated_terms(design: Design) -> tuple[str, ...]:
    """The fixed terms whose ML estimates are infinite because of separation (empty if none).

    Notes
    -----
    With s_i = −1 for rows at the lower end of the outcome's range, +1 at the upper end and
    the other rows held at x_iᵀβ = 0, the data are (quasi-)completely separated when some
    β ≠ 0 has s_i x_iᵀβ ≥ 0 for every row (Albert & Anderson 1984): the log-likelihood then
    does not decrease along β and rises without bound. The cone of such β is found by linear
    programming (Konis 2007) on X with unit-RMS columns, β in [−1, 1]ᵖ: maximise Σ s_i x_iᵀβ;
    a positive optimum means separation, and the terms whose coefficient can be non-zero in
    the cone (max and min of β_j) are the ones that diverge. X has full column rank (checked
    when the design was made), so every non-zero β in the cone is a direction of ascent.
    """
    if isinstance(design, SummaryDesign):  # gaussian (no ends to separate at)
        return ()
    ends = design.likelihood.boundary_rows(design.y, design.trials)
    if ends is None or design.X.shape[1] == 0:
        return ()
    lower, upper = (np.asarray(e, bool) for e in ends)
    s = np.where(upper, 1.0, 0.0) - np.where(lower & ~upper, 1.0, 0.0)
    X = design.X / np.sqrt(np.mean(design.X**2, axis=0))
    signed, inner = s[s != 0, None] * X[s != 0], X[s == 0]
    if not len(signed):
        return ()
    p = X.shape[1]
    kw = {"A_ub": -signed, "b_ub": np.zeros(len(signed)), "bounds": [(-1.0, 1.0)] * p,
          "method": "highs"}
    if len(inner):
        kw.update(A_eq=inner, b_eq=np.zeros(len(inner)))
    best = linprog(-signed.sum(axis=0), **kw)
    if not best.success or -best.fun <= SEPARATION_TOL * len(s):
        return ()
    out = []
    for j in range(p):
        c = np.zeros(p)
        c[j] = 1.0
        reach = max(abs(r.fun) for r in (linprog(c, **kw), linprog(-c, **kw)) if r.success)
        if reach > 1e-6:
            out.append(design.fixed_terms[j])
    return tuple(out)


def separation_message(design: Design, terms: tuple[str, ...]) -> str:
    column = design.spec.response.name
    y = design.y
    share = y / (design.trials if design.trials is not None else 1.0)
    if np.ptp(share) == 0:
        end = "0" if share[0] == 0 else "at its maximum"
        return (f"the outcome '{column}' is {end} in every row: the intercept's ML estimate is "
                f"{'-' if share[0] == 0 else '+'}infinity and the values shown are where the "
                "optimizer stopped. There is nothing for a likelihood fit to estimate; a "
                "Bayesian fit (hm.fit) gives a finite answer from its prior")
    return (f"separation: the fixed effects {', '.join(map(repr, terms))} predict every outcome "
            "at the end of its range (complete or quasi-complete separation), so their ML "
            "estimates are infinite and the values shown are where the optimizer stopped. Drop "
            "or merge the predictor levels involved, or use the Bayesian fit (hm.fit), whose "
            "priors keep the estimates finite")


def separated_groups(design: Design) -> dict[str, tuple[str, ...]]:
    """factor -> its levels whose outcomes all sit at one end of the range (all 0, all 1)."""
    ends = design.likelihood.boundary_rows(design.y, design.trials)
    if ends is None:
        return {}
    lower, upper = (np.asarray(e, bool) for e in ends)
    out = {}
    for fd in design.factors:
        n = np.bincount(fd.index, minlength=fd.n_levels)
        at_low = np.bincount(fd.index, weights=lower, minlength=fd.n_levels) == n
        at_high = np.bincount(fd.index, weights=upper, minlength=fd.n_levels) == n
        out[fd.name] = tuple(fd.levels[j] for j in np.flatnonzero(at_low | at_high))
    return out


def group_notes(fit: RemlFit, design: Design) -> list[str]:
    """A note per factor whose link-scale sd ran off while some of its groups separate."""
    if design.family == "gaussian":
        return []
    notes = []
    groups = separated_groups(design)
    for vc in fit.varcomps:
        big = [t for t, sd in zip(vc.terms, vc.sd, strict=True) if not sd <= LARGE_LINK_SD]
        levels = groups.get(vc.factor, ())
        if big and levels:
            shown = ", ".join(map(str, levels[:8])) + (" ..." if len(levels) > 8 else "")
            notes.append(
                f"the sd of {', '.join(map(repr, big))} between levels of '{vc.factor}' is "
                f"estimated at {max(vc.sd):.3g} on the link scale: {len(levels)} of "
                f"{vc.n_levels} levels have every outcome at one end of its range ({shown}), "
                "so their effects run off to ±infinity and drag the sd with them. Merge "
                "sparse levels, or use the Bayesian fit (hm.fit), whose prior on the sd keeps "
                "it finite")
    return notes


def finite_estimates(fit: RemlFit) -> list[str]:
    """Names of the estimates that are not finite."""
    bad = [t for t, b in zip(fit.fixed_terms, fit.beta, strict=True) if not np.isfinite(b)]
    bad += [names.sd_label(vc.factor, t) for vc in fit.varcomps
            for t, sd in zip(vc.terms, vc.sd, strict=True) if not np.isfinite(sd)]
    if fit.sigma is not None and not np.isfinite(fit.sigma):
        bad.append(names.SIGMA)
    if not np.isfinite(fit.criterion):
        bad.append(fit.criterion_name)
    return bad


def settle(fit: RemlFit, design: Design, separated: tuple[str, ...] = ()) -> RemlFit:
    """The fit with its notes, and ``converged=False`` where the estimates do not exist or are
    not finite; each note is also a warning."""
    notes = list(fit.notes)
    converged, message = fit.converged, fit.convergence_message
    if separated:
        note = separation_message(design, separated)
        notes.append(note)
        converged, message = False, note
    bad = finite_estimates(fit)
    if bad:
        note = (f"non-finite estimates ({', '.join(bad)}): the optimizer failed; check the "
                "data for extreme values and rescale the predictors (standardize)")
        notes.append(note)
        converged, message = False, note
    notes += group_notes(fit, design)
    for note in notes[len(fit.notes):]:
        warn(note)
    return replace(fit, notes=tuple(notes), converged=converged, convergence_message=message)
