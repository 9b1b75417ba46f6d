"""The command line's commands: model sources, fit, reml, equations, datasets.

Each ``cmd_*`` takes the parsed arguments and returns the exit status; :mod:`hiermod.cli` owns
the parser, the exit codes and the error handling.
"""

from __future__ import annotations

import sys
import time
from dataclasses import fields, replace
from pathlib import Path

from . import datasets
from .design import make_design
from .errors import DataError, InputError
from .fitting import null_model
from .formula import is_null, parse_formula, residual_spec, with_residuals
from .mle import reml
from .modelfile import ModelFile, load_model
from .output.equations import equations
from .output.html import write_report
from .output.json_report import dumps, fit_report, reml_section
from .report import compare
from .sample import SamplerSettings

EXIT_OK, EXIT_DIAGNOSTICS = 0, 3


def _say(*args, file=None) -> None:
    print(*args, file=file or sys.stderr, flush=True)


def load_data(source: str):
    """A bundled data set by name, or a CSV file."""
    if source in datasets.DATASETS:
        return datasets.load(source)
    path = Path(source)
    if path.is_file():
        return datasets.read_csv(path)
    raise DataError(f"--data '{source}' is neither a bundled data set "
                    f"({', '.join(datasets.DATASETS)}) nor an existing CSV file")


def model_from_args(args):
    """(ModelFile, from_file) from MODEL.toml, or a ModelFile-like object from --formula."""
    if args.model and args.formula:
        raise InputError("give a model file or --formula, not both")
    if args.model:
        if getattr(args, "data", None) or getattr(args, "family", None):
            raise InputError("--data and --family go with --formula; a model file names its "
                             "own data and family")
        return with_cli_residuals(
            load_model(args.model, allow_outside_data=getattr(args, "allow_outside_data", False)),
            args)
    if not args.formula:
        raise InputError("give a model file (MODEL.toml) or --formula with --data")
    data_arg = getattr(args, "data", None)
    if not data_arg:
        if args.command == "equations":
            data = None
        else:
            raise InputError("--formula needs --data (a CSV file or a bundled data set name)")
    else:
        data = load_data(data_arg)
    spec = parse_formula(args.formula, family=getattr(args, "family", None) or "gaussian")
    mf = with_cli_residuals(ModelFile(path=Path("."), name="", description="", spec=spec,
                                      data=data, data_source=data_arg or ""), args)
    if data is not None:
        make_design(mf.spec, data)  # check the data against the formula before anything runs
    return mf


def with_cli_residuals(mf: ModelFile, args) -> ModelFile:
    """The model with --correlation / --sigma applied (each overrides the file's)."""
    corr, sigma = getattr(args, "correlation", None), getattr(args, "sigma", None)
    if corr is None and sigma is None:
        return mf
    old = mf.spec.residuals
    new = residual_spec(corr if corr is not None else (old.correlation if old else None),
                        sigma if sigma is not None else (old.variance if old else None))
    return replace(mf, spec=with_residuals(mf.spec, new.correlation, new.variance))


def check_outputs(args) -> None:
    """The output paths can be written, checked before any sampling: ``--out`` is a folder
    (made now if missing), ``--json`` a file (its folder made now)."""
    targets = []
    if getattr(args, "out", None):
        targets.append(("--out", Path(args.out), True))
    if getattr(args, "json", None) and args.json != "-":
        targets.append(("--json", Path(args.json), False))
    for option, path, folder in targets:
        if folder and path.exists() and not path.is_dir():
            raise InputError(f"{option} '{path}' is an existing file; {option} names a folder "
                             "for the report: give another path")
        if not folder and path.is_dir():
            raise InputError(f"{option} '{path}' is a folder; give a file name, e.g. "
                             f"'{path / 'summary.json'}'")
        try:
            (path if folder else path.parent).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{option} '{path}' cannot be written: "
                             f"{exc.strerror or exc}") from None


def check_settings(file_kwargs: dict, overrides: dict) -> None:
    """The sampler settings the fit will use (the file's, overridden), checked up front."""
    merged = {**file_kwargs, **{k: v for k, v in overrides.items() if v is not None}}
    known = {f.name for f in fields(SamplerSettings)}
    SamplerSettings(**{k: v for k, v in merged.items() if k in known}).check()


def _write_json(report: dict, target: str) -> None:
    text = dumps(report)
    if target == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    else:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")


def cmd_fit(args) -> int:
    check_outputs(args)
    mf = model_from_args(args)
    overrides = {"draws": args.draws, "tune": args.tune, "chains": args.chains,
                 "random_seed": args.seed, "sampler": args.sampler,
                 "target_accept": args.target_accept, "progressbar": bool(args.progress)}
    if args.marginalize is not None:  # "auto" must override a file's setting, so not via None
        mf.fit_kwargs["marginalize"] = {"auto": None, "yes": True, "no": False}[args.marginalize]
    check_settings(mf.fit_kwargs, overrides)
    out = sys.stderr if args.json == "-" else sys.stdout
    reml_fit = None
    if args.reml:
        method = args.reml_method
        t0 = time.perf_counter()
        reml_fit = reml(mf.spec, mf.data, method=method,
                           dropna=mf.fit_kwargs.get("dropna", False))
        _say(f"{reml_fit.method} fit in {time.perf_counter() - t0:.2f} s")
    label = mf.name or mf.spec.formula
    _say(f"fitting {label}: {mf.spec.formula} ({mf.spec.family}, {len(mf.data)} rows)")
    fit = mf.fit(**overrides)
    t = fit.timing
    _say(f"sampled in {t.get('total_s', float('nan')):.1f} s (build {t.get('build_s', 0):.1f} s, "
         f"compile {t.get('compile_s', 0):.1f} s, sampling {t.get('sample_s', 0):.1f} s)")
    null_fit = None
    if not getattr(args, "no_null", False) and not is_null(mf.spec):
        t0 = time.perf_counter()
        null_fit = null_model(fit)  # the null-model ICC a reader expects
        _say(f"null model {null_fit.spec.formula} fitted in {time.perf_counter() - t0:.1f} s "
             "(for the ICC; --no-null skips it)")
    comparison = compare(fit, reml_fit) if reml_fit is not None else None
    report = fit_report(fit, reml_fit, comparison, model_name=mf.name or None,
                        null_fit=null_fit)
    if args.json:
        _write_json(report, args.json)
    if args.out:
        paths = write_report(fit, args.out, reml_fit=reml_fit, comparison=comparison,
                             title=mf.name or None, description=mf.description, report=report,
                             null_fit=null_fit)
        _say(f"report: {paths['html']}")
    if args.json != "-":
        table = fit.summary().round(4)
        table[["ess_bulk", "ess_tail"]] = table[["ess_bulk", "ess_tail"]].round(0).astype("Int64")
        print(table.to_string(), file=out)
    diag = fit.diagnostics()
    _say(str(diag))
    return EXIT_OK if diag.ok else EXIT_DIAGNOSTICS


def cmd_reml(args) -> int:
    check_outputs(args)
    mf = model_from_args(args)
    r = reml(mf.spec, mf.data, method=args.method, dropna=mf.fit_kwargs.get("dropna", False),
             ddf=getattr(args, "ddf", None))
    if args.json:
        _write_json({"formula": mf.spec.formula, "family": mf.spec.family,
                     "n_obs": int(r.n_obs), "groups": dict(r.n_groups),
                     "reml": reml_section(r)}, args.json)
    if args.json != "-":
        print(r.summary())
    return EXIT_OK


def cmd_equations(args) -> int:
    mf = model_from_args(args)
    eq = equations(mf.spec, mf.data) if mf.data is not None else equations(mf.spec)
    text = {"latex": eq.latex(), "markdown": eq.markdown(), "html": eq.html()}[args.format]
    print(text)
    return EXIT_OK


def cmd_datasets(args) -> int:
    table = datasets.list()
    width = max(len(n) for n in table.index)
    for name, row in table.iterrows():
        print(f"{name:<{width}}  {row['rows']:>6} rows  {row['description']}")
    return EXIT_OK
