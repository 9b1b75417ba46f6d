"""hiermod's reports for a bambi fit: ``hm.from_bambi(model, idata)`` returns a :class:`Fit`.

The bambi model's formula becomes a hiermod Spec (``p(s, n) ~`` → ``cbind(s, n - s) ~``,
``y['yes'] ~`` → the event level "yes", and every varying-effects term uncorrelated, ``||``,
since bambi 0.21 gives each group-specific term its own independent sd), the data a hiermod
Design, and the posterior is renamed into hiermod's variables and dims:

==========================  =======================================================
bambi                       hiermod
==========================  =======================================================
``Intercept``, ``floor``,   ``beta`` (fixed_term), columns in formulae's order
``period`` (period_dim)
``1|county``,               ``u_county`` (county, county_term)
``floor|county``
``1|county_sigma``, ...     ``sd_county`` (county_cov_term)
``sigma``                   ``sigma``
==========================  =======================================================

Every report then works on the bambi posterior: summary, ICC, design effect, R², pooling and
shrinkage, predictions with the new-group policy, marginal means, checks, and the comparison
with :func:`hiermod.reml` on the same Design.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import xarray as xr

from . import names
from .design import make_design
from .errors import SpecError
from .families import FAMILIES
from .fitting import add_observed
from .formula import parse_formula
from .formula.parse import split_top_level
from .frame import used_columns
from .result import Fit
from .sample import SamplerSettings

_EVENT = re.compile(r"""^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\[\s*(['"])(.*?)\2\s*\]\s*$""")
_PROPORTION = re.compile(r"^\s*p\s*\((.+),(.+)\)\s*$")


def hiermod_formula(bambi_formula: str) -> tuple[str, str | None]:
    """(lme4 formula with uncorrelated varying effects, event level or None) of a bambi
    formula.

    Examples
    --------
    >>> hiermod_formula("p(incidence, size) ~ period + (1 | herd)")
    ('cbind(incidence, size - incidence) ~ period + (1 || herd)', None)
    >>> hiermod_formula("use['Y'] ~ urban + (1 + urban | district)")
    ('use ~ urban + (1 + urban || district)', 'Y')
    """
    sides = split_top_level(bambi_formula, "~")
    if len(sides) != 2:
        raise SpecError(f"cannot read the bambi formula '{bambi_formula}': one '~' expected")
    lhs, rhs = sides[0].strip(), sides[1].strip()
    event = None
    m = _EVENT.match(lhs)
    if m:
        lhs, event = m.group(1), m.group(3)
    m = _PROPORTION.match(lhs)
    if m:
        s, n = m.group(1).strip(), m.group(2).strip()
        lhs = f"cbind({s}, {n} - {s})"
    terms = []
    for raw in split_top_level(rhs, "+"):
        t = raw.strip()
        if t.startswith("(") and t.endswith(")") and "|" in t and "||" not in t:
            expr, factor = split_top_level(t[1:-1], "|")
            t = f"({expr.strip()} || {factor.strip()})"
        terms.append(t)
    return f"{lhs} ~ {' + '.join(terms)}", event


def _parent(model):
    parents = [c for c in model.parameters.values() if getattr(c, "is_parent", False)]
    if len(parents) != 1:
        raise SpecError("the bambi model has no single parent (mean) component")
    return parents[0]


def _check_family(model) -> str:
    family = model.family.name
    if family not in FAMILIES:
        raise SpecError(f"the bambi model's family '{family}' has no hiermod counterpart; "
                        f"hiermod has {', '.join(FAMILIES)}")
    link = model.family.link[model.family.likelihood.parent].name
    if link != FAMILIES[family].link:
        raise SpecError(f"the bambi model uses the {link} link; hiermod fits {family} models "
                        f"with the {FAMILIES[family].link} link only")
    others = [p for p in model.parameters if p not in (model.family.likelihood.parent, "sigma")]
    if others:
        raise SpecError(f"the bambi model has distributional parameters {others} besides the "
                        "mean: hiermod models the mean only")
    return family


def _values(post: xr.Dataset, var: str, factor_dim: str | None = None) -> np.ndarray:
    """A bambi variable as (chain, draw, [levels], columns)."""
    if var not in post:
        raise SpecError(f"the bambi posterior has no variable '{var}'; it has "
                        f"{', '.join(map(str, post.data_vars))}")
    da = post[var]
    rest = [d for d in da.dims if d not in ("chain", "draw", factor_dim)]
    order = ["chain", "draw", *([factor_dim] if factor_dim else []), *rest]
    x = np.asarray(da.transpose(*order).values, dtype=float)
    n_lead = 3 if factor_dim else 2
    return x.reshape(x.shape[:n_lead] + (-1,))


def from_bambi(model, idata: xr.DataTree) -> Fit:
    """A hiermod Fit of a fitted bambi model, so that hiermod's reports run on its posterior.

    Parameters
    ----------
    model : bambi.Model
        The model (built and fitted: its family, formula and data are read).
    idata : xarray.DataTree
        What ``model.fit()`` returned.

    Returns
    -------
    Fit
        With the bambi posterior under hiermod's names (see the module docstring), the
        observed data, and bambi's ``sample_stats`` (so ``fit.diagnostics()`` reads its
        divergences). ``fit.model_path`` is "bambi"; ``fit.model`` and anything that refits
        (``hm.null_model``, ``hm.kfold``) use hiermod's own model of the same Spec.

    Raises
    ------
    SpecError
        A family or link hiermod does not have, distributional terms besides the mean, a
        formula hiermod cannot read, or a posterior that does not match the design.

    Notes
    -----
    bambi 0.21 estimates no correlation between a factor's group-specific terms, so the Spec
    writes them uncorrelated (``(1 + x || g)``); the bambi priors are not carried over
    (``fit.priors`` shows hiermod's defaults, which the posterior did not use).

    Examples
    --------
    >>> m = bmb.Model("log_radon ~ floor + (1 + floor | county)", radon)   # doctest: +SKIP
    >>> fit = hm.from_bambi(m, m.fit())                                     # doctest: +SKIP
    >>> fit.icc(), fit.pooling(), fit.compare(hm.reml(fit.spec, fit.data))  # doctest: +SKIP
    """
    family = _check_family(model)
    formula, event = hiermod_formula(str(model.formula.main))
    spec = parse_formula(formula, family=family).with_event(event)
    data = pd.DataFrame(model.data)
    design = make_design(spec, data)
    post = idata["posterior"].to_dataset()
    parent = _parent(model)

    common = parent.design.common
    columns = list(common.as_dataframe().columns) if common is not None else []
    if columns != list(design.fixed_terms):
        raise SpecError(f"bambi's fixed-effect columns {columns} differ from hiermod's "
                        f"{list(design.fixed_terms)}")
    shape = (post.sizes["chain"], post.sizes["draw"])
    beta = np.zeros(shape + (len(columns),))
    for term, sl in (common.slices.items() if common is not None else ()):
        beta[..., sl] = _values(post, term)
    data_vars = {names.FIXED: (("chain", "draw", names.FIXED_DIM), beta)}
    coords = {"chain": post["chain"].values, "draw": post["draw"].values,
              names.FIXED_DIM: columns}
    if FAMILIES[family].has_sigma:
        data_vars[names.SIGMA] = (("chain", "draw"), _values(post, "sigma")[..., 0])

    group_terms = parent.design.group.terms if parent.design.group is not None else {}
    for fd in design.factors:
        own = [n for n in group_terms if n.split("|", 1)[1].strip() == fd.name]
        factor_dim = f"{fd.name}__factor_dim"
        u = np.concatenate([_values(post, n, factor_dim) for n in own], axis=-1) if own else None
        sd = np.concatenate([np.broadcast_to(_values(post, f"{n}_sigma"),
                                             shape + (_values(post, n, factor_dim).shape[-1],))
                             for n in own], axis=-1) if own else None
        if u is None or u.shape[-1] != fd.q:
            raise SpecError(f"bambi's group-specific terms of '{fd.name}' ({own}) do not give "
                            f"hiermod's {fd.q} varying terms {list(fd.terms)}")
        levels = [str(v) for v in post[factor_dim].values]
        missing = set(fd.levels) - set(levels)
        if missing:
            raise SpecError(f"levels of '{fd.name}' missing from the bambi posterior: "
                            f"{sorted(missing)[:5]}")
        u = u[:, :, [levels.index(lvl) for lvl in fd.levels], :]
        g, t, c = names.group_dim(fd.name), names.term_dim(fd.name), names.cov_dim(fd.name)
        data_vars[names.group_effects(fd.name)] = (("chain", "draw", g, t), u)
        data_vars[names.group_sd(fd.name)] = (("chain", "draw", c), sd)
        coords.update({g: list(fd.levels), t: list(fd.terms), c: list(fd.terms)})
    posterior = xr.Dataset(data_vars, coords=coords, attrs={
        "model_path": "bambi", "random_seed": 0,
        "modeling_interface": str(post.attrs.get("modeling_interface", "bambi")),
        "modeling_interface_version": str(post.attrs.get("modeling_interface_version", ""))})
    tree = xr.DataTree.from_dict({"/posterior": posterior})
    if "sample_stats" in idata.children:
        tree["sample_stats"] = xr.DataTree(idata["sample_stats"].to_dataset())
    add_observed(tree, design)
    frame = data.loc[design.rows, list(used_columns(spec))]
    settings = SamplerSettings(draws=shape[1], chains=shape[0], sampler="pymc",
                               tune=int(post.attrs.get("tuning_steps", 0) or 0))
    return Fit(idata=tree, spec=spec, design=design, data=frame, settings=settings,
               model_path="bambi")
