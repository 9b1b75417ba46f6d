"""Front ends: lme4 formulas and level-wise (textbook) equations, both compiled to a Spec."""

from .levelwise import Levels, check_levels, levels
from .null import is_null, null_formula, null_spec
from .parse import parse_formula
from .types import GroupSpec, Response, Spec

__all__ = ["GroupSpec", "Levels", "Response", "Spec", "check_levels", "is_null", "levels", "null_formula",
           "null_spec", "parse_formula"]
