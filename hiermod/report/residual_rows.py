"""The summary rows of a residual structure's parameters (names only; no posterior helpers, so
the summary table can import it)."""

from __future__ import annotations

import numpy as np

from .. import names


def residual_parameter_draws(posterior, design) -> dict[str, np.ndarray]:
    """Summary row -> draws (chain, draw): 'phi(t | g)' and, per coefficient of the sd model,
    'sigma[v=level]' (σ·e^δ, the residual sd at that level) or 'log_sigma[v]' (δ)."""
    res = design.residuals
    if res is None:
        return {}
    out: dict[str, np.ndarray] = {}
    if res.has_correlation:
        out[res.corr_label] = posterior[names.RESIDUAL_CORR].values
    if res.r:
        delta = posterior[names.SIGMA_EFFECTS]
        sigma = posterior[names.SIGMA].values
        for label, term, (_, level) in zip(res.sigma_labels, res.sigma_terms,
                                           res.variance_columns, strict=True):
            d = delta.sel({names.SIGMA_DIM: term}).values
            out[label] = sigma * np.exp(d) if level is not None else d
    return out
