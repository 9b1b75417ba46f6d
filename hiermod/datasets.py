"""Bundled data sets, read offline from the repository's ``data/`` folder.

Column types follow the files' own convention (see ``data/README.md``): a value written in
double quotes is a factor and is read as a string, or as a pandas Categorical when it looks like
a number (hsb82 ``school``, cbpp ``herd`` and ``period``), so that its role is explicit;
unquoted values are numeric.
"""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
from pathlib import Path

import pandas as pd

from .errors import DataError, FileError
from .frame import reads_as_numbers

#: name -> (file, one-line description)
DATASETS: dict[str, tuple[str, str]] = {
    "radon": ("radon.csv", "log radon in 919 Minnesota homes in 85 counties (Gelman & Hill 2007)"),
    "sleepstudy": ("sleepstudy.csv", "reaction time over 10 days of sleep deprivation, 18 subjects"),
    "hsb82": ("hsb82.csv", "High School and Beyond: 7,185 pupils in 160 schools"),
    "cbpp": ("cbpp.csv", "CBPP incidence out of herd size, 15 herds x 4 periods"),
    "penicillin": ("penicillin.csv", "penicillin assay: 24 plates crossed with 6 samples"),
    "efficacy_sim": ("efficacy_sim.csv", "simulated twin of the workshop's efficacy data "
                     "(scripts/make_efficacy_sim.py)"),
    "contraception": ("contraception.csv", "contraceptive use (Y/N) of 1,934 women in 60 "
                      "districts of Bangladesh (1988 Fertility Survey)"),
    "orthodont": ("orthodont.csv", "orthodontic distance at ages 8-14, 27 children (nlme)"),
    "bodyweight": ("bodyweight.csv", "rat body weight over 64 days, 16 rats on 3 diets (nlme)"),
    "ovary": ("ovary.csv", "ovarian follicles of 11 mares over the estrus cycle (nlme)"),
    "dialyzer": ("dialyzer.csv", "ultrafiltration rate of 20 dialyzers at 7 pressures (nlme)"),
}


def data_dir() -> Path:
    """The folder holding the bundled CSV files (``$HIERMOD_DATA`` overrides it)."""
    env = os.environ.get("HIERMOD_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data"


def list() -> pd.DataFrame:  # noqa: A001 - the public name mirrors `hm.datasets.list()`
    """The bundled data sets: name, rows, columns and a description."""
    rows = []
    for name, (fname, description) in DATASETS.items():
        df = load(name)
        rows.append({"name": name, "rows": len(df), "columns": ", ".join(df.columns),
                     "description": description, "file": fname})
    return pd.DataFrame(rows).set_index("name")


def raw_fields(line: str) -> list[str]:
    """The fields of one CSV line as written, quotes kept ('"a,b",1' -> ['"a,b"', '1'])."""
    return re.findall(r'\s*("(?:[^"]|"")*"|[^,]*)\s*(?:,|$)', line.rstrip("\r\n"))[:-1] or [""]


def read_text(path: Path) -> str:
    """The file as UTF-8 text (a byte-order mark dropped), or a FileError / DataError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileError(f"cannot read '{path}': {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"'{path}' is not UTF-8 text (a byte that UTF-8 cannot decode on line "
                        f"{line}; Latin-1 or Windows-1252 files look like this): save it as "
                        "UTF-8, or read it with pandas.read_csv(..., encoding=...) and pass the "
                        "DataFrame") from None


def check_shape(path: Path, text: str) -> list[str]:
    """The header; a DataError for an empty file, a header without rows, repeated column names
    or rows whose number of fields differs from the header's. Messages name lines and column
    names, never the file's other contents."""
    reader = csv.reader(io.StringIO(text))
    header = next((r for r in reader if r), None)
    if header is None:
        raise DataError(f"'{path}' is empty: a CSV file needs a header line and data rows")
    seen = [c for c in header if header.count(c) > 1]
    if seen:
        raise DataError(f"'{path}' repeats the column name(s) "
                        f"{', '.join(map(repr, dict.fromkeys(seen)))}: column names must be "
                        "unique")
    rows, ragged = 0, []
    try:
        for row in reader:
            if not row or row == [""]:
                continue
            rows += 1
            if len(row) != len(header):
                ragged.append((reader.line_num, len(row)))
    except csv.Error as exc:
        raise DataError(f"'{path}' is not a well-formed CSV file (line {reader.line_num}: "
                        f"{exc})") from None
    if rows == 0:
        raise DataError(f"'{path}' has a header but no data rows")
    if ragged:
        lines = ", ".join(f"line {n} has {k}" for n, k in ragged[:5])
        more = f" (and {len(ragged) - 5} more lines)" if len(ragged) > 5 else ""
        raise DataError(f"'{path}': the header has {len(header)} fields but {lines}{more}: "
                        "every row needs one value per column (empty for a missing value)")
    return header


def quoted_columns(text: str, header: list[str]) -> set[str]:
    """Columns whose values are double-quoted in the first data row (factors by convention)."""
    lines = (ln for ln in text.splitlines()[1:] if ln.strip())
    first = raw_fields(next(lines, ""))
    return {col for col, raw in zip(header, first) if raw.startswith('"')}


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV file with the quoted-is-factor convention.

    A column whose values are double-quoted in the first data row is a factor: read as text,
    and as a pandas Categorical when its values look like numbers (ids such as hsb82's
    ``school``), so that no later step takes them for numbers. A file with every field quoted
    says nothing about factors: it is read as pandas would (numbers as numbers), with a
    warning. Missing values are empty fields or ``NA``.

    Raises
    ------
    DataError
        An empty file, a header without rows, repeated column names, rows with too few or
        too many fields, text that is not UTF-8 (the message names lines, never contents).
    FileError
        The file cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: '{path}'")
    text = read_text(path)
    header = check_shape(path, text)
    factors = quoted_columns(text, header)
    if len(header) > 1 and factors == set(header):
        warnings.warn(f"every field of '{path}' is quoted, so quotes do not mark factors here: "
                      "numbers are read as numbers (write C(x) in a formula to use one as a "
                      "factor)", UserWarning, stacklevel=2)
        factors = set()
    try:
        frame = pd.read_csv(io.StringIO(text), dtype={c: str for c in factors},
                            keep_default_na=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"'{path}' cannot be read as CSV ({type(exc).__name__})") from None
    for c in factors:
        if reads_as_numbers(frame[c]):
            frame[c] = frame[c].astype("category")
    return frame


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set by name (see :func:`list`).

    Raises
    ------
    DataError
        If ``name`` is not a bundled data set; the message lists the valid names.
    """
    if name not in DATASETS:
        raise DataError(f"unknown data set '{name}'; bundled data sets: {', '.join(DATASETS)}")
    return read_csv(data_dir() / DATASETS[name][0])
