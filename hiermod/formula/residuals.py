"""Residual structures within a unit: the ``correlation=`` and ``sigma=`` strings.

The same text is accepted by :func:`hiermod.fit`, :func:`hiermod.reml`, model files
(``[model] correlation = ...``, ``sigma = ...``) and the command line (``--correlation``,
``--sigma``)::

    correlation = "ar1(occasion | id)"   # AR(1) in integer time: corr = φ^|Δt|, gaps allowed
    correlation = "car1(time | id)"      # continuous-time AR(1): corr = φ^|Δt|, Δt real
    correlation = "cs(id)"               # compound symmetry: corr = φ within a unit
    sigma = "~ treat"                    # log σ_i = log σ + δ[treat_i]: one sd per level
    sigma = "~ time"                     # log σ_i = log σ + δ·time_i (a numeric column)
    sigma = "~ C(dose) + time"           # C(x): treat a numeric column as a factor

Rows may come in any order and a unit may miss occasions; the time column orders the rows of
each unit. Like formulas, the text is checked by :func:`hiermod.formula.parse.check_safe`:
names, numbers and the calls above only, so nothing read from a model file runs code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..errors import SpecError
from .parse import check_safe, split_top_level
from .types import Spec

#: correlation structure -> what it is (for messages and docs)
CORRELATIONS = {
    "ar1": "AR(1) in integer time (occasions 1, 2, 3, ...): corr(e_s, e_t) = φ^|s − t|",
    "car1": "continuous-time AR(1): corr(e_s, e_t) = φ^|s − t| for real times, 0 < φ < 1",
    "cs": "compound symmetry: every pair of a unit's residuals has correlation φ",
}
_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
_GROUP = rf"{_NAME}(?:\s*:\s*{_NAME})*"


@dataclass(frozen=True)
class CorrelationSpec:
    """``kind(time | group)``: residuals of one unit (a level of ``group``) are correlated."""

    kind: str
    group: str
    time: str | None = None

    @property
    def text(self) -> str:
        return f"{self.kind}({self.time} | {self.group})" if self.time else \
            f"{self.kind}({self.group})"

    def columns(self) -> dict[str, str]:
        roles = {c: f"unit of {self.kind}()" for c in self.group.split(":")}
        if self.time:
            roles[self.time] = f"time of {self.kind}()"
        return roles


@dataclass(frozen=True)
class VarianceTerm:
    """One variable of the residual-sd model; ``categorical`` True for ``C(x)``, None to
    decide from the column (text / boolean -> a factor, numbers -> a slope)."""

    column: str
    categorical: bool | None = None

    @property
    def text(self) -> str:
        return f"C({self.column})" if self.categorical else self.column


@dataclass(frozen=True)
class VarianceSpec:
    """``~ a + b``: log σ_i = log σ + Σ_terms v_i δ."""

    terms: tuple[VarianceTerm, ...]

    @property
    def text(self) -> str:
        return "~ " + " + ".join(t.text for t in self.terms)

    def columns(self) -> dict[str, str]:
        return {t.column: "residual-sd variable" for t in self.terms}


@dataclass(frozen=True)
class ResidualSpec:
    """A residual correlation within units and / or a model of the residual sd."""

    correlation: CorrelationSpec | None = None
    variance: VarianceSpec | None = None

    def columns(self) -> dict[str, str]:
        """column -> its role, for the data checks."""
        out: dict[str, str] = {}
        if self.correlation is not None:
            out.update(self.correlation.columns())
        if self.variance is not None:
            for k, v in self.variance.columns().items():
                out.setdefault(k, v)
        return out

    @property
    def text(self) -> str:
        parts = []
        if self.correlation is not None:
            parts.append(f"correlation = {self.correlation.text}")
        if self.variance is not None:
            parts.append(f"sigma {self.variance.text}")
        return "; ".join(parts)


def parse_correlation(text: str) -> CorrelationSpec:
    """``"ar1(occasion | id)"``, ``"car1(time | id)"``, ``"cs(id)"`` -> CorrelationSpec.

    Raises
    ------
    SpecError
        Not a string, an unknown structure, a missing time (ar1, car1) or group.

    Examples
    --------
    >>> parse_correlation("car1(Time | Rat)")
    CorrelationSpec(kind='car1', group='Rat', time='Time')
    >>> parse_correlation("cs(Subject)").text
    'cs(Subject)'
    """
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"correlation must be a string such as 'ar1(occasion | id)', "
                        f"got {text!r}")
    where = "correlation"
    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*", text)
    choices = "; ".join(f"{k}: {v}" for k, v in CORRELATIONS.items())
    if not m or m.group(1) not in CORRELATIONS:
        raise SpecError(f"correlation '{text}' is not one of ar1(time | unit), "
                        f"car1(time | unit), cs(unit) ({choices})")
    _check_text(text, where)
    kind, inner = m.group(1), m.group(2)
    parts = [p.strip() for p in split_top_level(inner, "|")]
    if len(parts) == 1:
        time, group = None, parts[0]
    elif len(parts) == 2:
        time, group = parts
        if kind == "cs" and time in ("1", ""):
            time = None
    else:
        raise SpecError(f"correlation '{text}' must read {kind}(time | unit)")
    if not re.fullmatch(_GROUP, group or ""):
        raise SpecError(f"correlation '{text}': the unit '{group}' must be a column name (or "
                        "columns joined by ':')")
    if kind == "cs" and time is not None:
        raise SpecError(f"correlation '{text}': compound symmetry has no time; write "
                        f"cs({group})")
    if kind != "cs":
        if time is None or time == "1":
            raise SpecError(f"correlation '{text}' needs the time column that orders a unit's "
                            f"rows: {kind}(time | {group}) (rows may come in any order)")
        if not re.fullmatch(_NAME, time):
            raise SpecError(f"correlation '{text}': the time '{time}' must be a column name")
    return CorrelationSpec(kind=kind, group=re.sub(r"\s+", "", group), time=time)


def parse_sigma(text: str) -> VarianceSpec:
    """``"~ treat"``, ``"~ time"``, ``"~ C(dose) + time"`` -> VarianceSpec.

    Examples
    --------
    >>> parse_sigma("~ Diet").text
    '~ Diet'
    >>> [t.categorical for t in parse_sigma("~ C(dose) + time").terms]
    [True, None]
    """
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"sigma must be a string such as '~ treat', got {text!r}")
    _check_text(text, "sigma")
    body = text.strip()
    if body.startswith("~"):
        body = body[1:]
    if "~" in body:
        raise SpecError(f"sigma '{text}' has no outcome: write '~ treat'")
    terms: list[VarianceTerm] = []
    for raw in split_top_level(body, "+"):
        t = raw.strip()
        m = re.fullmatch(rf"C\s*\(\s*({_NAME})\s*\)", t)
        if m:
            term = VarianceTerm(m.group(1), True)
        elif re.fullmatch(_NAME, t):
            term = VarianceTerm(t, None)
        else:
            raise SpecError(f"sigma '{text}': the term '{t}' must be a column name or C(column) "
                            "(terms are joined by '+'; interactions are not supported)")
        if term.column in (x.column for x in terms):
            raise SpecError(f"sigma '{text}' names '{term.column}' twice")
        terms.append(term)
    if not terms:
        raise SpecError(f"sigma '{text}' names no variable: write '~ treat'")
    return VarianceSpec(tuple(terms))


def _check_text(text: str, where: str) -> None:
    """check_safe, with ar1 / car1 / cs as the only calls besides C()."""
    bare = re.sub(r"^\s*(ar1|car1|cs)\s*\(", "(", text)
    try:
        check_safe(bare, where)
    except SpecError as exc:
        raise SpecError(str(exc).replace(f"'{bare}'", f"'{text}'", 1)) from None


def residual_spec(correlation: str | CorrelationSpec | None = None,
                  sigma: str | VarianceSpec | None = None) -> ResidualSpec | None:
    """The ResidualSpec of the two strings (None when both are None)."""
    if correlation is None and sigma is None:
        return None
    corr = correlation if isinstance(correlation, CorrelationSpec) or correlation is None \
        else parse_correlation(correlation)
    var = sigma if isinstance(sigma, VarianceSpec) or sigma is None else parse_sigma(sigma)
    return ResidualSpec(corr, var)


def with_residuals(spec: Spec, correlation: str | CorrelationSpec | None = None,
                   sigma: str | VarianceSpec | None = None) -> Spec:
    """The spec with a residual structure (both None: the spec unchanged).

    Raises
    ------
    SpecError
        A malformed structure, or a non-gaussian family (residual structures are for gaussian
        outcomes).
    """
    res = residual_spec(correlation, sigma)
    if res is None:
        return spec
    if spec.family != "gaussian":
        raise SpecError(f"correlation= and sigma= model the residuals of a gaussian outcome; "
                        f"the family is '{spec.family}'")
    return replace(spec, residuals=res)
