"""Design -> pm.Model: the explicit multilevel model and the pieces it shares with the others."""

from .explicit import (
                       PARAMETERIZATIONS,
                       BuiltModel,
                       assemble_model,
                       build_model,
                       check_parameterization,
)
from .parts import model_coords

__all__ = ["PARAMETERIZATIONS", "BuiltModel", "assemble_model", "build_model",
           "check_parameterization", "model_coords"]
