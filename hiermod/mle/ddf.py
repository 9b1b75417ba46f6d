"""Denominator degrees of freedom for t and F tests of the fixed effects: the choice of method,
and the two counting rules (residual, between–within).

Satterthwaite (:mod:`.satterthwaite`) and Kenward–Roger (:mod:`.kenward_roger`) approximate
the distribution of the Wald statistic; the counting rules below only count units.
Elff, Heisig, Schaeffer & Shikano (2020, BJPolS 51(1)) show that with few level-2 units
REML with Kenward–Roger (or Satterthwaite, or between–within) df keeps the tests of level-2
coefficients near their nominal size, where z tests and ML do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .. import names
from ..design import Design
from ..errors import SpecError

#: the ``ddf`` choices of :func:`hiermod.mle.reml` (lmerTest's default first)
DDF_METHODS = ("satterthwaite", "kenward-roger", "between-within", "residual")
_ALIASES = {"kr": "kenward-roger", "kenward_roger": "kenward-roger",
            "between_within": "between-within", "betwithin": "between-within"}


def check_ddf(ddf: str, method: str) -> str:
    """Normalise ``ddf`` ('Kenward-Roger' -> 'kenward-roger') and check it suits the fit."""
    key = str(ddf).lower().replace(" ", "-") if isinstance(ddf, str) else ddf
    key = _ALIASES.get(key, key)
    if key not in DDF_METHODS:
        raise SpecError(f"ddf must be one of {', '.join(map(repr, DDF_METHODS))}, got {ddf!r}")
    if key == "kenward-roger" and method != "REML":
        raise SpecError("ddf='kenward-roger' needs a REML fit (Kenward-Roger's adjustment is "
                        "defined for the REML estimates, as in pbkrtest): use method='REML' or "
                        "ddf='satterthwaite'")
    return key


@dataclass(frozen=True, eq=False)
class CountedDdf:
    """t / F tests with denominator df counted from the design (no approximation).

    ``term_df`` holds one df per fixed effect; a contrast gets the smallest df among the
    terms it involves (a conservative choice, as SAS does for between–within F tests that mix
    levels).
    """

    vcov: np.ndarray
    term_df: np.ndarray
    name: str

    def df(self, C: np.ndarray) -> np.ndarray:
        C = np.atleast_2d(C)
        return np.array([self.term_df[np.abs(c) > 0].min() for c in C])

    def f_test(self, L: np.ndarray, beta: np.ndarray) -> dict[str, float]:
        L = np.atleast_2d(L)
        q = int(np.linalg.matrix_rank(L))
        Lb = L @ beta
        F = float(Lb @ np.linalg.solve(L @ self.vcov @ L.T, Lb)) / q
        ddf = float(self.df(np.abs(L).sum(axis=0))[0])
        return {"F": F, "ndf": float(q), "ddf": ddf, "p": float(stats.f.sf(F, q, ddf))}


def residual_ddf(design: Design, vcov: np.ndarray) -> CountedDdf:
    """n − p for every fixed effect (the df of the residual, as if there were no groups)."""
    n, p = design.n_obs, len(design.fixed_terms)  # X has full column rank (checked)
    return CountedDdf(vcov, np.full(p, float(n - p)), "residual")


def between_within_ddf(design: Design, vcov: np.ndarray) -> CountedDdf:
    """SAS's DDFM=BETWITHIN for one grouping factor.

    Notes
    -----
    With J groups, a term constant within every group (a level-2 predictor, and the
    intercept) is tested on the between-group df J − p_b, every other term on the
    within-group df n − J − p_w, where p_b and p_w count the fixed effects of each kind
    (p_b + p_w = p). nlme's ``lme`` counts the same way but gives the intercept the
    within-group df.
    """
    if len(design.factors) != 1:
        raise SpecError("ddf='between-within' is defined for one grouping factor; this model "
                        f"has {len(design.factors)} ({', '.join(f.name for f in design.factors)})"
                        ": use ddf='kenward-roger' or 'satterthwaite'")
    fd = design.factors[0]
    level2 = set(design.level2(fd.name)) | {names.INTERCEPT}
    between = np.array([t in level2 for t in design.fixed_terms])
    n, J = design.n_obs, fd.n_levels
    df = np.where(between, J - between.sum(), n - J - (~between).sum()).astype(float)
    return CountedDdf(vcov, df, "between-within")
