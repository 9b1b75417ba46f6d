"""Simulate data/efficacy_sim.csv: political efficacy of respondents in countries.

A stand-in for the workshop's cross-national survey (which cannot be shipped): 35 countries,
40 to 80 respondents each, drawn from the two-level model the workshop fits,

    level 1:  EFF_ij = β0j + β1j·EDU_ij + β2j·URB_ij + ε_ij,      ε_ij ~ N(0, σ²)
    level 2:  β0j = γ00 + γ01·CORR_j + u0j,                        u0j ~ N(0, τ00)
              β1j = γ10,   β2j = γ20

with γ00 = 3.0, γ01 = −0.35, γ10 = 0.12, γ20 = 0.25, √τ00 = 0.40, σ = 1.0 (ICC ≈ 0.14).

Columns: ``country`` (factor, quoted), ``EFF`` (efficacy score), ``EDU`` (years of education
beyond primary, 0–12), ``URB`` (1 = lives in a city), ``CORR`` (country's perceived corruption,
standardised; constant within country).

Run from the repository root: ``.venv/bin/python scripts/make_efficacy_sim.py``. The seed is
fixed, so the file is reproduced byte for byte (numpy's default_rng / PCG64).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240501
N_COUNTRIES = 35
GAMMA = {"Intercept": 3.0, "CORR": -0.35, "EDU": 0.12, "URB": 0.25}
TAU0 = 0.40
SIGMA = 1.0


def simulate(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    corr = rng.normal(0.0, 1.0, N_COUNTRIES)
    corr = (corr - corr.mean()) / corr.std()
    u0 = rng.normal(0.0, TAU0, N_COUNTRIES)
    sizes = rng.integers(40, 81, N_COUNTRIES)
    rows = []
    for j in range(N_COUNTRIES):
        n = int(sizes[j])
        edu = np.clip(np.round(rng.normal(6.0 - 0.8 * corr[j], 3.0, n)), 0, 12)
        urb = rng.binomial(1, 0.55, n)
        eff = (GAMMA["Intercept"] + GAMMA["CORR"] * corr[j] + u0[j] + GAMMA["EDU"] * edu
               + GAMMA["URB"] * urb + rng.normal(0.0, SIGMA, n))
        for i in range(n):
            rows.append({"country": f"C{j + 1:02d}", "EFF": round(float(eff[i]), 3),
                         "EDU": int(edu[i]), "URB": int(urb[i]), "CORR": round(float(corr[j]), 4)})
    return pd.DataFrame(rows)


def main() -> None:
    out = Path(__file__).resolve().parents[1] / "data" / "efficacy_sim.csv"
    df = simulate()
    df.to_csv(out, index=False, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    print(f"wrote {out} ({len(df)} rows, {df['country'].nunique()} countries)")


if __name__ == "__main__":
    main()
