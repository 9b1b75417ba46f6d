"""The coordinates of a compiled callback, derived from a built PyMC model.

nutpie samples a flat vector x of unconstrained coordinates. Its layout — which variable each
coordinate belongs to, in what order, with what shape and transform — is read from the
``pm.Model`` itself (``model.value_vars`` and ``model.rvs_to_transforms``), and each
variable's prior and role from the record its builder kept (:class:`hiermod.model.parts.VarRecord`).
So the callback and the PyMC model cannot disagree about names, order, shapes or transforms;
the tests hold the callback's log-density equal to PyMC's ``compile_logp``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from ..model.parts import FIXED, PCORR, PHI, RAW, SD, SIGMA, SIGMA_COEF
from .priors import CODES, IDENTITY, LOG, LOGODDS, support_point

#: PyMC transform class -> the callback's code
TRANSFORM_CODES = {None: IDENTITY, "LogTransform": LOG, "LogOddsTransform": LOGODDS}
#: role -> code in the callbacks' role table
ROLE_CODES = {FIXED: 0, SD: 1, PCORR: 2, SIGMA: 3, RAW: 4, PHI: 5, SIGMA_COEF: 6}


@dataclass(frozen=True)
class Variable:
    """One value variable of the model: its slice of x, shape and record."""

    name: str  # the free variable (constrained)
    value_name: str  # the value variable PyMC samples (e.g. "sigma_log__")
    start: int
    shape: tuple[int, ...]
    transform: int
    role: str
    factor: str | None
    index: tuple[int, ...]
    priors: tuple[tuple[str, tuple[float, ...]], ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))


@dataclass(frozen=True, eq=False)
class Layout:
    """The flat coordinates of a model, with tables the numba callbacks read.

    ``prior_table`` (n_dim, 5): prior code, transform code, up to three parameters;
    ``role_table`` (n_dim, 3): role code, factor number, index (position in c for fixed
    effects, term for sds, element for the rest); ``blocks`` (n_blocks, 3 + q_max): per block
    of partial correlations its size d, first coordinate, factor number and terms.
    """

    variables: tuple[Variable, ...]
    factors: tuple[str, ...]
    prior_table: np.ndarray
    role_table: np.ndarray
    blocks: np.ndarray

    @property
    def n_dim(self) -> int:
        return len(self.prior_table)

    def variable(self, name: str) -> Variable:
        return next(v for v in self.variables if v.name == name)

    def initial_point(self, seed: int) -> np.ndarray:
        """PyMC's rule: each prior's support point, transformed, plus U(−1, 1) jitter."""
        start = np.empty(self.n_dim)
        for v in self.variables:
            for e, (dist, params) in enumerate(v.priors):
                x = support_point(dist, params)
                if v.transform == LOG:
                    x = np.log(x)
                elif v.transform == LOGODDS:
                    x = np.log(x / (1 - x))
                start[v.start + e] = x
        return start + np.random.default_rng(seed).uniform(-1, 1, self.n_dim)

    def split(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """value-variable name -> its values, from x (..., n_dim)."""
        return {v.value_name: x[..., v.start:v.start + v.size].reshape(x.shape[:-1] + v.shape)
                for v in self.variables}


def derive_layout(built, factors: tuple[str, ...] = ()) -> Layout:
    """The layout of a :class:`~hiermod.model.BuiltModel`'s coordinates.

    Raises
    ------
    SpecError
        A value variable without a record, or a transform the callbacks do not implement.
    """
    model = built.model
    variables, start = [], 0
    for value in model.value_vars:
        rv = model.values_to_rvs[value]
        rec = built.records.get(rv.name)
        if rec is None:
            raise SpecError(f"the compiled path has no record of the variable '{rv.name}'")
        transform = model.rvs_to_transforms.get(rv)
        key = None if transform is None else type(transform).__name__
        if key not in TRANSFORM_CODES:
            raise SpecError(f"the compiled path cannot transform '{rv.name}' ({key})")
        var = Variable(rv.name, value.name, start, rec.shape, TRANSFORM_CODES[key], rec.role,
                       rec.factor, rec.index, rec.priors)
        if var.size != len(rec.priors):
            raise SpecError(f"record of '{rv.name}' has {len(rec.priors)} priors for "
                            f"{var.size} elements")
        variables.append(var)
        start += var.size
    prior_table = np.zeros((start, 5))
    role_table = np.zeros((start, 3))
    blocks = []
    q_max = 1
    for v in variables:
        fac = factors.index(v.factor) if v.factor is not None else -1
        for e, (dist, params) in enumerate(v.priors):
            row = v.start + e
            prior_table[row, :2] = CODES[dist], v.transform
            prior_table[row, 2:2 + len(params)] = params
            where = v.index[e] if v.role in (FIXED, SD, SIGMA_COEF) else e
            role_table[row] = ROLE_CODES[v.role], fac, where
        if v.role == PCORR:
            blocks.append([len(v.index), v.start, fac, *v.index])
            q_max = max(q_max, len(v.index))
    block_table = np.zeros((max(len(blocks), 1), 3 + q_max))
    for r, b in enumerate(blocks):
        block_table[r, :len(b)] = b
    return Layout(tuple(variables), tuple(factors), prior_table, role_table,
                  block_table if blocks else np.zeros((0, 3 + q_max)))
