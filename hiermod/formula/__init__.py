"""Front ends: lme4 formulas and level-wise (textbook) equations, both compiled to a Spec."""

from .levelwise import Levels, check_levels, levels
from .null import is_null, null_formula, null_spec
from .parse import parse_formula
from .residuals import ResidualSpec, parse_correlation, parse_sigma, residual_spec, with_residuals
from .types import GroupSpec, Response, Spec

__all__ = ["GroupSpec", "Levels", "ResidualSpec", "Response", "Spec", "check_levels", "is_null",
           "levels", "null_formula", "null_spec", "parse_correlation", "parse_formula",
           "parse_sigma", "residual_spec", "with_residuals"]
