"""Bundled data sets, read offline from the repository's ``data/`` folder.

Column types follow the files' own convention (see ``data/README.md``): a value written in
double quotes is a factor and is read as a string, even when it looks like a number (hsb82
``school``, cbpp ``herd``); unquoted values are numeric.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

from .errors import DataError

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


def quoted_columns(path: Path) -> set[str]:
    """Columns whose values are double-quoted in the first data row (factors by convention)."""
    with open(path, newline="") as fh:
        header = next(csv.reader(fh))
        first = fh.readline().rstrip("\r\n").split(",")
    return {col for col, raw in zip(header, first, strict=True) if raw.startswith('"')}


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV with the quoted-is-factor convention; any other CSV reads as pandas would."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: '{path}'")
    factors = quoted_columns(path)
    return pd.read_csv(path, dtype={c: str for c in factors}, keep_default_na=True)


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
