"""The Cholesky factor of an LKJ(η) correlation matrix, from independent Beta variables.

Lewandowski, Kurowicka & Joe (2009, §2.4 and §3.2): a d × d correlation matrix R ~ LKJ(η),
p(R) ∝ det(R)^(η−1), is the image of its C-vine partial correlations z_ij (i > j; z_ij is the
correlation of variables i and j given variables 0 … j−1), which are independent with

.. math::  (1 + z_{ij}) / 2 \\sim \\mathrm{Beta}(b_j, b_j),\\qquad b_j = η + (d − 2 − j)/2.

The Cholesky factor of R follows row by row (the map Stan's ``cholesky_corr_constrain`` uses):

.. math::  L_{00} = 1,\\quad L_{ij} = z_{ij}\\sqrt{1 − \\textstyle\\sum_{m<j} L_{im}^2}\\ (j < i),
           \\quad L_{ii} = \\sqrt{1 − \\textstyle\\sum_{m<i} L_{im}^2}.

For d = 2 this is the familiar r = 2·Beta(η, η) − 1. Written this way the model needs only
PyMC's Beta (prior draws, its log-odds transform) and a handful of scalar operations;
``pm.LKJCorr`` carries a general transform whose graph takes nutpie's numba backend about ten
seconds to compile, longer than the whole of a typical marginal fit's sampling.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt


def partial_correlation_shapes(d: int, eta: float) -> np.ndarray:
    """b_j of each z_ij, in row order (i = 1 … d−1, j = 0 … i−1)."""
    return np.array([eta + (d - 2 - j) / 2.0 for i in range(1, d) for j in range(i)])


def cholesky_from_partial(z, d: int):
    """Lower-triangular L (d × d, rows of unit length) from the C-vine partial correlations z
    (length d(d−1)/2, row order); works on PyTensor or NumPy arrays. NumPy z may carry batch
    axes after the first (K, ...): L is then (d, d, ...)."""
    lib = pt if isinstance(z, pt.TensorVariable) else np
    one, zero = lib.ones_like(z[0]), lib.zeros_like(z[0])
    rows, k = [], 0
    for i in range(d):
        row, used = [], zero
        for j in range(i):
            value = z[k] * lib.sqrt(1.0 - used)
            row.append(value)
            used = used + value**2
            k += 1
        row.append(lib.sqrt(1.0 - used) if i else one)
        row.extend([zero] * (d - i - 1))
        rows.append(lib.stack(row))
    return lib.stack(rows)


def lkj_corr_cholesky(name: str, d: int, eta: float):
    """Add ``name`` ((1 + z)/2 ~ Beta, the partial correlations) to the current PyMC model and
    return the Cholesky factor of R ~ LKJ(η) as a PyTensor expression."""
    b = partial_correlation_shapes(d, eta)
    half = pm.Beta(name, alpha=b, beta=b, shape=len(b))
    return cholesky_from_partial(2.0 * half - 1.0, d)
