"""Model files: a whole analysis (data, transformations, model, priors, sampler) in TOML.

A model file has these tables; every key is optional unless marked, and any other key is an
error (reported with the file, the line and the key)::

    name = "radon_vis"                       # defaults to the file's stem
    description = "varying intercepts and slopes of floor by county"

    [data]                                   # required: exactly one of dataset / path
    dataset = "radon"                        # a bundled data set (hm.datasets.list())
    # path = "efficacy_sim.csv"              # a CSV file, relative to this file, inside its
                                             # folder (outside: --allow-outside-data)
    dropna = false                           # drop rows with missing values (reported)

    [transform]                              # new columns, computed in order, before the model
    floor_c = { fn = "cgm", args = ["floor"] }
    # fn: one of TRANSFORMS (cwc, cgm, gmean, center, scale, standardize, log, log2, log10,
    # log1p, exp, sqrt, abs, C); args: column names. Nothing is ever evaluated as code.

    [model]                                  # required: formula, or level1 + level2 (+ level3)
    family = "gaussian"                      # gaussian | bernoulli | binomial | poisson
    # event = "Y"                            # bernoulli: the value of a yes/no outcome counted as 1
    formula = "log_radon ~ floor + (1 + floor | county)"
    parameterization = "auto"                # or "adaptive", "noncentered", "centered"
    marginalize = true                       # integrate the group effects out (default: where exact)
    correlation = "ar1(occasion | id)"       # residuals within units: ar1 / car1(time | unit), cs(unit)
    sigma = "~ treat"                        # residual sd by a variable (log-linear)
    # level-wise instead of formula (see hiermod.levels):
    # level1 = "EFF ~ EDU + URB"
    # group = "country"                      # or a list, one per level above the first
    # [model.level2]
    # Intercept = "1 + CORR + (1 | country)"

    [priors]                                 # overrides of the default priors
    floor = { dist = "Normal", mu = 0, sigma = 1 }
    "sd(county)" = { dist = "HalfNormal", sigma = 1 }

    [sampler]
    draws = 1000
    tune = 1000
    chains = 4
    seed = 1                                 # random_seed
    sampler = "nutpie"                       # nutpie | pymc | numpyro
    target_accept = 0.8
    max_treedepth = 10

:func:`load_model` reads the file, the data, applies the transformations, builds the spec and
the design and checks the priors: every error is raised before any sampling.
"""

from __future__ import annotations

import re
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import datasets
from .design import DataWarning, make_design
from .design.checks import event_indicator
from .errors import DataError, HiermodError, SpecError, did_you_mean, format_rows
from .families import FAMILIES, get_family
from .fitting import fit
from .formula import (
    check_levels,
    levels,
    parse_correlation,
    parse_formula,
    parse_sigma,
    with_residuals,
)
from .frame import used_columns
from .plan import check_choice
from .priors import Prior, resolve_priors
from .sample import SamplerSettings
from .transforms import COLUMN_TRANSFORMS as TRANSFORMS
from .transforms import numeric_values

#: Top-level keys and the keys allowed in each table.
SCHEMA: dict[str, tuple[str, ...] | None] = {
    "name": None, "description": None,
    "data": ("dataset", "path", "dropna"),
    "transform": None,  # any column name -> {fn, args}
    "model": ("family", "link", "formula", "level1", "group", "level2", "level3",
              "parameterization", "marginalize", "event", "correlation", "sigma"),
    "priors": None,  # any prior key -> {dist, params...}
    "sampler": ("draws", "tune", "chains", "seed", "sampler", "target_accept", "max_treedepth"),
}
SAMPLER_TYPES = {"draws": int, "tune": int, "chains": int, "seed": int, "sampler": str,
                 "target_accept": float, "max_treedepth": int}
_IDENT = re.compile(r"[^\W\d][\w.]*")
_KEY_PART = r"""(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)"""
_KEY_LINE = re.compile(rf"({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")  # key = / a.b = / "k" =


@dataclass(frozen=True, eq=False)
class ModelFile:
    """A loaded, checked model file: everything :func:`hiermod.fit` needs.

    ``fit_kwargs`` holds the sampler settings of the file as keyword arguments of
    :func:`hiermod.fit`; :meth:`fit` accepts overrides of any of them.
    """

    path: Path
    name: str
    description: str
    spec: object
    data: pd.DataFrame
    data_source: str
    priors: dict = field(default_factory=dict)
    fit_kwargs: dict = field(default_factory=dict)
    transforms: tuple = ()

    def design(self):
        return make_design(self.spec, self.data, dropna=self.fit_kwargs.get("dropna", False))

    def fit(self, **overrides):
        """Fit the model (:func:`hiermod.fit`) with the file's settings, ``overrides`` winning."""
        kwargs = {**self.fit_kwargs, **{k: v for k, v in overrides.items() if v is not None}}
        return fit(self.spec, self.data, priors=self.priors or None, **kwargs)


class _Locator:
    """Finds the line of a key in the TOML text (best effort, for error messages)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    @staticmethod
    def _unquote(k: str) -> str:
        k = k.strip()
        return k[1:-1] if len(k) >= 2 and k[0] == k[-1] and k[0] in "\"'" else k

    def line(self, keys: tuple[str, ...]) -> int | None:
        """The first line whose key path is a prefix of ``keys`` (or extends it), preferring
        the longest match: ``[sampler]`` < ``drows = 5`` inside it."""
        table: tuple[str, ...] = ()
        best, best_score = None, 0
        for no, raw_line in enumerate(self.lines, start=1):
            s = raw_line.strip()
            m = re.fullmatch(r"\[\s*([^\[\]]+?)\s*\]\s*(#.*)?", s)
            if m:
                table = tuple(self._unquote(p) for p in m.group(1).split("."))
                full = table
            else:
                m = _KEY_LINE.match(s)
                if not m:
                    continue
                parts = re.findall(r"""("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)""", m.group(1))
                full = table + tuple(self._unquote(p) for p in parts)
            n = min(len(full), len(keys))
            if full[:n] == keys[:n] and n > best_score:
                best, best_score = no, n
        return best


class _Context:
    def __init__(self, path: Path, text: str, allow_outside_data: bool = False) -> None:
        self.path, self.locator = path, _Locator(text)
        self.allow_outside_data = allow_outside_data

    def error(self, keys: tuple[str, ...], message: str, cls=SpecError) -> HiermodError:
        line = self.locator.line(keys) if keys else None
        where = f"{self.path}:{line}" if line else f"{self.path}"
        key = ".".join(keys)
        return cls(f"{where}: {key + ': ' if key else ''}{message}")

    def wrap(self, keys: tuple[str, ...], exc: HiermodError) -> HiermodError:
        return self.error(keys, str(exc), DataError if isinstance(exc, DataError) else SpecError)


def _check_keys(ctx: _Context, table: dict, allowed, keys: tuple[str, ...]) -> None:
    for k in table:
        if k not in allowed:
            raise ctx.error(keys + (k,), f"unknown key '{k}'"
                            f"{' in [' + '.'.join(keys) + ']' if keys else ''}; allowed: "
                            f"{', '.join(allowed)}")


def _want(ctx, value, types, keys, what: str):
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ctx.error(keys, f"must be {what}, got {value!r}")
    if not isinstance(value, types):
        raise ctx.error(keys, f"must be {what}, got {value!r}")
    return value


def read_data(ctx: _Context, table: dict) -> tuple[pd.DataFrame, str]:
    _check_keys(ctx, table, SCHEMA["data"], ("data",))
    has = [k for k in ("dataset", "path") if k in table]
    if len(has) != 1:
        raise ctx.error(("data",), "give exactly one of 'dataset' (a bundled data set: "
                        f"{', '.join(datasets.DATASETS)}) or 'path' (a CSV file relative to "
                        f"the model file); got {', '.join(has) or 'neither'}")
    if "dataset" in table:
        name = _want(ctx, table["dataset"], str, ("data", "dataset"), "a data set name")
        try:
            return datasets.load(name), f"bundled data set '{name}'"
        except DataError as exc:
            raise ctx.wrap(("data", "dataset"), exc) from None
    rel = _want(ctx, table["path"], str, ("data", "path"), "a file path")
    folder = ctx.path.parent.resolve()
    file = (folder / rel).resolve()
    if not ctx.allow_outside_data and not file.is_relative_to(folder):
        raise ctx.error(("data", "path"), f"the data path '{rel}' leads outside the model "
                        f"file's folder ({folder}); a model file reads data from its own folder "
                        "(or below) unless you allow more: --allow-outside-data on the command "
                        "line, or load_model(..., allow_outside_data=True)", DataError)
    if not file.is_file():
        raise ctx.error(("data", "path"), f"data file not found: '{rel}' (looked for {file})",
                        DataError)
    try:
        return datasets.read_csv(file), str(rel)
    except HiermodError as exc:  # messages name the file and lines, never its contents
        raise ctx.error(("data", "path"), str(exc), DataError) from None


def apply_transforms(ctx: _Context, table: dict, data: pd.DataFrame) -> tuple[pd.DataFrame, tuple]:
    """Add the [transform] columns; returns the new frame and (column, fn, args) records."""
    if not isinstance(table, dict):
        raise ctx.error(("transform",), "must be a table: new_column = { fn = ..., args = [...] }")
    data = data.copy()
    done = []
    allowed = ", ".join(TRANSFORMS)
    for col, entry in table.items():
        keys = ("transform", col)
        if not _IDENT.fullmatch(col) or "__" in col:
            raise ctx.error(keys, f"the new column name '{col}' must be a plain name (letters, "
                            "digits, '_', '.')")
        if col in data.columns:
            raise ctx.error(keys, f"the column '{col}' exists already; give the transformed "
                            "column a new name")
        if not isinstance(entry, dict):
            raise ctx.error(keys, f"must be a table {{ fn = \"cwc\", args = [\"x\", \"g\"] }} with "
                            f"fn one of {allowed}; got {entry!r}")
        _check_keys(ctx, entry, ("fn", "args"), keys)
        fn = entry.get("fn")
        if not isinstance(fn, str) or fn not in TRANSFORMS:
            raise ctx.error(keys + ("fn",), f"{fn!r} is not an allowed transformation; "
                            f"allowed: {allowed}")
        roles, impl = TRANSFORMS[fn]
        args = entry.get("args")
        if not isinstance(args, list) or len(args) != len(roles):
            raise ctx.error(keys + ("args",), f"{fn}() takes {len(roles)} column name(s) "
                            f"({', '.join(roles)}), e.g. args = {list(roles)!r}; got {args!r}")
        for a in args:
            if not isinstance(a, str) or a not in data.columns:
                hint = did_you_mean(a, data.columns) if isinstance(a, str) else ""
                raise ctx.error(keys + ("args",), f"{a!r} is not a column of the data{hint}; "
                                f"columns: {', '.join(map(str, data.columns))}", DataError)
        try:
            if fn == "C":
                values = data[args[0]].astype(str).where(data[args[0]].notna())
            elif len(roles) == 2:
                x = numeric_values(data[args[0]], fn, args[0])
                g = data[args[1]]
                if g.isna().any():
                    raise DataError(f"missing values in the grouping column '{args[1]}' "
                                    f"({format_rows(list(data.index[g.isna()]))})")
                values = impl(x, g.to_numpy())
            else:
                x = numeric_values(data[args[0]], fn, args[0])
                with np.errstate(all="ignore"):
                    values = impl(x)
                bad = ~np.isfinite(values) & np.isfinite(x)
                if bad.any():
                    raise DataError(f"{fn}({args[0]}) is not finite in "
                                    f"{format_rows(list(data.index[bad]))}")
        except DataError as exc:
            raise ctx.wrap(keys, exc) from None
        data[col] = values
        done.append((col, fn, tuple(args)))
    return data, tuple(done)


def build_spec(ctx: _Context, table: dict):
    _check_keys(ctx, table, SCHEMA["model"], ("model",))
    family = table.get("family", "gaussian")
    link = table.get("link")
    try:
        get_family(family, link)
    except SpecError as exc:
        raise ctx.wrap(("model", "link" if family in FAMILIES else "family"), exc) from None
    if "formula" in table:
        extra = [k for k in ("level1", "group", "level2", "level3") if k in table]
        if extra:
            raise ctx.error(("model", extra[0]), "give either 'formula' or the level-wise "
                            "equations (level1, level2, ...), not both")
        formula = _want(ctx, table["formula"], str, ("model", "formula"), "an lme4 formula")
        try:
            return parse_formula(formula, family=family, link=link)
        except SpecError as exc:
            raise ctx.wrap(("model", "formula"), exc) from None
    if "level1" not in table:
        raise ctx.error(("model",), "give the model as 'formula' (lme4 syntax) or as level-wise "
                        "equations: level1 = \"y ~ x\" and a [model.level2] table")
    level1 = _want(ctx, table["level1"], str, ("model", "level1"), "a formula 'y ~ x'")
    higher = []
    for k in ("level2", "level3"):
        if k in table:
            eqs = _want(ctx, table[k], dict, ("model", k), "a table coefficient = \"equation\"")
            for coef, text in eqs.items():
                _want(ctx, text, str, ("model", k, coef), "an equation such as \"1 + w + (1 | g)\"")
            higher.append(eqs)
    if "level3" in table and "level2" not in table:
        raise ctx.error(("model", "level3"), "level3 needs a level2 table")
    if not higher:
        raise ctx.error(("model",), "level-wise models need a [model.level2] table")
    group = table.get("group")
    names_ok = isinstance(group, list) and all(isinstance(g, str) for g in group)
    if group is not None and not (isinstance(group, str) or names_ok):
        raise ctx.error(("model", "group"), f"must be a factor name or a list of them, "
                        f"got {group!r}")
    try:
        return levels(level1, *higher, group=group, family=family, link=link)
    except SpecError as exc:
        raise ctx.wrap(("model",), exc) from None


def read_residuals(ctx: _Context, table: dict, spec):
    """The spec with the [model] table's ``correlation`` and ``sigma`` (if any)."""
    parsed = {}
    for key, parse, example in (("correlation", parse_correlation, "ar1(occasion | id)"),
                                ("sigma", parse_sigma, "~ treat")):
        if key in table:
            text = _want(ctx, table[key], str, ("model", key), f"a string such as '{example}'")
            try:
                parsed[key] = parse(text)
            except SpecError as exc:
                raise ctx.wrap(("model", key), exc) from None
    if not parsed:
        return spec
    try:
        return with_residuals(spec, **parsed)
    except SpecError as exc:
        raise ctx.wrap(("model", next(iter(parsed))), exc) from None


def model_texts(table: dict) -> list[tuple[tuple[str, ...], str]]:
    """(key path, text) of every formula or equation in the [model] table, in file order."""
    out = []
    for k in ("formula", "level1", "correlation", "sigma"):
        if isinstance(table.get(k), str):
            out.append((("model", k), table[k]))
    for k in ("level2", "level3"):
        if isinstance(table.get(k), dict):
            out += [(("model", k, coef), text) for coef, text in table[k].items()
                    if isinstance(text, str)]
    if isinstance(table.get("group"), str):
        out.append((("model", "group"), table["group"]))
    elif isinstance(table.get("group"), list):
        out += [(("model", "group"), g) for g in table["group"] if isinstance(g, str)]
    return out


def check_model_columns(ctx: _Context, table: dict, spec, data: pd.DataFrame) -> None:
    """Every column the model uses is in the data; else an error at the line of the formula or
    equation that names it, with the closest column names."""
    roles = used_columns(spec)
    texts = model_texts(table)
    for col, role in roles.items():
        if col in data.columns:
            continue
        pattern = re.compile(rf"(?<![A-Za-z0-9_.]){re.escape(col)}(?![A-Za-z0-9_.])")
        keys = next((k for k, text in texts if pattern.search(text)), ("model",))
        raise ctx.error(keys, f"unknown column '{col}' ({role}){did_you_mean(col, data.columns)}"
                        f"; the data have columns: {', '.join(map(str, data.columns))}",
                        DataError)
    if spec.response.event is not None:
        try:
            event_indicator(data, spec.response.name, spec.response.event)
        except DataError as exc:
            raise ctx.wrap(("model", "event"), exc) from None


def read_priors(ctx: _Context, table: dict) -> dict:
    if not isinstance(table, dict):
        raise ctx.error(("priors",), "must be a table: key = { dist = \"Normal\", mu = 0, "
                        "sigma = 1 }")
    out = {}
    for key, entry in table.items():
        keys = ("priors", key)
        if not isinstance(entry, dict) or "dist" not in entry:
            raise ctx.error(keys, "must be a table such as { dist = \"Normal\", mu = 0, "
                            f"sigma = 1 }}, got {entry!r}")
        params = {k: v for k, v in entry.items() if k != "dist"}
        try:
            out[key] = Prior(entry["dist"], **params)
        except SpecError as exc:
            raise ctx.wrap(keys, exc) from None
    return out


def read_sampler(ctx: _Context, table: dict, parameterization: str, dropna: bool) -> dict:
    _check_keys(ctx, table, SCHEMA["sampler"], ("sampler",))
    kwargs = {}
    for k, v in table.items():
        t = SAMPLER_TYPES[k]
        if t is float:
            ok, what = isinstance(v, (int, float)) and not isinstance(v, bool), "a number"
        elif t is int:
            ok, what = isinstance(v, int) and not isinstance(v, bool), "a whole number"
        else:
            ok, what = isinstance(v, str), "a string"
        if not ok:
            raise ctx.error(("sampler", k), f"must be {what}, got {v!r}")
        if k == "seed" and v < 0:
            raise ctx.error(("sampler", k), f"must be a non-negative whole number, got {v!r}")
        kwargs["random_seed" if k == "seed" else k] = v
    try:
        SamplerSettings(**kwargs).check()
    except SpecError as exc:
        bad = next((k for k in table if k in str(exc)), None)
        raise ctx.wrap(("sampler", bad) if bad else ("sampler",), exc) from None
    kwargs["parameterization"] = parameterization
    kwargs["dropna"] = dropna
    return kwargs


def load_model(path: str | Path, allow_outside_data: bool = False) -> ModelFile:
    """Read, validate and prepare a model file.

    Parameters
    ----------
    path : str or Path
        A ``.toml`` model file (see the module documentation for its tables).
    allow_outside_data : bool, default False
        Let ``[data] path`` lead outside the model file's folder (``../x.csv``, an absolute
        path, a link out). Off by default, and not settable from the file itself, so that a
        model file someone hands you cannot read other files on your machine.

    Returns
    -------
    ModelFile
        With the spec, the (transformed) data, priors and sampler settings; ``.fit()`` fits it.

    Raises
    ------
    SpecError
        Malformed TOML, unknown keys, bad formula or equations, unknown transformation, bad
        priors or sampler settings; the message starts with ``file:line: key:``.
    DataError
        Missing data file or data set, unknown column, data that do not fit the model.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"model file not found: '{path}'")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the model file: {exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        where = f"{path}:{m.group(1)}" if m else str(path)
        raise SpecError(f"{where}: malformed TOML: {msg}") from None
    ctx = _Context(path, text, allow_outside_data)
    _check_keys(ctx, doc, tuple(SCHEMA), ())
    for k in ("data", "model"):
        if k not in doc:
            raise ctx.error((), f"the model file needs a [{k}] table")
    for k in ("data", "model", "sampler", "transform", "priors"):
        if k in doc and not isinstance(doc[k], dict):
            raise ctx.error((k,), f"must be a table [{k}]")
    name = doc.get("name", path.stem)
    description = doc.get("description", "")
    _want(ctx, name, str, ("name",), "a string")
    _want(ctx, description, str, ("description",), "a string")

    data, source = read_data(ctx, doc["data"])
    dropna = doc["data"].get("dropna", False)
    _want(ctx, dropna, bool, ("data", "dropna"), "true or false")
    data, transforms = apply_transforms(ctx, doc.get("transform", {}), data)
    spec = build_spec(ctx, doc["model"])
    if "event" in doc["model"]:
        event = _want(ctx, doc["model"]["event"], str, ("model", "event"),
                      "the text of the outcome's value counted as 1")
        try:
            spec = spec.with_event(event)
        except SpecError as exc:
            raise ctx.wrap(("model", "event"), exc) from None
    spec = read_residuals(ctx, doc["model"], spec)
    parameterization = doc["model"].get("parameterization", "auto")
    try:
        check_choice(parameterization)
    except SpecError as exc:
        raise ctx.wrap(("model", "parameterization"), exc) from None
    check_model_columns(ctx, doc["model"], spec, data)
    try:
        check_levels(spec, data)
    except SpecError as exc:
        raise ctx.wrap(("model",), exc) from None
    try:
        with warnings.catch_warnings():  # the fit repeats them; show them once, there
            warnings.simplefilter("ignore", DataWarning)
            design = make_design(spec, data, dropna=dropna)
    except (SpecError, DataError) as exc:
        raise ctx.wrap(("model",) if isinstance(exc, SpecError) else ("data",), exc) from None
    priors = read_priors(ctx, doc.get("priors", {}))
    try:
        resolve_priors(design, priors)
    except SpecError as exc:
        bad = next((k for k in priors if f"'{k}'" in str(exc)), None)
        raise ctx.wrap(("priors", bad) if bad else ("priors",), exc) from None
    fit_kwargs = read_sampler(ctx, doc.get("sampler", {}), parameterization, dropna)
    if "marginalize" in doc["model"]:
        _want(ctx, doc["model"]["marginalize"], bool, ("model", "marginalize"), "true or false")
        fit_kwargs["marginalize"] = doc["model"]["marginalize"]
    return ModelFile(path=path, name=name, description=description, spec=spec, data=data,
                     data_source=source, priors=priors, fit_kwargs=fit_kwargs,
                     transforms=transforms)
