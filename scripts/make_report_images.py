"""Write one example PNG per report plot type to docs/images/ (run from the repository root).

    .venv/bin/python scripts/make_report_images.py

Fits (seeded, 2 chains × 500 draws): radon ``log_radon ~ floor + (1 + floor | county)`` and its
null model, sleepstudy ``Reaction ~ Days + (Days | Subject)``, penicillin
``diameter ~ 1 + (1 | plate)`` (balanced: 6 samples per plate) and the contraception logit
model ``use ~ age + I(age**2) + urban + livch + (1 | district)`` (event "Y").
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

import hiermod as hm  # noqa: E402
import hiermod.plots as hp  # noqa: E402

OUT = Path("docs/images")
SETTINGS = {"draws": 500, "tune": 500, "chains": 2, "progressbar": False}


def save(fig, name: str) -> None:
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=80)
    print(f"{path}: {path.stat().st_size / 1000:.0f} kB")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    radon = hm.datasets.load("radon")
    vis = hm.fit("log_radon ~ floor + (1 + floor | county)", radon, random_seed=1, **SETTINGS)
    null = hm.null_model(vis, random_seed=2)
    lme4_icc = json.loads(Path("tests/reference/radon_null.json").read_text())["icc"]

    save(hp.plot_caterpillar(vis.group_effects()), "caterpillar")
    save(hp.plot_shrinkage(null.pooling()), "shrinkage")
    save(hp.plot_shrinkage(vis.pooling()), "shrinkage_slopes")
    save(hp.plot_icc(null.icc_draws(), reference={"county": lme4_icc}), "icc")
    grid = pd.DataFrame([(c, f) for c in ["LAKE", "HENNEPIN", "AITKIN", "a new county"]
                         for f in (0, 1)], columns=["county", "floor"])
    save(hp.plot_predictions(vis.predict(grid, random_seed=1).table, "floor", "county"),
         "predictions")
    vis.posterior_predictive(random_seed=1)
    save(hp.plot_ppc(vis.idata, vis.ppc_groups()), "ppc")
    save(hp.plot_residuals(vis.residuals()), "residuals")
    save(hp.plot_qq(vis.group_effects_qq()), "qq_group_effects")

    pen = hm.fit("diameter ~ 1 + (1 | plate)", hm.datasets.load("penicillin"), random_seed=4,
                 **SETTINGS)
    save(hp.plot_shrinkage(pen.pooling()), "shrinkage_balanced")

    contra = hm.fit("use ~ age + I(age**2) + urban + livch + (1 | district)",
                    hm.datasets.load("contraception"), family="bernoulli", event="Y",
                    random_seed=5, **SETTINGS)
    means = contra.marginal_means(by=["livch", "urban"], groups="average")
    save(hp.plot_predictions(means.table, x="livch", group="urban"), "marginal_means")
    contra.posterior_predictive(random_seed=5)
    save(hp.plot_ppc(contra.idata, contra.ppc_groups(random_seed=5)), "ppc_binary")
    save(hp.plot_binned_residuals(contra.binned_residuals()), "binned_residuals")
    save(hp.plot_calibration(contra.calibration()), "calibration")
    prior = contra.prior_predictive(draws=500, random_seed=6)
    save(hp.plot_ppc(prior, group="prior_predictive"), "prior_predictive")

    sleep = hm.fit("Reaction ~ Days + (Days | Subject)", hm.datasets.load("sleepstudy"),
                   random_seed=3, **SETTINGS)
    days = pd.DataFrame({"Days": [float(d) for d in range(10)], "Subject": "new subject"})
    population = sleep.predict(days, new_groups="zero", kind="mean").table
    save(hp.plot_spaghetti(sleep.trajectories("Days"), observed=sleep.data, y="Reaction",
                           group="Subject", population=population), "spaghetti")


if __name__ == "__main__":
    main()
