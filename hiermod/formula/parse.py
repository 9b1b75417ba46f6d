"""Parse an lme4-style formula into a :class:`~hiermod.formula.Spec`.

The fixed part and each varying-effects expression are handed to `formulae` (the parser Bambi
uses) when the design is built; this module only splits the formula into its parts, expands
the lme4 shorthands formulae lacks, and checks that nothing in it can run code:

* ``(1 + x || g)``  -> uncorrelated varying intercept and slope of ``g``
* ``(1 | a/b)``     -> ``(1 | a) + (1 | a:b)`` (``b`` nested in ``a``)
* ``cbind(s, n - s) ~ ...`` or ``s | trials(n) ~ ...`` -> binomial successes out of trials

Function calls are limited to :data:`ALLOWED_FUNCTIONS`; attribute access, subscripts,
strings and dunder names are rejected, so a formula read from a spec file never executes code.
"""

from __future__ import annotations

import re

from ..errors import SpecError
from ..families import get_family
from ..transforms import SAFE_NAMESPACE
from .types import GroupSpec, Response, Spec

#: Functions a formula may call (evaluated by formulae with hiermod's implementations).
ALLOWED_FUNCTIONS = frozenset(SAFE_NAMESPACE)

#: a column name: a letter of any script or '_', then letters, digits, '_' or '.'
_IDENT = r"[^\W\d][\w.]*"
_FORBIDDEN = [
    (re.compile(r"__"), "double underscores"),
    (re.compile(r"[\[\]{};'\"`\\@$!?#]"), "the character {m}"),
    (re.compile(r"\blambda\b|\bimport\b"), "the keyword {m}"),
    (re.compile(r"[^\W\d]\w*\s*\.\s*[^\W\d]\w*"), "attribute access ('{m}')"),
    (re.compile(r"(?<![<>=!])=(?!=)"), "keyword arguments ('=')"),
]


def split_top_level(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` where it is not inside parentheses."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SpecError(f"unbalanced ')' at position {i} in '{text}'")
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    if depth != 0:
        raise SpecError(f"unbalanced '(' in '{text}'")
    parts.append(text[start:])
    return parts


def check_safe(text: str, where: str = "formula") -> None:
    """Reject anything but names, numbers, operators and calls of allowed functions."""
    for pattern, what in _FORBIDDEN:
        m = pattern.search(text)
        if m:
            raise SpecError(f"{where} '{text}' contains {what.format(m=m.group(0))}, which is not "
                            "allowed: formulas may use column names, numbers, operators and the "
                            f"functions {', '.join(sorted(ALLOWED_FUNCTIONS))}")
    for m in re.finditer(rf"({_IDENT})\s*\(", text):
        name = m.group(1)
        if name not in ALLOWED_FUNCTIONS and name not in ("cbind", "trials"):
            raise SpecError(f"{where} '{text}' calls '{name}(...)', which is not an allowed "
                            f"function; allowed: {', '.join(sorted(ALLOWED_FUNCTIONS))}")


def parse_response(lhs: str) -> Response:
    """``y`` | ``cbind(s, n - s)`` | ``cbind(s, f)`` | ``s | trials(n)``."""
    lhs = lhs.strip()
    if not lhs:
        raise SpecError("formula has no outcome on the left of '~'")
    m = re.fullmatch(r"cbind\s*\((.*)\)", lhs)
    if m:
        args = [a.strip() for a in split_top_level(m.group(1), ",")]
        if len(args) != 2 or not all(args):
            raise SpecError(f"cbind() on the left of '~' needs two arguments (successes, failures), "
                            f"got '{lhs}'")
        succ, fail = args
        _need_name(succ, lhs)
        diff = re.fullmatch(rf"({_IDENT})\s*-\s*({_IDENT})", fail)
        if diff:
            if diff.group(2) != succ:
                raise SpecError(f"in '{lhs}' the failures must be 'trials - {succ}', "
                                f"got '{fail}'")
            return Response(succ, trials=diff.group(1))
        _need_name(fail, lhs)
        return Response(succ, failures=fail)
    m = re.fullmatch(rf"({_IDENT})\s*\|\s*trials\s*\(\s*({_IDENT})\s*\)", lhs)
    if m:
        return Response(m.group(1), trials=m.group(2))
    _need_name(lhs, lhs)
    return Response(lhs)


def _need_name(text: str, context: str) -> None:
    if not re.fullmatch(_IDENT, text):
        raise SpecError(f"'{text}' in the outcome '{context}' must be a column name")


def parse_group_term(inner: str, term: str) -> list[GroupSpec]:
    """``expr | g`` or ``expr || g`` (text inside the parentheses) -> GroupSpecs."""
    correlated = "||" not in inner
    parts = inner.split("||") if not correlated else split_top_level(inner, "|")
    if len(parts) != 2:
        raise SpecError(f"varying-effects term '{term}' must have the form (expr | group)")
    expr, factor = (p.strip() for p in parts)
    if not expr:
        raise SpecError(f"varying-effects term '{term}' has nothing before '|'; use (1 | g) "
                        "for a varying intercept")
    if not factor:
        raise SpecError(f"varying-effects term '{term}' names no grouping factor after '|'")
    levels = [f.strip() for f in factor.split("/")]
    for name in (n for lvl in levels for n in lvl.split(":")):
        if not re.fullmatch(_IDENT, name.strip()):
            raise SpecError(f"grouping factor '{factor}' in '{term}' must be column names joined "
                            "by ':' (interaction) or '/' (nesting)")
    factors = [":".join(n.strip() for n in levels[0].split(":"))]
    for lvl in levels[1:]:
        factors.append(factors[-1] + ":" + ":".join(n.strip() for n in lvl.split(":")))
    return [GroupSpec(expr=expr, factor=f, correlated=correlated) for f in factors]


def parse_formula(formula: str, family: str = "gaussian", link: str | None = None) -> Spec:
    """Parse an lme4 formula.

    Examples
    --------
    >>> s = parse_formula("log_radon ~ floor + (1 + floor | county)")
    >>> s.fixed, s.groups[0].factor, s.groups[0].correlated
    ('floor', 'county', True)
    """
    if not isinstance(formula, str) or not formula.strip():
        raise SpecError(f"formula must be a non-empty string, got {formula!r}")
    get_family(family, link)  # unknown families and unsupported links fail here
    check_safe(formula)
    sides = split_top_level(formula, "~")
    if len(sides) != 2:
        raise SpecError(f"formula '{formula}' must contain exactly one '~' "
                        "(outcome ~ predictors)")
    response = parse_response(sides[0])
    if family != "binomial" and (response.trials or response.failures):
        raise SpecError(f"the outcome '{sides[0].strip()}' gives trials, which only the "
                        f"binomial family uses (family is '{family}')")
    if family == "binomial" and not (response.trials or response.failures):
        raise SpecError(f"binomial models need the number of trials: write "
                        f"'cbind({response.name}, n - {response.name}) ~ ...' or "
                        f"'{response.name} | trials(n) ~ ...'")
    fixed_terms: list[str] = []
    groups: list[GroupSpec] = []
    for raw in split_top_level(sides[1], "+"):
        term = raw.strip()
        if not term:
            raise SpecError(f"empty term (a stray '+') in formula '{formula}'")
        if term.startswith("(") and term.endswith(")") and "|" in term:
            inner = term[1:-1]
            if len(split_top_level(inner, "|")) > 1 or "||" in inner:
                groups.extend(parse_group_term(inner, term))
                continue
        if "|" in term:
            raise SpecError(f"term '{term}' uses '|' outside parentheses; write varying effects "
                            "as (expr | group)")
        fixed_terms.append(term)
    fixed = " + ".join(fixed_terms) if fixed_terms else "1"
    return Spec(response=response, fixed=fixed, groups=tuple(groups), family=family,
                formula=canonical_formula(formula), link=link)


def canonical_formula(formula: str) -> str:
    """Whitespace-normalised formula text."""
    return re.sub(r"\s+", " ", formula).strip()
