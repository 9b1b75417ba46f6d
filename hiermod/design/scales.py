"""The scales the default priors read from the data (:mod:`hiermod.priors`).

The outcome's centre and scale on the link scale (the family's rule:
:meth:`hiermod.families.Family.prior_location_scale_sums`), and the standard deviation of every
fixed-effect column and of every varying-effect column — from exact sums over the rows
(:mod:`hiermod.exactsum`), so that a Design of all the rows and a design summed partition by
partition (:class:`hiermod.design.summary.SummaryDesign`) get the same numbers, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exactsum import ColumnSums, exact_sum
from ..families import OutcomeSums


@dataclass(frozen=True)
class DataScales:
    """``centre`` and ``outcome_scale`` of the outcome on the link scale; ``fixed_sd`` the sd of
    each fixed-effect column (formula order); ``varying_sd`` per factor the sd of each of its
    varying-effect columns (population sds: divisor n, as ``numpy.std``)."""

    centre: float
    outcome_scale: float
    fixed_sd: tuple[float, ...]
    varying_sd: tuple[tuple[float, ...], ...]


def scales_of_rows(design) -> DataScales:
    """The :class:`DataScales` of a Design's rows (exact sums, :func:`scales_of_sums`)."""
    return scales_of_sums(design.likelihood, ColumnSums.of(design.y),
                          None if design.trials is None else exact_sum(design.trials),
                          ColumnSums.of(design.X),
                          tuple(ColumnSums.of(fd.Z) for fd in design.factors))


def scales_of_sums(family, y: ColumnSums, trials_total: float | None, x: ColumnSums,
                   z: tuple[ColumnSums, ...]) -> DataScales:
    """The :class:`DataScales` from exact column sums of y, X and each factor's Z (over all
    rows, or added up over partitions: the same numbers either way)."""
    sums = OutcomeSums(y.n, float(y.totals()[0]), float(y.sq_dev()[0]), trials_total)
    centre, scale = family.prior_location_scale_sums(sums)
    return DataScales(centre, scale, tuple(float(v) for v in x.sds()),
                      tuple(tuple(float(v) for v in zs.sds()) for zs in z))
