"""Group effects reparameterized around each group's likelihood: centred where the data inform
a group, non-centred where they do not — chosen per group and per term by the data, exactly.

With Σ_g = L Lᵀ and, for group j, the Gaussian approximation ℓ_j(u) ≈ uᵀb_j(c) − ½ uᵀP_j u of
its likelihood (:mod:`hiermod.model.pilot`), the effects are written u_j = L v_j with

    v_j = A_j⁻¹ Lᵀ b_j(c) + C_j⁻ᵀ z_j,     A_j = I + Lᵀ P_j L = C_j C_jᵀ,     z_j free.

v_j ~ N(0, I) a priori (u_j ~ N(0, Σ)), so the density of the sampled z_j is

    log p(z_j) = −½ v_jᵀ v_j − log|C_j|          (the Jacobian |∂v/∂z| = |C_j|⁻¹)

and the model is the same model — same posterior of (β, Σ, u) — for any constants P_j, b_j.
Where the approximation is good, z_j is close to a standard normal for every Σ and c: an
informative group (P_j large) behaves as in the centred parameterization (u_j ≈ its
likelihood's mode, the prior scale irrelevant; hierarchical centring through b_j(c) = b0_j −
G_j c, so level-2 predictors move u_j with them), a weakly informed term (L small) as in the
non-centred one (u_j = L(Lᵀb + z) → 0 with L). This is the affine reparameterization around a
Laplace approximation (the group's conditional posterior given Σ, in closed form), with the
likelihood's curvature fixed at a pilot fit so no inner optimisation runs per evaluation.

The PyMC face below states z_j ~ N(0, I) for its prior draws and adds the difference
½ zᵀz − ½ vᵀv − log|C| as a Potential, so its log-density is exactly the one above; the
compiled callback (:mod:`hiermod.glmm`) evaluates the same.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .. import names
from .entries import backward_entries, chol_entries, forward_entries
from .parts import RAW, Recorder, factor_cholesky


def adaptive_effects(fd, chols, c, P: np.ndarray, G: np.ndarray, b0: np.ndarray,
                     rec: Recorder):
    """u_g (levels × terms) of factor ``fd`` under the adaptive parameterization, and the
    log-density correction (a PyTensor scalar) to add as a Potential.

    ``c``: the fixed-effect coordinates (PyTensor vector or None); P (J, q, q), G (J, q, p),
    b0 (J, q): the pilot's constants for this factor.
    """
    q, J = fd.q, fd.n_levels
    name = names.group_effects_raw(fd.name)
    dims = (names.group_dim(fd.name), names.term_dim(fd.name))
    z = pm.Normal(name, 0.0, 1.0, dims=dims)
    rec.add(name, RAW, [("Normal", (0.0, 1.0))] * (J * q), fd.name, shape=(J, q))
    L = factor_cholesky(fd, chols)
    Le = [[L[a, b] for b in range(q)] for a in range(q)]
    Pe = [[P[:, a, b] for b in range(q)] for a in range(q)]
    # A = I + Lᵀ P L, entry by entry (each entry a length-J vector)
    PL = [[sum(Pe[a][k] * Le[k][b] for k in range(q)) for b in range(q)] for a in range(q)]
    A = [[sum(Le[k][a] * PL[k][b] for k in range(q)) + (1.0 if a == b else 0.0)
          for b in range(q)] for a in range(q)]
    C = chol_entries(A, pt.sqrt)
    if c is None:
        b = [b0[:, k] for k in range(q)]
    else:
        b = [b0[:, k] - pt.dot(G[:, k, :], c) for k in range(q)]
    r = [sum(Le[k][a] * b[k] for k in range(q)) for a in range(q)]  # Lᵀ b
    m = backward_entries(C, forward_entries(C, r))  # A⁻¹ Lᵀ b
    w = backward_entries(C, [z[:, a] for a in range(q)])  # C⁻ᵀ z
    v = [m[a] + w[a] for a in range(q)]
    u = pt.stack([sum(Le[a][k] * v[k] for k in range(q)) for a in range(q)], axis=1)
    correction = (0.5 * pt.sum(z * z) - 0.5 * sum(pt.sum(va * va) for va in v)
                  - sum(pt.sum(pt.log(C[a][a])) for a in range(q)))
    return pm.Deterministic(names.group_effects(fd.name), u, dims=dims), correction
