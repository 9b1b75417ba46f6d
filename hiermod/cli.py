"""The ``hiermod`` command line.

::

    hiermod fit MODEL.toml [--draws N] [--tune N] [--chains N] [--seed N] [--sampler S]
                           [--reml] [--out DIR] [--json PATH|-]
    hiermod fit --formula "y ~ x + (1 | g)" --data CSV_OR_NAME [--family F] [...]
    hiermod reml MODEL.toml | --formula F --data D [--method REML|ML] [--json PATH|-]
    hiermod equations MODEL.toml | --formula F [--data D] [--format latex|markdown|html]
    hiermod datasets

Exit status
-----------
0  success
2  bad input: a missing or malformed file, an unknown column, a formula or equation error, a
   transformation that is not on the list, an unavailable option; one line on stderr, no
   traceback
3  the fit ran but its sampling diagnostics found problems (R-hat, ESS, divergences); the
   outputs are written all the same and the problems are printed
4  the sampler could not run
1  an unexpected internal error (set HIERMOD_DEBUG=1 for the traceback)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_INPUT, EXIT_DIAGNOSTICS, EXIT_SAMPLING = 0, 1, 2, 3, 4


class InputError(Exception):
    """Bad command-line input (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage on two+ lines)
        raise InputError(f"{message} (see '{self.prog} --help')")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _say(*args, file=None) -> None:
    print(*args, file=file or sys.stderr, flush=True)


# --- model sources --------------------------------------------------------------------------


def load_data(source: str):
    """A bundled data set by name, or a CSV file."""
    from . import datasets
    from .errors import DataError

    if source in datasets.DATASETS:
        return datasets.load(source)
    path = Path(source)
    if path.is_file():
        return datasets.read_csv(path)
    raise DataError(f"--data '{source}' is neither a bundled data set "
                    f"({', '.join(datasets.DATASETS)}) nor an existing CSV file")


def model_from_args(args):
    """(ModelFile, from_file) from MODEL.toml, or a ModelFile-like object from --formula."""
    from .spec.toml import ModelFile, load_model

    if args.model and args.formula:
        raise InputError("give a model file or --formula, not both")
    if args.model:
        if getattr(args, "data", None) or getattr(args, "family", None):
            raise InputError("--data and --family go with --formula; a model file names its "
                             "own data and family")
        return load_model(args.model)
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
    from .spec.formula import parse_formula

    spec = parse_formula(args.formula, family=getattr(args, "family", None) or "gaussian")
    if data is not None:
        from .design import make_design

        make_design(spec, data)  # check the data against the formula before anything runs
    return ModelFile(path=Path("."), name="", description="", spec=spec, data=data,
                     data_source=data_arg or "")


# --- commands -----------------------------------------------------------------------------------


def _reml_backend():
    """(reml, compare) or InputError when the REML back end is missing."""
    try:
        from .reml import reml
    except ImportError as exc:
        raise InputError(f"--reml: the REML back end (hiermod.reml) is not available in this "
                         f"installation ({_one_line(exc)})") from None
    try:
        from .report.compare import compare
    except ImportError as exc:
        raise InputError(f"--reml: the comparison report (hiermod.report.compare) is not "
                         f"available in this installation ({_one_line(exc)})") from None
    return reml, compare


def _write_json(report: dict, target: str) -> None:
    from .report.json_report import dumps

    text = dumps(report)
    if target == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    else:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")


def cmd_fit(args) -> int:
    mf = model_from_args(args)
    reml_fn = compare_fn = None
    if args.reml:
        reml_fn, compare_fn = _reml_backend()
    overrides = {"draws": args.draws, "tune": args.tune, "chains": args.chains,
                 "random_seed": args.seed, "sampler": args.sampler,
                 "target_accept": args.target_accept, "progressbar": bool(args.progress)}
    if args.marginalize is not None:  # "auto" must override a file's setting, so not via None
        mf.fit_kwargs["marginalize"] = {"auto": None, "yes": True, "no": False}[args.marginalize]
    out = sys.stderr if args.json == "-" else sys.stdout
    reml_fit = None
    if reml_fn is not None:
        method = args.reml_method
        t0 = time.perf_counter()
        reml_fit = reml_fn(mf.spec, mf.data, method=method,
                           dropna=mf.fit_kwargs.get("dropna", False))
        _say(f"{reml_fit.method} fit in {time.perf_counter() - t0:.2f} s")
    label = mf.name or mf.spec.formula
    _say(f"fitting {label}: {mf.spec.formula} ({mf.spec.family}, {len(mf.data)} rows)")
    fit = mf.fit(**overrides)
    t = fit.timing
    _say(f"sampled in {t.get('total_s', float('nan')):.1f} s (build {t.get('build_s', 0):.1f} s, "
         f"compile {t.get('compile_s', 0):.1f} s, sampling {t.get('sample_s', 0):.1f} s)")
    comparison = compare_fn(fit, reml_fit) if reml_fit is not None else None
    from .report.json_report import fit_report

    report = fit_report(fit, reml_fit, comparison, model_name=mf.name or None)
    if args.json:
        _write_json(report, args.json)
    if args.out:
        from .report.html import write_report

        paths = write_report(fit, args.out, reml_fit=reml_fit, comparison=comparison,
                             title=mf.name or None, description=mf.description, report=report)
        _say(f"report: {paths['html']}")
    if args.json != "-":
        table = fit.summary().round(4)
        table[["ess_bulk", "ess_tail"]] = table[["ess_bulk", "ess_tail"]].round(0).astype("Int64")
        print(table.to_string(), file=out)
    diag = fit.diagnostics()
    _say(str(diag))
    return EXIT_OK if diag.ok else EXIT_DIAGNOSTICS


def cmd_reml(args) -> int:
    reml_fn, _ = _reml_backend()
    mf = model_from_args(args)
    r = reml_fn(mf.spec, mf.data, method=args.method, dropna=mf.fit_kwargs.get("dropna", False))
    if args.json:
        from .report.json_report import reml_section

        _write_json({"formula": mf.spec.formula, "family": mf.spec.family,
                     "n_obs": int(r.n_obs), "groups": dict(r.n_groups),
                     "reml": reml_section(r)}, args.json)
    if args.json != "-":
        print(r.summary())
    return EXIT_OK


def cmd_equations(args) -> int:
    from .spec.equations import equations

    mf = model_from_args(args)
    eq = equations(mf.spec, mf.data) if mf.data is not None else equations(mf.spec)
    text = {"latex": eq.latex(), "markdown": eq.markdown(), "html": eq.html()}[args.format]
    print(text)
    return EXIT_OK


def cmd_datasets(args) -> int:
    from . import datasets

    table = datasets.list()
    width = max(len(n) for n in table.index)
    for name, row in table.iterrows():
        print(f"{name:<{width}}  {row['rows']:>6} rows  {row['description']}")
    return EXIT_OK


# --- parser ---------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got '{text}'")
    return v


def _model_args(p, family: bool = True, data_required: bool = True) -> None:
    p.add_argument("model", nargs="?", help="a model file (.toml); see models/")
    p.add_argument("--formula", "-f", help="an lme4 formula instead of a model file")
    p.add_argument("--data", "-d", help="with --formula: a CSV file or a bundled data set name")
    if family:
        p.add_argument("--family", choices=("gaussian", "bernoulli", "binomial", "poisson"),
                       help="with --formula (default gaussian)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="hiermod", description="Bayesian multilevel models from model files "
                     "or lme4 formulas.", epilog="Exit status: 0 ok, 2 bad input, 3 sampling "
                     "diagnostics failed, 4 the sampler could not run, 1 internal error.")
    parser.add_argument("--version", action="version", version=f"hiermod {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("fit", help="fit a model by NUTS and report it")
    _model_args(p)
    p.add_argument("--draws", type=_positive)
    p.add_argument("--tune", type=_positive)
    p.add_argument("--chains", type=_positive)
    p.add_argument("--seed", type=_positive, help="random seed (recorded in the outputs)")
    p.add_argument("--sampler", choices=("nutpie", "pymc", "numpyro"))
    p.add_argument("--target-accept", type=float, dest="target_accept")
    p.add_argument("--marginalize", choices=("auto", "yes", "no"), default=None,
                   help="integrate the group effects out (gaussian, one grouping factor); "
                        "default: the model file's setting, else auto")
    p.add_argument("--reml", action="store_true",
                   help="also fit by REML (gaussian) / Laplace ML and compare")
    p.add_argument("--reml-method", choices=("REML", "ML"), dest="reml_method",
                   help="with --reml: REML (default for gaussian) or ML")
    p.add_argument("--out", "-o", help="write report.html, summary.md and figures here")
    p.add_argument("--json", help="write the JSON summary to this path ('-': stdout)")
    p.add_argument("--progress", action="store_true", help="show the sampler's progress bar")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("reml", help="fit a model by REML / ML only")
    _model_args(p)
    p.add_argument("--method", choices=("REML", "ML"))
    p.add_argument("--json", help="write the estimates as JSON to this path ('-': stdout)")
    p.set_defaults(func=cmd_reml)

    p = sub.add_parser("equations", help="print a model's equations (level-wise and combined)")
    _model_args(p)
    p.add_argument("--format", choices=("latex", "markdown", "html"), default="latex")
    p.set_defaults(func=cmd_equations)

    p = sub.add_parser("datasets", help="list the bundled data sets")
    p.set_defaults(func=cmd_datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module documentation)."""
    from .errors import HiermodError, SamplingError

    debug = bool(os.environ.get("HIERMOD_DEBUG"))
    warnings.filterwarnings("once", module="hiermod")  # a data warning once, not per stage
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help(sys.stderr)
            return EXIT_INPUT
        return args.func(args)
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    except KeyboardInterrupt:
        _say("hiermod: interrupted")
        return 130
    except InputError as exc:
        _say(f"hiermod: error: {_one_line(exc)}")
        return EXIT_INPUT
    except SamplingError as exc:
        if debug:
            raise
        _say(f"hiermod: sampling failed: {_one_line(exc)}")
        return EXIT_SAMPLING
    except (HiermodError, OSError) as exc:
        # SpecError / DataError; OSError: unreadable or unwritable paths
        if debug:
            raise
        _say(f"hiermod: error: {_one_line(exc)}")
        return EXIT_INPUT
    except Exception as exc:  # noqa: BLE001 - the last resort of a command line
        if debug:
            raise
        _say(f"hiermod: internal error: {type(exc).__name__}: {_one_line(exc)} "
             "(set HIERMOD_DEBUG=1 for the traceback)")
        return EXIT_ERROR


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
