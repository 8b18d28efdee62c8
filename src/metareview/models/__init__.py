"""The meta-analysis engine: fixed/random effects, tau^2 estimators, MH/Peto, meta-regression."""

from typing import TYPE_CHECKING

from metareview._util.lazy import lazy_exports

if TYPE_CHECKING:
    from metareview.models.core import TESTS
    from metareview.models.inference import (
        FitStatistics,
        LikelihoodRatioTest,
        Predictions,
        StandardizedResiduals,
        StudyPredictions,
        WaldTest,
        anova,
        blup,
        fitstats,
        predict,
        pseudo_r2,
        ranef,
        residuals,
        rstandard,
        weights,
    )
    from metareview.models.mh import mantel_haenszel, peto
    from metareview.models.multilevel import (
        Component,
        MultilevelMetaAnalysis,
        meta_analysis_mv,
    )
    from metareview.models.result import MetaAnalysis
    from metareview.models.rma import design_matrix, fit_design, meta_analysis, refit
    from metareview.models.sandwich import HTZTest, RobustResult, robust
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
    "metareview.models.inference": (
        "FitStatistics", "LikelihoodRatioTest", "Predictions", "StandardizedResiduals",
        "StudyPredictions", "WaldTest", "anova", "blup", "fitstats", "predict", "pseudo_r2",
        "ranef", "residuals", "rstandard", "weights",
    ),
    "metareview.models.mh": ("mantel_haenszel", "peto"),
    "metareview.models.multilevel": ("Component", "MultilevelMetaAnalysis", "meta_analysis_mv"),
    "metareview.models.result": ("MetaAnalysis",),
    "metareview.models.rma": ("design_matrix", "fit_design", "meta_analysis", "refit"),
    "metareview.models.sandwich": ("HTZTest", "RobustResult", "robust"),
    "metareview.models.subgroup": ("SubgroupAnalysis", "subgroup_analysis"),
    "metareview.models.tau2": (
        "ESTIMATORS", "Estimator", "Tau2Estimate", "UnknownMethodError", "check_method", "codes",
        "estimate_tau2",
    ),
})

__all__ = [
    "ESTIMATORS",
    "TESTS",
    "Component",
    "Estimator",
    "FitStatistics",
    "HTZTest",
    "LikelihoodRatioTest",
    "MetaAnalysis",
    "MultilevelMetaAnalysis",
    "Predictions",
    "RobustResult",
    "StandardizedResiduals",
    "StudyPredictions",
    "SubgroupAnalysis",
    "Tau2Estimate",
    "UnknownMethodError",
    "WaldTest",
    "anova",
    "blup",
    "check_method",
    "codes",
    "design_matrix",
    "estimate_tau2",
    "fit_design",
    "fitstats",
    "mantel_haenszel",
    "meta_analysis",
    "meta_analysis_mv",
    "peto",
    "predict",
    "pseudo_r2",
    "ranef",
    "refit",
    "residuals",
    "robust",
    "rstandard",
    "subgroup_analysis",
    "weights",
]
