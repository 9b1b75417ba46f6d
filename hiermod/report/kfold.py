"""K-fold cross-validation, the pure parts: folds, the log predictive density of held-out data
under a posterior, and the summary of the folds. The refits are :mod:`hiermod.kfold_cv`.

Three kinds of folds:

* ``"grouped"`` — whole groups of a factor are held out (leave-groups-out): the score is that of
  predicting *new groups*, whose effects are integrated over N(0, Σ);
* ``"stratified"`` — each group's rows are spread over the folds, so every training set has
  every group (of two rows or more): the score is that of a new observation in an existing
  group, the quantity PSIS-LOO estimates (:func:`hiermod.report.loo`), and the check of LOO
  where its Pareto k are high;
* ``"random"`` — rows assigned at random.

The expected log predictive density is elpd = Σ_units log p(y_unit | y_train), one unit per
held-out group (grouped folds: the group's rows are predicted jointly, as they share its
effect) or per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import logsumexp
from scipy.stats import norm, qmc

from ..design.checks import event_indicator, numeric_column
from ..errors import DataError
from ..families import get_family
from ..frame import factor_labels
from . import _posterior as P
from .prediction import encode_newdata

FOLDS = ("grouped", "stratified", "random")
#: quasi-Monte Carlo points per posterior draw for integrating the effects of several new
#: levels (or factors) at once out of a non-gaussian likelihood (scrambled Sobol, a power of 2)
N_QMC = 1024
#: one new level with up to this many varying terms is integrated by adaptive Gauss–Hermite
MAX_AGHQ_TERMS = 3


def fold_ids(data: pd.DataFrame, design, K: int = 10, folds: str = "grouped",
             factor: str | None = None, random_seed: int | None = None) -> np.ndarray:
    """The fold (0..K-1) of every row of ``data``.

    Parameters
    ----------
    data : pandas.DataFrame
        The model's data (``fit.data``), rows in the design's order.
    design : Design
    K : int
        Number of folds (2 ≤ K ≤ the number of units).
    folds : {"grouped", "stratified", "random"}
        See the module docstring.
    factor : str, optional
        The grouping factor of grouped and stratified folds (default the first).
    random_seed : int, optional

    Returns
    -------
    numpy.ndarray
        Integer fold per row. Grouped folds put whole groups in folds of nearly equal numbers
        of rows (largest groups first, each to the currently smallest fold, ties at random);
        stratified folds deal each group's rows, shuffled, round the folds from a random start.
    """
    if folds not in FOLDS:
        raise ValueError(f"folds must be one of {', '.join(FOLDS)}, got {folds!r}")
    rng = np.random.default_rng(random_seed)
    n = len(data)
    fd = P.pick_factor(design, factor) if design.factors else None
    if folds == "random" or fd is None:
        _check_k(K, n, "rows")
        return rng.permutation(np.arange(n) % K)
    labels = factor_labels(data, fd.name).to_numpy(dtype=object)
    levels, index = np.unique(labels, return_inverse=True)
    out = np.empty(n, dtype=int)
    if folds == "grouped":
        _check_k(K, len(levels), f"groups of '{fd.name}'")
        sizes = np.bincount(index, minlength=len(levels))
        load = np.zeros(K)
        order = np.lexsort((rng.random(len(levels)), -sizes))
        assign = np.empty(len(levels), dtype=int)
        for j in order:
            smallest = np.flatnonzero(load == load.min())
            assign[j] = rng.choice(smallest)
            load[assign[j]] += sizes[j]
        return assign[index]
    _check_k(K, n, "rows")
    for j in range(len(levels)):
        rows = rng.permutation(np.flatnonzero(index == j))
        out[rows] = (rng.integers(K) + np.arange(len(rows))) % K
    return out


def _check_k(K, n_units: int, what: str) -> None:
    if not isinstance(K, (int, np.integer)) or not 2 <= K <= n_units:
        raise ValueError(f"K must be a whole number from 2 to the number of {what} "
                         f"({n_units}), got {K!r}")


def outcome_of(design, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """(y, trials) of new data, read as the design reads its own outcome."""
    r = design.spec.response
    missing = [c for c in (r.name, r.trials, r.failures) if c and c not in data.columns]
    if missing:
        raise DataError(f"the held-out data lack the outcome column(s) {missing}")
    if r.event is not None:
        y = event_indicator(data, r.name, r.event)
    else:
        y = numeric_column(data, r.name, "outcome")
    trials = None
    if r.trials:
        trials = numeric_column(data, r.trials, "number of trials")
    elif r.failures:
        trials = y + numeric_column(data, r.failures, "number of failures")
    return y, trials


@dataclass(frozen=True)
class UnitDensity:
    """log p(y_unit | θ^(s)) per draw and unit, (chain, draw, units), and the unit labels."""

    loglik: np.ndarray
    units: np.ndarray

    def elpd(self) -> np.ndarray:
        """log of the posterior mean density of each unit: log (1/S) Σ_s p(y_unit | θ^(s))."""
        flat = self.loglik.reshape(-1, self.loglik.shape[-1])
        return logsumexp(flat, axis=0) - np.log(flat.shape[0])


def heldout_log_density(dt: xr.DataTree, design, newdata: pd.DataFrame, units=None,
                        n_qmc: int = N_QMC, random_seed: int | None = None) -> UnitDensity:
    """log p(y_unit | θ) of held-out rows, draw by draw, new groups' effects integrated out.

    Parameters
    ----------
    dt : xarray.DataTree
        The posterior of a fit to the training rows.
    design : Design
        Its design (it encodes ``newdata`` with the training codings and transforms).
    newdata : pandas.DataFrame
        The held-out rows, with their outcome.
    units : array-like, optional
        A label per row: rows with the same label are predicted jointly (default: each row
        alone).
    n_qmc : int
        Quasi-Monte Carlo points per draw for non-gaussian families.
    random_seed : int, optional

    Returns
    -------
    UnitDensity

    Notes
    -----
    Rows of groups seen in training use those groups' posterior effects. The effects of
    levels not seen in training are integrated out: with a gaussian outcome exactly, y_unit ~
    N(η_unit, σ² I + Σ_g Z_g Σ_g Z_gᵀ ∘ [same level]) per draw; for one new level of one
    factor (a held-out group) by adaptive Gauss–Hermite quadrature around the mode of the
    integrand (as lme4's nAGQ: 15, 9², 7³ nodes for 1, 2, 3 varying terms); otherwise by
    averaging the unit's likelihood over ``n_qmc`` scrambled-Sobol draws of the new effects
    from N(0, Σ^(s)) (log-mean-exp per draw), whose error is small against the spread over
    the posterior draws.
    """
    family = get_family(design.family)
    enc = encode_newdata(design, newdata)
    y, trials = outcome_of(design, newdata)
    units = np.arange(len(newdata)) if units is None else np.asarray(units)
    if len(units) != len(newdata):
        raise ValueError("units must have one label per row of newdata")
    beta = P.fixed(dt, design)
    eta = beta @ enc.X.T if beta.shape[-1] else np.zeros(beta.shape[:2] + (len(newdata),))
    new_parts = []  # (factor design, Z of the held-out rows, level index among new levels)
    for fd, Z, labels in zip(design.factors, enc.Zs, enc.labels, strict=True):
        lookup = {lvl: j for j, lvl in enumerate(fd.levels)}
        idx = np.array([lookup.get(lab, -1) for lab in labels])
        seen = idx >= 0
        if seen.any():
            u = P.group_effects(dt, fd)
            eta[..., seen] += P.group_contribution(u, idx[seen], Z[seen])
        if (~seen).any():
            new_labels, new_idx = np.unique(labels[~seen], return_inverse=True)
            full = np.full(len(labels), -1)
            full[~seen] = new_idx
            new_parts.append((fd, Z, full, len(new_labels)))
    s = P.sigma(dt, design)
    names_u, inverse = np.unique(units, return_inverse=True)
    out = np.zeros(eta.shape[:2] + (len(names_u),))
    gaussian = family.link == "identity" and family.has_sigma
    rng_seed = np.random.SeedSequence([0 if random_seed is None else int(random_seed), 0x4B])
    for k in range(len(names_u)):
        rows = np.flatnonzero(inverse == k)
        parts = [(fd, Z[rows], idx[rows]) for fd, Z, idx, _ in new_parts if (idx[rows] >= 0).any()]
        if not parts:
            ll = family.log_likelihood(y[rows], family.inverse_link(eta[..., rows]),
                                       sigma=None if s is None else s[..., None],
                                       trials=None if trials is None else trials[rows])
            out[..., k] = np.asarray(ll).sum(axis=-1)
        elif gaussian:
            out[..., k] = _gaussian_unit(y[rows], eta[..., rows], s, parts, dt)
        elif len(parts) == 1 and parts[0][2].max() == 0 and parts[0][0].q <= MAX_AGHQ_TERMS:
            fd, Z, _ = parts[0]
            out[..., k] = _aghq_unit(family, y[rows], None if trials is None else trials[rows],
                                     eta[..., rows], Z, P.group_cov(dt, fd))
        else:
            rng = np.random.default_rng(rng_seed.spawn(1)[0])
            out[..., k] = _qmc_unit(family, y[rows], None if trials is None else trials[rows],
                                    eta[..., rows], parts, dt, n_qmc, rng)
    return UnitDensity(out, names_u)


def _aghq_unit(family, y, trials, eta, Z, cov, n_nodes: int | None = None,
               max_iter: int = 50) -> np.ndarray:
    """log ∫ Π_i p(y_i | η_i + z_i u) N(u | 0, Σ) du per draw, by adaptive Gauss–Hermite
    quadrature around the mode of the integrand (lme4's nAGQ; exact for a gaussian
    integrand, accurate to ~1e-8 for a logit one with 15 nodes per dimension)."""
    shape = eta.shape[:2]
    q = Z.shape[1]
    n_nodes = n_nodes or {1: 15, 2: 9, 3: 7}[q]
    eta = eta.reshape(-1, eta.shape[-1])  # (S, m)
    cov = cov.reshape(-1, q, q) + 1e-12 * np.eye(q)
    prec = np.linalg.inv(cov)
    u = np.zeros((eta.shape[0], q))
    for _ in range(max_iter):  # Newton on log p(y | u) + log N(u | 0, Σ)
        st = family.eta_stats(y, trials, eta + u @ Z.T)
        grad = st.score @ Z - np.einsum("sab,sb->sa", prec, u)
        hess = np.einsum("ia,si,ib->sab", Z, st.weight, Z) + prec
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        u = u + step
        if np.max(np.abs(step)) < 1e-10:
            break
    st = family.eta_stats(y, trials, eta + u @ Z.T)
    hess = np.einsum("ia,si,ib->sab", Z, st.weight, Z) + prec
    L = np.linalg.cholesky(np.linalg.inv(hess))  # (S, q, q): the integrand's curvature
    x, w = np.polynomial.hermite.hermgauss(n_nodes)
    grid = np.stack(np.meshgrid(*[x] * q, indexing="ij"), axis=-1).reshape(-1, q)  # (K, q)
    logw = np.log(np.stack(np.meshgrid(*[w] * q, indexing="ij"), axis=-1)
                  .reshape(-1, q)).sum(axis=-1) + (grid**2).sum(axis=-1)
    nodes = u[:, None, :] + np.sqrt(2.0) * np.einsum("sab,kb->ska", L, grid)  # (S, K, q)
    ll = family.log_density_eta(y[None, None, :], eta[:, None, :] + nodes @ Z.T,
                                trials=None if trials is None else trials[None, None, :])
    quad_form = np.einsum("ska,sab,skb->sk", nodes, prec, nodes)
    log_prior = -0.5 * (quad_form + q * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1][:, None])
    log_jac = q * 0.5 * np.log(2.0) + np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(axis=-1)
    total = logsumexp(ll.sum(axis=-1) + log_prior + logw, axis=-1) + log_jac
    return total.reshape(shape)


def _gaussian_unit(y, eta, sigma, parts, dt) -> np.ndarray:
    """log N(y | η, σ² I + Σ_g Z_g Σ_g Z_gᵀ ∘ [same new level]) per draw."""
    m = len(y)
    cov = np.broadcast_to((sigma**2)[..., None, None] * np.eye(m), eta.shape[:2] + (m, m)).copy()
    for fd, Z, idx in parts:
        same = (idx[:, None] == idx[None, :]) & (idx[:, None] >= 0)
        Zn = np.where((idx >= 0)[:, None], Z, 0.0)
        cov += np.einsum("ia,cdab,jb->cdij", Zn, P.group_cov(dt, fd), Zn) * same
    L = np.linalg.cholesky(cov)
    r = (y - eta)[..., None]
    z = np.linalg.solve(L, r)[..., 0]
    logdet = 2 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(axis=-1)
    return -0.5 * (m * np.log(2 * np.pi) + logdet + (z**2).sum(axis=-1))


def _qmc_unit(family, y, trials, eta, parts, dt, n_qmc: int, rng,
              chunk: int = 64) -> np.ndarray:
    """log mean_m Π_i p(y_i | η_i + Σ_g z_gi u_g^(m)) per draw, u^(m) ~ N(0, Σ^(s)) by QMC
    (draws in chunks, so memory stays at chunk × rows × n_qmc)."""
    shape = eta.shape[:2]
    flat_eta = eta.reshape(-1, eta.shape[-1])
    normals, chols = [], []
    for fd, _, idx in parts:
        n_new = int(idx.max()) + 1
        points = qmc.Sobol(d=n_new * fd.q, scramble=True, seed=rng).random(n_qmc)
        normals.append(norm.ppf(np.clip(points, 1e-12, 1 - 1e-12)).reshape(n_qmc, n_new, fd.q))
        cov = P.group_cov(dt, fd) + 1e-12 * np.eye(fd.q)
        chols.append(np.linalg.cholesky(cov).reshape(-1, fd.q, fd.q))
    out = np.empty(flat_eta.shape[0])
    for start in range(0, flat_eta.shape[0], chunk):
        sl = slice(start, start + chunk)
        total = flat_eta[sl][..., None]  # (draws, rows, 1)
        for (fd, Z, idx), e, L in zip(parts, normals, chols, strict=True):
            u = np.einsum("sab,mjb->sjam", L[sl], e)  # (draws, new level, term, m)
            for a in range(fd.q):
                zu = u[:, np.maximum(idx, 0), a, :] * Z[:, a][None, :, None]
                total = total + np.where((idx >= 0)[None, :, None], zu, 0.0)
        ll = family.log_density_eta(y[None, :, None], total,
                                    trials=None if trials is None else trials[None, :, None])
        out[sl] = logsumexp(np.asarray(ll).sum(axis=1), axis=-1) - np.log(n_qmc)
    return out.reshape(shape)


@dataclass(frozen=True)
class FoldResult:
    """What one refit returns: the held-out units' elpd, the rows, timings."""

    fold: int
    units: np.ndarray
    elpd: np.ndarray
    n_rows: int
    seconds: float = float("nan")
    #: the refit's sampling problems (empty when its diagnostics passed)
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class KFold:
    """The result of K-fold cross-validation (:func:`hiermod.kfold`).

    ``elpd``: Σ over held-out units of log p(y_unit | training data); ``se``: its standard
    error, √n · sd of the units' elpd (as for PSIS-LOO); ``pointwise``: one row per unit (fold,
    unit, elpd, rows); ``folds`` and ``factor`` say what was held out; ``fold_seconds`` the
    time of each refit (wall clock, in the worker).
    """

    elpd: float
    se: float
    pointwise: pd.DataFrame
    K: int
    folds: str
    factor: str | None
    fold_seconds: tuple[float, ...] = ()
    problems: tuple[str, ...] = ()

    def __repr__(self) -> str:
        held = (f"groups of '{self.factor}'" if self.folds == "grouped" else "rows"
                + (f" (stratified by '{self.factor}')" if self.folds == "stratified" else ""))
        text = (f"{self.K}-fold cross-validation holding out {held}: elpd {self.elpd:.2f} "
                f"(se {self.se:.2f}) over {len(self.pointwise)} units")
        folds = sorted({p.split(":", 1)[0] for p in self.problems})
        if folds:
            which = f" ({', '.join(folds)})" if len(folds) <= 3 else ""
            text += (f"\n  warning: sampling problems in {len(folds)} of {self.K} refits"
                     f"{which}; see .problems: draw more")
        return text


def kfold_summary(results: list[FoldResult], folds: str, factor: str | None) -> KFold:
    """Combine the folds' results into a :class:`KFold`."""
    results = sorted(results, key=lambda r: r.fold)
    rows = [(r.fold, u, e) for r in results for u, e in zip(r.units, r.elpd, strict=True)]
    table = pd.DataFrame(rows, columns=["fold", "unit", "elpd"])
    n = len(table)
    se = float(np.sqrt(n) * table["elpd"].std(ddof=1)) if n > 1 else float("nan")
    problems = tuple(f"fold {r.fold}: {p}" for r in results for p in r.problems)
    return KFold(float(table["elpd"].sum()), se, table, len(results), folds, factor,
                 tuple(r.seconds for r in results), problems)
