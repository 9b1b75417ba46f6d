"""hiermod: Bayesian multilevel models from textbook specs or lme4 formulas, on PyMC."""

from . import datasets
from .build import build_model
from .design import Design, FactorDesign, make_design
from .diagnostics import Diagnostics
from .errors import DataError, HiermodError, SamplingError, SpecError
from .fit import Fit, fit
from .io import load_fit
from .priors import Prior, default_priors
from .reml import RemlFit, reml, reml_vs_ml
from .report import compare_fits, null_model
from .report.compare import compare
from .sample import SamplerSettings
from .spec.equations import Equations, equations
from .spec.formula import parse_formula
from .spec.levels import check_levels, levels
from .spec.toml import ModelFile, load_model
from .spec.types import GroupSpec, Response, Spec

__all__ = [
    "DataError", "Design", "Diagnostics", "Equations", "FactorDesign", "Fit", "GroupSpec",
    "HiermodError", "ModelFile", "Prior", "RemlFit", "Response", "SamplerSettings",
    "SamplingError", "Spec", "SpecError", "build_model", "check_levels", "compare",
    "compare_fits", "datasets", "default_priors", "equations", "fit", "levels", "load_fit",
    "load_model", "make_design", "null_model", "parse_formula", "reml", "reml_vs_ml",
]
__version__ = "0.1.0"
