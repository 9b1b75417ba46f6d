"""Report methods reachable from a Fit (``fit.icc()``, ``fit.predict(...)``, ...).

Each method is one line that calls the pure report function of the same job, so that
``Fit`` stays a thin result object: new reports are added here, not in ``hiermod/fit.py``.
"""

from __future__ import annotations


class FitReports:
    """Mixin of the Fit class; ``self`` has ``idata``, ``design``, ``spec``."""
