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
from ..families import get_family
from . import kernel as K

#: parameterizations the callback evaluates
COMPILED_PARAMETERIZATIONS = {"adaptive": K.ADAPTIVE, "noncentered": K.NONCENTERED}


class CompiledCells(glue.CompiledCallback):
    """The compiled callback of a model over cells.

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
        super().__init__(built, tuple(fd.name for fd in design.factors))
        mode = COMPILED_PARAMETERIZATIONS[parameterization]
        qmax = max((fd.q for fd in design.factors), default=1)
        ftab, arrays, zoff = [], [], 0
        for g, fd in enumerate(design.factors):
            raw = self.layout.variable(names.group_effects_raw(fd.name))
            ftab.append([fd.n_levels, fd.q, mode, raw.start, zoff])
            zoff += fd.q
            P = pilot.P[g] if mode == K.ADAPTIVE else np.zeros((fd.n_levels, fd.q, fd.q))
            G = (pilot.G[g] if mode == K.ADAPTIVE
                 else np.zeros((fd.n_levels, fd.q, data.W.shape[1])))
            b0 = pilot.b0[g] if mode == K.ADAPTIVE else np.zeros((fd.n_levels, fd.q))
            arrays += [P, G, b0]
        family = get_family(data.family)
        const = family.loglik_constant(data.y, data.trials)
        lay = self.layout
        self.buffer = pack(
            [lay.n_dim, data.W.shape[1], len(data.y), len(design.factors),
             K.BINOMIAL if data.family == "binomial" else K.POISSON, const, len(lay.blocks),
             lay.blocks.shape[1], qmax, zoff],
            [lay.prior_table, lay.role_table, lay.blocks, data.W, data.offset, data.y,
             data.trials if data.trials is not None else np.zeros(len(data.y)),
             np.array(ftab, float).reshape(len(ftab), 5),
             np.hstack(data.Z) if data.Z else np.zeros((len(data.y), 0)),
             # the level indexes travel as int64 bits in the float64 buffer
             (np.stack(data.index, axis=1).astype(np.int64) if data.index
              else np.zeros((len(data.y), 0), np.int64)).view(np.float64),
             *arrays])


@numba.cfunc(glue.LOGP_SIGNATURE, cache=True, error_model="numpy")
def _logp_cfunc(dim, x_, out_, logp_, user_data):
    """nutpie's C calling convention: 0 on success, 3 / 4 for a non-finite gradient / value."""
    buf = glue.read_buffer(user_data)
    n = glue.n_dim_of(buf)
    if dim != n:
        return -1
    out = numba.carray(out_, (n,))
    return glue.status(K.logp_and_grad(buf, numba.carray(x_, (n,)), out), out, logp_)


CompiledCells.kernel = staticmethod(K.logp_and_grad)
CompiledCells.cfunc = _logp_cfunc
