"""Write the workshop notebooks (notebooks/*.ipynb) from the cells below, without outputs.

    .venv/bin/python scripts/build_notebooks.py            # all notebooks
    .venv/bin/python scripts/build_notebooks.py 03         # those whose name starts with 03
    .venv/bin/python scripts/build_notebooks.py --keep-outputs 05
        # after editing only markdown: keep the outputs of code cells whose source is unchanged

Edit the cells here, not in the .ipynb files, then run ``scripts/execute_notebooks.py`` to
fill in the outputs of a full run (``tests/test_notebooks.py`` executes them in quick mode).
Each notebook is a list of ``md(...)`` and ``code(...)`` cells; their text is dedented.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip())


def setup(extra_imports: str = "") -> nbformat.NotebookNode:
    """The first code cell of every notebook: imports and the quick-mode switch."""
    head = """
        import os
        import warnings

        import matplotlib
        import numpy as np
        import pandas as pd

        import hiermod as hm
        from hiermod import plots
        """
    tail = """
        # The test suite sets HIERMOD_NOTEBOOK_QUICK=1: short chains, same code. The outputs
        # saved in this notebook come from a full run.
        QUICK = os.environ.get("HIERMOD_NOTEBOOK_QUICK") == "1"
        SAMPLING = dict(draws=150, tune=200, chains=2) if QUICK else dict(draws=1000, tune=1000, chains=4)

        %matplotlib inline
        matplotlib.rcParams["figure.dpi"] = 80
        pd.set_option("display.precision", 3)
        pd.set_option("display.width", 120)
        pd.set_option("display.max_columns", 20)
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        # warnings in one line, without the path of the module that raised them
        warnings.formatwarning = lambda message, category, *args, **kwargs: f"{category.__name__}: {message}\\n"
        print(f"hiermod {hm.__version__}; sampling: {SAMPLING}" + ("  (QUICK mode)" if QUICK else ""))
        """
    imports = textwrap.dedent(head).strip()
    if extra_imports.strip():
        imports += "\n" + textwrap.dedent(extra_imports).strip()
    return nbformat.v4.new_code_cell(imports + "\n\n" + textwrap.dedent(tail).strip())


# --- 01 ------------------------------------------------------------------------------------------

NB01 = [
    md("""
    # 1. Pooling and the intraclass correlation (radon)

    Radon is a radioactive gas that enters homes from the ground; how much depends on the
    uranium in the soil and on whether the measurement was taken in the basement. The EPA
    measured it in 919 Minnesota homes in 85 counties (Gelman & Hill 2007, ch. 12). The
    question of this notebook is the simplest multilevel one:

    > **What is the typical radon level in each county?**

    Some counties have over a hundred homes in the survey, some have one. Three answers are
    possible:

    * **complete pooling** — ignore the counties: every county gets the state-wide mean;
    * **no pooling** — each county on its own: its sample mean, however few homes it has;
    * **partial pooling** — the multilevel model: each county's estimate is a compromise
      between its own mean and the state-wide mean, weighted by how much the county's own data
      can be trusted.

    On the way we meet the **null model**, the **intraclass correlation** (ICC) and the
    **design effect**.
    """),
    setup(),
    code("""
        radon = hm.datasets.load("radon")
        homes = radon.groupby("county").size()
        print(f"{len(radon)} homes in {radon['county'].nunique()} counties")
        homes.describe()
    """),
    md("""
    Half the counties have five homes or fewer; three have a single home, and two (Hennepin,
    the Minneapolis county, and St Louis) have more than a hundred. A county mean built on
    one home is mostly noise: that is the problem partial pooling solves.

    ## The null model

    The null (empty, intercept-only) model has no predictors, just a mean per county drawn from
    a common distribution:

    $$
    \\text{log\\_radon}_{ij} = \\gamma_{00} + u_{0j} + \\varepsilon_{ij},\\qquad
    u_{0j} \\sim N(0, \\tau^2),\\quad \\varepsilon_{ij} \\sim N(0, \\sigma^2)
    $$

    for home *i* in county *j*. `hm.null_model` fits it from any formula of the same outcome
    and grouping factor: here from the model with the floor of measurement that we fit
    further down.
    """),
    code("""
        null = hm.null_model("log_radon ~ floor + (1 | county)", radon, **SAMPLING, random_seed=101)
        null
    """),
    code("""
        print(null.diagnostics())
        null.summary()
    """),
    md("""
    γ₀₀ (`Intercept`) is the state-wide mean of log radon, τ (`sd(Intercept | county)`) how
    much county means differ, and σ (`sigma`) how much homes differ within a county. Homes
    differ far more than counties do.

    ## The intraclass correlation

    $$\\rho = \\frac{\\tau^2}{\\tau^2 + \\sigma^2}$$

    is the share of the variance that lies between counties, and equally the correlation
    between two homes of the same county. hiermod computes it draw by draw, so it comes with a
    posterior distribution, not just a point value.
    """),
    code("""
        null.icc()
    """),
    code("""
        plots.plot_icc(null.icc_draws())
    """),
    md("""
    About a seventh of the variation in log radon lies between counties. That sounds small,
    but it is not ignorable: two homes of the same county are clearly more alike than two
    homes picked at random, so the 919 homes are not 919 independent pieces of information
    about the state.

    ## The design effect

    How much information is lost? The design effect compares the variance of a mean under
    clustering with its variance under simple random sampling:

    $$\\text{deff} = 1 + (\\bar n - 1)\\,\\rho, \\qquad n_\\text{eff} = n / \\text{deff},$$

    with n̄ the mean cluster size. With unequal cluster sizes Kish's version replaces n̄ by
    the size-weighted mean Σ n_j² / Σ n_j, which is larger (`deff_kish`).
    """),
    code("""
        deff = null.design_effect()
        deff
    """),
    code("""
        d = deff.loc["county"]
        print(f"mean cluster size {d.loc['mean_size', 'mean']:.1f} homes, ICC {d.loc['icc', 'mean']:.3f}: "
              f"design effect {d.loc['deff', 'mean']:.2f} (Kish {d.loc['deff_kish', 'mean']:.2f}); "
              f"the {d.loc['n_obs', 'mean']:.0f} homes weigh like about {d.loc['n_eff', 'mean']:.0f} "
              f"(Kish: {d.loc['n_eff_kish', 'mean']:.0f}) independent homes for the state mean.")
    """),
    md("""
    A standard error computed as if the homes were independent would be too small by a factor
    √deff. Even a modest ICC matters once clusters are large.

    ## No, partial and complete pooling, county by county

    `fit.pooling()` puts the three estimates of each county's mean side by side:

    * `no_pool` (with its standard error `no_pool_se`): the county's own mean;
    * `partial_mean`, `partial_lower`, `partial_upper`: the multilevel posterior of
      γ₀₀ + u₀ⱼ;
    * `complete_pool`: the state-wide estimate, the same for every county;
    * `shrinkage` (λⱼ) and `approx`: the shrinkage factor and the classical shrinkage
      estimator, discussed below.
    """),
    code("""
        pool = null.pooling()
        county = pool.loc["Intercept"]
        shown = ["n", "no_pool", "no_pool_se", "partial_mean", "partial_lower", "partial_upper",
                 "complete_pool", "shrinkage"]
        county.sort_values("n")[shown].iloc[np.r_[0:6, -4:0]]   # the six smallest and four largest counties
    """),
    code("""
        plots.plot_shrinkage(pool)
    """),
    md("""
    Each open circle is a county's own mean, each filled circle its multilevel estimate, and
    the dashed line the state-wide mean. Counties with a handful of homes are pulled a long
    way towards the state mean; counties with dozens of homes barely move. The no-pooling
    estimates of small counties scatter widely — not because those counties are extreme,
    but because a mean of two homes is noisy. Partial pooling removes most of that noise.

    ## Why small counties move most

    For this model the multilevel estimate of county *j* is, to a very good approximation,
    a precision-weighted average (Gelman & Hill 2007, eq. 12.1):

    $$
    \\hat\\alpha_j \\approx \\lambda_j\\,\\bar y_j + (1 - \\lambda_j)\\,\\bar y_\\text{all},
    \\qquad
    \\lambda_j = \\frac{\\tau^2}{\\tau^2 + \\sigma^2 / n_j}.
    $$

    σ²/nⱼ is the sampling variance of the county's own mean and τ² the variance of the true
    county means. When the county mean is much noisier than the spread of true means
    (small nⱼ), λⱼ is small and the estimate stays near the state mean. The county's own data
    get half the weight when nⱼ = σ²/τ².
    """),
    code("""
        sigma, tau = pool.attrs["sigma"], pool.attrs["tau"]["Intercept"]
        n = np.array([1, 2, 3, 5, 10, 25, 50, 100])
        print(f"posterior means: sigma = {sigma:.3f}, tau = {tau:.3f}; "
              f"a county's own mean gets half the weight at n = sigma^2 / tau^2 = {sigma**2 / tau**2:.1f} homes")
        pd.DataFrame({"homes": n, "lambda (weight of own mean)": hm.report.shrinkage_factor(n, sigma, tau)})
    """),
    md("""
    ## The shrinkage estimator against the full posterior

    The formula above plugs in the posterior means of σ and τ and treats them as known. The
    posterior does more: it averages over the uncertainty in σ and τ, and it gives each
    county an interval, not just a point. The column `approx` is the formula, `partial_mean`
    the posterior mean. How close are they?
    """),
    code("""
        gap = county["approx"] - county["partial_mean"]
        print(f"largest |formula - posterior mean|: {gap.abs().max():.3f} "
              f"= {(gap.abs() / county['partial_sd']).max():.2f} posterior sds; "
              f"correlation {np.corrcoef(county['approx'], county['partial_mean'])[0, 1]:.4f}")
        county.assign(gap=gap).sort_values("n")[["n", "no_pool", "shrinkage", "approx", "partial_mean",
                                                 "partial_sd", "gap"]].head(8)
    """),
    md("""
    Close, but the small counties all sit a little below their posterior means. The reason is
    the point they are shrunk towards. The formula, as Gelman & Hill write it, uses ȳ_all, the
    mean of all 919 homes (`complete_pool`), which is dominated by the large counties. The
    model shrinks towards γ̂₀₀, its estimate of the mean of the *county* means, and the large
    counties (St Louis, Anoka) happen to be low-radon counties. With γ̂₀₀ as the target the
    formula and the posterior agree closely:
    """),
    code("""
        gamma00 = null.summary().loc["Intercept", "mean"]
        to_model_mean = hm.report.approximate_estimate(county["n"], county["no_pool"], gamma00, sigma, tau)
        print(f"mean of all homes (complete pooling) {county['complete_pool'].iloc[0]:.3f}, "
              f"model's mean of the county means {gamma00:.3f}")
        print(f"largest |formula with target gamma00 - posterior mean|: "
              f"{np.max(np.abs(to_model_mean - county['partial_mean'])):.3f}")
    """),
    md("""
    The formula *is* the posterior mean given σ, τ and γ₀₀, and with 85 counties these are well
    determined, so plugging in their estimates costs little. What the formula cannot give is
    the uncertainty: the posterior sd of a one-home county is several times that of Hennepin's,
    and its interval is what one should report.

    ## Adding a predictor: the floor of measurement

    Radon comes from the ground, so basement measurements (`floor = 0`) are higher than
    first-floor ones (`floor = 1`). Adding the floor as a level-1 predictor gives the
    varying-intercept model

    $$\\text{log\\_radon}_{ij} = \\gamma_{00} + \\gamma_{10}\\,\\text{floor}_{ij} + u_{0j} + \\varepsilon_{ij}.$$

    Pooling now applies to each county's intercept: the expected log radon of a basement
    measurement in that county.
    """),
    code("""
        floor_fit = hm.fit("log_radon ~ floor + (1 | county)", radon, **SAMPLING, random_seed=102)
        print(floor_fit.diagnostics())
        floor_fit.summary()
    """),
    code("""
        plots.plot_shrinkage(floor_fit.pooling())
    """),
    md("""
    The picture is the same: small counties shrink most. The caterpillar plot shows each
    county's intercept with its 95% interval, sorted; the intervals of small counties are wide
    and most overlap the state mean (dashed line).
    """),
    code("""
        plots.plot_caterpillar(floor_fit.group_effects(coefficient=True))
    """),
    md("""
    How much of the variance did the floor explain? `variance_explained` compares each
    variance component with the null model's (Raudenbush & Bryk's proportional reduction).
    """),
    code("""
        floor_fit.variance_explained(null)
    """),
    md("""
    The floor reduces the within-county variance σ² (it is a level-1 predictor), while τ² stays
    about the same or even grows: basements are not spread evenly over counties, and once the
    floor is accounted for the counties differ a little more. A negative "reduction" at level 2
    is a known feature of this measure (Snijders & Bosker 2012, sec. 7.2), not an error.

    ## Summary

    * Complete pooling ignores real differences between counties; no pooling over-reads the
      noise of small counties; partial pooling weights each county's data by its precision.
    * The ICC from the null model (ρ ≈ 0.14 here) says how alike units of a group are; the
      design effect 1 + (n̄ − 1)ρ says how much that costs in effective sample size.
    * Shrinkage λⱼ = τ²/(τ² + σ²/nⱼ) is small for small groups: they move most.
    * The classical shrinkage formula matches the posterior means; the posterior adds honest
      intervals.

    Next: [02 — predictors at two levels](02_predictors_at_two_levels.ipynb).
    """),
]


# --- 02 ------------------------------------------------------------------------------------------

NB02 = [
    md("""
    # 2. Predictors at two levels (High School and Beyond)

    The High School and Beyond survey (Raudenbush & Bryk 2002, ch. 4) gives the maths
    achievement (`mAch`) and socio-economic status (`ses`) of 7,185 pupils in 160 US high
    schools, 70 Catholic and 90 public (`sector`). The questions:

    1. How strongly is achievement tied to SES **within** a school, and how strongly do
       schools' mean achievement follow their **mean** SES?
    2. Do Catholic schools differ — in their mean achievement, and in how steeply
       achievement rises with SES (are they more *equitable*)?

    This needs predictors at both levels: pupil SES at level 1, school mean SES and sector at
    level 2, and a **cross-level interaction** (a level-2 predictor explaining a level-1 slope).
    """),
    setup("""
        from hiermod.report import contrast
        from IPython.display import Markdown
    """),
    code("""
        hsb = hm.datasets.load("hsb82")
        schools = hsb.groupby("school").agg(pupils=("mAch", "size"), sector=("sector", "first"))
        print(f"{len(hsb)} pupils in {len(schools)} schools; pupils per school "
              f"{schools['pupils'].min()}-{schools['pupils'].max()}")
        print(schools["sector"].value_counts().to_string())
        hsb.head()
    """),
    md("""
    ## How much is there to explain at each level? The null model

    Before adding predictors, the null model splits the variance of `mAch` into a
    between-school part τ² and a within-school part σ². Variance explained by predictors is
    measured against these.
    """),
    code("""
        null = hm.fit("mAch ~ 1 + (1 | school)", hsb, **SAMPLING, random_seed=201)
        null.icc()
    """),
    md("""
    About 18% of the variance in achievement lies between schools (the classical value for
    these data; lme4 gives τ² = 8.6, σ² = 39.1).

    ## Centering: CGM or CWC?

    A pupil-level predictor like SES carries two kinds of information: where the pupil stands
    within the school, and where the school stands among schools. How it is centred decides
    which slope the model estimates (Enders & Tofighi 2007):

    * **CGM**, centering at the grand mean, `cgm(ses)` = ses − mean(ses): a shift of the origin
      only. Its slope in a random-intercept model is a blend of the within- and the
      between-school relation, weighted in a way that is hard to interpret.
    * **CWC**, centering within cluster, `cwc(ses, school)` = ses − school mean of ses: the
      pupil's position *within* the school. Its slope is the pure within-school effect. The
      school mean itself, `gmean(ses, school)`, then enters as a level-2 predictor whose slope
      is the between-school effect.

    Both helpers are computed inside the formula from the training data and remembered, so
    predictions for new data reuse the same means. A school that is not in the data has no
    mean of its own: `cwc` and `gmean` then use the mean of the training schools' means, so a
    one-pupil prediction still moves with the pupil's SES (with
    `predict(..., new_group_means="newdata")` a new school's own rows in the new data give its
    mean instead, when they are the whole school). (The data set ships ready-made `cses` and
    `meanses` columns; we do not need them.)
    """),
    code("""
        cgm_fit = hm.fit("mAch ~ cgm(ses) + (1 | school)", hsb, **SAMPLING, random_seed=202)
        cwc_fit = hm.fit("mAch ~ cwc(ses, school) + gmean(ses, school) + (1 | school)", hsb,
                         **SAMPLING, random_seed=203)
        pd.concat({"CGM": cgm_fit.summary(), "CWC + school mean": cwc_fit.summary()})[["mean", "lower", "upper", "r_hat"]]
    """),
    md("""
    With CGM the SES slope is a single number somewhere between the two relations. With CWC
    the model separates them: within a school, one unit of SES goes with about 2.2 points of
    achievement; between schools, one unit of *mean* SES goes with almost 6 points. The
    difference is the **contextual effect**: two pupils of the same SES score differently
    depending on the SES of their school. It is a linear combination of two fixed effects;
    `contrast` computes it at every posterior draw, so its interval accounts for the
    correlation of the two estimates:
    """),
    code("""
        contrast(cwc_fit.idata, cwc_fit.design, {"gmean(ses, school)": 1, "cwc(ses, school)": -1})
    """),
    md("""
    ## Variance explained at each level

    Pupil SES (within schools) can only explain within-school variance; school mean SES only
    between-school variance. `variance_explained` gives the proportional reduction of σ² and
    τ² against the null model, and `r2_levels` Snijders & Bosker's R² at level 1 (predicting a
    pupil's score) and level 2 (predicting a school's mean).
    """),
    code("""
        cwc_fit.variance_explained(null)
    """),
    code("""
        cwc_fit.r2_levels(null)
    """),
    md("""
    School mean SES removes more than half of the between-school variance; pupil SES a few
    percent of the (much larger) within-school variance.

    ## Sector, varying slopes and a cross-level interaction — written level by level

    Now the full "intercepts- and slopes-as-outcomes" model of Raudenbush & Bryk (2002,
    ch. 4). Each school has its own intercept and its own SES slope; both are explained by the
    school's mean SES and sector. A textbook writes it one level at a time, and so can we:
    `hm.levels(level-1 equation, {coefficient: its level-2 equation})`. A random term `(1 | school)`
    makes a coefficient vary over schools; a level-2 predictor in the equation of a *slope*
    is a cross-level interaction.
    """),
    code("""
        spec = hm.levels(
            "mAch ~ cwc(ses, school)",
            {"Intercept":        "1 + gmean(ses, school) + sector + (1 | school)",
             "cwc(ses, school)": "1 + gmean(ses, school) + sector + (1 | school)"},
            group="school", data=hsb)     # data: check that the level-2 predictors are constant within schools
        print(spec.formula)
    """),
    md("""
    The level-wise spec compiles to an ordinary lme4 formula. Written directly as a formula
    it is the very same model:
    """),
    code("""
        formula = ("mAch ~ cwc(ses, school) + gmean(ses, school) + sector"
                   " + gmean(ses, school):cwc(ses, school) + sector:cwc(ses, school)"
                   " + (1 + cwc(ses, school) | school)")
        print("same model:", hm.parse_formula(formula) == spec)
    """),
    md("""
    and these are its equations, level by level and combined (γ: fixed effects; u: school
    effects with covariance matrix **T**):
    """),
    code("""
        Markdown(hm.equations(spec).markdown())
    """),
    code("""
        full = hm.fit(spec, hsb, **SAMPLING, random_seed=204)
        print(full)
        print(full.diagnostics())
        full.summary()
    """),
    md("""
    Reading the fixed effects (the reference sector is Catholic):

    * `Intercept`, `gmean(ses, school)`, `sector[Public]`: a Catholic school of average SES
      scores about 13 points (at its mean pupil); public schools score lower, and schools with
      a higher mean SES higher.
    * `cwc(ses, school)`: within a Catholic school of average SES, one unit of SES is worth
      about 1.3 points.
    * `sector[Public]:cwc(ses, school)`: in public schools the SES slope is about 1.6 points
      **steeper** — achievement depends more on family background there.
    * `gmean(ses, school):cwc(ses, school)`: in richer schools the SES slope is steeper too.

    Once sector and mean SES are in the equation of the slope, little variation of the slopes
    is left (`sd(cwc(ses, school) | school)`): most of it was explained by these two
    school characteristics.

    The schools' own SES slopes (fixed part plus the school's effect), sorted:
    """),
    code("""
        plots.plot_caterpillar(full.group_effects(term="cwc(ses, school)", coefficient=True))
    """),
    md("""
    ## Variance explained by the full model

    For a model with random slopes the proportional reduction of τ² refers to the intercept
    variance at cwc(ses) = 0, i.e. at each school's mean pupil. Nakagawa's R² summarises the
    whole model: the marginal R² is the share of the variance explained by the fixed effects,
    the conditional R² adds the school effects.
    """),
    code("""
        full.variance_explained(null)
    """),
    code("""
        full.r2()
    """),
    md("""
    ## Summary

    * Center a level-1 predictor **within** its clusters (CWC) and add the cluster mean as a
      level-2 predictor to separate the within- from the between-cluster relation; CGM mixes
      them.
    * Level-2 predictors explain between-school variance, level-1 predictors mostly
      within-school variance: measure each against the null model.
    * A level-2 predictor in the equation of a slope is a cross-level interaction; written level
      by level it reads like the textbook, and `spec.formula` / `hm.equations(spec)` show the same
      model as an lme4 formula and in LaTeX.

    Next: [03 — longitudinal growth](03_longitudinal_growth.ipynb).
    """),
]


# --- 03 ------------------------------------------------------------------------------------------

NB03 = [
    md("""
    # 3. Longitudinal growth: sleep deprivation (sleepstudy)

    Eighteen truck drivers were restricted to three hours of sleep per night for nine nights
    (Belenky et al. 2003). Each day their average reaction time (`Reaction`, ms) was measured.
    Repeated measures are multilevel data: **days** (level 1) are nested in **subjects**
    (level 2). The questions:

    1. How fast does reaction time deteriorate, on average?
    2. Do subjects differ in their starting level and in their rate of deterioration, and are
       the two related?
    3. What should we expect for a new subject?
    """),
    setup(),
    code("""
        sleep = hm.datasets.load("sleepstudy")
        print(f"{len(sleep)} measurements of {sleep['Subject'].nunique()} subjects, days {sleep['Days'].min()}-{sleep['Days'].max()}")
        sleep.head()
    """),
    md("""
    ## The growth model

    Each subject *j* has a straight-line trajectory over days *t*; the intercepts (reaction
    time at day 0) and slopes (ms per day) vary over subjects and may be correlated:

    $$
    \\begin{aligned}
    \\text{Reaction}_{tj} &= \\beta_{0j} + \\beta_{1j}\\,\\text{Days}_{tj} + \\varepsilon_{tj}\\\\
    \\beta_{0j} &= \\gamma_{00} + u_{0j},\\qquad \\beta_{1j} = \\gamma_{10} + u_{1j},\\qquad
    (u_{0j}, u_{1j})^\\top \\sim N(\\mathbf 0, \\mathbf T)
    \\end{aligned}
    $$

    In lme4's notation: `Reaction ~ Days + (1 + Days | Subject)`. As a baseline we also fit the
    model in which only the intercepts vary (all subjects deteriorate at the same rate).
    """),
    code("""
        growth = hm.fit("Reaction ~ Days + (1 + Days | Subject)", sleep, **SAMPLING, random_seed=301)
        parallel = hm.fit("Reaction ~ Days + (1 | Subject)", sleep, **SAMPLING, random_seed=302)
        print(growth.diagnostics())
        growth.summary()
    """),
    md("""
    On average, reaction time starts around 250 ms and rises by about 10 ms per day of sleep
    restriction. The subject-level standard deviations are large: subjects differ by about 27
    ms at baseline (`sd(Intercept | Subject)`) and by about 6.5 ms/day in their slopes
    (`sd(Days | Subject)`). The correlation of intercepts and slopes is weakly positive, but
    its interval covers zero comfortably: 18 subjects say little about a correlation.
    """),
    code("""
        growth.variance_components()
    """),
    md("""
    ## Trajectories: a spaghetti plot

    `fit.trajectories("Days")` gives each subject's fitted line (the posterior mean of
    E[Reaction] along the days). Drawn together, with the population-average trajectory (a
    prediction with the subject effects set to zero):
    """),
    code("""
        lines = growth.trajectories("Days")
        days = pd.DataFrame({"Days": np.arange(10), "Subject": "average subject"})
        average = growth.predict(days, new_groups="zero", kind="mean").table
        plots.plot_spaghetti(lines, observed=sleep, y="Reaction", population=average)
    """),
    md("""
    The fan of lines is the varying slopes at work: some subjects barely change, a few
    deteriorate by 20 ms a day. One panel per subject, with the data and the 95% interval of
    the subject's line, shows how well each line fits:
    """),
    code("""
        plots.plot_spaghetti(lines, observed=sleep, y="Reaction", facets=True)
    """),
    md("""
    The subjects' own slopes (γ₁₀ + u₁ⱼ) side by side. Every subject's slope is partially
    pooled towards the average; the intervals show which subjects are clearly faster or slower
    than average.
    """),
    code("""
        plots.plot_caterpillar(growth.group_effects(term="Days", coefficient=True))
    """),
    md("""
    ## Do the slopes really vary?

    The parallel-lines model forces one slope on everyone. PSIS-LOO (leave-one-out
    cross-validation, see notebook 05) compares how well the two models predict a held-out
    measurement:
    """),
    code("""
        hm.compare_fits({"varying slopes": growth, "parallel lines": parallel})
    """),
    md("""
    The varying-slope model predicts better: the parallel-lines model loses about 24 in
    expected log predictive density (`elpd_diff`), about two standard errors of the difference
    (`dse`), and `p_worse`, the probability that it is really the worse model, is close to 1.
    Subjects differ in how much sleep loss affects them, and a model that ignores it mispredicts
    the late days of the most and least affected subjects. The `diag_*` columns (and the warning
    above them) flag a few measurements with a high Pareto k̂: with ten measurements per
    subject, each weighs on its subject's slope, and leaving it out changes the posterior more
    than importance sampling handles well. The comparison is clear enough here; for a close call,
    K-fold cross-validation (refitting without each subject) is the robust check.

    ## Predictions for a new subject

    For a subject in the study, predictions use that subject's posterior intercept and slope.
    For a **new** subject we know nothing individual: `new_groups="sample"` draws the new
    subject's intercept and slope from the population distribution N(0, **T**) at every
    posterior draw, so the prediction carries the between-subject variation. Here are two
    subjects of the study (308, who deteriorates fast, and 335, who does not) and a new one:
    """),
    code("""
        newdata = pd.DataFrame({"Days": np.tile(np.arange(10), 3),
                                "Subject": np.repeat(["308", "335", "new subject"], 10)})
        pred = growth.predict(newdata, new_groups="sample", random_seed=303)
        pred.table.query("Days in (0, 9)")
    """),
    code("""
        plots.plot_predictions(pred.table, x="Days", group="Subject", observed=sleep, y="Reaction")
    """),
    md("""
    The band of the new subject (hatched) is wide: it is the range of trajectories one would
    see across subjects, not the uncertainty about the average trajectory. That is the honest
    prediction for someone not yet measured. By day 9 the 95% interval of a new subject's
    expected reaction time spans well over 200 ms; a single measurement (`interval="outcome"`,
    which adds the day-to-day noise σ) is more uncertain still:
    """),
    code("""
        plots.plot_predictions(pred.table, x="Days", group="Subject", interval="outcome")
    """),
    md("""
    ## Summary

    * A growth model is a multilevel model with time as a level-1 predictor and varying
      intercepts and slopes over subjects.
    * Spaghetti plots of the fitted trajectories show the variation of the slopes at a glance;
      faceted, they show the fit subject by subject.
    * Predictions for a new subject draw its effects from the population: their intervals are
      wide, as they should be.

    Next: [04 — Bayes and REML](04_bayes_and_reml.ipynb).
    """),
]


# --- 04 ------------------------------------------------------------------------------------------

NB04 = [
    md("""
    # 4. Bayes and REML: where they agree and where they differ

    lme4 estimates a linear mixed model by **REML** (restricted maximum likelihood); hiermod
    samples its posterior. hiermod also fits REML and ML itself (lme4's penalized least-squares
    method, on the same design), so the two can be set side by side, parameter by parameter.

    The message: with many groups they tell the same story; with few groups the variance
    components — and everything that depends on them — differ, and the posterior is the more
    honest of the two. Along the way: why REML rather than ML for variance components.
    """),
    setup(),
    md("""
    ## Many groups: 160 schools (hsb82)

    The random-slope model of notebook 02 without the cross-level interactions. With 160
    schools and about 45 pupils each, both the fixed effects and the variance components are
    well determined.
    """),
    code("""
        hsb = hm.datasets.load("hsb82")
        hsb_formula = "mAch ~ cwc(ses, school) + gmean(ses, school) + sector + (1 + cwc(ses, school) | school)"
        hsb_bayes = hm.fit(hsb_formula, hsb, **SAMPLING, random_seed=401)
        hsb_reml = hm.reml(hsb_formula, hsb)
        print(hsb_reml)
    """),
    md("""
    `hm.compare(fit, reml_fit)` lists, for every parameter, the posterior mean, sd and 95%
    interval, the REML estimate (with its SE for fixed effects), their difference in units of
    the REML SE (or of the posterior sd where REML gives no SE), and flags: few groups, an
    estimate at the boundary of the parameter space, a posterior dominated by its prior.
    """),
    code("""
        hsb_cmp = hm.compare(hsb_bayes, hsb_reml)
        hsb_cmp[["post_mean", "post_lower", "post_upper", "reml", "reml_se", "diff_z", "flags"]]
    """),
    code("""
        plots.plot_compare(hsb_cmp)
    """),
    md("""
    Agreement everywhere: every REML estimate lies well inside the posterior interval, and the
    fixed effects differ by a small fraction of a standard error. With this much data the prior
    has no say and the likelihood is close to normal — the conditions under which REML's
    estimates and standard errors and the posterior coincide.

    ## 18 subjects (sleepstudy)
    """),
    code("""
        sleep = hm.datasets.load("sleepstudy")
        sleep_formula = "Reaction ~ Days + (1 + Days | Subject)"
        sleep_bayes = hm.fit(sleep_formula, sleep, **SAMPLING, random_seed=402)
        sleep_reml = hm.reml(sleep_formula, sleep)
        sleep_cmp = hm.compare(sleep_bayes, sleep_reml)
        sleep_cmp[["post_mean", "post_lower", "post_upper", "reml", "reml_se", "diff_z", "flags"]]
    """),
    code("""
        plots.plot_compare(sleep_cmp)
    """),
    md("""
    The fixed effects still agree. The group-level sds and the correlation carry the
    *few groups* flag: they are estimated from 18 subjects, not 180 measurements. Their
    posteriors are skewed (a standard deviation cannot go below 0, and 18 subjects leave room
    for much larger values), so the posterior mean lies above the REML estimate, which is
    closer to the posterior mode. REML reports no standard error for them at all; lme4
    users are pointed to profile or bootstrap intervals. The posterior interval comes for free.

    ## A handful of groups: 8 schools

    Take 8 of the 160 schools at random (about 360 pupils) and fit the same model. Within each
    school there is plenty of data, but everything about the *distribution of schools* — τ for
    the intercepts and the slopes, their correlation, and the effect of a school-level
    predictor such as sector — rests on 8 values.
    """),
    code("""
        rng = np.random.default_rng(3)
        eight = rng.choice(hsb["school"].unique(), size=8, replace=False)
        few = hsb[hsb["school"].isin(eight)]
        print(f"{len(few)} pupils in {few['school'].nunique()} schools:", few.groupby("sector")["school"].nunique().to_dict())
        few_reml = hm.reml(hsb_formula, few)
        print("REML estimates at the boundary:", few_reml.boundary)
        few_reml.varcorr_table()
    """),
    md("""
    REML puts the correlation of intercepts and slopes at exactly 1 and the slope sd almost at
    0: a **singular fit**, the usual symptom of a model too rich for the number of groups. The
    estimates are not wrong as maximisers of the restricted likelihood, but a correlation of
    exactly 1 is not a believable answer, and the standard errors of the other parameters are
    computed as if these values were known.

    The posterior, with the default weakly informative priors (an LKJ(2) prior on the
    correlation, half-normal priors on the sds scaled to the data), keeps away from the
    boundary and shows how little 8 schools can tell. A higher `target_accept` helps the
    sampler through the funnel-shaped posterior that few groups produce.
    """),
    code("""
        few_bayes = hm.fit(hsb_formula, few, **SAMPLING, random_seed=403, target_accept=0.95)
        print(few_bayes.diagnostics())
        few_cmp = hm.compare(few_bayes, few_reml)
        few_cmp[["post_mean", "post_lower", "post_upper", "reml", "reml_se", "diff_z", "flags"]]
    """),
    code("""
        plots.plot_compare(few_cmp)
    """),
    md("""
    Now they disagree in substance:

    * the posterior of the correlation spreads over most of (−1, 1) — the data cannot pin it
      down — where REML claims 1;
    * the posterior of the slope sd is wide — anything from almost 0 to 2 points or more per
      unit of SES is compatible with 8 schools — where REML says 0;
    * the posterior intervals of the school-level effects (`gmean(ses, school)`, `sector`)
      are wider than REML's ± 2 SE, because they carry the uncertainty about τ that REML's SEs
      ignore.

    With few groups, report the posterior — and report that the variance components are
    largely prior-driven — rather than a singular REML fit.

    ## REML versus ML for variance components

    Maximum likelihood estimates the variance components as if the fixed effects were known
    and so **underestimates** them, by about the share of the degrees of freedom the fixed
    effects use: σ̂²_ML ≈ σ̂²_REML (n − p)/n. For a group-level variance, n is the number of
    groups. REML (Patterson & Thompson 1971) removes this bias by maximising the likelihood of
    the residual contrasts, which do not depend on the fixed effects. `hm.reml_vs_ml` shows both,
    with the rule of thumb (n − p)/n:
    """),
    code("""
        pd.concat({"hsb82, 160 schools": hm.reml_vs_ml(hsb_formula, hsb),
                   "sleepstudy, 18 subjects": hm.reml_vs_ml(sleep_formula, sleep),
                   "8 schools": hm.reml_vs_ml(hsb_formula, few)})[["n", "REML", "ML", "variance_ratio", "rule_of_thumb"]]
    """),
    md("""
    With 160 schools ML's variances are 2–3% smaller than REML's — irrelevant. With 18
    subjects they are 7–8% smaller, close to the rule of thumb (18 − 2)/18. With 8 schools and
    4 fixed effects the rule of thumb says ML variances are half of REML's, and the intercept
    variance is about that; the slope variance is essentially 0 under both criteria, a
    boundary estimate for which the ratio means nothing. The residual variance rests on all
    observations and is the same under both.

    Use ML only to compare models with different fixed effects by likelihood-ratio tests or
    AIC (REML likelihoods of models with different fixed effects are not comparable); report
    variance components from REML — or from the posterior.

    ## Summary

    | | many groups | few groups |
    |---|---|---|
    | fixed effects | agree | REML SEs too small for level-2 effects |
    | variance components | agree | REML singular / at 0; posterior wide, prior matters |
    | correlations | agree | REML at ±1; posterior spread over (−1, 1) |
    | ML vs REML | ≈ equal | ML biased down by ≈ (J − p)/J |

    Next: [05 — checking and predicting](05_checking_and_predicting.ipynb).
    """),
]


# --- 05 ------------------------------------------------------------------------------------------

NB05 = [
    md("""
    # 5. Checking a model and predicting with it (radon)

    A fitted model is a claim about how the data came about. Before using it, check that data
    simulated from it look like the data we have — overall and group by group (**posterior
    predictive checks**); compare candidate models by how well they predict held-out data
    (**PSIS-LOO**); and then predict, with intervals that are honest about what is unknown,
    in particular for **groups not in the data**.

    Radon again (notebook 01): log radon in 919 homes in 85 counties, with the floor of
    measurement (level 1) and the county's soil uranium (`log_uranium`, level 2).
    """),
    setup(),
    code("""
        radon = hm.datasets.load("radon")
        radon.head()
    """),
    md("""
    Three candidate models:

    * **vi**: varying intercepts, floor as a level-1 predictor;
    * **vis**: the floor effect varies by county too;
    * **uranium**: varying intercepts explained by county uranium (a level-2 predictor).
    """),
    code("""
        models = {
            "vi": "log_radon ~ floor + (1 | county)",
            "vis": "log_radon ~ floor + (1 + floor | county)",
            "uranium": "log_radon ~ floor + log_uranium + (1 | county)",
        }
        fits = {name: hm.fit(formula, radon, **SAMPLING, random_seed=500 + k)
                for k, (name, formula) in enumerate(models.items(), start=1)}
        for name, f in fits.items():
            print(f"{name:8s} {f.diagnostics()}")
    """),
    code("""
        uranium = fits["uranium"]
        uranium.summary()
    """),
    md("""
    Counties with more uranium in the soil have more radon: one unit of log uranium goes with
    about 0.7 units of log radon. The county sd τ is now much smaller than in the
    varying-intercept model: uranium explains most of the differences between counties.

    ## Posterior predictive checks

    Draw replicated data sets y_rep from the posterior predictive distribution and compare
    statistics of them with the same statistics of the data. The p-value
    Pr(T(y_rep) ≥ T(y)) should not be near 0 or 1.
    """),
    code("""
        uranium.posterior_predictive(random_seed=511)
        uranium.ppc()
    """),
    md("""
    Mean and sd are reproduced. The minimum is not: the data contain a few very low values
    (log radon of about −2.3, i.e. measurements at the detection limit, recorded as 0 + 0.1)
    that a normal model rarely produces. Whether that matters depends on the question: for
    county means it does not, for the share of homes below a threshold it might.

    The same check county by county: is each county's observed mean inside the interval of its
    replicated means? There are two ways to replicate a county. With its own fitted effect
    (`groups="fitted"`), the replicated mean follows the observed one by construction — the
    effect was fitted to it — and the check nearly always passes. With a *new* effect drawn
    from N(0, τ²) (`groups="new"`, the default: a mixed predictive check), the question is
    whether the county is a plausible member of the population of counties the model
    describes.
    """),
    code("""
        by_county = uranium.ppc_groups(random_seed=511)                     # new county effects
        own = uranium.ppc_groups(random_seed=511, groups="fitted")          # the counties' own
        pd.DataFrame({"means outside": [by_county["outside_mean"].sum(), own["outside_mean"].sum()],
                      "sds outside": [by_county["outside_sd"].sum(), own["outside_sd"].sum()]},
                     index=["replicated with new county effects", "replicated with the fitted effects"])
    """),
    code("""
        by_county.sort_values("p_mean").head()
    """),
    code("""
        plots.plot_ppc(uranium.idata, by_county)
    """),
    md("""
    Left: the distribution of log radon (black) against 60 replicated data sets (blue). Right:
    each county's observed mean against its 95% predictive interval, sorted by the predicted
    mean. A handful of counties outside is what 95% intervals promise; a systematic pattern
    (all large counties above, say) would point to a missing predictor.

    The county means pass: replicated with new county effects, about as many counties fall
    outside their 95% intervals as chance predicts (about 4 of 85), so each county looks like a
    plausible member of the population of counties, given its uranium level. (With the fitted
    effects the count is similar here, because uranium leaves little between-county variance
    to fit; without uranium in the model the fitted check would pass nearly every county
    whatever its mean, which is why new effects are the default.) The county *sds* pass less
    well: about twice as many counties as chance predicts have a spread of log radon outside
    its predictive interval. The model gives every
    county the same residual sd σ; that is a simplification worth a closer look (which
    counties, and do they hold the measurements at the detection limit?) before using the model
    for anything that depends on the spread within a county.

    ## Comparing models by leave-one-out cross-validation

    PSIS-LOO estimates the expected log predictive density of a new home (`elpd`) from the
    fitted model, without refitting 919 times (Vehtari, Gelman & Gabry 2017). Its diagnostic,
    the Pareto k of each observation, says where the approximation is unreliable.
    """),
    code("""
        loo = uranium.loo()
        print(loo)
        hm.report.pareto_k_table(loo)
    """),
    code("""
        hm.compare_fits(fits)
    """),
    md("""
    `elpd_diff` is each model's loss in expected log predictive density against the best, `dse`
    its standard error. The uranium model predicts best. The varying floor slope (`vis`) does
    not earn its extra parameters: with a handful of homes per county, and few first-floor
    measurements in most, the county-specific floor effects are mostly noise. The `weight`
    column (stacking) puts most of the weight on the uranium model.

    ## Predictions, and new groups

    Predictions for a county of the study use its posterior intercept; a county not in the
    data (but whose uranium level is known) gets an intercept drawn from the population,
    N(γ₀₀ + γ₀₂·uranium, τ²), at each posterior draw. Compare a large county (Hennepin, 105
    homes), a small one (Lac qui Parle, 2 homes) and a new county with Hennepin's uranium
    level, in basements and on the first floor:
    """),
    code("""
        uranium_of = radon.groupby("county")["log_uranium"].first()
        newdata = pd.DataFrame({
            "county": np.repeat(["HENNEPIN", "LACQUIPARLE", "NEW COUNTY"], 2),
            "floor": np.tile([0, 1], 3),
            "log_uranium": np.repeat([uranium_of["HENNEPIN"], uranium_of["LACQUIPARLE"], uranium_of["HENNEPIN"]], 2),
        })
        pred = uranium.predict(newdata, random_seed=512)
        print("new levels:", pred.new_levels)
        pred.table
    """),
    code("""
        plots.plot_predictions(pred.table, x="floor", group="county")
    """),
    md("""
    * **Hennepin**: a narrow interval for the county's expected radon — 105 homes pin it down.
    * **New county**: wide, because its own deviation from the uranium regression is unknown:
      the interval includes the between-county sd τ.
    * **Lac qui Parle**: about as wide as the new county — two homes add little to what the
      uranium regression and τ already say. Its estimate sits higher than the new county's
      because of its higher uranium level and its two high measurements.

    What would be *dishonest* is to predict the new county with its effect set to zero, as if it
    were exactly on the regression line:
    """),
    code("""
        new_county = newdata[newdata["county"] == "NEW COUNTY"]
        honest = uranium.predict(new_county, new_groups="sample", random_seed=512).table
        typical = uranium.predict(new_county, new_groups="zero", random_seed=512).table
        pd.DataFrame({
            "floor": new_county["floor"].to_numpy(),
            "interval width, new county (sample)": (honest["upper"] - honest["lower"]).to_numpy(),
            "interval width, effect set to 0 (zero)": (typical["upper"] - typical["lower"]).to_numpy(),
            "single home, new county (y)": (honest["y_upper"] - honest["y_lower"]).to_numpy(),
        })
    """),
    md("""
    `new_groups="zero"` answers a different question — where is the regression line for a
    county with this uranium level? — and its interval is correspondingly narrow. For "what
    will we find in a county we have not surveyed", sample the county effect. And a single
    home (`y_*` columns) varies far more than any county mean: σ dominates τ here.

    ## Summary

    * Posterior predictive checks overall (`fit.ppc()`) and per group (`fit.ppc_groups()`,
      `plots.plot_ppc`) show which features of the data the model reproduces.
    * `fit.loo()` and `hm.compare_fits` rank models by out-of-sample prediction; check the
      Pareto k diagnostics.
    * `fit.predict(newdata)` predicts for existing and new groups; for a new group, sample its
      effect (`new_groups="sample"`, the default) to carry the between-group variance.

    Next: [06 — binary and count outcomes](06_binary_and_counts.ipynb).
    """),
]


# --- 06 ------------------------------------------------------------------------------------------

NB06 = [
    md("""
    # 6. Binary outcomes and counts: contagious bovine pleuropneumonia (cbpp)

    CBPP is a respiratory disease of cattle. In 15 herds in Ethiopia, the number of new cases
    (`incidence`) out of the herd's size (`size`) was recorded in four periods (Lesnoff et al.
    2004). The questions:

    1. Does the incidence fall over the periods?
    2. How much do herds differ in their risk?
    3. What incidence should we expect in a herd, on the probability scale?

    The outcome is a count out of a known number of trials: a **binomial** multilevel model
    with a logit link,

    $$
    \\text{incidence}_{ij} \\sim \\text{Binomial}(\\text{size}_{ij}, p_{ij}),\\qquad
    \\operatorname{logit}(p_{ij}) = \\gamma_0 + \\gamma_{\\text{period}} + u_{0j},\\qquad
    u_{0j} \\sim N(0, \\tau^2).
    $$
    """),
    setup(),
    code("""
        cbpp = hm.datasets.load("cbpp")
        print(f"{len(cbpp)} herd-periods, {cbpp['herd'].nunique()} herds; "
              f"{cbpp['incidence'].sum()} cases in {cbpp['size'].sum()} animal-periods")
        cbpp.pivot(index="herd", columns="period", values="incidence").sort_index(key=lambda h: h.astype(int))
    """),
    md("""
    The lme4 way of writing a binomial outcome is `cbind(successes, failures)`:
    """),
    code("""
        formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
        cbpp_fit = hm.fit(formula, cbpp, family="binomial", **SAMPLING, random_seed=601)
        print(cbpp_fit.diagnostics())
        cbpp_fit.summary()
    """),
    md("""
    The coefficients are on the **logit** scale: period 1 is the reference, and the
    incidence falls in periods 2–4 (all negative). Exponentiated, they are odds ratios
    relative to period 1; as the interval bounds are quantiles, exponentiating them gives
    the intervals of the odds ratios:
    """),
    code("""
        periods = cbpp_fit.summary().loc[["period[2]", "period[3]", "period[4]"], ["lower", "upper"]]
        np.exp(periods).rename(columns={"lower": "odds ratio, lower", "upper": "odds ratio, upper"})
    """),
    md("""
    In periods 2 and 3 the odds of a new case are about a third of those in period 1, in period
    4 about a fifth. (Empty cells in the table above are herd-periods without data.)

    The same model fitted by maximum likelihood (Laplace approximation, as `lme4::glmer`) for
    comparison. With 15 herds the herd sd is flagged, and the posterior's sd is larger than
    the ML estimate — ML variance components are biased downward with few groups (notebook 04).
    """),
    code("""
        ml = hm.reml(formula, cbpp, family="binomial")
        cbpp_cmp = hm.compare(cbpp_fit, ml)
        cbpp_cmp[["post_mean", "post_lower", "post_upper", "reml", "reml_se", "flags"]]
    """),
    code("""
        plots.plot_compare(cbpp_cmp)
    """),
    md("""
    ## Herd differences: the latent-scale ICC

    For a binomial outcome there is no residual variance parameter. On the **latent scale** —
    think of an unobserved continuous propensity that crosses a threshold — the logistic
    distribution of the level-1 error has variance π²/3 ≈ 3.29, and the ICC is

    $$\\rho = \\frac{\\tau^2}{\\tau^2 + \\pi^2/3}.$$

    It is computed from the null model (no period effects):
    """),
    code("""
        null = hm.null_model(cbpp_fit)       # same outcome, family, herds and sampler settings
        null.icc()
    """),
    code("""
        plots.plot_icc(null.icc_draws())
    """),
    md("""
    About a fifth of the latent variation lies between herds, with a wide interval — there
    are only 15 herds. The ICC on the latent scale is not the correlation of the observed
    0/1 outcomes (that one depends on the incidence level too), but it is the quantity
    comparable across studies and with linear models.

    Each herd's effect on the logit scale, with its interval:
    """),
    code("""
        plots.plot_caterpillar(cbpp_fit.group_effects())
    """),
    md("""
    ## Predictions on the probability scale

    `fit.predict` returns the expected value E[y]/trials — the **probability** of a new case —
    in the columns `mean`, `lower`, `upper` (`kind="mean"` asks for just these; no herd sizes
    needed). Three kinds of herd:

    * herd 1, an existing herd (its own posterior effect);
    * a **typical herd** (`new_groups="zero"`): herd effect 0, the centre of the logit scale;
    * a **new herd** (`new_groups="sample"`): a herd effect drawn from N(0, τ²).
    """),
    code("""
        periods = ["1", "2", "3", "4"]
        herd1 = cbpp_fit.predict(pd.DataFrame({"period": periods, "herd": "1"}), kind="mean").table
        typical = cbpp_fit.predict(pd.DataFrame({"period": periods, "herd": "typical herd"}),
                                   new_groups="zero", kind="mean").table
        new = cbpp_fit.predict(pd.DataFrame({"period": periods, "herd": "new herd"}),
                               new_groups="sample", kind="mean", random_seed=602).table
        probabilities = pd.concat([herd1, typical, new], ignore_index=True)
        probabilities
    """),
    code("""
        plots.plot_predictions(probabilities, x="period", group="herd")
    """),
    md("""
    Two lessons of the logit link:

    * The probability of the *typical* herd (effect 0) is **not** the average probability over
      herds. The logit curve is not linear, so averaging the new-herd probabilities over the
      distribution of herd effects gives a different (here: higher) value, the
      *population-averaged* probability. The new herd's mean is that average; its interval
      spans the range of herds.
    * Herd 1, with 9 cases in 40 animal-periods, is one of the more affected herds: its
      predictions lie above the typical herd's in every period, because its herd effect shifts
      all periods alike on the logit scale.

    A posterior predictive check of the case counts:
    """),
    code("""
        cbpp_fit.posterior_predictive(random_seed=603)
        plots.plot_ppc(cbpp_fit.idata, cbpp_fit.ppc_groups(random_seed=603))
    """),
    md("""
    ## Summary

    * Binomial outcomes are written `cbind(successes, failures) ~ ...` with
      `family="binomial"`; coefficients are log odds ratios.
    * The ICC of a logit model lives on the latent scale, with level-1 variance π²/3.
    * Predictions come on the probability scale; a typical herd (effect 0) and the average over
      herds are different things under a non-linear link.

    Back to the [list of notebooks](README.md).
    """),
]

# --- 07 ------------------------------------------------------------------------------------------

NB07 = [
    md("""
    # 7. Few clusters: small-sample tests, likelihood ratios, and the estimators a multilevel model is set against

    Cross-national survey research routinely has 15–35 countries. Elff, Heisig, Schaeffer &
    Shikano (2020, "Multilevel analysis with few clusters") show what to do: estimate the
    variance components by **REML**, and test the fixed effects — above all the coefficients of
    country-level predictors — with **t tests on small-sample degrees of freedom**
    (Kenward–Roger, Satterthwaite, or a between–within count), not with z tests.

    This notebook takes the workshop's efficacy twin (political efficacy `EFF` of respondents
    with education `EDU` and urban residence `URB`, in countries with a corruption index
    `CORR`, a country-level predictor), cuts it to **12 countries**, and sets side by side:
    Wald z against Kenward–Roger against Satterthwaite against between–within against the
    posterior; likelihood-ratio tests and profile and bootstrap intervals for the country
    variance; and the estimators a political scientist knows — pooled OLS, cluster-robust SEs,
    country dummies — next to the multilevel model.
    """),
    setup("from scipy import stats"),
    code("""
        efficacy = hm.datasets.load("efficacy_sim")
        keep = sorted(efficacy["country"].unique())[::3]          # every third country: 12
        few = efficacy[efficacy["country"].isin(keep)].reset_index(drop=True)
        formula = "EFF ~ EDU + URB + CORR + (1 | country)"
        print(f"{len(few)} respondents in {few['country'].nunique()} countries")
    """),
    md("""
    ## One model, five ways to test a country-level coefficient

    `hm.reml(..., ddf=...)` chooses the denominator df of the t tests (`fixed_table()`,
    `contrast()`, `f_test()`): `"satterthwaite"` (lmerTest's default), `"kenward-roger"`
    (pbkrtest's adjusted covariance Φ_A: the SEs change too), `"between-within"` (clusters
    minus level-2 terms for country-level predictors), `"residual"` (n − p, what ignoring the
    clustering would give). The Wald z test is the normal approximation.
    """),
    code("""
        fits = {ddf: hm.reml(formula, few, ddf=ddf)
                for ddf in ("kenward-roger", "satterthwaite", "between-within", "residual")}
        rows = []
        for ddf, f in fits.items():
            row = f.fixed_table().loc["CORR"]
            rows.append({"method": ddf, "estimate": row["estimate"], "se": row["se"],
                         "df": row["df"], "p": row["p"], "lower": row["2.5%"], "upper": row["97.5%"]})
        kr = fits["kenward-roger"]
        wald = kr.confint("wald").loc["CORR"]
        z = kr.fixef["CORR"] / kr.vcov[3, 3] ** 0.5
        rows.append({"method": "Wald z", "estimate": kr.fixef["CORR"], "se": kr.vcov[3, 3] ** 0.5,
                     "df": np.inf, "p": 2 * stats.norm.sf(abs(z)), "lower": wald["lower"], "upper": wald["upper"]})
        pd.DataFrame(rows).set_index("method")
    """),
    md("""
    The coefficient of CORR rests on 12 countries: Kenward–Roger and Satterthwaite give about
    9–10 df (12 countries minus the intercept and CORR, give or take the information the
    within-country terms add), the between–within rule exactly 12 − 2 = 10, and the
    interval is visibly wider than the z interval. The level-1 coefficients (EDU, URB) keep
    about n − 12 df: for them the number of countries hardly matters.
    """),
    code("""
        kr.fixed_table()
    """),
    md("""
    A joint F test of URB and CORR, with Kenward–Roger's scaled F and df (as
    `pbkrtest::KRmodcomp`): the df pool the information of a level-1 and a level-2 term.
    """),
    code("""
        kr.f_test({"URB": {"URB": 1}, "CORR": {"CORR": 1}})
    """),
    md("""
    ## Likelihood-ratio tests and intervals for the country variance

    `hm.anova` refits REML fits by ML before comparing them, as lme4's `anova()`. The first
    test asks whether CORR adds to the model (a fixed effect: the χ² test is the usual one);
    the second whether the effect of EDU varies between countries — a variance tested on its
    boundary of 0, where the naive χ² p is conservative, so the table adds the p of the 50:50
    χ² mixture (`p_boundary`).
    """),
    code("""
        no_corr = hm.reml("EFF ~ EDU + URB + (1 | country)", few)
        slope = hm.reml("EFF ~ EDU + URB + CORR + (1 + EDU | country)", few)
        hm.anova(no_corr, kr)
    """),
    code("""
        hm.anova(kr, slope)
    """),
    md("""
    Profile-likelihood intervals (lme4's `confint(method = "profile")`) do not pretend that
    the country sd is normally distributed; the parametric bootstrap (`method="boot"`, run in
    parallel processes) simulates new countries and refits.
    """),
    code("""
        profile = kr.confint("profile")
        boot = kr.confint("boot", nsim=100 if QUICK else 1000, random_seed=701, n_jobs=2)
        pd.DataFrame({"estimate": profile["estimate"],
                      "profile lower": profile["lower"], "profile upper": profile["upper"],
                      "bootstrap lower": boot["lower"], "bootstrap upper": boot["upper"]})
    """),
    md("""
    ## The posterior

    The Bayesian fit of the same model. With 12 countries the posterior of the country sd is
    right-skewed, so its mean lies above REML's mode; `hm.compare` flags few groups on the rows
    where it bites (the country sd and the CORR coefficient, not the level-1 slopes, whose t
    tests already carry their df) and, in `why`, says why the two differ where they do.
    """),
    code("""
        bayes = hm.fit(formula, few, **SAMPLING, random_seed=702)
        cmp = hm.compare(bayes, kr)
        cmp[["post_mean", "post_lower", "post_upper", "reml", "reml_se", "diff_z", "flags", "why"]]
    """),
    md("""
    ## The estimators a multilevel model is set against

    `hm.compare_estimators` fits the same regression as pooled OLS (ignoring the countries),
    OLS with cluster-robust (CR1) SEs, country dummies (LSDV: CORR is absorbed, so it cannot
    be estimated), the within–between ("hybrid") model that splits EDU and URB into their
    within-country and between-country parts, and the REML model with Kenward–Roger df — and
    adds the posterior.
    """),
    code("""
        table = hm.compare_estimators(formula, few, bayes=bayes)
        table.drop(columns="note")
    """),
    code("""
        for note in table.attrs["notes"]:
            print("-", note)
        plots.plot_estimators(table)
    """),
    md("""
    Reading the table:

    * **Pooled OLS** has the smallest SE for CORR: it treats ~700 respondents as independent
      pieces of information about 12 countries' corruption.
    * **Cluster-robust SEs** fix that, but with 12 clusters the sandwich is itself noisy and
      biased down (and its t has only 11 df).
    * **LSDV** estimates the within-country slopes well and cannot say anything about CORR.
    * The **hybrid** model shows whether the between-country and within-country slopes of EDU
      and URB differ — when they do, the multilevel model's single slope mixes the two.
    * **REML with Kenward–Roger** and the **posterior** agree on CORR's uncertainty; both are
      wider than the naive answers, which is the point of Elff et al. (2020).
    """),
]


# --- 08 ------------------------------------------------------------------------------------------

NB08 = [
    md("""
    # 8. Marginal effects and model checking (contraception in Bangladesh)

    The 1988 Bangladesh Fertility Survey asked 1,934 women in 60 districts whether they used
    contraception (`use`: "Y" or "N"), with their number of living children (`livch`: 0, 1, 2,
    3+), their age (centred at the mean, in years) and whether they lived in a town (`urban`).
    The questions:

    1. How much more likely is a woman with children to use contraception than one without,
       and a woman in a town than one in the country — **on the probability scale**, not just
       as log odds?
    2. Is that an answer about a woman in a *typical district*, or about *all women*, whatever
       their district? For a logit model these differ.
    3. Does the model fit: do its predicted probabilities match the observed proportions, are
       the district effects normal, do the priors make sense, and how well does it predict a
       district it has never seen?

    Along the way: a yes/no outcome without recoding, lme4's accessors on the posterior,
    emmeans-style marginal means and contrasts, slopes, checks, grouped K-fold
    cross-validation, and hiermod's reports on a bambi fit.
    """),
    setup(),
    code("""
        contra = hm.datasets.load("contraception")
        print(f"{len(contra)} women in {contra['district'].nunique()} districts; "
              f"{(contra['use'] == 'Y').mean():.1%} use contraception")
        contra.groupby(["urban", "livch"])["use"].apply(lambda u: (u == "Y").mean()).unstack().round(3)
    """),
    md("""
    ## A yes/no outcome, and the priors before the data

    `use` holds "Y" and "N". Name the value counted as 1 with `event="Y"` (in a model file:
    `event = "Y"` in `[model]`; bambi writes `use['Y'] ~ ...`). The model, as in lme4's
    examples for these data, has a quadratic in age and a varying intercept per district:

    $$
    \\operatorname{logit} \\Pr(\\text{use}_{ij} = Y) = \\gamma_0 + \\gamma_1 \\text{age} + \\gamma_2 \\text{age}^2
    + \\gamma_u\\,\\text{urban} + \\gamma_{\\text{livch}} + u_j,\\qquad u_j \\sim N(0, \\tau^2).
    $$

    Before fitting, what do the default priors say about the data? A **prior predictive check**
    draws whole data sets from the priors (no NUTS needed) and compares them with the data.
    """),
    code("""
        formula = "use ~ age + I(age**2) + urban + livch + (1 | district)"
        spec = hm.parse_formula(formula, family="bernoulli").with_event("Y")
        design = hm.make_design(spec, contra)
        prior = hm.sample_prior_predictive(design, draws=500, random_seed=801)
        hm.report.ppc_overall(prior, design, group="prior_predictive")
    """),
    code("""
        plots.plot_ppc(prior, group="prior_predictive")
    """),
    md("""
    In 95% of the data sets drawn from the priors the share of users lies between about 15%
    and 75%, with the observed 39% well inside: weakly informative, as intended, without piling
    the probabilities at 0 and 1 (as very wide priors on the logit scale would). Now the fit:
    """),
    code("""
        fit = hm.fit(formula, contra, family="bernoulli", event="Y", **SAMPLING, random_seed=802)
        print(fit.diagnostics())
        fit.summary()
    """),
    md("""
    ## Odds ratios, and lme4's accessors

    The coefficients are log odds ratios; `summary(exponentiate=True)` or `odds_ratios()`
    puts them on the odds-ratio scale (the interval is exp of β's interval; `p_above_1` is the
    posterior probability that the ratio exceeds 1):
    """),
    code("""
        fit.odds_ratios()
    """),
    md("""
    An lme4 user's `fixef`, `ranef`, `coef` and `VarCorr` work on the posterior (means of the
    draws where lme4 has estimates; lme4 1.1-31's `glmer` gives −1.035, 0.0035, −0.0046, 0.697,
    0.815, 0.916, 0.915 and a district sd of 0.475 for these data,
    `tests/reference/marginal/contraception.json`):
    """),
    code("""
        print(fit.fixef().round(4).to_dict())
        print(fit.VarCorr())
        fit.coef()["district"].head()
    """),
    md("""
    ## Marginal means: a typical district, or everybody?

    An odds ratio of 2 is hard to read; a difference in probability is not. **Marginal means**
    (emmeans' estimated marginal means) predict the probability on a reference grid — every
    level of each factor, age at its mean — and average over the factors not asked for. For a
    multilevel logit model the group effects can enter in two ways:

    * `groups="zero"`: the district effect at 0, the **conditional** probability of a woman in
      a typical district (lme4's `re.form = NA`);
    * `groups="average"`: the probability averaged over the distribution of districts,
      ∫ logit⁻¹(xβ + u) N(u | 0, τ²) du — the **population-averaged** probability, the share
      of users among all such women, whatever their district.
    """),
    code("""
        typical = fit.marginal_means(by="livch", groups="zero")
        everybody = fit.marginal_means(by="livch", groups="average")
        pd.concat({"typical district": typical.table.set_index("livch"),
                   "averaged over districts": everybody.table.set_index("livch")}, axis=1).round(3)
    """),
    md("""
    The two agree in direction, but the population-averaged probabilities are pulled towards
    1/2: below 1/2, averaging over districts raises the probability (the logit curve is convex
    there), so the differences between the levels shrink a little. Neither is wrong; they
    answer different questions — for a woman in a given district, the conditional one; for a
    policy aimed at all women, the population-averaged one.

    The probabilities by number of children and residence, as a plot with a categorical axis:
    """),
    code("""
        by_both = fit.marginal_means(by=["livch", "urban"], groups="average")
        plots.plot_predictions(by_both.table, x="livch", group="urban")
    """),
    md("""
    ## Contrasts with intervals

    `.compare()` takes differences (or ratios, or odds ratios) of the marginal means, draw by
    draw, so every contrast has its posterior interval:
    """),
    code("""
        everybody.compare(pairs="reference")          # each number of children against none
    """),
    code("""
        everybody.compare(pairs="pairwise")           # every pair
    """),
    md("""
    Having a first child goes with about 18 percentage points more use; further children add
    little (the 1 − 2 and 2 − 3+ contrasts straddle zero). On the odds-ratio scale, with the
    district effect at 0 the contrast of urban against rural is exactly exp(γ_u) in every
    cell; averaged over districts the odds ratio is *attenuated* — the familiar gap between
    conditional and marginal odds ratios:
    """),
    code("""
        cells = {g: fit.marginal_means(by=["urban", "livch"], groups=g)
                 .compare("urban", comparison="odds_ratio").set_index("livch")[["mean", "lower", "upper"]]
                 for g in ("zero", "average")}
        pd.concat(cells, axis=1).round(3)
    """),
    md("""
    ## Slopes

    The effect of a numeric predictor on the probability is a derivative, dE[y]/d age. Averaged
    over the women in the data it is the **average marginal effect** (marginaleffects'
    `avg_slopes`); at given ages it traces the quadratic:
    """),
    code("""
        fit.slopes("age", by="urban", groups="average")
    """),
    code("""
        fit.slopes("age", at={"age": [-10, 0, 10, 20]}, grid="reference", by="age")
    """),
    md("""
    Use rises with age up to about the mean age and falls after it: the slope is positive for
    younger women and negative for older ones, about 0 on average.

    ## Predictions for the population

    `predict` does the same for any rows, without inventing a district: `groups="zero"` (a
    typical district) or `groups="average"` (all districts); the data need no district column.
    """),
    code("""
        women = pd.DataFrame({"age": [-5.0, -5.0], "urban": ["N", "Y"], "livch": ["2", "2"]})
        pd.concat({g: fit.predict(women, groups=g, kind="mean").table
                   for g in ("zero", "average")}).round(3)
    """),
    md("""
    ## Does the model fit?

    **Posterior predictive checks.** For a 0/1 outcome the informative statistic is the share of
    ones (its min and max are 0 and 1 in every replication, and hiermod refuses them). Per
    district, each district is replicated with a *new* district effect, so the check asks
    whether it looks like a member of the population of districts:
    """),
    code("""
        fit.posterior_predictive(random_seed=803)
        fit.ppc()
    """),
    code("""
        by_district = fit.ppc_groups(random_seed=803)
        plots.plot_ppc(fit.idata, by_district)
    """),
    md("""
    **Binned residuals** (Gelman & Hill 2007, sec. 5.6): the mean of y − p̂ in bins of the
    fitted probability, against ±2 standard errors. About 95% of the bins should fall inside.
    """),
    code("""
        plots.plot_binned_residuals(fit.binned_residuals())
    """),
    md("""
    **Calibration**: the observed proportion of users against the predicted probability, in ten
    bins. A calibrated model lies on the diagonal.
    """),
    code("""
        calibration = fit.calibration()
        print(f"Brier score {calibration.attrs['brier']:.3f}")
        plots.plot_calibration(calibration)
    """),
    md("""
    **Are the district effects normal?** The QQ plot sorts the standardized draws u_j / τ at
    every posterior draw; under the model they are a sample of N(0, 1), so the points should
    follow the line (posterior means of u_j would not: they are shrunk).
    """),
    code("""
        plots.plot_qq(fit.group_effects_qq())
    """),
    md("""
    All of this is in-sample: each district's own data informed its effect. The honest test
    of prediction for districts the model has *not* seen is cross-validation that holds out
    whole districts.

    ## Grouped K-fold cross-validation

    `hm.kfold(fit, K, folds="grouped")` refits the model K times, each time without a K-th of
    the districts, and scores the held-out districts — their effects integrated over the
    refit's N(0, τ²), since they are new. The refits run in parallel processes. Comparing
    with a model without the number of children:
    """),
    code("""
        # the refits use each fit's own sampler settings; quick mode: 2 folds one after the
        # other, a full run: 10 folds, refits in parallel processes
        KFOLD = dict(K=2, n_jobs=1) if QUICK else dict(K=10)
        no_children = hm.fit("use ~ age + I(age**2) + urban + (1 | district)", contra,
                             family="bernoulli", event="Y", **SAMPLING, random_seed=804)
        cv = {name: hm.kfold(f, folds="grouped", random_seed=805, **KFOLD)
              for name, f in {"with livch": fit, "without livch": no_children}.items()}
        for name, result in cv.items():
            print(f"{name}: {result}")
        diff = cv["with livch"].pointwise["elpd"].to_numpy() - cv["without livch"].pointwise["elpd"].to_numpy()
        print(f"elpd difference {diff.sum():.1f} (se {np.sqrt(len(diff)) * diff.std(ddof=1):.1f}) "
              "in favour of the model with the number of children")
    """),
    md("""
    Both runs use the same folds (the same seed), so their pointwise elpd can be differenced
    district by district. The number of children improves the prediction for new districts,
    by about twice the standard error of the difference: a real but modest gain, as the
    contrasts above suggested (the first child matters, the others little).

    ## hiermod's reports on a bambi fit

    A model fitted by bambi can be read into a hiermod Fit: the formula becomes a Spec (bambi
    estimates no correlation between group-specific terms, so they are uncorrelated), the
    posterior is renamed, and every report above works on it — here the cbpp model of notebook
    06, fitted by bambi, with its ICC and population-averaged incidence by period:
    """),
    code("""
        import logging

        import bambi as bmb

        logging.getLogger("pymc").setLevel(logging.ERROR)  # no sampler chatter
        cbpp = hm.datasets.load("cbpp")
        bambi_model = bmb.Model("p(incidence, size) ~ period + (1 | herd)", cbpp, family="binomial")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bambi_idata = bambi_model.fit(draws=SAMPLING["draws"], tune=SAMPLING["tune"],
                                          chains=SAMPLING["chains"], random_seed=806, progressbar=False)
        from_bambi = hm.from_bambi(bambi_model, bambi_idata)
        print(from_bambi)
        print(from_bambi.icc())
        from_bambi.marginal_means(by="period", groups="average").table.round(3)
    """),
    md("""
    ## Summary

    * A yes/no outcome needs no recoding: `event="Y"`.
    * `fit.marginal_means(by=..., groups=...)` gives probabilities for a typical group
      (`"zero"`) or averaged over the groups (`"average"`); `.compare()` their differences,
      ratios or odds ratios; `fit.slopes()` average marginal effects — all with posterior
      intervals, draw by draw.
    * `fit.fixef()`, `ranef()`, `coef()`, `VarCorr()`, `summary(exponentiate=True)` read like
      lme4 and broom.
    * Checks: prior predictive (`hm.sample_prior_predictive`), posterior predictive with new
      groups (`fit.ppc_groups()`), binned residuals, calibration, QQ of the group effects.
    * `hm.kfold(..., folds="grouped")` scores predictions for new groups by refitting;
      `folds="stratified"` checks PSIS-LOO where its Pareto k are high.
    * `hm.from_bambi(model, idata)` puts hiermod's reports on a bambi fit.

    Back to the [list of notebooks](README.md).
    """),
]



# --- 09 ------------------------------------------------------------------------------------------

NB09 = [
    md("""
    # 9. Longitudinal data: autocorrelated and heteroskedastic residuals (BodyWeight)

    Sixteen rats on three diets were weighed once a week for nine weeks, and once more on
    day 44 (Crowder & Hand 1990; Pinheiro & Bates 2000, sec. 5.3). Repeated measures of one
    rat are level-1 units nested in the rat, as in notebook 03, but two things a growth model
    with independent residuals gets wrong show up in such data:

    1. **Serial correlation.** Weighings a week apart are more alike than the rat's own
       growth line explains: a rat that is heavy for its line this week is heavy next week.
    2. **Unequal variability.** Rats on some diets fluctuate more around their lines.

    The questions: how fast do rats grow on each diet, and what do we expect a rat to weigh in
    one or two weeks' time? Along the way we model the residuals of a rat as correlated in
    continuous time (`correlation="car1(Time | Rat)"`), give each diet its own residual sd
    (`sigma="~ Diet"`), compare the structures by REML likelihood-ratio tests and by LOO, and
    predict trajectories that continue from each rat's last residual.
    """),
    setup(),
    code("""
        bw = hm.datasets.load("bodyweight")
        print(f"{len(bw)} weighings of {bw['Rat'].nunique()} rats; rats per diet:",
              bw.groupby("Diet")["Rat"].nunique().to_dict(), "; days:", sorted(bw["Time"].unique()))
        bw.head()
    """),
    md("""
    The diets differ from the first weighing on (diet 1 rats are much lighter), so the
    interesting contrasts are in the growth *rates*. The extra weighing on day 44, one day
    after day 43, is why we treat time as continuous below.
    """),
    code("""
        plots.plot_growth(bw, x="Time", y="weight", unit="Rat", by="Diet")
    """),
    md("""
    ## The growth model with independent residuals

    Each rat grows along its own line; intercept and slope vary over rats and depend on the
    diet (a cross-level interaction):

    $$
    \\text{weight}_{tj} = \\beta_{0j} + \\beta_{1j}\\,\\text{Time}_{tj} + e_{tj},\\qquad
    \\beta_{0j} = \\gamma_{00} + \\gamma_{01}\\,\\text{Diet}_j + u_{0j},\\quad
    \\beta_{1j} = \\gamma_{10} + \\gamma_{11}\\,\\text{Diet}_j + u_{1j},
    $$

    `weight ~ Time * Diet + (Time | Rat)`. Time is in days since the start (day 1). Centring
    time elsewhere changes what the intercept means, not the model: `I(Time - 64)` would make
    the intercept the weight at the last weighing, `since(Time, Rat)` counts days from each
    rat's first weighing, and `pw(Time, 36)` would give a separate slope before and after day
    36 (a piecewise-linear growth curve).
    """),
    code("""
        formula = "weight ~ Time * Diet + (Time | Rat)"
        independent = hm.fit(formula, bw, **SAMPLING, random_seed=701)
        print(independent.diagnostics())
        independent.summary()
    """),
    md("""
    Are the residuals of a rat independent, as this model assumes? The residual
    autocorrelation by lag (pairs of weighings one, two, ... occasions apart within a rat)
    answers it. hiermod uses the *normalised* residuals: the standardised one-step-ahead
    prediction errors of each rat's weighings under the fitted covariance, which are
    independent if the model's covariance is right.
    """),
    code("""
        acf_before = independent.residual_acf(unit="Rat", time="Time")
        acf_before.T
    """),
    md("""
    The lag-1 autocorrelation is well outside the band of no correlation (`bound`): a week
    after a heavy weighing, the rat is still heavy for its line.

    ## Continuous-time AR(1) residuals

    `correlation="car1(Time | Rat)"` makes the residuals of one rat correlated with
    corr(e_s, e_t) = φ^|t − s|, for real-valued times, so the one-day gap from day 43 to 44
    gets a higher correlation than the seven-day gaps. (With equally spaced integer occasions
    `ar1(occasion | Rat)` is the same thing.) The group effects are still integrated out
    exactly, and the residual precision of a rat is tridiagonal, so the cost per gradient is
    linear in the number of weighings; the rats' own effects are drawn exactly afterwards.

    The posterior has a long, thin tail towards φ → 1, where correlated residuals become a
    second random intercept and σ grows: a smaller step size (`target_accept=0.9`) lets the
    sampler follow it without divergent transitions.
    """),
    code("""
        car1 = hm.fit(formula, bw, correlation="car1(Time | Rat)", target_accept=0.9, **SAMPLING, random_seed=702)
        print(car1.diagnostics())
        car1.summary().loc[["Time", "Time:Diet[2]", "Time:Diet[3]", "sd(Time | Rat)", "sigma", "phi(Time | Rat)"]]
    """),
    code("""
        phi = car1.idata.posterior["phi"]
        week = phi**7
        print(f"phi per day: {float(phi.mean()):.2f}; correlation of residuals one week apart: "
              f"{float(week.mean()):.2f} (95% interval {float(week.quantile(0.025)):.2f} to {float(week.quantile(0.975)):.2f})")
    """),
    md("""
    The correlation one day apart is high (the weighings of days 43 and 44 are nearly as alike
    as repeated measurements), but it decays fast: a week apart it is small, though not zero.
    The fixed effects and their intervals barely move; what the correlation changes is how the
    residual variation is described, and, below, how the model predicts.

    ## A residual sd per diet

    `sigma="~ Diet"` lets log σ depend on the diet: σ is the residual sd of diet 1 (the
    reference level), and `sigma[Diet=2]`, `sigma[Diet=3]` those of the other diets (nlme's
    `varIdent`). Together with the correlation:
    """),
    code("""
        full = hm.fit(formula, bw, correlation="car1(Time | Rat)", sigma="~ Diet", target_accept=0.9, **SAMPLING, random_seed=703)
        sd_diet = hm.fit(formula, bw, sigma="~ Diet", **SAMPLING, random_seed=704)
        print(full.diagnostics())
        full.summary()
    """),
    md("""
    Diet 3's rats fluctuate around their lines with a residual sd well above that of diet 1;
    diet 2 is close to diet 1.

    ## Comparing the structures

    The four models have the same fixed and random parts and differ only in the residuals:
    independent with one sd, CAR(1), an sd per diet, and both. `hm.compare_structures` puts
    the REML fits (likelihood-ratio tests between nested structures, AIC and BIC, as
    `nlme::anova`) and the Bayesian fits (PSIS-LOO) in one table. Because the fixed part is
    the same, REML likelihoods can be compared. The LOO column uses the leave-one-out
    predictive density with the rat effects integrated out, the same quantity for every
    structure.
    """),
    code("""
        structures = {"independent": (None, None), "car1": ("car1(Time | Rat)", None),
                      "sd by diet": (None, "~ Diet"), "car1 + sd by diet": ("car1(Time | Rat)", "~ Diet")}
        reml = {name: hm.reml(formula, bw, correlation=c, sigma=s) for name, (c, s) in structures.items()}
        bayes = {"independent": independent, "car1": car1, "sd by diet": sd_diet, "car1 + sd by diet": full}
        table = hm.compare_structures({name: (reml[name], bayes[name]) for name in structures})
        table.drop(columns=["structure", "n_obs", "method"])
    """),
    md("""
    Each row's likelihood-ratio test (`LR`, `LR_df`, `p`) is against the largest structure
    it contains (`versus`). Both additions are clearly supported: CAR(1) against independent
    residuals, the sd per diet on top of it; AIC and BIC agree, and so does LOO, which ranks
    the full structure first, about two standard errors of the difference ahead of CAR(1)
    alone and three ahead of independent residuals (`elpd_diff`, `se_diff`). These REML numbers equal nlme's `lme(..., correlation = corCAR1(form = ~ Time
    | Rat), weights = varIdent(form = ~ 1 | Diet))` to all printed digits (hiermod's tests
    hold them to 1e-4 against nlme 3.1-162).

    The posterior and REML side by side (notebook 04's comparison table, now with φ and the
    residual sds):
    """),
    code("""
        hm.compare(full, reml["car1 + sd by diet"])[["post_mean", "post_sd", "reml", "diff_z", "flags"]]
    """),
    md("""
    They agree closely except for the between-rat sds, which 16 rats estimate poorly: REML
    puts them lower than the posterior mean, the usual pattern with few groups (notebook 04).

    ## Is the serial correlation gone?

    The normalised residuals of the full model, next to those of the independent model:
    """),
    code("""
        plots.plot_residual_acf({"independent residuals": acf_before,
                                 "car1 + sd by diet": full.residual_acf()})
    """),
    md("""
    After modelling it, the lag-1 autocorrelation sits inside the band. The longer lags are
    based on few pairs (at lag 10 only the first and last weighing of each rat), so their
    wiggles are noise.

    ## Predicting trajectories

    For a rat in the study, the prediction for a future weighing is its own growth line plus
    what its last residual says about the next one: under CAR(1) the expected residual
    decays from the last one as φ^Δt. `fit.forecast` (which `fit.predict` calls for models
    with a residual structure) does this draw by draw; a new rat gets its group effects from
    the population and an unconditional residual. Weighings one and two weeks after the end
    of the study, for three rats and a new rat on diet 2:
    """),
    code("""
        future = pd.DataFrame({"Rat": ["1", "1", "9", "9", "13", "13", "new rat", "new rat"],
                               "Diet": ["1", "1", "2", "2", "3", "3", "2", "2"],
                               "Time": [71, 78] * 4})
        forecast = full.forecast(future, random_seed=705)
        forecast.table[["Rat", "Diet", "Time", "residual_conditioned", "mean", "y_lower", "y_upper"]]
    """),
    md("""
    The new rat's interval is about ten times wider than those of the rats in the study: it
    carries the between-rat variation of intercepts and slopes. For the rats in the study the
    intervals widen from day 71 to day 78, as what the last residual says fades (φ^Δt) and the
    uncertainty of each rat's slope adds up.

    The fitted trajectories with their 95% bands for a few rats, continued two weeks past the
    last weighing (dashed), with the observations:
    """),
    code("""
        grid = hm.report.unit_grid(bw, "Rat", "Time", np.arange(1, 79, 3), units=["1", "4", "9", "10", "13", "16"])
        trajectories = full.forecast(grid, random_seed=706).table
        plots.plot_unit_fits(trajectories, bw, x="Time", y="weight", unit="Rat")
    """),
    md("""
    And the population: the expected growth curve of a typical rat on each diet (group
    effects zero), with its 95% band, over the observed trajectories:
    """),
    code("""
        days = np.arange(1, 65, 3)
        typical = pd.DataFrame({"Time": np.tile(days, 3), "Diet": np.repeat(["1", "2", "3"], len(days)),
                                "Rat": "typical rat"})
        mean = full.predict(typical, new_groups="zero", random_seed=707).table
        plots.plot_growth(bw, x="Time", y="weight", unit="Rat", by="Diet", mean=mean)
    """),
    md("""
    ## Summary

    * `correlation="car1(time | unit)"` (continuous time), `"ar1(occasion | unit)"` (integer
      occasions, gaps allowed) and `"cs(unit)"` model correlated residuals within a unit;
      `sigma="~ v"` gives each level of `v` its own residual sd. The same strings work in
      `hm.reml`, model files (`[model] correlation = ...`) and on the command line
      (`--correlation`, `--sigma`).
    * With one grouping factor the group effects are integrated out exactly, at a cost linear
      in the number of rows, and drawn afterwards; REML/ML reproduce nlme's `lme`.
    * The residual autocorrelation of normalised residuals shows whether a correlation is
      needed; `hm.compare_structures` compares structures by REML LRT, AIC/BIC and LOO.
    * Forecasts of units in the study continue from their last residuals; a new unit's
      forecast carries the between-unit variation.

    Back to the [list of notebooks](README.md).
    """),
]


NOTEBOOK_CELLS = {
    "01_pooling_and_icc": NB01,
    "02_predictors_at_two_levels": NB02,
    "03_longitudinal_growth": NB03,
    "04_bayes_and_reml": NB04,
    "05_checking_and_predicting": NB05,
    "06_binary_and_counts": NB06,
    "07_few_clusters": NB07,
    "08_marginal_effects_and_checks": NB08,
    "09_longitudinal_residuals": NB09,
}


def build(name: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = NOTEBOOK_CELLS[name]
    for i, cell in enumerate(nb.cells):  # stable ids: rebuilding gives the same file
        cell.id = f"c{i:02d}"
    nb.metadata["kernelspec"] = dict(KERNEL)
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    return nb


def keep_outputs(nb: nbformat.NotebookNode, old: nbformat.NotebookNode) -> int:
    """Copy the outputs of ``old``'s code cells into the code cells of ``nb`` with the same
    source (in order); returns the number of code cells left without outputs."""
    pool: dict[str, list] = {}
    for cell in old.cells:
        if cell.cell_type == "code":
            pool.setdefault(cell.source, []).append(cell)
    missing = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if pool.get(cell.source):
            src = pool[cell.source].pop(0)
            cell.outputs, cell.execution_count = src.outputs, src.execution_count
        else:
            missing += 1
    for key in ("language_info", "kernelspec"):
        if key in old.metadata:
            nb.metadata[key] = old.metadata[key]
    return missing


def main(argv: list[str]) -> None:
    keep = "--keep-outputs" in argv
    argv = [a for a in argv if a != "--keep-outputs"]
    NOTEBOOKS.mkdir(exist_ok=True)
    for name in NOTEBOOK_CELLS:
        if argv and not any(name.startswith(a) for a in argv):
            continue
        path = NOTEBOOKS / f"{name}.ipynb"
        nb = build(name)
        note = ""
        if keep and path.exists():
            missing = keep_outputs(nb, nbformat.read(path, as_version=4))
            note = f" (outputs kept; {missing} code cell(s) without outputs: re-execute)" \
                if missing else " (outputs kept)"
        nbformat.write(nb, path)
        print(f"wrote {path.relative_to(ROOT)}{note}")


if __name__ == "__main__":
    main(sys.argv[1:])
