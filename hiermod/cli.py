"""The ``hiermod`` command line.

::

    hiermod fit MODEL.toml [--draws N] [--tune N] [--chains N] [--seed N] [--sampler S]
                           [--reml] [--no-null] [--out DIR] [--json PATH|-]
    hiermod fit --formula "y ~ x + (1 | g)" --data CSV_OR_NAME [--family F] [...]
                [--correlation "ar1(occasion | id)"] [--sigma "~ treat"]
    hiermod reml MODEL.toml | --formula F --data D [--method REML|ML] [--ddf DDF]
                 [--json PATH|-]
    hiermod equations MODEL.toml | --formula F [--data D] [--format latex|markdown|html]
    hiermod datasets

Exit status
-----------
0  success
2  bad input: a missing, empty, ragged or non-UTF-8 file, an unknown column, data a model
   cannot use (non-finite values, mixed types, collinear predictors), a formula or equation
   error, a transformation that is not on the list, an unavailable option, an output path
   that cannot be written; one line on stderr, no traceback; checked before any sampling
3  the fit ran but its sampling diagnostics found problems (R-hat, ESS, divergences, or too
   few draws to compute them); the outputs are written all the same and the problems are
   printed
4  the sampler could not run (its cause in one line)
1  an unexpected internal error

Warnings are printed as one line each ("hiermod: warning: ..."). ``--debug`` (or
``HIERMOD_DEBUG=1``) shows Python tracebacks and the sampler's own messages instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import lazy_loader

from .errors import HiermodError, InputError, SamplingError
from .version import __version__

#: the commands' implementations import the whole package (PyMC included); loaded on first use,
#: so that ``hiermod --help`` answers at once
commands = lazy_loader.load("hiermod.commands", suppress_warning=True)

EXIT_OK, EXIT_ERROR, EXIT_INPUT, EXIT_DIAGNOSTICS, EXIT_SAMPLING = 0, 1, 2, 3, 4


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage on two+ lines)
        raise InputError(f"{message} (see '{self.prog} --help')")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _say(*args, file=None) -> None:
    print(*args, file=file or sys.stderr, flush=True)


# --- parser ---------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got '{text}'")
    return v


def _debug_arg(p, default) -> None:
    p.add_argument("--debug", action="store_true", default=default,
                   help="show Python tracebacks and the sampler's own messages "
                        "(also: HIERMOD_DEBUG=1)")


def _model_args(p, family: bool = True, data_required: bool = True) -> None:
    p.add_argument("model", nargs="?", help="a model file (.toml); see models/")
    p.add_argument("--formula", "-f", help="an lme4 formula instead of a model file")
    p.add_argument("--data", "-d", help="with --formula: a CSV file or a bundled data set name")
    p.add_argument("--allow-outside-data", action="store_true", dest="allow_outside_data",
                   help="let a model file read a data file outside its own folder")
    _debug_arg(p, argparse.SUPPRESS)
    if family:
        p.add_argument("--family", help="with --formula: gaussian (default), bernoulli, "
                       "binomial or poisson")
    p.add_argument("--correlation", help="residual correlation within units: "
                   "'ar1(occasion | id)', 'car1(time | id)' or 'cs(id)' (overrides the model "
                   "file's)")
    p.add_argument("--sigma", help="residual sd by a variable, e.g. '~ treat' (overrides the "
                   "model file's)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hiermod", description="Bayesian multilevel models from model files "
                     "or lme4 formulas.", epilog="Exit status: 0 ok, 2 bad input, 3 sampling "
                     "diagnostics failed, 4 the sampler could not run, 1 internal error.")
    parser.add_argument("--version", action="version", version=f"hiermod {__version__}")
    _debug_arg(parser, False)
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
    p.add_argument("--no-null", action="store_true", dest="no_null",
                   help="do not fit the null model (y ~ 1 + (1 | g)) whose ICC the report "
                        "leads with; the report then gives this model's residual ICC only")
    p.add_argument("--out", "-o", help="write report.html, summary.md and figures here")
    p.add_argument("--json", help="write the JSON summary to this path ('-': stdout)")
    p.add_argument("--progress", action="store_true", help="show the sampler's progress bar")
    p.set_defaults(command_name="fit")

    p = sub.add_parser("reml", help="fit a model by REML / ML only")
    _model_args(p)
    p.add_argument("--method", choices=("REML", "ML"))
    p.add_argument("--ddf", choices=("satterthwaite", "kenward-roger", "between-within",
                                     "residual"),
                   help="gaussian models: df of the t tests (default satterthwaite; "
                        "kenward-roger also adjusts the SEs, REML only)")
    p.add_argument("--json", help="write the estimates as JSON to this path ('-': stdout)")
    p.set_defaults(command_name="reml")

    p = sub.add_parser("equations", help="print a model's equations (level-wise and combined)")
    _model_args(p)
    p.add_argument("--format", choices=("latex", "markdown", "html"), default="latex")
    p.set_defaults(command_name="equations")

    p = sub.add_parser("datasets", help="list the bundled data sets")
    _debug_arg(p, argparse.SUPPRESS)
    p.set_defaults(command_name="datasets")
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each: 'hiermod: warning: ...' (no source line)."""
    _say(f"hiermod: warning: {_one_line(message)}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module documentation)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = bool(os.environ.get("HIERMOD_DEBUG")) or "--debug" in argv
    if debug:
        os.environ["HIERMOD_DEBUG"] = "1"  # the sampler's own messages, backtrace included
    with warnings.catch_warnings():
        warnings.filterwarnings("once", module="hiermod")  # a data warning once, not per stage
        if not debug:
            warnings.showwarning = _one_line_warning
        return _run(argv, debug)


def _run(argv: list[str], debug: bool) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help(sys.stderr)
            return EXIT_INPUT
        return getattr(commands, f"cmd_{args.command_name}")(args)
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    except KeyboardInterrupt:
        _say("hiermod: interrupted")
        return 130
    except SamplingError as exc:
        if debug:
            raise
        _say(f"hiermod: sampling failed: {_one_line(exc)}")
        return EXIT_SAMPLING
    except (HiermodError, OSError) as exc:
        # InputError / SpecError / DataError / FileError; OSError: unreadable or unwritable paths
        if debug:
            raise
        _say(f"hiermod: error: {_one_line(exc)}")
        return EXIT_INPUT
    except BaseException as exc:  # noqa: BLE001 - the last resort (Rust panics included)
        if debug:
            raise
        _say(f"hiermod: internal error: {type(exc).__name__}: {_one_line(exc)[:300]} "
             "(run with --debug or HIERMOD_DEBUG=1 for the traceback)")
        return EXIT_ERROR


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
