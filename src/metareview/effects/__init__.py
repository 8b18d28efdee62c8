"""Effect sizes and conversions (metafor's ``escalc`` and ``conv.*``)."""

from metareview.effects.escalc import EffectSizes, effect_sizes, from_arrays, hedges_correction
from metareview.effects.measures import MEASURES, back_transform

__all__ = [
    "MEASURES",
    "EffectSizes",
    "back_transform",
    "effect_sizes",
    "from_arrays",
    "hedges_correction",
]
