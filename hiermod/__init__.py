"""hiermod: Bayesian multilevel models from textbook specs or lme4 formulas, on PyMC.

The public names below are loaded on first use (SPEC 1 lazy loading), so ``import hiermod``
and the command line's ``--help`` do not import PyMC.
"""

import lazy_loader

from .version import __version__

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["datasets", "families", "mle", "plots", "report"],
    submod_attrs={
        "bambi_bridge": ["from_bambi"],
        "batch": ["run_batch"],
        "design": ["DataWarning", "Design", "FactorDesign", "SummaryDesign", "make_design"],
        "diagnostics": ["Diagnostics"],
        "errors": ["DataError", "FileError", "HiermodError", "InputError", "RowsNotHeldError",
                   "SamplingError", "SpecError"],
        "estimators": ["compare_estimators"],
        "fitting": ["fit", "load_fit", "null_model"],
        "kfold_cv": ["kfold", "fit_fold"],
        "formula": ["GroupSpec", "Response", "Spec", "check_levels", "levels", "parse_formula"],
        "mle": ["RemlFit", "anova", "reml", "reml_vs_ml"],
        "model": ["build_model"],
        "marginal": ["build_marginal_model"],
        "modelfile": ["ModelFile", "load_model"],
        "output.equations": ["Equations", "equations"],
        "partitioned": ["partitioned_design"],
        "power_analysis": ["power"],
        "priors": ["Prior", "default_priors"],
        "prior_predictive": ["sample_prior_predictive"],
        "resampling": ["leave_one_group_out", "parametric_bootstrap"],
        "calibration": ["sbc"],
        "report": ["compare", "compare_fits", "compare_structures"],
        "result": ["Fit"],
        "sample": ["SamplerSettings"],
    },
)
__all__ = [*__all__, "__version__"]
