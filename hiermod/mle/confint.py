"""Confidence intervals of a REML / ML fit: Wald, profile likelihood, parametric bootstrap
(lme4's ``confint.merMod``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import SpecError
from .bootstrap import bootstrap
from .profile import profile_intervals

CONFINT_METHODS = ("wald", "profile", "boot")


def wald_intervals(fit, level: float = 0.95) -> pd.DataFrame:
    """β̂ ± z·SE for the fixed effects; NaN for the variance parameters (as lme4: a Wald
    interval of an sd near 0 would cross into negative values)."""
    z = stats.norm.ppf(0.5 + level / 2)
    vt = fit.varcorr_table()
    rows = [(label, est, np.nan, np.nan) for label, est in vt["estimate"].items()]
    rows += [(t, b, b - z * s, b + z * s)
             for t, b, s in zip(fit.fixed_terms, fit.beta, fit.se, strict=True)]
    return pd.DataFrame(rows, columns=["parameter", "estimate", "lower", "upper"]
                        ).set_index("parameter")


def confint(fit, method: str = "profile", level: float = 0.95, nsim: int = 500,
            random_seed=None, n_jobs: int | None = None) -> pd.DataFrame:
    """Confidence intervals of the sds, correlations, σ and fixed effects.

    Parameters
    ----------
    fit : RemlFit
    method : {"profile", "boot", "wald"}
        "profile": profile likelihood (:func:`hiermod.mle.profile.profile_intervals`, the ML
        deviance as lme4); "boot": parametric bootstrap percentile intervals
        (:func:`hiermod.mle.bootstrap.bootstrap`, ``nsim`` replicates in ``n_jobs`` processes,
        seeded by ``random_seed``); "wald": β̂ ± z·SE for the fixed effects only.
    level : float

    Returns
    -------
    pandas.DataFrame
        Index: parameter; columns ``estimate``, ``lower``, ``upper``. ``attrs``: method, level
        (and, for "boot", nsim, random_seed and the replicates' summary).
    """
    if method not in CONFINT_METHODS:
        raise SpecError(f"method must be one of {', '.join(map(repr, CONFINT_METHODS))}, "
                        f"got {method!r}")
    if not 0 < level < 1:
        raise SpecError(f"level must be between 0 and 1, got {level!r}")
    if method != "wald" and fit.family != "gaussian":
        raise SpecError(f"method={method!r} is implemented for gaussian (lmer) fits; for this "
                        f"{fit.family} model use method='wald'")
    if method == "wald":
        table = wald_intervals(fit, level)
    elif method == "profile":
        table = profile_intervals(fit, level)
        table.attrs["note"] = ("profile of the ML deviance (as lme4, whatever the fit's "
                               "criterion); estimates are the fit's own")
    else:
        boot = bootstrap(fit, nsim=nsim, random_seed=random_seed, n_jobs=n_jobs)
        table = boot.percentile_intervals(level)
        table.attrs.update({"nsim": nsim, "random_seed": random_seed,
                            "replicates": boot.summary()})
    table.attrs.update({"method": method, "level": level})
    return table
