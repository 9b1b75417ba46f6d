"""Gaussian models with their group effects integrated out: sufficient statistics, numba
kernels (log-density, gradient, exact conditional draws; one grouping factor, and several) and
their faces — PyTensor Ops, PyTensor graphs (JAX) and nutpie callbacks — and the PyMC model
they serve."""

from .model import (MODEL_PATHS, PATH_EXPLICIT, PATH_MARGINAL, assemble_marginal_model,
                    build_marginal_model, choose_model_path, marginal_obstacle, marginal_stats)
from .suffstats import GroupStats, group_stats

__all__ = ["MODEL_PATHS", "PATH_EXPLICIT", "PATH_MARGINAL", "GroupStats",
           "assemble_marginal_model", "build_marginal_model", "choose_model_path",
           "group_stats", "marginal_obstacle", "marginal_stats"]
