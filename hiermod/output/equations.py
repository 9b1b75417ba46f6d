"""The model as equations: level-wise and combined (mixed) form, in LaTeX and HTML.

Notation (Raudenbush & Bryk 2002; Snijders & Bosker 2012): observations i in groups j
(in groups k at a third level);

* two levels: level-1 coefficients β_pj, fixed effects γ_pq, group deviations u_pj,
  residual ε_ij;
* three levels: π_pjk at level 1, β_pqk at level 2, γ_pqs fixed, deviations r (level 2) and
  u (level 3);
* several grouping factors at one level (crossed): deviations u, v, w, ... with one index
  letter each.

Deviations of one factor are jointly normal, ``(u_0j, u_1j)ᵀ ~ N(0, T)``; the residual is
``ε ~ N(0, σ²)`` for gaussian models, otherwise the outcome's distribution and link are given.

A spec written level-wise (:func:`hiermod.levels`) is rendered as written. A spec from a
formula is put in level-wise form by :func:`infer_levels`: with data (a Design or a Fit),
predictors that are constant within a grouping factor become level-2 predictors and their
interactions with level-1 terms cross-level interactions; without data every predictor is
treated as level 1.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass

from ..design import Design, make_design
from ..errors import SpecError
from ..families import get_family
from ..formula import Spec, parse_formula
from ..formula.levelwise import INTERCEPT, Coef, Equation, Level, Levels, term_key
from ..formula.parse import split_top_level

GREEK = {"beta": ("\\beta", "β"), "gamma": ("\\gamma", "γ"), "pi": ("\\pi", "π"),
         "delta": ("\\delta", "δ"), "psi": ("\\psi", "ψ"), "eps": ("\\varepsilon", "ε"),
         "eta": ("\\eta", "η"), "sigma": ("\\sigma", "σ"), "tau": ("\\tau", "τ"),
         "mu": ("\\mu", "μ"), "lambda": ("\\lambda", "λ")}
COEF_SYMBOLS = ["psi", "pi", "beta", "gamma"]
RANDOM_BY_LEVEL = ["q", "r", "u"]
RANDOM_CROSSED = ["u", "v", "w", "a", "b", "c"]
LETTERS = "jklmnst"


# --- a tiny token language rendered to LaTeX and to HTML --------------------------------------


@dataclass(frozen=True)
class Tok:
    """``kind`` "sym" (Greek or Latin symbol with subscript), "var" (a data column with
    subscript) or "raw" (ready-made LaTeX and HTML)."""

    kind: str
    text: str
    sub: str = ""
    html: str = ""

    def latex(self) -> str:
        if self.kind == "raw":
            return self.text
        if self.kind == "sym":
            base = GREEK[self.text][0] if self.text in GREEK else self.text
        else:
            base = f"\\text{{{latex_escape(self.text)}}}"
        return f"{base}_{{{self.sub}}}" if self.sub else base

    def to_html(self) -> str:
        if self.kind == "raw":
            return self.html
        if self.kind == "sym":
            base = GREEK[self.text][1] if self.text in GREEK else f"<i>{self.text}</i>"
        else:
            base = f'<span class="var">{_html.escape(self.text)}</span>'
        return f"{base}<sub>{_html.escape(self.sub)}</sub>" if self.sub else base


def raw(latex: str, html: str) -> Tok:
    return Tok("raw", latex, html=html)


PLUS = raw(" + ", " + ")
EQ = raw(" = ", " = ")
SIM = raw(" \\sim ", " ~ ")


def latex_escape(text: str) -> str:
    out = []
    for ch in text:
        if ch in "_&%#${}":
            out.append("\\" + ch)
        elif ch == "^":
            out.append("\\^{}")
        elif ch == "~":
            out.append("\\textasciitilde{}")
        elif ch == "\\":
            out.append("\\textbackslash{}")
        else:
            out.append(ch)
    return "".join(out)


Line = list[Tok]


def to_latex(line: Line) -> str:
    return "".join(t.latex() for t in line)


def to_html(line: Line) -> str:
    return "".join(t.to_html() for t in line)


# --- the rendered equations --------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Equations:
    """A model's equations; display them in a notebook, or take ``latex()`` / ``html()``.

    Attributes
    ----------
    level_wise : tuple of tuple of str
        LaTeX of the equations of each level (level 1 first).
    mixed : str
        LaTeX of the combined (mixed-model) equation.
    assumptions : tuple of str
        LaTeX of the distributional assumptions.
    levels : Levels
        The level-wise structure they were rendered from.
    """

    level_wise: tuple[tuple[str, ...], ...]
    mixed: str
    assumptions: tuple[str, ...]
    levels: Levels
    formula: str
    _html_levels: tuple[tuple[str, ...], ...]
    _html_mixed: str
    _html_assumptions: tuple[str, ...]

    def __repr__(self) -> str:
        n = sum(len(eqs) for eqs in self.level_wise)
        return (f"<Equations of {self.formula!r}: {len(self.level_wise)} level(s), {n} "
                "equation(s); .latex(), .markdown(), .html()>")

    def latex(self, form: str = "both", assumptions: bool = True) -> str:
        """An ``aligned`` block: ``form`` is "levels", "mixed" or "both"; the distributional
        assumptions follow unless ``assumptions=False``."""
        if form not in ("levels", "mixed", "both"):
            raise SpecError(f"form must be 'levels', 'mixed' or 'both', got {form!r}")
        rows = []
        if form in ("levels", "both"):
            for k, eqs in enumerate(self.level_wise, start=1):
                for i, eq in enumerate(eqs):
                    lhs, rhs = eq.split(" = ", 1)
                    label = f"\\text{{Level {k}:}}\\quad " if i == 0 else ""
                    rows.append(f"{label}{lhs} &= {rhs}")
        if form in ("mixed", "both"):
            lhs, rhs = self.mixed.split(" = ", 1)
            rows.append(f"\\text{{Combined:}}\\quad {lhs} &= {rhs}" if form == "both"
                        else f"{lhs} &= {rhs}")
        for a in self.assumptions if assumptions else ():
            sep = " \\sim " if " \\sim " in a else " = "
            lhs, rhs = a.split(sep, 1)
            rows.append(f"{lhs} &{sep.strip()} {rhs}")
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def html(self) -> str:
        """HTML (no scripts, no external resources): one block per level, the combined form
        and the assumptions."""
        parts = ['<div class="equations">']
        for k, eqs in enumerate(self._html_levels, start=1):
            parts.append(f'<div class="eq-level"><span class="eq-label">Level {k}</span>')
            parts += [f'<div class="eq">{e}</div>' for e in eqs]
            parts.append("</div>")
        parts.append('<div class="eq-level"><span class="eq-label">Combined</span>'
                     f'<div class="eq">{self._html_mixed}</div></div>')
        parts.append('<div class="eq-level"><span class="eq-label">Assumptions</span>')
        parts += [f'<div class="eq">{a}</div>' for a in self._html_assumptions]
        parts.append("</div></div>")
        return "\n".join(parts)

    def markdown(self) -> str:
        out = [f"**lme4 formula:** `{self.formula}`", "", "**Level-wise:**", "", "$$",
               self.latex("levels", assumptions=False), "$$", "", "**Combined:**", "", "$$",
               self.latex("mixed"), "$$"]
        return "\n".join(out)

    def _repr_latex_(self) -> str:
        return f"$$\n{self.latex('both')}\n$$"

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __str__(self) -> str:
        return self.latex("both")


# --- level-wise structure of a formula spec ------------------------------------------------


def _components(term: str) -> list[str]:
    return [c.strip() for c in split_top_level(term, ":")]


def infer_levels(spec: Spec, design=None) -> Levels:
    """Put a formula spec in level-wise form (see the module notes).

    With a ``design`` the terms are formulae's columns ("sector[Public]") and predictors
    constant within a grouping factor are placed at level 2; without, terms are as written and
    all predictors are level 1.
    """
    response = split_top_level(spec.formula, "~")[0].strip() if spec.formula else \
        spec.response.name
    level2: set[str] = set()
    if design is not None:
        fixed = list(design.fixed_terms)
        varying = {fd.name: (list(fd.terms), fd.blocks) for fd in design.factors}
        for fd in design.factors:
            level2.update(design.level2(fd.name))
    else:
        fixed = _written_terms(spec.fixed, intercept_default=True)
        varying = {}
        for g in spec.groups:
            terms = _written_terms(g.expr, intercept_default=True)
            prev, blocks = varying.get(g.factor, ([], ()))
            start = len(prev)
            idx = tuple(range(start, start + len(terms)))
            blocks = blocks + ((idx,) if g.correlated else tuple((i,) for i in idx))
            varying[g.factor] = (prev + terms, blocks)

    def split_term(term: str) -> tuple[str, str]:
        """(level-1 part, level-2 part) of a fixed term, "1" where empty."""
        if term == INTERCEPT:
            return INTERCEPT, "1"
        comps = _components(term)
        hi = [c for c in comps if c in level2]
        lo = [c for c in comps if c not in level2]
        return (":".join(lo) if lo else INTERCEPT), (":".join(hi) if hi else "1")

    l1: list[str] = []
    for t in fixed:
        lo, _ = split_term(t)
        if term_key(lo) not in {term_key(x) for x in l1}:
            l1.append(lo)
    for terms, _ in varying.values():
        for t in terms:
            if term_key(t) not in {term_key(x) for x in l1}:
                l1.append(t)
    if INTERCEPT in l1:
        l1.remove(INTERCEPT)
        l1.insert(0, INTERCEPT)

    eqs = []
    for c in l1:
        preds = []
        for t in fixed:
            lo, hi = split_term(t)
            if term_key(lo) == term_key(c):
                preds.append(hi)
        if "1" in preds:
            preds.remove("1")
            preds.insert(0, "1")
        random = []
        for g, (terms, blocks) in varying.items():
            keys = [term_key(t) for t in terms]
            if term_key(c) in keys:
                k = keys.index(term_key(c))
                block = next(b for b in blocks if k in b)
                correlated = len(block) > 1 or len(terms) == 1
                random.append((g, correlated))
        eqs.append(Equation(coef=c, terms=tuple(preds), random=tuple(random)))
    factors = list(varying)
    group = factors[0] if len(factors) == 1 else None
    return Levels(response=response, level1=tuple(l1), higher=(Level(group, tuple(eqs)),),
                  inferred=True)


def _written_terms(expr: str, intercept_default: bool) -> list[str]:
    terms, intercept = [], intercept_default
    for raw_term in split_top_level(expr, "+"):
        t = re.sub(r"\s+", " ", raw_term.strip())
        if t in ("1", "0", "-1"):
            intercept = t == "1"
        elif t:
            terms.append(t)
    return ([INTERCEPT] if intercept else []) + terms


# --- rendering ------------------------------------------------------------------------------


def _digits(path: list[int]) -> str:
    return ",".join(map(str, path)) if any(p > 9 for p in path) else "".join(map(str, path))


class _Renderer:
    def __init__(self, lv: Levels, spec: Spec) -> None:
        self.lv, self.spec = lv, spec
        L = lv.n_levels
        if L > len(COEF_SYMBOLS):
            raise SpecError(f"equations can be written for at most {len(COEF_SYMBOLS)} levels")
        self.coef_sym = COEF_SYMBOLS[-L:]
        factors_by_level = [lvl.factors for lvl in lv.higher]
        self.factor_level: dict[str, int] = {}
        for k, fs in enumerate(factors_by_level, start=2):
            for g in fs:
                self.factor_level.setdefault(g, k)
        all_factors = list(self.factor_level)
        self.letter = {g: LETTERS[i] if i < len(LETTERS) else f"j{i}"
                       for i, g in enumerate(all_factors)}
        if all(len(fs) <= 1 for fs in factors_by_level):
            syms = RANDOM_BY_LEVEL[-len(factors_by_level):] if len(factors_by_level) <= 3 \
                else [f"u^{{({k})}}" for k in range(2, L + 1)]
            self.rsym = {g: syms[k - 2] for g, k in self.factor_level.items()}
        else:
            self.rsym = {g: RANDOM_CROSSED[i % len(RANDOM_CROSSED)]
                         for i, g in enumerate(all_factors)}
        self.obs = "i" + "".join(self.letter[g] for g in all_factors)
        # index path digits: intercepts are 0, other terms count from 1
        self.coefs = [lv.coefficients(k) for k in range(1, L + 1)]
        self.offsets = [0 if INTERCEPT in lv.level1 else 1]

    def letters_from(self, level: int) -> str:
        return "".join(self.letter[g] for g, k in self.factor_level.items() if k >= level)

    def index(self, c: Coef) -> list[int]:
        """Digits of a coefficient's path (0 = intercept at each step)."""
        out = [c.path[0] + (0 if INTERCEPT in self.lv.level1 else 1)]
        for step, q in enumerate(c.path[1:], start=1):
            eq = self.equation_of(step, c)
            out.append(q + (0 if "1" in eq.terms else 1))
        return out

    def equation_of(self, step: int, c: Coef) -> Equation:
        """The level-(step+1) equation that produced step ``step`` of c's path."""
        parent = self.coefs[step - 1]
        pkey = None
        for p in parent:
            if p.path == c.path[:step]:
                pkey = term_key(p.name)
        return next(e for e in self.lv.higher[step - 1].equations if term_key(e.coef) == pkey)

    def coef_tok(self, c: Coef, level: int) -> Tok:
        """Symbol of coefficient c that lives at ``level`` (1: level-1 coefficients)."""
        sub = _digits(self.index(c)) + self.letters_from(level + 1)
        return Tok("sym", self.coef_sym[level - 1], sub)

    def pred_toks(self, term: str, level: int) -> list[Tok]:
        if term in ("1", INTERCEPT):
            return []
        sub = self.obs if level == 1 else self.letters_from(level)
        return [Tok("var", comp, sub) for comp in _components(term)]

    def product(self, coef: Tok | None, preds: list[Tok]) -> list[Tok]:
        out = [coef] if coef is not None else []
        for p in preds:
            if out:
                out.append(raw("\\,", "&#8201;"))
            out.append(p)
        return out

    def lhs(self) -> Tok:
        return Tok("sym", "eta", self.obs) if self.spec.family != "gaussian" else \
            Tok("var", self.spec.response.name, self.obs)

    def sum_line(self, lhs: Tok, terms: list[list[Tok]]) -> Line:
        line: Line = [lhs, EQ]
        for i, t in enumerate(terms):
            if i:
                line.append(PLUS)
            line += t
        return line

    def level_lines(self) -> list[list[Line]]:
        lv = self.lv
        out = []
        # level 1
        terms = [self.product(self.coef_tok(c, 1), self.pred_toks(c.name, 1))
                 for c in self.coefs[0]]
        if self.spec.family == "gaussian":
            terms.append([Tok("sym", "eps", self.obs)])
        out.append([self.sum_line(self.lhs(), terms)])
        for k, lvl in enumerate(lv.higher, start=2):
            lines = []
            below = {term_key(c.name): c for c in self.coefs[k - 2]}
            here = self.coefs[k - 1]
            for eq in lvl.equations:
                parent = below[term_key(eq.coef)]
                rhs = []
                for c in here:
                    if c.path[:-1] == parent.path:
                        rhs.append(self.product(self.coef_tok(c, k),
                                                self.pred_toks(c.parts[-1], k)))
                for g, _ in eq.random:
                    rhs.append([self.random_tok(parent, g)])
                lines.append(self.sum_line(self.coef_tok(parent, k - 1), rhs))
            out.append(lines)
        return out

    def random_tok(self, parent: Coef, g: str) -> Tok:
        k = self.factor_level[g]
        sub = _digits(self.index(parent)) + self.letter[g] + self.letters_from(k + 1)
        return Tok("sym", self.rsym[g], sub)

    def preds_of(self, c: Coef) -> list[Tok]:
        """Predictors along a coefficient's path, highest level first."""
        toks = []
        for level in range(len(c.parts), 0, -1):
            toks += self.pred_toks(c.parts[level - 1], level)
        return toks

    def mixed_line(self) -> Line:
        L = self.lv.n_levels
        top = {c.name: c for c in self.coefs[L - 1]}
        terms = [self.product(self.coef_tok(top[name], L), self.preds_of(top[name]))
                 for name in self.lv.fixed_terms()]
        for k, lvl in enumerate(self.lv.higher, start=2):
            below = {term_key(c.name): c for c in self.coefs[k - 2]}
            for eq in lvl.equations:
                parent = below[term_key(eq.coef)]
                for g, _ in eq.random:
                    terms.append(self.product(self.random_tok(parent, g), self.preds_of(parent)))
        if self.spec.family == "gaussian":
            terms.append([Tok("sym", "eps", self.obs)])
        return self.sum_line(self.lhs(), terms)

    def assumption_lines(self) -> list[Line]:
        out: list[Line] = []
        several = len(self.factor_level) > 1
        for g in self.factor_level:
            k = self.factor_level[g]
            below = {term_key(c.name): c for c in self.coefs[k - 2]}
            corr, single = [], []
            for eq in self.lv.higher[k - 2].equations:
                for gg, c in eq.random:
                    if gg == g:
                        parent = below[term_key(eq.coef)]
                        (corr if c else single).append(
                            (self.random_tok(parent, g), _digits(self.index(parent))))
            if len(corr) == 1:
                single.insert(0, corr.pop())
            if corr:
                vec_l = "\\left(" + ", ".join(t.latex() for t, _ in corr) + "\\right)^{\\top}"
                vec_h = "(" + ", ".join(t.to_html() for t, _ in corr) + ")<sup>T</sup>"
                if several:
                    tl = f"\\mathbf{{T}}_{{\\text{{{latex_escape(g)}}}}}"
                    th = f"<b>T</b><sub>{_html.escape(g)}</sub>"
                else:
                    tl, th = "\\mathbf{T}", "<b>T</b>"
                out.append([raw(vec_l, vec_h), SIM,
                            raw(f"\\mathcal{{N}}(\\mathbf{{0}}, {tl})", f"N(<b>0</b>, {th})")])
            for t, digits in single:
                sub = f"{digits},{digits}" if len(digits) > 1 else digits * 2
                sup_l = f"^{{({t.text})}}" if several else ""
                sup_h = f"<sup>({t.text})</sup>" if several else ""
                out.append([t, SIM, raw(f"\\mathcal{{N}}(0, \\tau{sup_l}_{{{sub}}})",
                                        f"N(0, τ{sup_h}<sub>{_html.escape(sub)}</sub>)")])
        out.extend(self.family_lines())
        return out

    def family_lines(self) -> list[Line]:
        fam = self.spec.family
        obs = self.obs
        if fam == "gaussian":
            if self.spec.residuals is not None:
                return residual_lines(self.spec.residuals, obs)
            return [[Tok("sym", "eps", obs), SIM,
                     raw("\\mathcal{N}(0, \\sigma^2)", "N(0, σ<sup>2</sup>)")]]
        family = get_family(fam)
        y = Tok("var", self.spec.response.name, obs)
        eta = Tok("sym", "eta", obs)
        link_l, link_h = family.link_latex, family.link_html
        if fam == "poisson":
            mean = Tok("sym", "lambda", obs)
            dist_l, dist_h = f"\\operatorname{{Poisson}}({mean.latex()})", \
                f"Poisson({mean.to_html()})"
        else:
            mean = Tok("sym", "p", obs)
            if fam == "binomial":
                r = self.spec.response
                if r.trials:
                    n = Tok("var", r.trials, obs)
                else:  # successes + failures
                    s_, f_ = Tok("var", r.name, obs), Tok("var", r.failures, obs)
                    n = raw(f"({s_.latex()} + {f_.latex()})", f"({s_.to_html()} + {f_.to_html()})")
                dist_l = f"\\operatorname{{Binomial}}({n.latex()}, {mean.latex()})"
                dist_h = f"Binomial({n.to_html()}, {mean.to_html()})"
            else:
                dist_l, dist_h = f"\\operatorname{{Bernoulli}}({mean.latex()})", \
                    f"Bernoulli({mean.to_html()})"
        return [[y, SIM, raw(dist_l, dist_h)],
                [raw(f"{link_l}({mean.latex()})", f"{link_h}({mean.to_html()})"), EQ, eta]]


def residual_lines(res, obs: str) -> list[Line]:
    """The residual's assumptions under a residual structure (``correlation=``, ``sigma=``):
    its row-specific sd and the correlation of two rows i, i' of the same unit."""
    eps = Tok("sym", "eps", obs)
    out: list[Line] = []
    if res.variance is None:
        out.append([eps, SIM, raw("\\mathcal{N}(0, \\sigma^2)", "N(0, σ<sup>2</sup>)")])
    else:
        sub = _html.escape(obs)
        terms = " + ".join(f"\\text{{{latex_escape(t.column)}}}" for t in res.variance.terms)
        terms_h = " + ".join(_html.escape(t.column) for t in res.variance.terms)
        out.append([eps, SIM, raw(f"\\mathcal{{N}}(0, \\sigma_{{{obs}}}^2)",
                                  f"N(0, σ<sub>{sub}</sub><sup>2</sup>)")])
        out.append([raw(f"\\log \\sigma_{{{obs}}}", f"log σ<sub>{sub}</sub>"), EQ,
                    raw(f"\\log \\sigma + \\delta^{{\\top}} v_{{{obs}}}\\ "
                        f"(v: {terms})", f"log σ + δ<sup>T</sup>v<sub>{sub}</sub> (v: "
                        f"{terms_h})")])
    corr = res.correlation
    if corr is not None:
        other = obs[0] + "'" + obs[1:]
        unit = latex_escape(corr.group)
        lhs = raw(f"\\operatorname{{corr}}(\\varepsilon_{{{obs}}}, \\varepsilon_{{{other}}})",
                  f"corr(ε<sub>{_html.escape(obs)}</sub>, ε<sub>{_html.escape(other)}</sub>)")
        if corr.time is not None:
            t = latex_escape(corr.time)
            rhs = raw(f"\\phi^{{|\\text{{{t}}}_{{{obs}}} - \\text{{{t}}}_{{{other}}}|}}"
                      f"\\ (\\text{{same {unit}}})",
                      f"φ<sup>|{_html.escape(corr.time)}<sub>{_html.escape(obs)}</sub> − "
                      f"{_html.escape(corr.time)}<sub>{_html.escape(other)}</sub>|</sup> "
                      f"(same {_html.escape(corr.group)})")
        else:
            rhs = raw(f"\\phi\\ (\\text{{same {unit}}}, {obs[0]} \\ne {obs[0]}')",
                      f"φ (same {_html.escape(corr.group)}, {obs[0]} ≠ {obs[0]}')")
        out.append([lhs, EQ, rhs])
    return out


def equations(model, data=None) -> Equations:
    """The equations of a model, level-wise and combined, with their assumptions.

    Parameters
    ----------
    model : Spec, Design, Fit or str
        A spec (from :func:`hiermod.levels`, :func:`hiermod.parse_formula` or a model file),
        a Design, a Fit, or an lme4 formula.
    data : pandas.DataFrame, optional
        For a formula spec: used to tell level-2 predictors (constant within groups) from
        level-1 predictors. A Design or Fit brings its own data.

    Returns
    -------
    Equations
        Shown as LaTeX in notebooks; ``.latex()``, ``.html()``, ``.markdown()``.

    Examples
    --------
    >>> spec = hm.levels("EFF ~ EDU", {"Intercept": "1 + CORR + (1 | country)"})
    >>> print(hm.equations(spec).level_wise[1][0])
    \\beta_{0j} = \\gamma_{00} + \\gamma_{01}\\,\\text{CORR}_{j} + u_{0j}
    """
    design = None
    if isinstance(model, str):
        model = parse_formula(model)
    if isinstance(model, Spec):
        spec = model
        if spec.levels is None and data is not None:
            design = make_design(spec, data)
    elif isinstance(model, Design):
        spec, design = model.spec, model
    elif hasattr(model, "design") and hasattr(model, "spec"):
        spec, design = model.spec, model.design
    else:
        raise SpecError(f"equations() takes a Spec, Design, Fit or formula, got "
                        f"{type(model).__name__}")
    lv = spec.levels if isinstance(spec.levels, Levels) else infer_levels(spec, design)
    r = _Renderer(lv, spec)
    levels_lines = r.level_lines()
    mixed = r.mixed_line()
    assumptions = r.assumption_lines()
    return Equations(
        level_wise=tuple(tuple(to_latex(x) for x in lvl) for lvl in levels_lines),
        mixed=to_latex(mixed),
        assumptions=tuple(to_latex(a) for a in assumptions),
        levels=lv, formula=spec.formula,
        _html_levels=tuple(tuple(to_html(x) for x in lvl) for lvl in levels_lines),
        _html_mixed=to_html(mixed),
        _html_assumptions=tuple(to_html(a) for a in assumptions),
    )


__all__ = ["Equations", "equations", "infer_levels"]
