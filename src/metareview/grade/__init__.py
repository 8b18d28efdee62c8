"""GRADE: certainty of the evidence per outcome and Summary of Findings tables.

* :mod:`~metareview.grade.certainty`: :func:`assess_certainty` proposes a judgement for each
  GRADE domain from the data (risk of bias, inconsistency, imprecision, publication bias, large
  effect), takes the reviewer's judgement where data cannot decide (indirectness,
  dose-response, plausible confounding) and records :class:`Override` s with their reasons;
  the result is a :class:`Certainty` (HIGH, MODERATE, LOW or VERY LOW). Also the optimal
  information size for binary and continuous outcomes.
* :mod:`~metareview.grade.sof`: :func:`sof_row` and :func:`summary_of_findings` build a
  :class:`SummaryOfFindings` table in GRADEpro's layout; :func:`absolute_effect_per_1000`
  turns a relative effect and a comparator risk into absolute effects per 1,000.
* :mod:`~metareview.grade.statements`: GRADE's informative statements (GRADE guidelines 26).

Guyatt GH, Oxman AD, et al. GRADE guidelines 1-9. J Clin Epidemiol 2011;64:383-1316.
"""

from typing import TYPE_CHECKING

from metareview._util.lazy import lazy_exports

if TYPE_CHECKING:
    from metareview.grade.certainty import (
        DOMAIN_LABELS,
        DOMAINS,
        DOWNGRADE_DOMAINS,
        LEVELS,
        ROB_CATEGORIES,
        SYMBOLS,
        UPGRADE_DOMAINS,
        Certainty,
        DomainJudgement,
        Override,
        Thresholds,
        assess_certainty,
        optimal_information_size_binary,
        optimal_information_size_continuous,
    )
    from metareview.grade.sof import (
        AbsoluteEffect,
        SoFRow,
        SummaryOfFindings,
        absolute_effect_per_1000,
        sof_row,
        summary_of_findings,
    )

# Imported on first use (metareview._util.lazy): the CLI starts without numpy's stack.
__getattr__, __dir__ = lazy_exports(__name__, {
    "metareview.grade.certainty": (
        "DOMAIN_LABELS", "DOMAINS", "DOWNGRADE_DOMAINS", "LEVELS", "ROB_CATEGORIES", "SYMBOLS",
        "UPGRADE_DOMAINS", "Certainty", "DomainJudgement", "Override", "Thresholds",
        "assess_certainty", "optimal_information_size_binary",
        "optimal_information_size_continuous",
    ),
    "metareview.grade.sof": (
        "AbsoluteEffect", "SoFRow", "SummaryOfFindings", "absolute_effect_per_1000", "sof_row",
        "summary_of_findings",
    ),
})

__all__ = [
    "DOMAINS",
    "DOMAIN_LABELS",
    "DOWNGRADE_DOMAINS",
    "LEVELS",
    "ROB_CATEGORIES",
    "SYMBOLS",
    "UPGRADE_DOMAINS",
    "AbsoluteEffect",
    "Certainty",
    "DomainJudgement",
    "Override",
    "SoFRow",
    "SummaryOfFindings",
    "Thresholds",
    "absolute_effect_per_1000",
    "assess_certainty",
    "optimal_information_size_binary",
    "optimal_information_size_continuous",
    "sof_row",
    "summary_of_findings",
]
