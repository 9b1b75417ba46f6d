"""Design -> pm.Model."""

from .marginal import MODEL_PATHS, build_marginal_model, choose_model_path
from .model import PARAMETERIZATIONS, build_model, model_coords
from .suffstats import GroupStats, group_stats

__all__ = ["MODEL_PATHS", "PARAMETERIZATIONS", "GroupStats", "build_marginal_model",
           "build_model", "choose_model_path", "group_stats", "model_coords"]
