"""Effect sizes and conversions (metafor's ``escalc`` and ``conv.*``)."""

from typing import TYPE_CHECKING

from metareview._util.lazy import lazy_exports

if TYPE_CHECKING:
    from metareview.effects.conversions import (
        CONVERSIONS,
        ci_to_sd,
        ci_to_se,
        ci_to_yi_vi,
        combine_groups,
        convert,
        mean_from_median,
        median_to_mean_sd,
        p_to_se,
        sd_from_median,
        se_to_sd,
        t_to_se,
    )
    from metareview.effects.covariance import vcalc
    from metareview.effects.escalc import (
        DoubleZeroWarning,
        EffectSizes,
        effect_sizes,
        from_arrays,
        hedges_correction,
    )
    from metareview.effects.measures import (
        MEASURE_TABLE,
        MEASURES,
        Measure,
        back_transform,
        is_comparative,
        is_ratio,
        is_reported_only,
        measure_info,
        measure_inputs,
        measure_label,
    )

# Imported on first use (metareview._util.lazy): the CLI starts without numpy's stack.
__getattr__, __dir__ = lazy_exports(__name__, {
    "metareview.effects.conversions": (
        "CONVERSIONS", "ci_to_sd", "ci_to_se", "ci_to_yi_vi", "combine_groups", "convert",
        "mean_from_median", "median_to_mean_sd", "p_to_se", "sd_from_median", "se_to_sd",
        "t_to_se",
    ),
    "metareview.effects.covariance": ("vcalc",),
    "metareview.effects.escalc": (
        "DoubleZeroWarning", "EffectSizes", "effect_sizes", "from_arrays", "hedges_correction",
    ),
    "metareview.effects.measures": (
        "MEASURE_TABLE", "MEASURES", "Measure", "back_transform", "is_comparative", "is_ratio",
        "is_reported_only", "measure_info", "measure_inputs", "measure_label",
    ),
})

__all__ = [
    "CONVERSIONS",
    "MEASURES",
    "MEASURE_TABLE",
    "DoubleZeroWarning",
    "EffectSizes",
    "Measure",
    "back_transform",
    "ci_to_sd",
    "ci_to_se",
    "ci_to_yi_vi",
    "combine_groups",
    "convert",
    "effect_sizes",
    "from_arrays",
    "hedges_correction",
    "is_comparative",
    "is_ratio",
    "is_reported_only",
    "mean_from_median",
    "measure_info",
    "measure_inputs",
    "measure_label",
    "median_to_mean_sd",
    "p_to_se",
    "sd_from_median",
    "se_to_sd",
    "t_to_se",
    "vcalc",
]
