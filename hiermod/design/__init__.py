"""Spec + DataFrame -> Design, with every check on the data made before a model exists."""

from .checks import DataWarning
from .design import Design, FactorDesign, make_design

__all__ = ["DataWarning", "Design", "FactorDesign", "make_design"]
