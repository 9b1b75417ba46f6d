"""Gaussian models with correlated (AR(1), CAR(1), compound symmetry) or heteroskedastic
residuals within units: the sorted layout of a Design (:mod:`.layout`), the one numba kernel
that every face uses (:mod:`.kernel`: log-density and gradient, exact draws of the group
effects, leave-one-out densities, residual draws; O(n) per evaluation), and simulated panels
with known truth (:mod:`.simulate`)."""

from .layout import KIND_CODES, SerialData, serial_data
from .simulate import PANEL_TRUTH, simulate_panel

__all__ = ["KIND_CODES", "PANEL_TRUTH", "SerialData", "serial_data", "simulate_panel"]
