"""metareview: evidence synthesis from search results to a graded answer.

The public API borrows metafor's vocabulary: :func:`effect_sizes` is ``escalc``,
:func:`meta_analysis` is ``rma`` (with ``rma.mh`` and ``rma.peto`` as methods ``MH`` and
``PETO``); measures and methods are metafor's codes.
"""

from metareview._util.version import __version__
from metareview.effects import EffectSizes, effect_sizes, from_arrays
from metareview.errors import InputError
from metareview.models import MetaAnalysis, meta_analysis

__all__ = [
    "EffectSizes",
    "InputError",
    "MetaAnalysis",
    "__version__",
    "effect_sizes",
    "from_arrays",
    "meta_analysis",
]
