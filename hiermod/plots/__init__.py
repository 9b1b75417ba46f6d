"""Figures of report outputs: each function takes a report's table or draws and returns a
matplotlib Figure (never shown). Nothing outside this package imports matplotlib."""

from .caterpillar import plot_caterpillar
from .checks import plot_binned_residuals, plot_calibration, plot_qq, plot_residuals
from .compare import plot_compare
from .estimators import plot_estimators
from .icc import plot_icc
from .ppc import plot_ppc
from .predictions import plot_predictions
from .shrinkage import plot_shrinkage
from .spaghetti import plot_spaghetti

__all__ = ["plot_binned_residuals", "plot_calibration", "plot_caterpillar", "plot_compare",
           "plot_estimators", "plot_icc", "plot_ppc", "plot_predictions", "plot_qq",
           "plot_residuals", "plot_shrinkage", "plot_spaghetti"]
