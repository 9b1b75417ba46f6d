"""The null model of a spec: the same outcome, family and grouping factors, intercepts only."""

from __future__ import annotations

from ..errors import SpecError
from .parse import parse_formula
from .types import Spec


def response_text(spec: Spec) -> str:
    """The outcome as written on the left of '~'."""
    r = spec.response
    if r.trials:
        return f"cbind({r.name}, {r.trials} - {r.name})"
    if r.failures:
        return f"cbind({r.name}, {r.failures})"
    return r.name


def null_formula(spec: Spec) -> str:
    """``y ~ 1 + (1 | g1) + (1 | g2) ...``: same outcome and grouping factors, intercepts only.

    Examples
    --------
    >>> null_formula(parse_formula("y ~ x + (1 + x | g) + (1 | h)"))
    'y ~ 1 + (1 | g) + (1 | h)'
    """
    groups = " + ".join(f"(1 | {f})" for f in spec.factors)
    return f"{response_text(spec)} ~ 1" + (f" + {groups}" if groups else "")


def is_null(spec: Spec) -> bool:
    """Whether a spec is already a null model: an intercept and varying intercepts only.

    Examples
    --------
    >>> is_null(parse_formula("y ~ 1 + (1 | g)")), is_null(parse_formula("y ~ x + (1 | g)"))
    (True, False)
    """
    return spec.fixed.strip() == "1" and all(g.expr.strip() == "1" for g in spec.groups)


def null_spec(spec: Spec | str) -> Spec:
    """The null (intercept-only) Spec of a formula or Spec."""
    if isinstance(spec, str):
        spec = parse_formula(spec)
    if not isinstance(spec, Spec):
        raise SpecError(f"null_model needs a formula, a Spec or a Fit, got {type(spec).__name__}")
    if not spec.factors:
        raise SpecError(f"the model '{spec.formula}' has no grouping factor: no null multilevel "
                        "model to fit")
    return parse_formula(null_formula(spec), family=spec.family).with_event(spec.response.event)
