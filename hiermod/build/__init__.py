"""Design -> pm.Model."""

from .model import PARAMETERIZATIONS, build_model, model_coords

__all__ = ["PARAMETERIZATIONS", "build_model", "model_coords"]
