"""Bounded minimisation of a smooth deviance: projected Newton with a finite-difference Hessian.

The deviances minimised here have a handful of parameters (θ, and β for GLMMs), an analytic or
cheap gradient, and evaluations that cost well under a millisecond, so a Newton method whose
Hessian is differenced from the gradient converges in a few iterations without the per-call
overhead of a general-purpose optimizer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FunGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]

#: lme4's tolerance on the scaled gradient H⁻¹g (``check.conv.grad``).
GRAD_TOL = 2e-3
#: Parameters this close to their lower bound of 0 are on the boundary (lme4's isSingular).
BOUNDARY_TOL = 1e-4


@dataclass(frozen=True)
class OptResult:
    """Where the optimizer stopped and how sure it is that this is a minimum.

    ``hessian`` is the finite-difference Hessian over the coordinates that are off their bounds
    (``free``), or None when every coordinate is on its bound.
    """

    x: np.ndarray
    fun: float
    grad: np.ndarray
    hessian: np.ndarray | None
    free: np.ndarray
    n_evals: int
    n_iter: int
    converged: bool
    message: str


class _Counted:
    """Wrap fun_grad and count the calls."""

    def __init__(self, fun_grad: FunGrad) -> None:
        self.fun_grad = fun_grad
        self.n = 0

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.n += 1
        try:
            f, g = self.fun_grad(x)
        except np.linalg.LinAlgError:
            return np.inf, np.full(len(x), np.nan)
        return (f, g) if np.isfinite(f) else (np.inf, np.full(len(x), np.nan))


def fd_hessian(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray, free: np.ndarray,
               g0: np.ndarray | None = None, rel_step: float = 1e-4) -> np.ndarray:
    """Hessian over the free coordinates by differences of the gradient.

    Central differences (2k gradients) by default; forward differences (k gradients) when the
    gradient at ``x`` is given as ``g0``.
    """
    idx = np.flatnonzero(free)
    H = np.zeros((len(idx), len(idx)))
    for a, k in enumerate(idx):
        h = rel_step * max(abs(x[k]), 1e-2)
        xp = x.copy()
        xp[k] += h
        if g0 is None:
            xm = x.copy()
            xm[k] -= h
            H[a] = (grad(xp)[idx] - grad(xm)[idx]) / (2 * h)
        else:
            H[a] = (grad(xp)[idx] - g0[idx]) / h
    return 0.5 * (H + H.T)


def value_hessian(f: Callable[[np.ndarray], float], x: np.ndarray, h: float) -> np.ndarray:
    """Hessian of f at x by central differences of its values with step h (lme4's
    ``deriv12``): diagonal (f(x+h) − 2f(x) + f(x−h))/h², off-diagonal from four corners."""
    n = len(x)
    f0, E = f(x), np.eye(n) * h
    H = np.zeros((n, n))
    for i in range(n):
        H[i, i] = (f(x + E[i]) - 2 * f0 + f(x - E[i])) / h**2
        for j in range(i):
            H[i, j] = H[j, i] = (f(x + E[i] + E[j]) - f(x + E[i] - E[j]) - f(x - E[i] + E[j])
                                 + f(x - E[i] - E[j])) / (4 * h**2)
    return H


def _newton_direction(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    """−H⁻¹g; where H is not positive definite, −|H|⁻¹g with the eigenvalues' absolute values
    (floored at 10⁻⁸ of the largest), a descent direction that still follows the curvature."""
    try:
        c = np.linalg.cholesky(H)
        return -np.linalg.solve(c.T, np.linalg.solve(c, g))
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(H)
        a = np.abs(vals)
        a = np.maximum(a, 1e-8 * max(float(a.max()), 1e-300))
        return -vecs @ ((vecs.T @ g) / a)


def projected_newton(fun_grad: FunGrad, x0: np.ndarray, lower: np.ndarray,
                     max_iter: int = 100, tol: float = 1e-10,
                     ) -> tuple[np.ndarray, float, np.ndarray, int, bool]:
    """Minimise f subject to x ≥ lower by Newton steps on the free coordinates.

    Coordinates on their bound whose gradient points outward stay fixed for that step; the
    step is projected onto the bounds and halved until f decreases (Armijo). Stops when the
    Newton decrement gᵀH⁻¹g falls below ``tol``.

    Returns x, f, the gradient at x, the number of iterations and whether the decrement test
    was met.
    """
    fg = fun_grad
    x = np.maximum(np.asarray(x0, float), lower)
    f, g = fg(x)
    ok = False
    B = None
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        active = (x <= lower) & (g >= 0)
        free = ~active
        if not free.any():
            ok = True
            break
        if B is None:
            B = np.eye(len(x))
            B[np.ix_(free, free)] = fd_hessian(lambda z: fg(z)[1], x, free, g0=g)
        gf = g[free]
        d = np.zeros_like(x)
        d[free] = _newton_direction(B[np.ix_(free, free)], gf)
        decrement = -float(gf @ d[free])
        if decrement < tol:
            ok = True
            break
        t = 1.0
        while True:
            xn = np.maximum(x + t * d, lower)
            fn, gn = fg(xn)
            if fn <= f + 1e-4 * float(g @ (xn - x)):
                break
            t *= 0.5
            if t < 1e-10:
                return x, f, g, it, decrement < 1e-6
        s_, y_ = xn - x, gn - g
        x, f, g = xn, fn, gn
        sy = float(s_ @ y_)
        if sy > 1e-12 * float(np.linalg.norm(s_) * np.linalg.norm(y_)):
            Bs = B @ s_
            B = B - np.outer(Bs, Bs) / float(s_ @ Bs) + np.outer(y_, y_) / sy
    return x, f, g, it, ok


def minimize_bounded(fun_grad: FunGrad, x0: np.ndarray, lower: np.ndarray,
                     probe: np.ndarray | None = None, max_restarts: int = 3,
                     check: bool = True) -> OptResult:
    """Minimise f with bounds x ≥ lower, make sure a boundary point is not a saddle, check it.

    Parameters
    ----------
    fun_grad : callable
        x -> (f, ∇f).
    x0 : ndarray
        Start.
    lower : ndarray
        Lower bounds (-inf for unbounded coordinates).
    probe : ndarray of bool, optional
        Coordinates to try moving off their bound when the optimizer stops there. The REML
        criterion is even in each diagonal element θ_k of Λ's factors, so its derivative
        vanishes at θ_k = 0 and a gradient method can stop there on a saddle; the probe tries
        θ_k = 0.05, 0.3 and 1 and restarts from the best if it beats the boundary point.
    max_restarts : int
        Restarts from a probe point.
    check : bool
        Difference the Hessian at the optimum and run the convergence check; without it the
        caller is expected to call :func:`check_convergence` itself (``hessian`` is None).

    Returns
    -------
    OptResult

    Notes
    -----
    Convergence is judged as lme4 does (``check.conv.grad``): over the coordinates off their
    bounds, H must be positive definite and the scaled gradient H⁻¹g below 2·10⁻³, with H
    differenced centrally from the gradient at the optimum.
    """
    fg = _Counted(fun_grad)
    lower = np.asarray(lower, float)
    x, f, g, n_iter, ok = projected_newton(fg, x0, lower)
    probe = np.zeros(len(x), bool) if probe is None else np.asarray(probe, bool)
    for _ in range(max_restarts):
        at = probe & (x - lower <= BOUNDARY_TOL)
        if not at.any():
            break
        best = None
        for step in (0.05, 0.3, 1.0):
            xp = x.copy()
            xp[at] = lower[at] + step
            fp = fg(xp)[0]
            if fp < f - 1e-8 * max(1.0, abs(f)) and (best is None or fp < best[1]):
                best = (xp, fp)
        if best is None:
            break
        xn, fn, gn, it2, ok2 = projected_newton(fg, best[0], lower)
        n_iter += it2
        if fn < f:
            x, f, g, ok = xn, fn, gn, ok2
    free = x > lower
    if not check:
        why = "converged" if ok else "the Newton iterations stopped before the decrement test"
        return OptResult(x, f, g, None, free, fg.n, n_iter, ok, why)
    H = fd_hessian(lambda z: fg(z)[1], x, free) if free.any() else None
    converged, why = check_convergence(g, H, free)
    if not ok and converged:
        why = "converged (the Newton iterations hit their limit but the gradient is small)"
    return OptResult(x, f, g, H, free, fg.n, n_iter, converged, why)


def check_convergence(g: np.ndarray, H: np.ndarray | None, free: np.ndarray) -> tuple[bool, str]:
    """lme4's gradient check: max |H⁻¹g| < 2·10⁻³ over the free coordinates, H positive definite."""
    if not free.any():
        return True, "converged (every parameter on its boundary)"
    gf = g[free]
    try:
        c = np.linalg.cholesky(H)
    except (np.linalg.LinAlgError, TypeError):
        return False, ("the Hessian of the deviance is not positive definite at the optimum: "
                       "the model may be overparameterized or poorly identified")
    scaled = np.linalg.solve(c.T, np.linalg.solve(c, gf))
    worst = float(np.max(np.abs(scaled)))
    if worst > GRAD_TOL:
        return False, (f"the scaled gradient at the optimum is {worst:.2g} (tolerance "
                       f"{GRAD_TOL}): the optimizer may not have reached the minimum")
    return True, "converged"
