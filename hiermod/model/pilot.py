"""A Gaussian approximation of each group's likelihood, from a quick pilot fit: the constants
of the adaptive parameterization (:mod:`hiermod.model.adaptive`).

For group j of factor g, the log-likelihood of its cells, expanded to second order in η at the
pilot's linear predictor η*, is a quadratic in the group's effects u and the fixed-effect
coordinates c (other factors held at the pilot):

    ℓ_j(u, c) ≈ const + uᵀ b_j(c) − ½ uᵀ P_j u,     b_j(c) = b0_j − G_j c,

    P_j = Σ_i w_i z_i z_iᵀ,   G_j = Σ_i w_i z_i w̃_iᵀ,   b0_j = Σ_i z_i (s_i + w_i (w̃_iᵀc* + z_iᵀu*_j)),

summed over the cells i of group j (z_i its varying-effect row, w̃_i its fixed-effect row in
sampled coordinates, s_i and w_i the score and weight of :meth:`hiermod.families.Family.eta_stats`
at η*_i). The pilot is the GLM without group effects (IRLS) followed by a few sweeps of
per-group Newton steps for u with a unit-variance prior; it costs O(cells) and no sampling.

The pilot only sets constants of an exact reparameterization: a poor pilot makes sampling
slower, never wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..families import Bound, get_family
from ..glm import irls

#: prior variance of the group effects in the pilot's Newton steps (link scale)
PILOT_TAU2 = 1.0


@dataclass(frozen=True, eq=False)
class CellData:
    """What a model over cells needs: the cells' fixed-effect rows in sampled coordinates ``W``,
    per factor the level index and varying-effect rows, the outcome, binomial trials or the
    poisson offset log(exposure), and the family."""

    family: str
    W: np.ndarray
    Z: tuple[np.ndarray, ...]
    index: tuple[np.ndarray, ...]
    n_levels: tuple[int, ...]
    y: np.ndarray
    trials: np.ndarray | None
    offset: np.ndarray

    @property
    def bound(self) -> Bound:
        return Bound(get_family(self.family), self.y, self.trials)


def cell_data(cells, design) -> CellData:
    """The :class:`CellData` of a design's cells (:func:`hiermod.design.aggregate`)."""
    poisson = cells.family == "poisson"
    return CellData(family=cells.family, W=cells.X @ design.centring.B, Z=cells.Z,
                    index=cells.index, n_levels=tuple(fd.n_levels for fd in design.factors),
                    y=cells.y, trials=None if poisson else cells.n,
                    offset=np.log(cells.n) if poisson else np.zeros(cells.n_cells))


@dataclass(frozen=True, eq=False)
class Pilot:
    """Per factor: P (J, q, q), G (J, q, p), b0 (J, q) of the module docstring; ``c`` and
    ``u`` the pilot's point."""

    P: tuple[np.ndarray, ...]
    G: tuple[np.ndarray, ...]
    b0: tuple[np.ndarray, ...]
    c: np.ndarray
    u: tuple[np.ndarray, ...]


def _per_group(index: np.ndarray, values: np.ndarray, J: int) -> np.ndarray:
    """Σ over the cells of each group of values (n, ...) -> (J, ...)."""
    out = np.zeros((J,) + values.shape[1:])
    np.add.at(out, index, values)
    return out


def _newton_sweep(data: CellData, c: np.ndarray, u: list[np.ndarray], steps: int = 4) -> None:
    """Newton steps for each factor's effects in turn (the others held), in place."""
    fixed = data.W @ c + data.offset
    for g, (Z, idx, J) in enumerate(zip(data.Z, data.index, data.n_levels, strict=True)):
        q = Z.shape[1]
        for _ in range(steps):
            eta = fixed + sum(np.einsum("ia,ia->i", Zh, uh[ih])
                              for Zh, uh, ih in zip(data.Z, u, data.index, strict=True))
            st = data.bound.stats(eta)
            grad = _per_group(idx, Z * st.score[:, None], J) - u[g] / PILOT_TAU2
            H = _per_group(idx, st.weight[:, None, None] * Z[:, :, None] * Z[:, None, :], J)
            H = H + np.eye(q) / PILOT_TAU2
            u[g] = u[g] + np.linalg.solve(H, grad[..., None])[..., 0]


def pilot(data: CellData, sweeps: int = 3) -> Pilot:
    """The Gaussian approximation of every group's likelihood (see the module docstring)."""
    c = irls(data.W, data.bound, offset=data.offset, penalty=1e-8 * np.eye(data.W.shape[1]),
             clip=20.0, max_iter=50).coef if data.W.shape[1] else np.zeros(0)
    u = [np.zeros((J, Z.shape[1])) for Z, J in zip(data.Z, data.n_levels, strict=True)]
    for _ in range(sweeps):
        _newton_sweep(data, c, u)
    eta = data.W @ c + data.offset + sum(np.einsum("ia,ia->i", Z, ug[idx])
                                         for Z, ug, idx in zip(data.Z, u, data.index, strict=True))
    st = data.bound.stats(eta)
    P, G, b0 = [], [], []
    for Z, idx, J, ug in zip(data.Z, data.index, data.n_levels, u, strict=True):
        w = st.weight
        P.append(_per_group(idx, w[:, None, None] * Z[:, :, None] * Z[:, None, :], J))
        G.append(_per_group(idx, w[:, None, None] * Z[:, :, None] * data.W[:, None, :], J))
        lin = data.W @ c + np.einsum("ia,ia->i", Z, ug[idx])
        b0.append(_per_group(idx, Z * (st.score + w * lin)[:, None], J))
    return Pilot(tuple(P), tuple(G), tuple(b0), c, tuple(u))
