"""Figures of report outputs: each function takes a report's table or draws and returns a
matplotlib Figure (never shown). Nothing outside this package imports matplotlib."""

from .caterpillar import plot_caterpillar
from .checks import plot_binned_residuals, plot_calibration, plot_qq, plot_residuals
from .compare import plot_compare
from .estimators import plot_estimators
from .icc import plot_icc
from .longitudinal import plot_growth, plot_residual_acf, plot_unit_fits
from .power import plot_power
from .ppc import plot_ppc
from .predictions import plot_predictions
from .sbc import plot_sbc_ranks
from .shrinkage import plot_shrinkage
from .spaghetti import plot_spaghetti

__all__ = ["plot_binned_residuals", "plot_calibration", "plot_caterpillar", "plot_compare",
           "plot_estimators", "plot_growth", "plot_icc", "plot_power", "plot_ppc",
           "plot_predictions", "plot_qq", "plot_residual_acf", "plot_residuals",
           "plot_sbc_ranks", "plot_shrinkage", "plot_spaghetti", "plot_unit_fits"]
