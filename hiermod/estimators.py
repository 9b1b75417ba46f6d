"""The estimators a multilevel model is set against, side by side for one question.

Complete pooling (OLS), OLS with cluster-robust SEs, country dummies (LSDV fixed effects), the
within–between ("hybrid") model, the REML multilevel model with small-sample df, and the
Bayesian posterior when given: one long table (estimator × term) and a forest plot
(:func:`hiermod.plots.plot_estimators`).

Cluster-robust covariances come from statsmodels (``cov_type="cluster"``; CR1 = Stata's and
``sandwich::vcovCL(type = "HC1")``). The small-sample CR2 (Bell & McCaffrey 2002) is not
offered by statsmodels or another maintained Python package installed here (pyfixest has the
CRV3 jackknife, not CR2), so it is not reported.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from . import names
from .design import make_design
from .errors import SpecError
from .formula import parse_formula
from .mle import reml
from .report.summary_table import interval, parameter_draws

#: fewer clusters than this and cluster-robust SEs / level-2 tests get a caveat
FEW_CLUSTERS = 50
ESTIMATORS = ("OLS", "OLS, cluster-robust (CR1)", "LSDV (cluster dummies), CR1",
              "within-between (hybrid), REML", "multilevel, REML", "Bayesian posterior")


def ols(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
        cov: str = "classical") -> tuple[np.ndarray, np.ndarray, float]:
    """OLS coefficients, their covariance and the df of the t reference.

    Parameters
    ----------
    X, y : ndarray
    groups : ndarray, optional
        Cluster codes (needed unless ``cov="classical"``).
    cov : {"classical", "CR1", "CR0", "HC0_cadjust"}
        "classical": σ̂²(X'X)⁻¹, df n − k. Cluster-robust (statsmodels ``cov_type="cluster"``):
        "CR1" with the factor G/(G − 1)·(n − 1)/(n − k) (Stata; ``sandwich::vcovCL(type =
        "HC1")``), "CR0" with none, "HC0_cadjust" with G/(G − 1) (``vcovCL(type = "HC0")``);
        df G − 1.
    """
    import statsmodels.api as sm

    model = sm.OLS(y, X)
    if cov == "classical":
        res = model.fit()
        return res.params, res.cov_params(), float(res.df_resid)
    if cov not in ("CR1", "CR0", "HC0_cadjust"):
        raise SpecError(f"cov must be 'classical', 'CR1', 'CR0' or 'HC0_cadjust', got {cov!r}")
    res = model.fit(cov_type="cluster", cov_kwds={"groups": groups,
                                                  "use_correction": cov == "CR1"})
    G = len(np.unique(groups))
    V = np.asarray(res.cov_params())
    if cov == "HC0_cadjust":
        V = V * G / (G - 1)
    return np.asarray(res.params), V, float(G - 1)


def _rows(estimator: str, terms, beta, V, df, level: float, note: dict | str = "") -> list:
    se = np.sqrt(np.diag(V))
    df = np.broadcast_to(np.asarray(df, float), se.shape)
    crit = stats.t.ppf(0.5 + level / 2, df)
    out = []
    for k, t in enumerate(terms):
        n = note.get(t, "") if isinstance(note, dict) else note
        df_k, c = df[k], crit[k]
        out.append({"estimator": estimator, "term": t, "estimate": float(beta[k]),
                    "se": float(se[k]), "df": float(df_k), "lower": float(beta[k] - c * se[k]),
                    "upper": float(beta[k] + c * se[k]), "note": n})
    return out


def hybrid_design(design, groups: np.ndarray, within: list[str]):
    """The within–between design: each level-1 column x of X replaced by its deviation from the
    cluster mean (labelled x: the within slope) and the cluster mean (``x (between)``); a
    cluster mean that adds nothing to the columns before it (all clusters share the mean, or
    it equals a level-2 predictor) is left out. The random part is the model's own."""
    counts = np.bincount(groups)
    cols, terms = [], []
    for k, t in enumerate(design.fixed_terms):
        x = design.X[:, k]
        if t not in within:
            cols.append(x)
            terms.append(t)
            continue
        mean = (np.bincount(groups, x) / counts)[groups]
        cols.append(x - mean)
        terms.append(t)
        trial = np.column_stack(cols + [mean])
        if np.linalg.matrix_rank(trial) == trial.shape[1]:
            cols.append(mean)
            terms.append(f"{t} (between)")
    return replace(design, X=np.column_stack(cols), fixed_terms=tuple(terms),
                   fixed_matrix=None)


def compare_estimators(formula: str, data: pd.DataFrame, cluster: str | None = None,
                       bayes=None, level: float = 0.95,
                       ddf: str = "kenward-roger") -> pd.DataFrame:
    """Pooled OLS, cluster-robust OLS, LSDV, within–between, REML and Bayes for one model.

    Parameters
    ----------
    formula : str
        A gaussian lme4 formula, e.g. ``"EFF ~ EDU + URB + CORR + (1 | country)"``; its fixed
        part is the regression every estimator fits.
    data : pandas.DataFrame
    cluster : str, optional
        The clustering factor (default: the formula's grouping factor, when there is one).
    bayes : Fit, optional
        A Bayesian fit of the same formula and data (:func:`hiermod.fit`); adds its posterior
        means, sds and equal-tailed intervals.
    level : float
        Interval level.
    ddf : str
        Denominator df of the REML t tests (default Kenward–Roger, the recommendation of Elff
        et al. 2020 for few clusters).

    Returns
    -------
    pandas.DataFrame
        Long table indexed by (estimator, term): ``estimate``, ``se``, ``df`` (of the t
        reference; NaN for the posterior), ``lower``, ``upper``, ``note``. The estimators:

        * OLS — complete pooling, classical SEs (df n − k): ignores the clustering;
        * OLS, cluster-robust (CR1) — the same estimates, SEs from statsmodels' cluster
          sandwich with Stata's factor, t with G − 1 df;
        * LSDV — one dummy per cluster (fixed effects), CR1 SEs: only within-cluster terms
          are estimated; level-2 predictors are absorbed by the dummies (rows kept, NaN, with a
          note), and so is the intercept;
        * within–between (hybrid) — REML with each level-1 predictor split into its cluster
          mean (between, "x (between)") and the deviation from it (within, "x");
        * multilevel — the formula itself by REML with ``ddf`` df;
        * Bayesian posterior — when ``bayes`` is given.

        ``attrs``: cluster, n_clusters, level, notes (what is absorbed, the few-cluster caveat,
        CR2's absence).

    Raises
    ------
    SpecError
        A non-gaussian formula, an unknown or ambiguous cluster, a Bayesian fit of another
        model.

    Notes
    -----
    With G clusters the cluster-robust sandwich has G − 1 df and is biased downwards when G is
    small (Cameron & Miller 2015); the REML model's level-2 coefficients are tested on about
    G − (level-2 terms) df by Kenward–Roger. Within-cluster slopes are estimated from the
    within variation by LSDV and the hybrid model alike, and agree with REML when the
    between and within effects are equal (Bell & Jones 2015).
    """
    spec = parse_formula(formula)
    if spec.family != "gaussian":
        raise SpecError("compare_estimators compares linear (gaussian) estimators; got a "
                        f"{spec.family} formula")
    design = make_design(spec, data)
    factors = [fd.name for fd in design.factors]
    if cluster is None:
        if len(factors) != 1:
            raise SpecError(f"name the clustering factor: cluster=... (the formula has "
                            f"{len(factors)} grouping factors: {factors})")
        cluster = factors[0]
    if cluster not in data.columns:
        raise SpecError(f"cluster={cluster!r} is not a column of the data; columns: "
                        f"{list(data.columns)}")
    if cluster in factors:
        groups = design.factor(cluster).index
    else:
        kept = data.loc[design.rows] if len(design.rows) else data
        groups = pd.factorize(kept[cluster].astype(str))[0]
    G, n = int(groups.max()) + 1, design.n_obs
    terms, X, y = design.fixed_terms, design.X, design.y
    means = np.stack([np.bincount(groups, X[:, k]) / np.bincount(groups)
                      for k in range(len(terms))], axis=1)
    const = np.all(np.isclose(X, means[groups]), axis=0)
    level2 = [t for t, c in zip(terms, const, strict=True) if c and t != names.INTERCEPT]
    within = [t for t, c in zip(terms, const, strict=True) if not c]
    few = G < FEW_CLUSTERS
    caveat = f"only {G} clusters: cluster-robust SEs are biased down" if few else ""
    rows = []
    b, V, df = ols(X, y)
    rows += _rows(ESTIMATORS[0], terms, b, V, df, level,
                  "ignores the clustering: SEs too small for level-2 terms")
    b, V, df = ols(X, y, groups, "CR1")
    rows += _rows(ESTIMATORS[1], terms, b, V, df, level, caveat)
    wi = [terms.index(t) for t in within]
    D = np.zeros((n, G))
    D[np.arange(n), groups] = 1.0
    b, V, df = ols(np.column_stack([X[:, wi], D]), y, groups, "CR1")
    k = len(wi)
    rows += _rows(ESTIMATORS[2], within, b[:k], V[:k, :k], df, level, caveat)
    rows += [{"estimator": ESTIMATORS[2], "term": t, "estimate": np.nan, "se": np.nan,
              "df": np.nan, "lower": np.nan, "upper": np.nan,
              "note": f"absorbed by the {cluster} dummies"}
             for t in terms if t not in within]
    hybrid = reml(hybrid_design(design, groups, within), ddf=ddf)
    tab = hybrid.fixed_table(level)
    hyb_terms = list(hybrid.fixed_terms)
    rows += _rows(ESTIMATORS[3], hyb_terms, hybrid.beta, hybrid.vcov_beta, tab["df"].to_numpy(),
                  level, {t: "between-cluster slope (cluster mean)" for t in hyb_terms
                          if t.endswith("(between)")})
    multilevel = reml(design, ddf=ddf)
    tab = multilevel.fixed_table(level)
    rows += _rows(ESTIMATORS[4], terms, multilevel.beta, multilevel.vcov_beta,
                  tab["df"].to_numpy(), level,
                  {t: f"level-2 term: {ddf} df ≈ clusters − level-2 terms" for t in level2}
                  if few else "")
    if bayes is not None:
        if tuple(bayes.design.fixed_terms) != tuple(terms) or bayes.design.n_obs != n:
            raise SpecError("the Bayesian fit is of another model or data: fixed terms "
                            f"{list(bayes.design.fixed_terms)} vs {list(terms)}")
        draws = parameter_draws(bayes.idata["posterior"].to_dataset(), bayes.design)
        for t in terms:
            x = np.asarray(draws[t], float).ravel()
            lo, hi = interval(x, level)
            rows.append({"estimator": ESTIMATORS[5], "term": t, "estimate": float(x.mean()),
                         "se": float(x.std(ddof=1)), "df": np.nan, "lower": lo, "upper": hi,
                         "note": "posterior mean and sd; equal-tailed interval"})
    table = pd.DataFrame(rows).set_index(["estimator", "term"])
    notes = [f"LSDV absorbs the level-2 terms ({', '.join(level2) or 'none'}) and the "
             f"intercept into the {G} {cluster} dummies",
             "CR2 (Bell-McCaffrey) is not reported: no maintained Python library installed "
             "here offers it (statsmodels has CR0/CR1)"]
    if few:
        notes.append(f"few clusters ({G} < {FEW_CLUSTERS}): prefer REML with Kenward-Roger "
                     "(or Satterthwaite) df for level-2 coefficients (Elff et al. 2020)")
    table.attrs.update({"cluster": cluster, "n_clusters": G, "level": level, "notes": notes,
                        "ddf": ddf})
    return table

