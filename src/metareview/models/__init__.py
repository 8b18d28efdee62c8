"""The meta-analysis engine: fixed/random effects, tau^2 estimators, MH/Peto, meta-regression."""

from typing import TYPE_CHECKING

from metareview._util.lazy import lazy_exports

if TYPE_CHECKING:
    from metareview.models.core import TESTS
    from metareview.models.mh import mantel_haenszel, peto
    from metareview.models.result import MetaAnalysis
    from metareview.models.rma import design_matrix, fit_design, meta_analysis, refit
    from metareview.models.robust import HTZTest, RobustResult, robust
    from metareview.models.subgroup import SubgroupAnalysis, subgroup_analysis
    from metareview.models.tau2 import (
        ESTIMATORS,
        Estimator,
        Tau2Estimate,
        UnknownMethodError,
        check_method,
        codes,
        estimate_tau2,
    )

# Imported on first use (metareview._util.lazy): the CLI starts without numpy's stack.
__getattr__, __dir__ = lazy_exports(__name__, {
    "metareview.models.core": ("TESTS",),
    "metareview.models.mh": ("mantel_haenszel", "peto"),
    "metareview.models.result": ("MetaAnalysis",),
    "metareview.models.rma": ("design_matrix", "fit_design", "meta_analysis", "refit"),
    "metareview.models.robust": ("HTZTest", "RobustResult", "robust"),
    "metareview.models.subgroup": ("SubgroupAnalysis", "subgroup_analysis"),
    "metareview.models.tau2": (
        "ESTIMATORS", "Estimator", "Tau2Estimate", "UnknownMethodError", "check_method", "codes",
        "estimate_tau2",
    ),
})

__all__ = [
    "ESTIMATORS",
    "TESTS",
    "Estimator",
    "HTZTest",
    "MetaAnalysis",
    "RobustResult",
    "SubgroupAnalysis",
    "Tau2Estimate",
    "UnknownMethodError",
    "check_method",
    "codes",
    "design_matrix",
    "estimate_tau2",
    "fit_design",
    "mantel_haenszel",
    "meta_analysis",
    "peto",
    "refit",
    "robust",
    "subgroup_analysis",
]
