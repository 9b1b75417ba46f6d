"""The marginalized gaussian model as one numba C callback for nutpie, with no PyTensor compile.

:func:`hiermod.build.marginal.build_marginal_model` writes the model in PyMC; nutpie then has
PyTensor rewrite its graph and numba compile it afresh for every fit — 3 to 10 seconds, while
sampling the marginal model takes 1 to 3 seconds. Here the same log-density (the same
parameters, priors, transforms and likelihood) is one fixed function of a flat data buffer,
compiled once and cached on disk by numba; a fit only packs the buffer.

Unconstrained coordinates, in this order (each with its prior, see
:mod:`hiermod.build.prior_kernels`):

* the fixed effects as sampled: the centred intercept α and the slopes b (β = B·(α, b));
* log sd of every varying term of the factor;
* for each block of correlated terms, the log-odds of (1 + z)/2 ~ Beta for each of its
  partial correlations z (the LKJ(η) prior, :mod:`hiermod.build.lkj`; for two terms z is the
  correlation and (1 + z)/2 ~ Beta(η, η));
* log σ.

With L = diag(sd)·L_R (L_R the correlation Cholesky: rows (1, 0) and (z, √(1 − z²)) per block)
the log-likelihood and its gradients in θ = M·(α, b) − offset, L and σ come from
:func:`hiermod.build.marginal_op.marginal_terms`; the chain rule gives
∂/∂sd_k = Σ_c ∂ℓ/∂L_kc·(L_R)_kc and, for two terms, ∂/∂z = sd₂(∂ℓ/∂L₂₁ − ∂ℓ/∂L₂₂·z/√(1 − z²)).

A block of d > 2 correlated terms has d(d−1)/2 partial correlations, with Beta shapes
η + (d − 2 − j)/2; its rows of L_R and their reverse-mode derivatives are in
:func:`_block_forward` / :func:`_block_backward`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import xarray as xr

from .. import names
from ..priors import Prior, lkj_key
from .lkj import cholesky_from_partial, partial_correlation_shapes
from .marginal_op import marginal_terms
from .prior_kernels import CODES, IDENTITY, LOG, LOGODDS, constrained, support_point, \
    unconstrained_logp

FIXED, SD, PCORR, SIGMA = 0, 1, 2, 3
UNCONSTRAINED = "unconstrained_point"  # the one variable nutpie stores per draw
# header of the data buffer: slot -> meaning
(_LEN, _NDIM, _P, _Q, _J, _F, _YTY, _N, _O_ZTZ, _O_ZTW, _O_ZTY, _O_WTW, _O_WTY, _O_M,
 _O_OFF, _O_PRIOR, _O_ROLE, _NB, _O_BLOCK, _HEADER) = range(20)


@dataclass(frozen=True)
class Coordinate:
    """One unconstrained coordinate: its prior, transform and role (FIXED i / SD of term k /
    PCORR (a partial correlation; its block is in :attr:`CompiledMarginal.blocks`) / SIGMA)."""

    dist: str
    params: tuple[float, ...]
    transform: int
    role: int
    i: int = 0
    k: int = 0


@dataclass(frozen=True)
class Output:
    """A posterior variable of the PyMC model, read from the constrained coordinates."""

    name: str
    coords: tuple[int, ...]
    scalar: bool


def _coordinate(prior: Prior, role: int, **where: int) -> Coordinate:
    """A coordinate with a user prior: log scale for the positive families."""
    return Coordinate(prior.dist, tuple(prior.kwargs.values()),
                      LOG if prior.positive else IDENTITY, role, **where)


class CompiledMarginal:
    """The coordinates, the data buffer and the nutpie model of one marginalized design.

    Parameters
    ----------
    design : Design
        Gaussian, one grouping factor.
    priors : dict
        Resolved priors (:func:`hiermod.priors.resolve_priors`).
    stats : GroupStats
    model : pymc.Model
        The PyMC version of the same model (:func:`build_marginal_model`): names, dims and
        coordinates of the posterior are taken from it, so both paths store the same variables.
    """

    def __init__(self, design, priors: dict[str, Prior], stats, model) -> None:
        self.design, self.stats, self.model = design, stats, model
        coords: list[Coordinate] = []
        outputs: list[Output] = []
        self.B = self._fixed(design, priors, coords, outputs)
        (fd,) = design.factors
        self.q = fd.q
        self.sd_coord = [0] * fd.q
        self.blocks: list[tuple[int, tuple[int, ...]]] = []  # (first coordinate, terms)
        for bi, block in enumerate(fd.blocks):
            start = len(coords)
            for k in block:
                prior = priors[names.sd_label(fd.name, fd.terms[k])]
                self.sd_coord[k] = len(coords)
                coords.append(_coordinate(prior, SD, k=k))
            if len(block) == 1:
                outputs.append(Output(f"{names.group_sd(fd.name)}[{fd.terms[block[0]]}]",
                                      (start,), True))
            else:
                outputs.append(Output(names.group_sd_block(fd.name, bi),
                                      tuple(range(start, len(coords))), False))
        for bi, block in enumerate(fd.blocks):
            if len(block) > 1:
                eta = priors[lkj_key(fd.name)].kwargs["eta"]
                first = len(coords)
                self.blocks.append((first, tuple(block)))
                shapes = partial_correlation_shapes(len(block), eta)
                coords.extend(Coordinate("Beta", (b, b), LOGODDS, PCORR) for b in shapes)
                outputs.append(Output(names.group_pcorr(fd.name, bi),
                                      tuple(range(first, len(coords))), False))
        self.sigma_coord = len(coords)
        outputs.append(Output(names.SIGMA, (len(coords),), True))
        coords.append(_coordinate(priors[names.SIGMA], SIGMA))
        self.coords, self.outputs = coords, outputs
        self.n_dim = len(coords)
        self.buffer = self._pack()

    # --- layout ---------------------------------------------------------------------------

    @staticmethod
    def _fixed(design, priors, coords, outputs) -> np.ndarray:
        """Coordinates of the fixed effects as :func:`hiermod.build.model.fixed_part` samples
        them; returns B with β = B·(those coordinates)."""
        terms = design.fixed_terms
        if not terms:
            return np.zeros((0, 0))
        if design.has_intercept:
            k0 = terms.index(names.INTERCEPT)
            slope_idx = [k for k in range(len(terms)) if k != k0]
            prior = priors[names.INTERCEPT]
            outputs.append(Output(names.CENTERED_INTERCEPT, (0,), True))
            coords.append(_coordinate(prior, FIXED, i=0))
        else:
            k0, slope_idx = None, list(range(len(terms)))
        slope_terms = [terms[k] for k in slope_idx]
        first = len(coords)
        for t in slope_terms:
            prior = priors[t]
            coords.append(_coordinate(prior, FIXED, i=len(coords)))
        if slope_terms and all(priors[t].dist == "Normal" for t in slope_terms):
            outputs.append(Output(names.SLOPES, tuple(range(first, len(coords))), False))
        else:
            outputs.extend(Output(f"{names.SLOPES}[{t}]", (first + i,), True)
                           for i, t in enumerate(slope_terms))
        B = np.zeros((len(terms), len(coords)))
        for i, k in enumerate(slope_idx):
            B[k, first + i] = 1.0
        if k0 is not None:
            B[k0, 0] = 1.0
            if slope_idx:
                B[k0, first:] = -design.X[:, slope_idx].mean(axis=0)
        return B

    def _pack(self) -> np.ndarray:
        """Everything the C callback needs in one float64 buffer (header of offsets first)."""
        st = self.stats
        M = st.to_centred @ self.B if self.B.size else np.zeros((0, 0))
        prior_rows = []
        for c in self.coords:
            params = list(c.params) + [0.0] * (3 - len(c.params))
            prior_rows.append([CODES[c.dist], c.transform, *params])
        roles = [[c.role, c.i, c.k] for c in self.coords]
        blocks = np.zeros((max(len(self.blocks), 1), 2 + self.q))
        for r, (first, terms) in enumerate(self.blocks):
            blocks[r, :2 + len(terms)] = [len(terms), first, *terms]
        parts = [st.ZtZ, st.ZtW, st.Zty, st.WtW, st.Wty, M, st.offset,
                 np.array(prior_rows, float), np.array(roles, float), blocks]
        header = np.zeros(_HEADER)
        offset = _HEADER
        slots = [*range(_O_ZTZ, _NB), _O_BLOCK]
        for slot, part in zip(slots, parts, strict=True):
            header[slot] = offset
            offset += np.asarray(part).size
        J, q, p = st.ZtW.shape
        header[[_LEN, _NDIM, _P, _Q, _J, _F, _YTY, _N, _NB]] = (
            offset, self.n_dim, p, q, J, self.B.shape[1], st.yty, st.n, len(self.blocks))
        buffer = np.concatenate([header] + [np.ravel(np.asarray(x, float)) for x in parts])
        buffer.flags.writeable = False
        return buffer

    # --- nutpie ---------------------------------------------------------------------------

    def initial_point(self, seed: int) -> np.ndarray:
        """PyMC's rule: each prior's support point, transformed, plus U(−1, 1) jitter."""
        rng = np.random.default_rng(seed)
        start = np.empty(self.n_dim)
        for i, c in enumerate(self.coords):
            v = support_point(c.dist, c.params)
            if c.transform == LOG:
                v = np.log(v)
            elif c.transform == LOGODDS:
                v = np.log(v / (1 - v))
            start[i] = v
        return start + rng.uniform(-1, 1, self.n_dim)

    def nutpie_model(self):
        """A nutpie CompiledModel whose log-density is the cached C callback."""
        from nutpie.compile_pymc import CompiledPyMCModel

        shape_info = ([UNCONSTRAINED], [slice(0, self.n_dim)], [(self.n_dim,)])
        return CompiledPyMCModel(
            dims={}, _coords={}, _n_dim=self.n_dim, _shapes={UNCONSTRAINED: (self.n_dim,)},
            compiled_logp_func=_logp_cfunc, compiled_expand_func=_expand_cfunc,
            initial_point_func=self.initial_point, shared_data={}, shared_var_keys={},
            user_data=self.buffer, n_expanded=self.n_dim, shape_info=shape_info,
            logp_func=None, expand_func=None)

    def logp_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The log-density (Jacobians included) and its gradient at unconstrained x."""
        out = np.zeros(self.n_dim)
        return logp_and_grad(self.buffer, np.asarray(x, float), out), out

    # --- posterior ------------------------------------------------------------------------

    def posterior(self, stored: xr.Dataset) -> xr.Dataset:
        """The posterior as the PyMC model stores it, from nutpie's draws of the unconstrained
        point: sampled variables and the ``beta``, ``sd_g``, ``corr_g`` Deterministics, with
        the model's dims and coordinates."""
        draws = stored[UNCONSTRAINED].transpose("chain", "draw", ...).values
        V = np.stack([constrained(c.transform, draws[..., i])
                      for i, c in enumerate(self.coords)], axis=-1)
        values = {o.name: V[..., o.coords[0]] if o.scalar else V[..., list(o.coords)]
                  for o in self.outputs}
        fd = self.design.factors[0]
        if self.B.size:
            values[names.FIXED] = V[..., : self.B.shape[1]] @ self.B.T
        values[names.group_sd(fd.name)] = V[..., self.sd_coord]
        if self.blocks:
            R = np.broadcast_to(np.eye(self.q), V.shape[:-1] + (self.q, self.q)).copy()
            for first, terms in self.blocks:
                Rb = correlation_from_partial(2.0 * V[..., first:] - 1.0, len(terms))
                for a, ta in enumerate(terms):
                    for b, tb in enumerate(terms):
                        R[..., ta, tb] = Rb[..., a, b]
            values[names.group_corr(fd.name)] = R
        dims_of = self.model.named_vars_to_dims
        data_vars = {}
        for name, value in values.items():
            dims = dims_of.get(name) or tuple(f"{name}_dim_{i}" for i in range(value.ndim - 2))
            data_vars[name] = (("chain", "draw", *dims), value)
        used = {d for dims, _ in data_vars.values() for d in dims}
        coords = {k: list(v) for k, v in self.model.coords.items() if k in used}
        coords.update(chain=np.arange(draws.shape[0]), draw=np.arange(draws.shape[1]))
        return xr.Dataset(data_vars, coords=coords)



def correlation_from_partial(z: np.ndarray, d: int) -> np.ndarray:
    """R = L_R L_Rᵀ of a d-term block from draws of its partial correlations z (..., ≥ K),
    the first K = d(d−1)/2 used (:func:`hiermod.build.lkj.cholesky_from_partial`)."""
    K = d * (d - 1) // 2
    LR = np.moveaxis(cholesky_from_partial(np.moveaxis(z[..., :K], -1, 0), d), (0, 1), (-2, -1))
    return LR @ np.swapaxes(LR, -1, -2)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def logp_and_grad(buf, x, out):
    """Log-density at unconstrained x; the gradient is written into ``out``."""
    n_dim, p, q, J, F = int(buf[_NDIM]), int(buf[_P]), int(buf[_Q]), int(buf[_J]), int(buf[_F])
    o = int(buf[_O_ZTZ])
    ZtZ = buf[o: o + J * q * q].reshape((J, q, q))
    o = int(buf[_O_ZTW])
    ZtW = buf[o: o + J * q * p].reshape((J, q, p))
    o = int(buf[_O_ZTY])
    Zty = buf[o: o + J * q].reshape((J, q))
    o = int(buf[_O_WTW])
    WtW = buf[o: o + p * p].reshape((p, p))
    o = int(buf[_O_WTY])
    Wty = buf[o: o + p]
    o = int(buf[_O_M])
    M = buf[o: o + p * F].reshape((p, F))
    o = int(buf[_O_OFF])
    offset = buf[o: o + p]
    o = int(buf[_O_PRIOR])
    prior = buf[o: o + 5 * n_dim].reshape((n_dim, 5))
    o = int(buf[_O_ROLE])
    role = buf[o: o + 3 * n_dim].reshape((n_dim, 3))
    nb = int(buf[_NB])
    o = int(buf[_O_BLOCK])
    blocks = buf[o: o + max(nb, 1) * (2 + q)].reshape((max(nb, 1), 2 + q))

    v = np.empty(n_dim)
    dv = np.empty(n_dim)
    lp = 0.0
    for i in range(n_dim):
        vi, dvi, lpi, gi = unconstrained_logp(int(prior[i, 0]), int(prior[i, 1]), prior[i, 2],
                                              prior[i, 3], prior[i, 4], x[i])
        v[i], dv[i] = vi, dvi
        lp += lpi
        out[i] = gi
    theta = np.empty(p)
    for a in range(p):
        t = -offset[a]
        for f in range(F):
            t += M[a, f] * v[f]
        theta[a] = t
    sd = np.zeros(q)
    LR = np.eye(q)
    sig = 1.0
    for i in range(n_dim):
        r = int(role[i, 0])
        if r == SD:
            sd[int(role[i, 2])] = v[i]
        elif r == SIGMA:
            sig = v[i]
    for bk in range(nb):
        _block_forward(blocks[bk], v, LR)
    L = np.empty((q, q))
    for a in range(q):
        for b in range(q):
            L[a, b] = sd[a] * LR[a, b]
    ll, g_theta, g_L, g_sigma = marginal_terms(ZtZ, ZtW, Zty, WtW, Wty, buf[_YTY], buf[_N],
                                               theta, L, sig)
    for i in range(n_dim):
        r = int(role[i, 0])
        if r == FIXED:
            g = 0.0
            for a in range(p):
                g += M[a, i] * g_theta[a]
        elif r == SD:
            k = int(role[i, 2])
            g = 0.0
            for b in range(q):
                g += g_L[k, b] * LR[k, b]
        elif r == PCORR:
            continue  # below, block by block
        else:
            g = g_sigma
        out[i] += g * dv[i]
    if nb:
        gLR = np.empty((q, q))
        for a in range(q):
            for b in range(q):
                gLR[a, b] = sd[a] * g_L[a, b]
        for bk in range(nb):
            _block_backward(blocks[bk], v, dv, LR, gLR, out)
    return lp + ll


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _block_forward(block, v, LR):
    """Rows of the correlation Cholesky of one block from its partial correlations
    z = 2v − 1 (:func:`hiermod.build.lkj.cholesky_from_partial`), written into LR."""
    d, c = int(block[0]), int(block[1])
    for i in range(1, d):
        ki = int(block[2 + i])
        used = 0.0
        for j in range(i):
            value = (2.0 * v[c] - 1.0) * np.sqrt(1.0 - used)
            LR[ki, int(block[2 + j])] = value
            used += value * value
            c += 1
        LR[ki, ki] = np.sqrt(1.0 - used)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _block_backward(block, v, dv, LR, gLR, out):
    """Add ∂ℓ/∂y of the block's partial correlations to ``out``, given gLR = ∂ℓ/∂L_R.

    Row i: s₀ = 0, w_j = √(1 − s_j), L_ij = z_j w_j, s_{j+1} = s_j + L_ij², L_ii = √(1 − s_i);
    reverse mode from s̄_i = −ḡ_ii / (2 L_ii): L̄_ij = ḡ_ij + 2 L_ij s̄, z̄_j = L̄_ij w_j,
    s̄ ← s̄ − L̄_ij z_j / (2 w_j); and ∂z/∂y = 2 dv/dy.
    """
    d, first = int(block[0]), int(block[1])
    w = np.empty(d)
    for i in range(1, d):
        ki = int(block[2 + i])
        c0 = first + i * (i - 1) // 2
        used = 0.0
        for j in range(i):
            w[j] = np.sqrt(1.0 - used)
            lij = LR[ki, int(block[2 + j])]
            used += lij * lij
        s_bar = -gLR[ki, ki] / (2.0 * LR[ki, ki])
        for j in range(i - 1, -1, -1):
            lij = LR[ki, int(block[2 + j])]
            l_bar = gLR[ki, int(block[2 + j])] + 2.0 * lij * s_bar
            z = 2.0 * v[c0 + j] - 1.0
            out[c0 + j] += 2.0 * l_bar * w[j] * dv[c0 + j]
            s_bar -= l_bar * z / (2.0 * w[j])


_LOGP_SIG = numba.types.int64(numba.types.uint64, numba.types.CPointer(numba.types.double),
                              numba.types.CPointer(numba.types.double),
                              numba.types.CPointer(numba.types.double), numba.types.voidptr)
_EXPAND_SIG = numba.types.int64(numba.types.uint64, numba.types.uint64,
                                numba.types.CPointer(numba.types.double),
                                numba.types.CPointer(numba.types.double), numba.types.voidptr)


@numba.njit(cache=True)
def _buffer(ptr):
    size = int(numba.carray(ptr, (1,), np.float64)[0])
    return numba.carray(ptr, (size,), np.float64)


@numba.cfunc(_LOGP_SIG, cache=True, error_model="numpy")
def _logp_cfunc(dim, x_, out_, logp_, user_data):
    """nutpie's C calling convention: 0 on success, 3 / 4 for a non-finite gradient / value."""
    buf = _buffer(user_data)
    n_dim = int(buf[_NDIM])
    if dim != n_dim:
        return -1
    x = numba.carray(x_, (n_dim,))
    out = numba.carray(out_, (n_dim,))
    value = logp_and_grad(buf, x, out)
    logp = numba.carray(logp_, (1,))
    logp[0] = value
    if not np.all(np.isfinite(out)):
        return 3
    if not np.isfinite(value):
        return 4
    return 0


@numba.cfunc(_EXPAND_SIG, cache=True)
def _expand_cfunc(dim, expanded, x_, out_, user_data):
    """The stored draw is the unconstrained point itself; :meth:`CompiledMarginal.posterior`
    maps it to the model's variables afterwards, vectorised over draws."""
    if dim != expanded:
        return -1
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (dim,))
    out[:] = x
    return 0
