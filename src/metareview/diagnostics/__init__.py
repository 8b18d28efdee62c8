"""Diagnostics for fitted meta-analyses, after metafor 3.8.

* :mod:`~metareview.diagnostics.influence`: :func:`leave_one_out` (``leave1out``),
  :func:`influence` (``influence.rma.uni``), :func:`cumulative` (``cumul``) and
  :func:`baujat` (``baujat``).
* :mod:`~metareview.diagnostics.bias`: :func:`regtest` (Egger-type regression test),
  :func:`ranktest` (Begg and Mazumdar), :func:`trimfill` (Duval and Tweedie) and
  :func:`fail_safe_n` (``fsn``).
* :mod:`~metareview.diagnostics.heterogeneity`: :func:`tau2_confint` (Q-profile confidence
  intervals for tau^2, I^2 and H^2; ``confint.rma.uni``).

Every function takes a fitted :class:`~metareview.MetaAnalysis` and returns a frozen dataclass
with ``summary()`` and ``to_dict()``.
"""

from metareview.diagnostics.bias import (
    PREDICTORS,
    FailSafeN,
    RankTest,
    RegTest,
    TrimFill,
    fail_safe_n,
    kendall_cdf,
    ranktest,
    regtest,
    trimfill,
)
from metareview.diagnostics.heterogeneity import Tau2CI, tau2_confint
from metareview.diagnostics.influence import (
    Baujat,
    Cumulative,
    Influence,
    LeaveOneOut,
    baujat,
    cumulative,
    influence,
    leave_one_out,
)

__all__ = [
    "PREDICTORS",
    "Baujat",
    "Cumulative",
    "FailSafeN",
    "Influence",
    "LeaveOneOut",
    "RankTest",
    "RegTest",
    "Tau2CI",
    "TrimFill",
    "baujat",
    "cumulative",
    "fail_safe_n",
    "influence",
    "kendall_cdf",
    "leave_one_out",
    "ranktest",
    "regtest",
    "tau2_confint",
    "trimfill",
]
