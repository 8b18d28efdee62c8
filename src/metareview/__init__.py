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
    from metareview.effects import EffectSizes, effect_sizes, from_arrays, vcalc
    from metareview.models import (
        MetaAnalysis,
        MultilevelMetaAnalysis,
        anova,
        fitstats,
        meta_analysis,
        meta_analysis_mv,
        predict,
        robust,
        rstandard,
    )

# Imported on first use (metareview._util.lazy): the CLI starts without numpy's stack.
__getattr__, __dir__ = lazy_exports(__name__, {
    "metareview.effects": ("EffectSizes", "effect_sizes", "from_arrays", "vcalc"),
    "metareview.models": ("MetaAnalysis", "MultilevelMetaAnalysis", "anova", "fitstats",
                          "meta_analysis", "meta_analysis_mv", "predict", "robust", "rstandard"),
})

__all__ = [
    "EffectSizes",
    "InputError",
    "MetaAnalysis",
    "MultilevelMetaAnalysis",
    "__version__",
    "anova",
    "effect_sizes",
    "fitstats",
    "from_arrays",
    "meta_analysis",
    "meta_analysis_mv",
    "predict",
    "robust",
    "rstandard",
    "vcalc",
]
