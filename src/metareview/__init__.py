"""metareview: evidence synthesis from search results to a graded answer.

The public API borrows metafor's vocabulary: :func:`effect_sizes` is ``escalc``,
:func:`meta_analysis` is ``rma`` (with ``rma.mh`` and ``rma.peto`` as methods ``MH`` and
``PETO``); measures and methods are metafor's codes.
"""

from typing import TYPE_CHECKING

from metareview._util.lazy import lazy_exports
from metareview._util.version import __version__
from metareview.errors import InputError

if TYPE_CHECKING:
    from metareview.effects import EffectSizes, effect_sizes, from_arrays
    from metareview.models import MetaAnalysis, anova, fitstats, meta_analysis, predict, rstandard

# Imported on first use (metareview._util.lazy): the CLI starts without numpy's stack.
__getattr__, __dir__ = lazy_exports(__name__, {
    "metareview.effects": ("EffectSizes", "effect_sizes", "from_arrays"),
    "metareview.models": ("MetaAnalysis", "anova", "fitstats", "meta_analysis", "predict",
                          "rstandard"),
})

__all__ = [
    "EffectSizes",
    "InputError",
    "MetaAnalysis",
    "__version__",
    "anova",
    "effect_sizes",
    "fitstats",
    "from_arrays",
    "meta_analysis",
    "predict",
    "rstandard",
]
