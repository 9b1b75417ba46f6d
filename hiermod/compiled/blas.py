"""BLAS threads: one per caller while hiermod's kernels run.

The kernels call BLAS (numba's ``np.dot``) on matrices of tens to hundreds of rows, from as many
threads as chains sample at once (nutpie) or from the REML engine's loops. Threaded OpenBLAS
does not pay off at these sizes, and when the cores are busy — as they are while chains run in
parallel — its spinning threads make a call 5 to 1000 times slower (a 1000 × 50 by 50 × 50
product: 135 µs of CPU single-threaded, 837 µs with two threads on two busy cores).
"""

from __future__ import annotations

import contextlib


def blas_threads(active: bool = True):
    """A context that runs BLAS single-threaded (a no-op when not ``active``); entering it
    costs ~0.3 ms (more under load), so callers with small matrices may skip it."""
    if not active:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
