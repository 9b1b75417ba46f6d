"""REML and ML fits of the multilevel models hiermod builds, on the same Design (lme4's method).

* :func:`reml` — formula or Spec + data -> :class:`RemlFit` (REML / ML for gaussian models,
  Laplace ML for binomial, bernoulli and poisson models).
* :func:`fit_lmm`, :func:`fit_glmm` — the same from a :class:`~hiermod.design.Design`.
* :func:`reml_vs_ml` — variance components under both criteria.

Modules: ``layout`` (θ, Λ_θ, Z in blocks), ``partition`` and ``schur`` (several grouping
factors: a block-diagonal part and its Schur complement), ``pls`` / ``pls_state`` (penalized
least squares and the profiled deviance), ``optimize`` (bounded Newton), ``satterthwaite``,
``kenward_roger`` and ``ddf`` (denominator df), ``contrasts`` (t / F tests), ``lrt``
(likelihood-ratio tests), ``profile``, ``bootstrap`` and ``confint`` (intervals), ``glmm``,
``glmm_schur`` and ``pirls`` (PIRLS and the Laplace deviance), ``lme4_laplace`` (glmer's own
evaluation of it), ``lmm`` and ``glmm_fit`` (the fits), ``result``, ``api``.
"""

from .api import reml, reml_vs_ml
from .glmm import GlmmProblem
from .glmm_fit import fit_glmm
from .lmm import fit_lmm
from .lrt import anova
from .pls import LmmProblem
from .result import GroupEffects, RemlFit, VarComp
from .satterthwaite import satterthwaite_df

__all__ = [
    "GlmmProblem", "GroupEffects", "LmmProblem", "RemlFit", "VarComp", "anova", "fit_glmm",
    "fit_lmm",
    "reml", "reml_vs_ml", "satterthwaite_df",
]
