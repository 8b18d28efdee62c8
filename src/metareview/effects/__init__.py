"""Effect sizes and conversions (metafor's ``escalc`` and ``conv.*``)."""

from metareview.effects.conversions import (
    ci_to_se,
    ci_to_yi_vi,
    mean_from_median,
    median_to_mean_sd,
    p_to_se,
    sd_from_median,
    t_to_se,
)
from metareview.effects.escalc import EffectSizes, effect_sizes, from_arrays, hedges_correction
from metareview.effects.measures import MEASURES, back_transform

__all__ = [
    "MEASURES",
    "EffectSizes",
    "back_transform",
    "ci_to_se",
    "ci_to_yi_vi",
    "effect_sizes",
    "from_arrays",
    "hedges_correction",
    "mean_from_median",
    "median_to_mean_sd",
    "p_to_se",
    "sd_from_median",
    "t_to_se",
]
