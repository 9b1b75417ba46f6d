"""The model specification: small immutable objects handed from the parser to the design stage."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import SpecError
from ..families import FAMILIES, get_family


@dataclass(frozen=True)
class GroupSpec:
    """One varying-effects term ``(expr | factor)`` or ``(expr || factor)``.

    ``factor`` is a column name or an interaction of columns (``'school:class'``, the inner
    level of a nested ``(1 | school/class)``). ``correlated`` is False for ``||``.
    """

    expr: str
    factor: str
    correlated: bool = True


@dataclass(frozen=True)
class Response:
    """The outcome: a column, plus the number of trials for binomial models.

    lme4's ``cbind(s, n - s)`` and ``cbind(s, f)`` and brms's ``s | trials(n)`` all give
    ``successes='s'`` with ``trials`` (a column) or ``failures`` (a column).

    ``event`` names the value of a yes/no column counted as 1 (bernoulli models), as bambi's
    ``y['yes']``: the outcome is then 1 where the column equals it and 0 elsewhere.
    """

    name: str
    trials: str | None = None
    failures: str | None = None
    event: str | None = None


@dataclass(frozen=True)
class Spec:
    """A parsed multilevel model: outcome, fixed part, varying-effects terms and family.

    ``fixed`` is the right-hand side of the fixed part in formulae syntax (``'1 + floor'``).
    ``formula`` is the whole model as an lme4 formula, the canonical text of the spec.
    ``link`` is the family's link (checked by :func:`hiermod.families.get_family`: a link the
    family does not support is refused here, before any path uses the spec).
    """

    response: Response
    fixed: str
    groups: tuple[GroupSpec, ...]
    family: str = "gaussian"
    formula: str = ""
    link: str | None = None
    #: The level-wise equations the spec was written as (:func:`hiermod.levels`), else None.
    #: Not part of equality: a level-wise spec equals the spec of its lme4 formula.
    levels: object = field(default=None, compare=False, repr=False)
    #: The residual structure within units (``correlation=``, ``sigma=``), else None:
    #: a :class:`~hiermod.formula.residuals.ResidualSpec`.
    residuals: object = None

    def __post_init__(self) -> None:
        family = get_family(self.family, self.link)
        object.__setattr__(self, "link", family.link)
        if self.response.event is not None and self.family != "bernoulli":
            raise SpecError(f"event={self.response.event!r} names the level of a yes/no outcome "
                            f"counted as 1, which only the bernoulli family has (family is "
                            f"'{self.family}')")

    @property
    def factors(self) -> tuple[str, ...]:
        """Grouping factors in order of first appearance, without repeats."""
        return tuple(dict.fromkeys(g.factor for g in self.groups))

    def with_family(self, family: str) -> Spec:
        return replace(self, family=family, link=None)

    def with_event(self, event: str | None) -> Spec:
        """The spec with the outcome's event level (see :class:`Response`)."""
        if event is not None and (not isinstance(event, str) or not event):
            raise SpecError(f"event must be the text of one value of the outcome column, "
                            f"got {event!r}")
        return replace(self, response=replace(self.response, event=event))


__all__ = ["FAMILIES", "GroupSpec", "Response", "Spec"]
