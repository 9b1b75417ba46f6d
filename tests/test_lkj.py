"""The LKJ prior written through C-vine partial correlations (hiermod/build/lkj.py).

Checks against the LKJ density itself, p(R) ∝ det(R)^(η−1) (Lewandowski et al. 2009), not
against PyMC: the implied density of the off-diagonal of R, with the Jacobian of z → R taken by
finite differences, must differ from (η−1)·log det R by a constant; and the marginal of every
correlation must be the known Beta(η − 1 + d/2, η − 1 + d/2) on (−1, 1).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from scipy import stats

from hiermod.model.lkj import cholesky_from_partial, lkj_corr_cholesky, partial_correlation_shapes


def corr_from_partial(z: np.ndarray, d: int) -> np.ndarray:
    L = cholesky_from_partial(z, d)
    return L @ L.T


def offdiag(R: np.ndarray) -> np.ndarray:
    return R[np.tril_indices(R.shape[0], -1)]


@pytest.mark.parametrize("d", [2, 3, 4])
def test_rows_have_unit_length_and_numpy_equals_pytensor(d):
    rng = np.random.default_rng(d)
    z = rng.uniform(-0.95, 0.95, d * (d - 1) // 2)
    L = cholesky_from_partial(z, d)
    np.testing.assert_allclose(np.sum(L**2, axis=1), 1.0, rtol=1e-14)
    assert np.allclose(np.triu(L, 1), 0) and np.all(np.diag(L) > 0)
    zt = pt.dvector("z")
    np.testing.assert_allclose(cholesky_from_partial(zt, d).eval({zt: z}), L, rtol=1e-14)


@pytest.mark.parametrize(("d", "eta"), [(2, 2.0), (3, 2.0), (3, 0.7), (4, 1.0)])
def test_implied_density_is_lkj(d, eta):
    """log p_z(z) − log|∂offdiag(R)/∂z| − (η − 1) log det R is the same at every z."""
    rng = np.random.default_rng(11)
    b = partial_correlation_shapes(d, eta)
    k = len(b)
    out = []
    for _ in range(6):
        z = rng.uniform(-0.9, 0.9, k)
        log_pz = np.sum(stats.beta(b, b).logpdf((1 + z) / 2) - np.log(2))
        h = 1e-6
        jac = np.column_stack([
            (offdiag(corr_from_partial(z + h * e, d)) - offdiag(corr_from_partial(z - h * e, d)))
            / (2 * h) for e in np.eye(k)])
        log_det_R = np.linalg.slogdet(corr_from_partial(z, d))[1]
        out.append(log_pz - np.log(abs(np.linalg.det(jac))) - (eta - 1) * log_det_R)
    assert np.ptp(out) < 1e-6, out


@pytest.mark.parametrize(("d", "eta"), [(3, 2.0), (4, 1.0)])
def test_prior_draws_have_the_lkj_marginals(d, eta):
    with pm.Model() as model:
        L = lkj_corr_cholesky("pc", d, eta)
        pm.Deterministic("R", pt.dot(L, L.T))
    draws = pm.draw(model["R"], draws=4000, random_seed=5)
    a = eta - 1 + d / 2
    for i, j in zip(*np.tril_indices(d, -1), strict=True):
        p = stats.kstest((draws[:, i, j] + 1) / 2, stats.beta(a, a).cdf).pvalue
        assert p > 1e-3, (i, j, p)
    np.testing.assert_allclose(draws[:, range(d), range(d)], 1.0, rtol=1e-12)
