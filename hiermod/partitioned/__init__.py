"""Data larger than memory: a Dask DataFrame checked and summed partition by partition into a
:class:`~hiermod.design.SummaryDesign` (the sufficient statistics of a gaussian model, the cells
of a bernoulli / binomial / poisson one), from which ``hm.fit`` and ``hm.reml`` fit the model on
one machine. Dask is imported only when such data are given.

Modules: ``frames`` (recognising a Dask DataFrame, running a pass as a tree of tasks),
``states`` (stateful transforms learnt from sums), ``encode`` (one partition as a Design with
the global levels), ``scan`` (first pass: checks, levels), ``sums`` (second pass: sums and
their merge), ``build`` (the SummaryDesign and the checks that need all rows).
"""

from .build import PATHS_NOTE, partitioned_design, summary_kind
from .frames import is_dask_frame

__all__ = ["PATHS_NOTE", "is_dask_frame", "partitioned_design", "summary_kind"]
