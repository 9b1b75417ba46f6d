"""Posterior draws as numpy arrays (chain, draw, ...) and the few helpers every report shares.

Every report computes draw by draw on arrays shaped ``(chain, draw, ...)`` and summarises at the
end, so that a derived quantity (ICC, R², design effect) has a full posterior, not a plug-in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..errors import HiermodError
from ..families import get_family
from .summary_table import SAMPLE_DIMS, interval


def posterior(dt: xr.DataTree) -> xr.Dataset:
    if "posterior" not in dt.children:
        raise HiermodError("the DataTree has no 'posterior' group; pass a fitted model's idata")
    return dt["posterior"].to_dataset()


def draws(dt: xr.DataTree, var: str) -> np.ndarray:
    """Values of a posterior variable, shape (chain, draw, ...)."""
    post = posterior(dt)
    if var not in post:
        raise HiermodError(f"the posterior has no variable '{var}'; it has "
                           f"{', '.join(map(str, post.data_vars))}")
    return np.asarray(post[var].values, dtype=float)


def fixed(dt, design) -> np.ndarray:
    """β, (chain, draw, p); an empty last axis when the model has no fixed terms."""
    post = posterior(dt)
    if names.FIXED not in post:
        c, d = post.sizes["chain"], post.sizes["draw"]
        return np.zeros((c, d, 0))
    return np.asarray(post[names.FIXED].sel({names.FIXED_DIM: list(design.fixed_terms)}).values,
                      dtype=float)


def sigma(dt, design) -> np.ndarray | None:
    """σ (chain, draw) for families that have it, else None."""
    return draws(dt, names.SIGMA) if get_family(design.family).has_sigma else None


def group_effects(dt, fd) -> np.ndarray:
    """u_g, (chain, draw, level, term)."""
    da = posterior(dt)[names.group_effects(fd.name)]
    return np.asarray(da.transpose(*SAMPLE_DIMS, names.group_dim(fd.name),
                                   names.term_dim(fd.name)).values, dtype=float)


def group_sds(dt, fd) -> np.ndarray:
    """sd of the varying effects of g, (chain, draw, term)."""
    return draws(dt, names.group_sd(fd.name))


def group_cov(dt, fd) -> np.ndarray:
    """Σ_g = diag(sd) R diag(sd), (chain, draw, term, term); R = I where uncorrelated."""
    sd = group_sds(dt, fd)
    post = posterior(dt)
    corr_name = names.group_corr(fd.name)
    if corr_name in post:
        R = np.asarray(post[corr_name].transpose(*SAMPLE_DIMS, names.cov_dim(fd.name),
                                                 names.cov_dim_bis(fd.name)).values, dtype=float)
    else:
        R = np.broadcast_to(np.eye(fd.q), sd.shape + (fd.q,))
    return sd[..., :, None] * R * sd[..., None, :]


def intercept_variance(dt, fd) -> np.ndarray:
    """τ²_g of the varying intercept (chain, draw); zeros if g has no varying intercept."""
    sd = group_sds(dt, fd)
    if names.INTERCEPT not in fd.terms:
        return np.zeros(sd.shape[:2])
    return sd[..., fd.terms.index(names.INTERCEPT)] ** 2


def random_variance(dt, fd, slopes: str = "average") -> np.ndarray:
    """Variance contributed by factor g on the link scale, (chain, draw).

    ``"average"``: mean over observations of z_i Σ_g z_iᵀ = tr(Σ_g ZᵀZ / n) (Johnson 2014, as
    performance does); ``"intercept"``: τ²_g of the varying intercept only.
    """
    if slopes == "intercept" or fd.q == 1 and fd.terms == (names.INTERCEPT,):
        return intercept_variance(dt, fd)
    if slopes != "average":
        raise ValueError(f"slopes must be 'average' or 'intercept', got {slopes!r}")
    return np.einsum("cdab,ab->cd", group_cov(dt, fd), fd.second_moment)


def fixed_variance(dt, design) -> np.ndarray:
    """σ²_f = var(X β) over observations (ddof 1, as R's var), (chain, draw), via βᵀ S_X β."""
    beta = fixed(dt, design)
    if beta.shape[-1] == 0 or design.n_obs < 2:
        return np.zeros(beta.shape[:2])
    return np.einsum("cda,ab,cdb->cd", beta, design.x_covariance, beta)


def level1_variance(dt, design, random_total: np.ndarray | None = None) -> np.ndarray:
    """Level-1 variance on the latent scale, (chain, draw).

    gaussian σ²; logit π²/3; Poisson log(1 + 1/λ) with λ = exp(mean(Xβ) + ½ Σ_g τ²_g)
    (the lognormal approximation of Nakagawa, Johnson & Schielzeth 2017).
    """
    family = get_family(design.family)
    beta = fixed(dt, design)
    shape = beta.shape[:2]
    if family.has_sigma:
        return np.broadcast_to(family.latent_variance(sigma=sigma(dt, design)), shape).copy()
    if family.link == "log":
        mean_eta = beta @ design.x_mean if beta.shape[-1] else np.zeros(shape)
        total = np.zeros(shape) if random_total is None else random_total
        return np.asarray(family.latent_variance(eta=mean_eta + 0.5 * total), dtype=float)
    return np.full(shape, float(family.latent_variance()))


def linear_predictor(dt, design, X=None, Zs=None, indexes=None) -> np.ndarray:
    """η = Xβ + Σ_g Z_g u_g[j] per draw, (chain, draw, n); the training data by default."""
    X = design.X if X is None else X
    beta = fixed(dt, design)
    eta = beta @ X.T if beta.shape[-1] else np.zeros(beta.shape[:2] + (X.shape[0],))
    for k, fd in enumerate(design.factors):
        Z = fd.Z if Zs is None else Zs[k]
        idx = fd.index if indexes is None else indexes[k]
        eta = eta + group_contribution(group_effects(dt, fd), idx, Z)
    return eta


def group_contribution(u: np.ndarray, index: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Σ_a Z[:, a] u[:, :, index, a], (chain, draw, n), one term at a time (no 4-d temporary)."""
    out = np.zeros(u.shape[:2] + (len(index),))
    for a in range(Z.shape[1]):
        out += u[:, :, index, a] * Z[:, a]
    return out


def summarize(x: np.ndarray, prob: float) -> dict[str, float]:
    """mean, sd, equal-tailed interval of draws (any shape, flattened)."""
    flat = np.asarray(x, dtype=float).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return {"mean": np.nan, "sd": np.nan, "lower": np.nan, "upper": np.nan}
    lo, hi = interval(flat, prob)
    return {"mean": float(flat.mean()), "sd": float(flat.std(ddof=1)) if flat.size > 1 else 0.0,
            "lower": lo, "upper": hi}


def summary_frame(rows: dict, prob: float, index_name: str | None = None) -> pd.DataFrame:
    """name -> draws  ==>  DataFrame (mean, sd, lower, upper) with the interval prob in attrs."""
    table = pd.DataFrame.from_dict({k: summarize(v, prob) for k, v in rows.items()},
                                   orient="index")
    table.index.name = index_name
    table.attrs["interval_prob"] = prob
    return table


def quantiles(x: np.ndarray, prob: float, axis=(0, 1)) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval along the sample axes."""
    a = (1 - prob) / 2
    lo, hi = np.quantile(x, [a, 1 - a], axis=axis)
    return lo, hi


def check_prob(prob: float) -> None:
    if not isinstance(prob, (int, float)) or not 0 < prob < 1:
        raise ValueError(f"prob must lie strictly between 0 and 1, got {prob!r}")


def sample_dataarray(x: np.ndarray, dt, dims=(), coords=None, name=None) -> xr.DataArray:
    """Wrap (chain, draw, ...) draws with the posterior's chain / draw coordinates."""
    post = posterior(dt)
    c = {"chain": post["chain"].values, "draw": post["draw"].values, **(coords or {})}
    return xr.DataArray(x, dims=(*SAMPLE_DIMS, *dims), coords=c, name=name)


def pick_factor(design, factor: str | None):
    """The FactorDesign named ``factor`` (default: the only / first factor), with a clear error."""
    if not design.factors:
        raise ValueError("the model has no grouping factor")
    if factor is None:
        return design.factors[0]
    try:
        return design.factor(factor)
    except KeyError:
        raise ValueError(f"unknown grouping factor '{factor}'; the model's factors: "
                           f"{', '.join(f.name for f in design.factors)}") from None


def flat_draws(x: np.ndarray) -> np.ndarray:
    """(chain, draw, ...) -> (chain·draw, ...)."""
    return x.reshape((-1,) + x.shape[2:])
