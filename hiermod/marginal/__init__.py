"""Gaussian models with their group effects integrated out: sufficient statistics, one numba
kernel (log-density, gradient, exact conditional draws) and its faces — the PyTensor Op, the
PyTensor graph (JAX) and the nutpie callback — and the PyMC model they serve."""

from .model import (
                    MODEL_PATHS,
                    PATH_EXPLICIT,
                    PATH_MARGINAL,
                    assemble_marginal_model,
                    build_marginal_model,
                    choose_model_path,
                    marginal_obstacle,
)
from .suffstats import GroupStats, group_stats

__all__ = ["MODEL_PATHS", "PATH_EXPLICIT", "PATH_MARGINAL", "GroupStats",
           "assemble_marginal_model", "build_marginal_model", "choose_model_path",
           "group_stats", "marginal_obstacle"]
