"""One flat float64 buffer holding everything a compiled callback reads: nutpie hands the
callback a single pointer, so the data, priors and layout tables travel packed.

Layout: ``[length, n_scalars, n_arrays, scalars..., (offset, size) per array, arrays...]``;
:func:`pack` writes it, :func:`scalar` and :func:`part` read it inside numba code.
"""

from __future__ import annotations

import numba
import numpy as np

_HEAD = 3


def pack(scalars, arrays) -> np.ndarray:
    """The buffer of ``scalars`` (floats) and ``arrays`` (any shapes; stored flat, C order)."""
    scalars = [float(s) for s in scalars]
    arrays = [np.ravel(np.asarray(a, dtype=float)) for a in arrays]
    start = _HEAD + len(scalars) + 2 * len(arrays)
    table, offset = [], start
    for a in arrays:
        table += [offset, a.size]
        offset += a.size
    buf = np.concatenate([np.array([offset, len(scalars), len(arrays)], float),
                          np.array(scalars, float), np.array(table, float), *arrays])
    buf.flags.writeable = False
    return buf


@numba.njit(cache=True, nogil=True)
def scalar(buf, k):
    """The k-th scalar."""
    return buf[_HEAD + k]


@numba.njit(cache=True, nogil=True)
def part(buf, k):
    """The k-th array, flat."""
    row = _HEAD + int(buf[1]) + 2 * k
    o, n = int(buf[row]), int(buf[row + 1])
    return buf[o:o + n]
