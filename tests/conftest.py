"""Shared test helpers: the lme4 reference fits (tests/reference, lme4 1.1-31) and naming."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("PYTENSOR_FLAGS", "")

REFERENCE = Path(__file__).parent / "reference"
DATASET_OF = {"data/radon.csv": "radon", "data/sleepstudy.csv": "sleepstudy",
              "data/hsb82.csv": "hsb82", "data/cbpp.csv": "cbpp",
              "data/penicillin.csv": "penicillin"}


def reference_cases() -> dict[str, dict]:
    """case -> {"data": dataset name, "family", "formula"} from tests/reference/cases.json."""
    cases = json.loads((REFERENCE / "cases.json").read_text())
    return {c["case"]: {**c, "dataset": DATASET_OF[c["data"]]} for c in cases}


def load_reference(case: str) -> dict:
    return json.loads((REFERENCE / f"{case}.json").read_text())


def lme4_term(name: str, factor_levels: dict | None = None) -> str:
    """lme4's coefficient name -> hiermod's (formulae's): '(Intercept)' -> 'Intercept',
    'sectorPublic' -> 'sector[Public]', 'period2' -> 'period[2]', 'sectorPublic:cses' ->
    'sector[Public]:cses'."""
    factor_levels = factor_levels or {}

    def one(part: str) -> str:
        if part == "(Intercept)":
            return "Intercept"
        for factor in factor_levels:
            m = re.fullmatch(re.escape(factor) + r"(.+)", part)
            if m:
                return f"{factor}[{m.group(1)}]"
        return part

    return ":".join(one(p) for p in name.split(":"))


@pytest.fixture(scope="session")
def cases():
    return reference_cases()
