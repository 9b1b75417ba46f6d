"""The model over cells as one numba C callback for nutpie (no PyTensor compile per fit).

The coordinates come from the built PyMC model (:func:`hiermod.compiled.layout.derive_layout`),
the log-density and gradient from :mod:`hiermod.glmm.kernel`, the posterior from the PyMC
model's own graph (:func:`hiermod.compiled.nutpie.posterior`).
"""

from __future__ import annotations

import numba
import numpy as np

from .. import names
from ..compiled import nutpie as glue
from ..compiled.buffer import pack
from ..compiled.layout import Layout, derive_layout
from ..families import get_family
from . import kernel as K

#: parameterizations the callback evaluates
COMPILED_PARAMETERIZATIONS = {"adaptive": K.ADAPTIVE, "noncentered": K.NONCENTERED}


class CompiledCells:
    """The layout, the data buffer and the nutpie model of a model over cells.

    Parameters
    ----------
    built : BuiltModel
        From :func:`hiermod.model.cellwise.assemble_cell_model` (its variables and dims name
        the posterior).
    data : CellData
    pilot : Pilot or None
        The adaptive parameterization's constants.
    design : Design
        The row-level design (factor names, levels and terms).
    parameterization : {"adaptive", "noncentered"}
    """

    def __init__(self, built, data, pilot, design, parameterization: str = "adaptive") -> None:
        self.built = built
        factors = tuple(fd.name for fd in design.factors)
        self.layout: Layout = derive_layout(built, factors)
        mode = COMPILED_PARAMETERIZATIONS[parameterization]
        qmax = max(fd.q for fd in design.factors)
        ftab, arrays = [], []
        for g, fd in enumerate(design.factors):
            raw = self.layout.variable(names.group_effects_raw(fd.name))
            ftab.append([fd.n_levels, fd.q, mode, raw.start])
            P = pilot.P[g] if mode == K.ADAPTIVE else np.zeros((fd.n_levels, fd.q, fd.q))
            G = (pilot.G[g] if mode == K.ADAPTIVE
                 else np.zeros((fd.n_levels, fd.q, data.W.shape[1])))
            b0 = pilot.b0[g] if mode == K.ADAPTIVE else np.zeros((fd.n_levels, fd.q))
            arrays += [data.Z[g], data.index[g], P, G, b0]
        family = get_family(data.family)
        const = family.loglik_constant(data.y, data.trials)
        lay = self.layout
        self.buffer = pack(
            [lay.n_dim, data.W.shape[1], len(data.y), len(design.factors),
             K.BINOMIAL if data.family == "binomial" else K.POISSON, const, len(lay.blocks),
             lay.blocks.shape[1], qmax],
            [lay.prior_table, lay.role_table, lay.blocks, data.W, data.offset, data.y,
             data.trials if data.trials is not None else np.zeros(len(data.y)),
             np.array(ftab, float), *arrays])

    @property
    def n_dim(self) -> int:
        return self.layout.n_dim

    def nutpie_model(self):
        return glue.nutpie_model(self.layout, _logp_cfunc, self.buffer)

    def logp_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The log-density (Jacobians included) and its gradient at unconstrained x."""
        out = np.zeros(self.n_dim)
        return K.logp_and_grad(self.buffer, np.asarray(x, float), out), out

    def posterior(self, stored):
        """The posterior as the PyMC model stores it (:func:`hiermod.compiled.nutpie.posterior`)."""
        return glue.posterior(self.built.model, self.layout, stored)


@numba.cfunc(glue.LOGP_SIGNATURE, cache=True, error_model="numpy")
def _logp_cfunc(dim, x_, out_, logp_, user_data):
    """nutpie's C calling convention: 0 on success, 3 / 4 for a non-finite gradient / value."""
    buf = glue.read_buffer(user_data)
    n_dim = int(buf[3 + K.S_NDIM])
    if dim != n_dim:
        return -1
    x = numba.carray(x_, (n_dim,))
    out = numba.carray(out_, (n_dim,))
    value = K.logp_and_grad(buf, x, out)
    logp = numba.carray(logp_, (1,))
    logp[0] = value
    if not np.all(np.isfinite(out)):
        return 3
    if not np.isfinite(value):
        return 4
    return 0
