"""The meta-analysis engine: fixed/random effects, tau^2 estimators, MH/Peto, meta-regression."""

from metareview.models.mh import mantel_haenszel, peto
from metareview.models.rma import (
    TESTS,
    MetaAnalysis,
    design_matrix,
    fit_design,
    meta_analysis,
    refit,
)
from metareview.models.subgroup import SubgroupAnalysis, subgroup_analysis
from metareview.models.tau2 import METHODS, RANDOM, Tau2Estimate, estimate_tau2

__all__ = [
    "METHODS",
    "RANDOM",
    "TESTS",
    "MetaAnalysis",
    "SubgroupAnalysis",
    "Tau2Estimate",
    "design_matrix",
    "estimate_tau2",
    "fit_design",
    "mantel_haenszel",
    "meta_analysis",
    "peto",
    "refit",
    "subgroup_analysis",
]
