"""The vectorizable exp and log1p of hiermod/compiled/fastmath.py against the C library's, on
dense grids: exp within 1 ulp on [−708, 709], log1p within 3 ulps on [0, 1]."""

from __future__ import annotations

import numpy as np

from hiermod.compiled.fastmath import exp_clamped, log1p_unit


def ulps(a, b):
    return np.max(np.abs(a - b) / np.spacing(np.abs(b)))


def test_exp_within_one_ulp_and_clamped():
    x = np.concatenate([np.linspace(-708, 709, 2_000_001), [0.0, -0.0, 1e-300, -1e-12]])
    out, bits = np.empty_like(x), np.empty(len(x), np.int64)
    exp_clamped(x, out, bits)
    assert ulps(out, np.exp(x)) <= 1.0
    far = np.array([-750.0, -1e6, 710.0])
    out, bits = np.empty(3), np.empty(3, np.int64)
    exp_clamped(far, out, bits)
    assert ulps(out, np.exp([-708.0, -708.0, 709.0])) <= 1.0


def test_log1p_within_three_ulps_on_the_unit_interval():
    e = np.concatenate([np.linspace(0, 1, 1_000_001), np.geomspace(1e-300, 1e-3, 10_000)])
    out = np.empty_like(e)
    log1p_unit(e, out)
    ref = np.log1p(e)
    nz = ref > 0
    assert ulps(out[nz], ref[nz]) <= 3.0 and np.all(out[~nz] == 0.0)
