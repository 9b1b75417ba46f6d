"""Spec + DataFrame -> Design, with every check on the data made before a model exists."""

from .cells import Cells, aggregate, can_aggregate
from .checks import DataWarning
from .design import Design, FactorDesign, make_design
from .summary import FactorSummary, SummaryDesign

__all__ = ["Cells", "DataWarning", "aggregate", "can_aggregate", "Design", "FactorDesign",
           "FactorSummary", "SummaryDesign", "make_design"]
