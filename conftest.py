"""Doctests of hiermod/ (run by pytest with --doctest-modules): ``hm`` and ``np`` in every
docstring's namespace, and the plotting back end that draws no window."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import hiermod  # noqa: E402


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace.update({"hm": hiermod, "np": np})
