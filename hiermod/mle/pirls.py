"""The penalized iteratively reweighted least-squares loop shared by the Laplace engines."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def pirls_loop(u: np.ndarray, eta: np.ndarray, pdev: float,
               newton_step: Callable[[np.ndarray, np.ndarray], np.ndarray],
               eta_of: Callable[[np.ndarray], np.ndarray],
               pdev_of: Callable[[np.ndarray, np.ndarray], float],
               tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Newton steps δ = ``newton_step(u, η)`` on the penalized deviance, halved until it does
    not increase; stops after a full step smaller than tol·(1 + max|u|) (Newton's quadratic
    convergence then leaves an error of order tol²) or a step below 10⁻¹². Returns u*, η*."""
    for _ in range(max_iter):
        delta = newton_step(u, eta)
        t = 1.0
        while True:
            un = u + t * delta
            etan = eta_of(un)
            pn = pdev_of(etan, un)
            if pn <= pdev + 1e-12 * abs(pdev) or t < 1e-8:
                break
            t *= 0.5
        step = float(np.max(np.abs(t * delta)))
        done = (t == 1.0 and step < tol * (1.0 + float(np.max(np.abs(un))))) or step < 1e-12
        u, eta, pdev = un, etan, pn
        if done:
            break
    return u, eta
