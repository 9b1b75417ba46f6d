"""Spec + Dask DataFrame -> :class:`~hiermod.design.SummaryDesign`, in two passes over the
partitions and with the checks of :func:`hiermod.make_design`.

1. :mod:`.scan`: every row-wise check, partition by partition (a failure names the partition
   and its rows), and what the encoding needs from all rows: kinds, levels, transform states;
2. :mod:`.sums`: each partition encoded as a Design of its rows and reduced to sums; the sums
   merged pairwise in a tree;
3. here: the checks that need all the rows (group sizes, identifiability of the fixed effects
   from XᵀX, level-2 predictors from the ranges within groups) and the SummaryDesign.
"""

from __future__ import annotations

import numpy as np

from .. import names
from ..design import SummaryDesign
from ..design.cells import CELL_FAMILY
from ..design.centring import centring_at
from ..design.checks import check_columns, check_level_counts, show, warn
from ..design.crossprod import (
    centred_pooled,
    elimination_order,
    one_factor_stats,
    second_moments,
    several_factor_stats,
)
from ..design.scales import scales_of_sums
from ..design.summary import FactorSummary
from ..design.validate import check_column_ranges, check_rank, check_roles
from ..errors import DataError, SpecError
from ..families import get_family
from ..frame import used_columns
from .encode import Context, Encoder, merged_levels
from .frames import describe, is_dask_frame, map_partitions
from .scan import ScanContext, check_scan, merge_scans, predictor_columns, scan_partition
from .states import learnt_states, stateful_calls
from .sums import CELLS, STATS, SumContext, merge_sums, sum_partition

#: what the exact paths take from Dask data (the explicit model needs the rows)
PATHS_NOTE = ("Dask data are fitted on hiermod's exact paths, which need sums over the rows "
              "and not the rows: gaussian models with one or more grouping factors (group "
              "effects integrated out) and bernoulli, binomial and poisson models with grouping "
              "factors (rows summed into cells)")


def summary_kind(spec) -> str:
    """``"stats"`` (gaussian) or ``"cells"``; a SpecError for a model off the exact paths."""
    family = get_family(spec.family, spec.link)
    if not spec.factors:
        raise SpecError(f"the model has no grouping factor. {PATHS_NOTE}; a model without "
                        "groups is fitted on a pandas DataFrame")
    if getattr(spec, "residuals", None) is not None:
        raise SpecError("correlated or heteroscedastic residuals (correlation=, sigma=) need "
                        f"each unit's rows in order, not sums. {PATHS_NOTE}; fit residual "
                        "structures on a pandas DataFrame")
    if family.name == "gaussian":
        return STATS
    if family.name in CELL_FAMILY:
        return CELLS
    raise SpecError(f"a {family.name} model has no exact path for Dask data. {PATHS_NOTE}")


def partitioned_design(spec, ddf, dropna: bool = False) -> SummaryDesign:
    """Check a Dask DataFrame against the spec and sum it into a SummaryDesign.

    Parameters
    ----------
    spec : Spec
    ddf : dask.dataframe.DataFrame
        Any number of partitions (e.g. ``dd.read_parquet(...)``); computed on Dask's current
        scheduler (the active ``distributed.Client`` if any).
    dropna : bool
        Drop rows with missing values in the model's columns (counted and reported) instead
        of raising.

    Returns
    -------
    SummaryDesign
        Gaussian models: the sufficient statistics; bernoulli / binomial / poisson: the cells.

    Raises
    ------
    SpecError
        A model off the exact paths, a level-wise spec, ``C()`` or a transform that cannot
        learn its state from sums (``poly``, ``bs``), names that collide with hiermod's.
    DataError
        Everything :func:`hiermod.make_design` refuses, naming the partition and the row
        labels where a row is at fault.

    Notes
    -----
    Two passes over the data; only sums, unique values and (for cells) one row per cell leave
    the workers. Statistics and draws agree with the pandas path's to rounding (sums taken
    in another order); see :mod:`hiermod.design.crossprod` for how parts are merged.
    """
    if not is_dask_frame(ddf):
        raise DataError(f"expected a Dask DataFrame, got {type(ddf).__name__}")
    if spec.levels is not None:
        raise SpecError("the checks of level-wise equations (constancy within groups, nesting) "
                        "read the rows; on Dask data fit the equivalent lme4 formula "
                        f"'{spec.formula}'")
    kind = summary_kind(spec)
    family = get_family(spec.family, spec.link)
    roles = used_columns(spec)
    check_columns(ddf, roles)
    check_roles(spec, roles)
    dup = [c for c in roles if int(np.sum(ddf.columns == c)) > 1]
    if dup:
        raise DataError(f"the data have several columns named {', '.join(map(repr, dup))}; "
                        "column names must be unique: rename them")
    calls = stateful_calls([spec.fixed] + [g.expr for g in spec.groups])
    ctx = Context(spec, roles, dropna)
    sc = ScanContext(ctx, predictor_columns(spec, roles),
                     predictor_columns(spec, roles, bare=True), calls)
    scan = map_partitions(ddf, scan_partition, sc, merge=merge_scans)
    kinds = check_scan(scan, roles)
    for message, k in scan.warnings.items():
        warn(f"{message} (partition {k} of the Dask DataFrame)")
    if scan.n_dropped:
        where = ", ".join(str(k) for k in sorted(scan.dropped_labels))
        warn(f"dropped {scan.n_dropped} of {scan.n_rows + scan.n_dropped} rows with missing "
             f"values (in partition{'s' * (len(scan.dropped_labels) > 1)} {where})")
    family.check_outcome_range(*scan.y_range, spec.response.name)
    categories = predictor_levels(ddf, scan, kinds, sc)
    levels = tuple(merged_levels(f, scan.levels[f]) for f in spec.factors)
    enc = Encoder.build(spec, Context(spec, roles, dropna, kinds), scan.template, categories,
                        levels, learnt_states(calls, scan.states) if calls else {})
    sums = map_partitions(ddf, sum_partition, SumContext(enc, kind), merge=merge_sums)
    return assemble(spec, enc, sums, kind, scan.n_dropped, ddf)


def predictor_levels(ddf, scan, kinds: dict, sc: ScanContext) -> dict:
    """column -> levels, in formulae's order, of every factor predictor (text: sorted; an
    ordered Categorical: its categories' order), with the pandas path's checks and warning."""
    out = {}
    for col in sc.predictors:
        if kinds[col] not in ("text", "category"):
            continue
        values = scan.values.get(col, set())
        if col in sc.bare and len(values) < 2:
            shown = show(next(iter(values))) if values else "none"
            raise DataError(f"the predictor '{col}' is a factor with a single level ({shown}) "
                            "in the rows used: it has no contrast to estimate; drop it from "
                            "the formula")
        dtype = ddf.dtypes[col]
        if kinds[col] == "category" and getattr(dtype, "ordered", False):
            cats = list(dtype.categories) if dtype.categories is not None else []
            if not set(values) <= set(cats):
                raise DataError(f"the ordered Categorical '{col}' has unknown or differing "
                                "categories across partitions: make them known, e.g. "
                                f"ddf['{col}'] = ddf['{col}'].cat.set_categories([...], "
                                "ordered=True)")
            out[col] = tuple(c for c in cats if c in values)
        else:
            out[col] = tuple(sorted(values))
        if scan.numbers_as_text.get(col):
            examples = ", ".join(show(v) for v in sorted(values)[:3])
            warn(f"the predictor '{col}' holds numbers written as text ({examples}, ...): it is "
                 f"used as a factor with {len(values)} levels. For a slope convert it "
                 f"(ddf['{col}'] = dd.to_numeric(ddf['{col}'])); to keep it a factor without "
                 "this warning make it a Categorical")
    return out


def gram_root(G: np.ndarray) -> np.ndarray:
    """A square matrix M with MᵀM = G (G symmetric positive semi-definite)."""
    lam, V = np.linalg.eigh(0.5 * (G + G.T))
    return np.sqrt(np.clip(lam, 0.0, None))[:, None] * V.T


def check_fixed(terms: tuple[str, ...], sums, kind: str) -> None:
    """:func:`hiermod.design.validate.check_identifiable` from sums: more rows than fixed
    effects, no all-zero column, no constant predictor next to the intercept, full rank (the
    rank test on a square root of XᵀX, or on the cells' distinct rows of X)."""
    p = len(terms)
    if p == 0:
        return
    top = check_column_ranges(terms, sums.n, sums.x_low, sums.x_high)
    if kind == CELLS:
        check_rank(sums.cells.X / top, terms)
        return
    XtX = centred_pooled(sums.rows, terms, np.zeros(p), 0.0)[0]  # raw: exact sums rounded
    check_rank(gram_root(XtX / np.outer(top, top)), terms)


def level2(terms: tuple[str, ...], sums, g: int, rtol: float = 1e-9) -> tuple[str, ...]:
    """Fixed terms constant within every group of factor g (as
    :func:`hiermod.frame.constant_within`)."""
    lo, hi = sums.group_low[g], sums.group_high[g]
    scale = np.maximum(sums.x_high - sums.x_low, 1e-300)
    return tuple(t for k, t in enumerate(terms) if t != names.INTERCEPT
                 and bool(np.all(hi[:, k] - lo[:, k] <= rtol * scale[k])))


def data_moments(terms, enc: Encoder, sums, kind: str):
    """(mean of each X column, their covariance (ddof 1), per factor ZᵀZ / n) over all rows —
    what the ICC and R² read from the data."""
    n, p = sums.n, len(terms)
    x_mean = sums.x.means() if p else np.zeros(0)
    if kind == STATS:
        cov = centred_pooled(sums.rows, terms, x_mean, 0.0)[0] / max(n - 1, 1)
        return x_mean, cov, second_moments(sums.rows, enc.factors)
    cells = sums.cells
    Xc = cells.X - x_mean
    cov = (Xc * cells.count[:, None]).T @ Xc / max(n - 1, 1)
    moments = tuple((Z * cells.count[:, None]).T @ Z / n for Z in cells.Z)
    return x_mean, cov, moments


def assemble(spec, enc: Encoder, sums, kind: str, n_dropped: int, ddf) -> SummaryDesign:
    """The SummaryDesign of the merged sums, after the checks that need all the rows."""
    source = describe(ddf)
    terms = enc.fixed_terms
    for fd, lv, counts in zip(enc.factors, enc.levels, sums.counts, strict=True):
        check_level_counts(fd.name, counts if len(lv.levels) >= 2 else None, lv.levels, fd.q)
    x_mean, x_cov, moments = data_moments(terms, enc, sums, kind)
    factors = [FactorSummary(fd.name, fd.terms, lv.levels, fd.blocks,
                             np.asarray(counts, dtype=np.int64), M, source)
               for fd, lv, counts, M in zip(enc.factors, enc.levels, sums.counts, moments,
                                            strict=True)]
    slopes = [k for k, t in enumerate(terms) if t != names.INTERCEPT]
    has_intercept = names.INTERCEPT in terms
    cen = centring_at(terms, sums.x.means()[slopes] if slopes and has_intercept
                      else np.zeros(0))
    check_fixed(terms, sums, kind)
    family = get_family(spec.family, spec.link)
    scales = scales_of_sums(family, sums.y, None if sums.trials is None
                            else float(sums.trials.values()[0]), sums.x, sums.z)
    stats = None
    if kind == STATS:
        stats = (one_factor_stats(sums.rows, terms, factors[0], cen) if len(factors) == 1 else
                 several_factor_stats(sums.rows, terms, factors, cen,
                                      elimination_order(factors)))
    return SummaryDesign(
        spec=spec, fixed_terms=terms, factors=tuple(factors), n_obs=int(sums.n), centring=cen,
        data_scales=scales,
        level2_terms=tuple((fd.name, level2(terms, sums, g)) for g, fd in enumerate(factors)),
        stats=stats, cells=sums.cells, row_sums=sums.rows, x_mean=x_mean,
        x_covariance=x_cov, fixed_matrix=enc.fixed_matrix,
        factor_matrices=enc.factor_matrices, n_dropped=n_dropped,
        n_partitions=ddf.npartitions, source=source)
