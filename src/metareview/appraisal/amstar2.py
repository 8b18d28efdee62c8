"""AMSTAR 2: critical appraisal of systematic reviews of healthcare interventions.

Shea BJ, Reeves BC, Wells G, et al. AMSTAR 2: a critical appraisal tool for systematic reviews
that include randomised or non-randomised studies of healthcare interventions, or both. BMJ
2017;358:j4008.

Sixteen items are answered yes, partial yes (items 2, 4, 7, 8, 9 only) or no; items 11, 12 and
15 concern meta-analysis and are answered "no meta-analysis conducted" when there was none. A
"no" is a weakness; on one of the seven critical domains (items 2, 4, 7, 9, 11, 13, 15) it is a
critical flaw. The overall rating of confidence in the results of the review follows from the
numbers of critical flaws and non-critical weaknesses.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from metareview._util.jsonable import jsonable
from metareview.appraisal.common import (
    RobCategory,
    choice,
    is_int,
    keyed,
    norm,
    risk_of_bias_category,
)
from metareview.errors import InputError

Amstar2Answer = Literal["yes", "partial yes", "no", "no meta-analysis"]
Amstar2Confidence = Literal["high", "moderate", "low", "critically low"]

#: Overall confidence ratings, best first.
CONFIDENCE: tuple[Amstar2Confidence, ...] = ("high", "moderate", "low", "critically low")

#: The sixteen items, numbered as in the checklist (Shea et al. 2017, Box 1, abridged wording).
ITEMS: dict[int, str] = {
    1: "Did the research questions and inclusion criteria for the review include the "
       "components of PICO?",
    2: "Did the report of the review contain an explicit statement that the review methods were "
       "established prior to the conduct of the review and did the report justify any "
       "significant deviations from the protocol?",
    3: "Did the review authors explain their selection of the study designs for inclusion in "
       "the review?",
    4: "Did the review authors use a comprehensive literature search strategy?",
    5: "Did the review authors perform study selection in duplicate?",
    6: "Did the review authors perform data extraction in duplicate?",
    7: "Did the review authors provide a list of excluded studies and justify the exclusions?",
    8: "Did the review authors describe the included studies in adequate detail?",
    9: "Did the review authors use a satisfactory technique for assessing the risk of bias "
       "(RoB) in individual studies that were included in the review?",
    10: "Did the review authors report on the sources of funding for the studies included in "
        "the review?",
    11: "If meta-analysis was performed did the review authors use appropriate methods for "
        "statistical combination of results?",
    12: "If meta-analysis was performed, did the review authors assess the potential impact of "
        "RoB in individual studies on the results of the meta-analysis or other evidence "
        "synthesis?",
    13: "Did the review authors account for RoB in individual studies when "
        "interpreting/discussing the results of the review?",
    14: "Did the review authors provide a satisfactory explanation for, and discussion of, any "
        "heterogeneity observed in the results of the review?",
    15: "If they performed quantitative synthesis did the review authors carry out an adequate "
        "investigation of publication bias (small study bias) and discuss its likely impact on "
        "the results of the review?",
    16: "Did the review authors report any potential sources of conflict of interest, including "
        "any funding they received for conducting the review?",
}
#: The critical domains proposed by Shea et al. (2017, Box 2).
CRITICAL_ITEMS: tuple[int, ...] = (2, 4, 7, 9, 11, 13, 15)
#: Items whose response options include "partial yes".
PARTIAL_YES_ITEMS: tuple[int, ...] = (2, 4, 7, 8, 9)
#: Items whose response options include "no meta-analysis conducted".
META_ANALYSIS_ITEMS: tuple[int, ...] = (11, 12, 15)

_KEYS = tuple(str(i) for i in ITEMS)
_ALIASES = {alias: str(i) for i in ITEMS
            for alias in (f"q{i}", f"q {i}", f"item {i}", f"item{i}")}
_OPTIONS = {
    "yes": "yes", "y": "yes",
    "partial yes": "partial yes", "partial": "partial yes", "py": "partial yes",
    "no": "no", "n": "no",
    "no meta analysis": "no meta-analysis", "no meta analysis conducted": "no meta-analysis",
    "no ma": "no meta-analysis", "not applicable": "no meta-analysis",
    "na": "no meta-analysis", "n/a": "no meta-analysis",
}
_WORDS = {
    "high": "no or one non-critical weakness",
    "moderate": "more than one non-critical weakness, no critical flaw",
    "low": "one critical flaw with or without non-critical weaknesses",
    "critically low": "more than one critical flaw with or without non-critical weaknesses",
}


@dataclass(frozen=True)
class Amstar2Assessment:
    """AMSTAR 2 item answers and the overall confidence in the results of the review.

    Attributes
    ----------
    items : dict
        Item number (1-16) -> ``"yes"``, ``"partial yes"``, ``"no"`` or ``"no meta-analysis"``.
    confidence : {"high", "moderate", "low", "critically low"}
        Overall rating of confidence in the results of the review.
    critical_flaws : tuple of int
        Critical items answered no.
    noncritical_weaknesses : tuple of int
        Non-critical items answered no.
    critical_items : tuple of int
        The items treated as critical domains (default Shea et al.'s seven).
    """

    items: dict[int, Amstar2Answer]
    confidence: Amstar2Confidence
    critical_flaws: tuple[int, ...]
    noncritical_weaknesses: tuple[int, ...]
    critical_items: tuple[int, ...] = CRITICAL_ITEMS

    instrument: ClassVar[str] = "AMSTAR 2"

    @property
    def rating(self) -> Amstar2Confidence:
        """The overall confidence rating (the name every appraisal result shares)."""
        return self.confidence

    @property
    def risk_of_bias(self) -> RobCategory:
        """Risk-of-bias category by the project's convention (high confidence -> low, ...)."""
        return risk_of_bias_category(self)

    def summary(self) -> str:
        """Readable item answers and overall confidence."""
        lines = ["AMSTAR 2 (critical appraisal of systematic reviews)"]
        for i, answer in self.items.items():
            mark = "*" if i in self.critical_items else " "
            lines.append(f"  {i:>2}{mark} {answer}")
        lines.append("  (* critical domain)")
        flaws = ", ".join(map(str, self.critical_flaws)) or "none"
        weak = ", ".join(map(str, self.noncritical_weaknesses)) or "none"
        lines.append(f"Critical flaws: {flaws}; non-critical weaknesses: {weak}")
        lines.append(f"Overall confidence: {self.confidence.upper()} ({_WORDS[self.confidence]})")
        lines.append(f"Risk-of-bias category (project convention): {self.risk_of_bias}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (item numbers become string keys)."""
        return jsonable({
            "instrument": self.instrument,
            "items": {str(i): a for i, a in self.items.items()},
            "confidence": self.confidence,
            "critical_flaws": list(self.critical_flaws),
            "noncritical_weaknesses": list(self.noncritical_weaknesses),
            "critical_items": list(self.critical_items),
            "risk_of_bias": self.risk_of_bias,
        })


def _critical(items: Collection[int]) -> tuple[int, ...]:
    if isinstance(items, (str, bytes)) or not isinstance(items, Collection):
        raise InputError("AMSTAR 2 critical_items: expected a collection of item numbers 1-16")
    out = set()
    for i in items:
        if not is_int(i) or not 1 <= int(i) <= 16:
            raise InputError(f"AMSTAR 2 critical_items: {i!r} is not an item number 1-16")
        out.add(int(i))
    return tuple(sorted(out))


def amstar2_rating(
    items: Mapping[Any, str] | Sequence[str],
    *,
    critical_items: Collection[int] = CRITICAL_ITEMS,
) -> Amstar2Assessment:
    """Overall AMSTAR 2 confidence in the results of a review from its sixteen item answers.

    Parameters
    ----------
    items : mapping or sequence
        Sixteen answers in item order, or a mapping keyed by item number (1-16, ``"Q1"``,
        ``"item 1"``). Answers: "yes", "partial yes" (items 2, 4, 7, 8, 9 only), "no", and
        "no meta-analysis" (items 11, 12, 15 only; "NA" and "not applicable" are read as this).
    critical_items : collection of int
        The critical domains. Shea et al. propose items 2, 4, 7, 9, 11, 13 and 15 and note that
        appraisers may substitute others for their review; the default is their list.

    Returns
    -------
    Amstar2Assessment

    Raises
    ------
    InputError
        Not sixteen items; unknown or repeated item; an answer that is not an option for that
        item (e.g. "partial yes" on item 1, "no meta-analysis" on item 4).

    Notes
    -----
    Rule (Shea et al. 2017, Box 2). A "no" is a weakness, and a critical flaw on a critical
    domain; "partial yes" and "no meta-analysis conducted" are not weaknesses. Confidence is
    HIGH with no or one non-critical weakness; MODERATE with more than one non-critical
    weakness; LOW with one critical flaw, with or without non-critical weaknesses; CRITICALLY
    LOW with more than one critical flaw. (Shea et al. add that multiple non-critical
    weaknesses may lower confidence from moderate to low; that judgement is not automated.)

    Examples
    --------
    >>> amstar2_rating(["yes"] * 6 + ["no"] + ["yes"] * 9).confidence
    'low'
    """
    critical = _critical(critical_items)
    raw = keyed(items, _KEYS, _ALIASES, "AMSTAR 2 item")
    answers: dict[int, Amstar2Answer] = {}
    for key, value in raw.items():
        i = int(key)
        text = norm(value).replace(" / ", "/") if isinstance(value, str) else value
        answer = choice(text, _OPTIONS, f"AMSTAR 2 item {i}")
        if answer == "partial yes" and i not in PARTIAL_YES_ITEMS:
            raise InputError(
                f"AMSTAR 2 item {i}: 'partial yes' is not an option (only items "
                f"{', '.join(map(str, PARTIAL_YES_ITEMS))} have it)"
            )
        if answer == "no meta-analysis" and i not in META_ANALYSIS_ITEMS:
            raise InputError(
                f"AMSTAR 2 item {i}: 'no meta-analysis' is not an option (only items "
                f"{', '.join(map(str, META_ANALYSIS_ITEMS))} concern meta-analysis)"
            )
        answers[i] = answer  # type: ignore[assignment]
    flaws = tuple(i for i, a in answers.items() if a == "no" and i in critical)
    weak = tuple(i for i, a in answers.items() if a == "no" and i not in critical)
    if len(flaws) > 1:
        confidence: Amstar2Confidence = "critically low"
    elif len(flaws) == 1:
        confidence = "low"
    elif len(weak) > 1:
        confidence = "moderate"
    else:
        confidence = "high"
    return Amstar2Assessment(
        items=answers, confidence=confidence, critical_flaws=flaws,
        noncritical_weaknesses=weak, critical_items=critical,
    )
