"""Exceptions raised by hiermod.

Every error names the argument, column or key at fault, quotes the bad value and, for data,
lists the offending rows. They are raised before any sampling starts.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence


class HiermodError(Exception):
    """Base class for all hiermod errors."""


class SpecError(HiermodError, ValueError):
    """A model specification (formula, level-wise equations, TOML file, priors) is malformed."""


class DataError(HiermodError, ValueError):
    """The data do not fit the specification (unknown column, missing values, bad outcome, ...)."""


class RowsNotHeldError(DataError):
    """A computation needs the data's rows, and the design holds only sums over them (data
    summed partition by partition from a Dask DataFrame)."""


class InputError(HiermodError, ValueError):
    """Bad command-line input: conflicting or missing options (exit status 2)."""


class FileError(HiermodError, OSError):
    """A file hiermod reads or writes is missing, unreadable, unwritable or not what it should
    be (a truncated or foreign netCDF file, a folder that does not exist)."""


class SamplingError(HiermodError, RuntimeError):
    """The sampler could not run (not raised for poor diagnostics: those are reported)."""


def did_you_mean(word: str, choices, n: int = 3) -> str:
    """" (did you mean 'x'?)" for the closest of ``choices`` to a misspelt ``word``, else "".

    Examples
    --------
    >>> did_you_mean("flor", ["floor", "county"])
    " (did you mean 'floor'?)"
    """
    pool = [str(c) for c in choices]
    lower = {c.lower(): c for c in pool}
    close = ([lower[word.lower()]] if word.lower() in lower else
             difflib.get_close_matches(str(word), pool, n=n, cutoff=0.6))
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"


def format_rows(rows: Sequence[int], limit: int = 10) -> str:
    """Render row labels for an error message: 'rows 3, 17, 42 (and 5 more)'."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" (and {len(rows) - limit} more)" if len(rows) > limit else ""
    word = "row" if len(rows) == 1 else "rows"
    return f"{word} {shown}{more}"
