"""Level-wise model input: the equations a multilevel textbook writes, compiled to a Spec.

A two-level model (respondents i in countries j) is written as one level-1 equation and one
level-2 equation per level-1 coefficient::

    level 1:  EFF_ij = β0j + β1j·EDU_ij + β2j·URB_ij + ε_ij
    level 2:  β0j = γ00 + γ01·CORR_j + u0j
              β1j = γ10
              β2j = γ20

    >>> spec = hm.levels("EFF ~ EDU + URB",
    ...                  {"Intercept": "1 + CORR + (1 | country)", "EDU": "1", "URB": "1"})
    >>> spec.formula
    'EFF ~ EDU + URB + CORR + (1 | country)'

Rules (those of Raudenbush & Bryk 2002, ch. 2 and 8; Snijders & Bosker 2012, ch. 5):

* The level-1 equation is an ordinary formula without varying effects. Its terms are the
  level-1 coefficients, named as the terms are written ("Intercept", "EDU", "cwc(EDU, country)").
* Each higher level is a dict: coefficient of the level below -> its equation. An equation's
  predictors are the level's predictors (``"1 + CORR"``; ``"1"`` alone: a fixed coefficient;
  the intercept ``1`` is implied unless ``0`` is written, as in R).
* A random term ``(1 | g)`` on an equation makes that coefficient vary over the units of ``g``.
  Random terms of one factor are correlated (one covariance matrix T, as in the textbooks);
  ``(1 || g)`` makes that coefficient's variation uncorrelated with the others.
* A predictor on a slope's equation is a cross-level interaction: ``"EDU": "1 + CORR"`` gives
  the fixed terms ``EDU`` and ``CORR:EDU``.
* A coefficient without an equation is fixed (its equation is ``"1"``).
* Three levels (pupils i in classes j in schools k): the level-3 dict is keyed by the
  coefficients of level 2, named as the terms of the combined formula they become (``"z"`` for
  the coefficient of z in the intercept's equation, ``"z:x"`` for z in the equation of x's
  slope; the order of the parts does not matter)::

      hm.levels("y ~ x",
                {"Intercept": "1 + z + (1 | school:class)", "x": "1"},   # level 2: classes
                {"Intercept": "1 + w + (1 | school)"},                   # level 3: schools
                group=["school:class", "school"])

The result is the very :class:`~hiermod.formula.Spec` that :func:`parse_formula` makes of
the equivalent lme4 formula (``spec.formula``), carrying the equations in ``spec.levels`` for
:func:`hiermod.equations`.

Where the checks happen
-----------------------
Everything that needs only the equations is checked here (unknown coefficient, unknown grouping
factor, malformed equations). That a level-2 predictor is constant within its groups, and that
level 2 is nested in level 3, needs the data: :func:`check_levels` checks it, and is run by
``levels(..., data=df)``, by the model-file loader (:mod:`hiermod.modelfile`) and by the
command line, always before any sampling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .. import names
from ..errors import SpecError
from ..frame import (
    constant_within,
    factor_codes,
    matrix_columns,
    model_matrix,
    outer_groups,
    used_columns,
)
from .parse import check_safe, parse_formula, parse_group_term, split_top_level
from .types import Spec

INTERCEPT = names.INTERCEPT


@dataclass(frozen=True)
class Equation:
    """The equation of one coefficient of the level below.

    ``terms`` are the predictors of this level, ``"1"`` (the intercept) first when present;
    ``random`` the factors over whose units the coefficient varies, with whether that variation
    is correlated with the factor's other varying coefficients.
    """

    coef: str
    terms: tuple[str, ...]
    random: tuple[tuple[str, bool], ...] = ()

    @property
    def text(self) -> str:
        parts = list(self.terms) if "1" in self.terms else ["0", *self.terms]
        parts += [f"(1 {'|' if c else '||'} {g})" for g, c in self.random]
        return " + ".join(parts)


@dataclass(frozen=True)
class Level:
    """One level above the first: its grouping factor(s) and one equation per coefficient."""

    group: str | None
    equations: tuple[Equation, ...]

    @property
    def factors(self) -> tuple[str, ...]:
        out = [g for eq in self.equations for g, _ in eq.random]
        if self.group:
            out.insert(0, self.group)
        return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class Coef:
    """A coefficient at some level: its name (a term of the combined formula), the path of
    term positions that leads to it (one per level) and the predictor of each step."""

    name: str
    path: tuple[int, ...]
    parts: tuple[str, ...]  # predictor of each level along the path ("1" for an intercept)


@dataclass(frozen=True)
class Levels:
    """Level-wise form of a model: the level-1 terms and the equations of each higher level.

    ``inferred`` is True when the form was derived from a formula (:func:`infer_levels`)
    rather than written level-wise.
    """

    response: str
    level1: tuple[str, ...]
    higher: tuple[Level, ...]
    inferred: bool = False

    @property
    def n_levels(self) -> int:
        return 1 + len(self.higher)

    def coefficients(self, level: int) -> tuple[Coef, ...]:
        """Coefficients explained at ``level`` (1: the level-1 coefficients)."""
        coefs = tuple(Coef(t, (i,), ("1" if t == INTERCEPT else t,))
                      for i, t in enumerate(self.level1))
        for lvl in self.higher[:level - 1]:
            by_key = {term_key(c.name): c for c in coefs}
            new = []
            for eq in lvl.equations:
                c = by_key[term_key(eq.coef)]
                for q, t in enumerate(eq.terms):
                    new.append(Coef(product(c.name, t), c.path + (q,), c.parts + (t,)))
            coefs = tuple(new)
        return coefs

    def fixed_terms(self) -> tuple[str, ...]:
        """Terms of the combined fixed part: intercept, level-1 terms, level-2 terms, ...,
        then cross-level interactions."""
        coefs = self.coefficients(self.n_levels)

        def key(c: Coef):
            return (sum(p != "1" for p in c.parts), tuple(reversed(c.path)))

        return tuple(c.name for c in sorted(coefs, key=key))

    def random_terms(self) -> list[tuple[str, str, bool]]:
        """(coefficient, factor, correlated) of every random term, level by level."""
        out = []
        for lvl in self.higher:
            for eq in lvl.equations:
                for g, corr in eq.random:
                    out.append((eq.coef, g, corr))
        return out

    def formula(self) -> str:
        """The equivalent lme4 formula."""
        fixed = list(self.fixed_terms())
        rest = [t for t in fixed if t != INTERCEPT]
        # as an analyst writes it: the intercept implied, unless it is the only fixed term
        rhs = (["1"] if not rest else []) if INTERCEPT in fixed else ["0"]
        rhs += rest
        by_factor: dict[tuple[str, bool], list[str]] = {}
        for coef, g, corr in self.random_terms():
            by_factor.setdefault((g, corr), []).append(coef)
        for (g, corr), coefs in by_factor.items():
            inner = ["1" if INTERCEPT in coefs else "0"] + [c for c in coefs if c != INTERCEPT]
            rhs.append(f"({' + '.join(inner)} {'|' if corr else '||'} {g})")
        return f"{self.response} ~ {' + '.join(rhs)}"


# --- helpers --------------------------------------------------------------------------------


def term_key(term: str) -> frozenset[str]:
    """Identity of a term regardless of spacing and of the order of its ':' parts."""
    t = re.sub(r"\s+", "", term)
    if t in ("1", INTERCEPT):
        return frozenset()
    return frozenset(split_top_level(t, ":"))


def product(coef: str, term: str) -> str:
    """Fixed term of predictor ``term`` in the equation of coefficient ``coef``."""
    if term == "1":
        return coef
    if coef == INTERCEPT:
        return term
    return f"{term}:{coef}"


def _split_terms(rhs: str, where: str) -> tuple[bool | None, list[str], list[str]]:
    """(intercept flag or None if unspecified, predictor terms, random-term texts)."""
    intercept: bool | None = None
    terms, random = [], []
    for raw in split_top_level(rhs, "+"):
        term = raw.strip()
        if not term:
            raise SpecError(f"{where}: empty term (a stray '+') in '{rhs}'")
        if term in ("1", "0", "-1"):
            intercept = term == "1"
            continue
        if term.startswith("(") and term.endswith(")") and "|" in term:
            random.append(term)
            continue
        if "|" in term:
            raise SpecError(f"{where}: '{term}' uses '|' outside parentheses; write a varying "
                            "coefficient as (1 | group)")
        if len(split_top_level(term, "-")) > 1:
            raise SpecError(f"{where}: '{term}' subtracts a term; write '0 + ...' to drop the "
                            "intercept")
        if len(split_top_level(term, "*")) > 1 or len(split_top_level(term, "/")) > 1:
            raise SpecError(f"{where}: '{term}' uses '*' or '/'; list the terms one by one "
                            "(a + b + a:b) so that each coefficient gets its own equation")
        terms.append(term)
    return intercept, terms, random


def _dedupe(terms: list[str], where: str) -> None:
    seen: dict[frozenset, str] = {}
    for t in terms:
        k = term_key(t)
        if k in seen:
            raise SpecError(f"{where}: the term '{t}' appears twice")
        seen[k] = t


def parse_level1(text: str) -> tuple[str, tuple[str, ...]]:
    """``'y ~ x + z'`` -> (outcome text, level-1 terms with "Intercept" first)."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"the level-1 equation must be a formula such as 'y ~ x', got {text!r}")
    check_safe(text, "level-1 equation")
    sides = split_top_level(text, "~")
    if len(sides) != 2:
        raise SpecError(f"the level-1 equation '{text}' must contain exactly one '~' "
                        "(outcome ~ level-1 predictors)")
    lhs = re.sub(r"\s+", " ", sides[0]).strip()
    intercept, terms, random = _split_terms(sides[1], "level-1 equation")
    if random:
        raise SpecError(f"the level-1 equation '{text}' contains the varying-effects term "
                        f"{random[0]}; make a coefficient vary in its level-2 equation "
                        "instead, e.g. {'Intercept': '1 + (1 | g)'}")
    _dedupe(terms, "level-1 equation")
    if INTERCEPT in terms:
        raise SpecError(f"the level-1 equation '{text}' names '{INTERCEPT}' as a predictor; the "
                        "intercept is implied (write 0 + ... to drop it)")
    terms = [re.sub(r"\s+", " ", t) for t in terms]
    return lhs, tuple(([INTERCEPT] if intercept is not False else []) + terms)


def parse_equation(coef: str, text: str, level: int) -> Equation:
    where = f"level-{level} equation for '{coef}'"
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{where} must be a string such as '1 + w + (1 | g)', got {text!r}")
    check_safe(text, where)
    intercept, terms, random_texts = _split_terms(text, where)
    _dedupe(terms, where)
    random: list[tuple[str, bool]] = []
    for rt in random_texts:
        inner = rt[1:-1]
        for gs in parse_group_term(inner, rt):
            if re.sub(r"\s+", "", gs.expr) != "1":
                raise SpecError(f"{where}: the random term {rt} must be (1 | group): it gives "
                                f"'{coef}' a random deviation per group. To make the effect of "
                                "a predictor vary, give that predictor a coefficient at a lower "
                                "level and make that coefficient vary")
            if gs.factor in [g for g, _ in random]:
                raise SpecError(f"{where}: '{coef}' varies over '{gs.factor}' twice")
            random.append((gs.factor, gs.correlated))
    terms = [re.sub(r"\s+", " ", t) for t in terms]
    full = (["1"] if intercept is not False else []) + terms
    if not full:
        raise SpecError(f"{where} has no fixed part; write '1' for a coefficient that is the "
                        "same in every group")
    return Equation(coef=coef, terms=tuple(full), random=tuple(random))


def _groups_arg(group, n: int) -> list[str | None]:
    if group is None:
        return [None] * n
    groups = [group] if isinstance(group, str) else list(group)
    if len(groups) != n or not all(isinstance(g, str) and g.strip() for g in groups):
        raise SpecError(f"group must name one grouping factor per level above the first "
                        f"({n}), got {group!r}")
    return [re.sub(r"\s+", "", g) for g in groups]


def build_levels(level1: str, higher: Sequence[Mapping[str, str]], group=None) -> Levels:
    """Parse and check level-wise equations (no data needed); see :func:`levels`."""
    response, terms1 = parse_level1(level1)
    if not higher:
        raise SpecError("give at least one level-2 equation dict, e.g. "
                        "{'Intercept': '1 + (1 | g)'}: a model without groups is not multilevel")
    groups = _groups_arg(group, len(higher))
    built = Levels(response=response, level1=terms1, higher=())
    used_factors: dict[str, int] = {}
    for k, (eqs, grp) in enumerate(zip(higher, groups, strict=True), start=2):
        if not isinstance(eqs, Mapping):
            raise SpecError(f"level {k}: the equations must be a dict coefficient -> equation, "
                            f"got {type(eqs).__name__}")
        below = built.coefficients(k - 1)
        by_key = {term_key(c.name): c.name for c in below}
        given: dict[str, Equation] = {}
        for coef, text in eqs.items():
            if not isinstance(coef, str) or term_key(coef) not in by_key:
                raise SpecError(f"level-{k} equation for '{coef}', which is not a coefficient "
                                f"of level {k - 1}; the coefficients are: "
                                f"{', '.join(c.name for c in below)}")
            name = by_key[term_key(coef)]
            if name in given:
                raise SpecError(f"level {k}: two equations for the coefficient '{name}'")
            given[name] = parse_equation(name, text, k)
        eq_list = tuple(given.get(c.name, Equation(c.name, ("1",))) for c in below)
        factors = list(dict.fromkeys(g for eq in eq_list for g, _ in eq.random))
        if grp is not None:
            bad = [g for g in factors if g != grp]
            if bad:
                eq = next(e for e in eq_list if any(g == bad[0] for g, _ in e.random))
                raise SpecError(f"unknown grouping factor '{bad[0]}' in the level-{k} equation "
                                f"for '{eq.coef}'; level {k} is grouped by '{grp}' "
                                f"(group={group!r})")
        for g in factors:
            if g in used_factors:
                raise SpecError(f"the grouping factor '{g}' is used at level {used_factors[g]} "
                                f"and level {k}; each level has its own grouping factor")
            used_factors[g] = k
        if grp is None and len(factors) == 1:
            grp = factors[0]
        built = replace(built, higher=built.higher + (Level(grp, eq_list),))
    if not built.random_terms():
        raise SpecError("no coefficient varies: put a random term such as (1 | g) in a level-2 "
                        "equation (e.g. {'Intercept': '1 + (1 | g)'})")
    return built


def levels(level1: str, *higher: Mapping[str, str], group: str | Sequence[str] | None = None,
           family: str = "gaussian", link: str | None = None,
           data: pd.DataFrame | None = None) -> Spec:
    """A model written level by level, as a multilevel textbook writes it.

    Parameters
    ----------
    level1 : str
        The level-1 equation, ``"outcome ~ predictors"`` (no varying effects). Its terms are
        the level-1 coefficients: "Intercept" (unless ``0 +``) and each term as written.
    *higher : dict
        One dict per higher level (level 2, then level 3, ...): coefficient of the level
        below -> its equation, e.g. ``{"Intercept": "1 + CORR + (1 | country)", "EDU": "1"}``.
        Coefficients left out are fixed (``"1"``).
    group : str or list of str, optional
        The grouping factor of each higher level. When given, a random term naming another
        factor is an error; when omitted, it is read from the random terms.
    family : {"gaussian", "bernoulli", "binomial", "poisson"}
    link : str, optional
    data : pandas.DataFrame, optional
        When given, :func:`check_levels` checks the equations against the data right away.

    Returns
    -------
    Spec
        Equal to ``parse_formula(spec.formula, family)``; ``spec.levels`` holds the equations.

    Raises
    ------
    SpecError
        An equation for a coefficient the level below does not have, a random term naming a
        factor that is not the level's ``group``, malformed equations; with ``data``: a
        level-2 predictor that varies within groups, levels that are not nested.

    Examples
    --------
    >>> spec = levels("EFF ~ EDU + URB",
    ...               {"Intercept": "1 + CORR + (1 | country)", "EDU": "1", "URB": "1"},
    ...               group="country")
    >>> spec.formula
    'EFF ~ EDU + URB + CORR + (1 | country)'
    >>> levels("y ~ x", {"Intercept": "1 + w + (1 | g)", "x": "1 + w + (1 | g)"}).formula
    'y ~ x + w + w:x + (1 + x | g)'
    """
    structure = build_levels(level1, higher, group)
    spec = parse_formula(structure.formula(), family=family, link=link)
    spec = replace(spec, levels=structure)
    if data is not None:
        check_levels(spec, data)
    return spec


# --- checks against the data -----------------------------------------------------------------


def _predictor_columns(term: str, data: pd.DataFrame) -> np.ndarray:
    """The numeric column(s) of one predictor term (formulae, hiermod's safe functions)."""
    return matrix_columns(model_matrix(f"0 + {term}", data, f"predictor '{term}'"), len(data))[0]


def check_levels(spec: Spec, data: pd.DataFrame) -> None:
    """Check level-wise equations against the data; no-op for a spec without ``levels``.

    * every grouping factor is a column (or ``a:b`` of columns) of the data;
    * a predictor of a level-k equation is constant within each group of level k (a level-2
      predictor that varies within groups belongs in the level-1 equation, or its group mean
      ``gmean(x, g)`` in the level-2 equation);
    * the groups of level k are nested in those of level k + 1.

    Rows with missing values in the model's columns are left out, as ``dropna`` would.

    Raises
    ------
    SpecError
        Naming the equation, the predictor, the factor and example groups.
    """
    structure = spec.levels
    if structure is None:
        return
    if not isinstance(data, pd.DataFrame):
        raise SpecError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    for lvl_no, lvl in enumerate(structure.higher, start=2):
        for g in lvl.factors:
            missing = [c for c in g.split(":") if c not in data.columns]
            if missing:
                raise SpecError(f"unknown grouping factor '{g}' (level {lvl_no}): no column "
                                f"{', '.join(repr(c) for c in missing)} in the data; columns: "
                                f"{', '.join(map(str, data.columns))}")
    cols = [c for c in used_columns(spec) if c in data.columns]
    data = data.dropna(subset=cols)
    codes = {}
    for lvl in structure.higher:
        for g in lvl.factors:
            codes[g] = factor_codes(data, g)
    # nesting: each group of level k lies inside one group of level k + 1
    single = [lvl.factors[0] if len(lvl.factors) == 1 else None for lvl in structure.higher]
    for k in range(len(single) - 1):
        inner, outer = single[k], single[k + 1]
        if inner is None or outer is None:
            continue
        ii, il = codes[inner]
        oi, ol = codes[outer]
        bad = [il[j] for j in np.flatnonzero(outer_groups(ii, oi, len(il)) > 1)]
        if bad:
            raise SpecError(f"level {k + 2} ('{inner}') is not nested in level {k + 3} "
                            f"('{outer}'): the groups {', '.join(repr(b) for b in bad[:5])} "
                            f"occur in several '{outer}' groups. If the ids of '{inner}' repeat "
                            f"across '{outer}', group by '{outer}:{inner}'")
    for lvl_no, lvl in enumerate(structure.higher, start=2):
        for g in lvl.factors:
            index, labels = codes[g]
            for eq in lvl.equations:
                for term in eq.terms:
                    if term == "1":
                        continue
                    x = _predictor_columns(term, data)
                    ok = constant_within(x, index, len(labels))
                    if not ok.all():
                        bad = [labels[j] for j in np.flatnonzero(~ok)]
                        shown = ", ".join(repr(b) for b in bad[:5])
                        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
                        raise SpecError(
                            f"'{term}' in the level-{lvl_no} equation for '{eq.coef}' varies "
                            f"within groups of '{g}' ({shown}{more}): a level-{lvl_no} "
                            f"predictor must be constant within each group. Put it in the "
                            f"level-{lvl_no - 1} equation, or use its group mean "
                            f"gmean({term}, {g})")
