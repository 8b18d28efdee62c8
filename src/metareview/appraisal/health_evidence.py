"""Health Evidence Quality Assessment Tool for review articles.

Health Evidence (McMaster University). Quality Assessment Tool - Review Articles.
https://www.healthevidence.org/our-appraisal-tools.aspx; Dobbins M, DeCorby K, Robeson P,
Husson H, Tirilis D, Greco L. A knowledge management tool for public health:
health-evidence.ca. BMC Public Health 2010;10:496.

Ten questions, each answered yes (1) or no (0). The total score gives the review's quality
rating: STRONG 8-10, MODERATE 5-7, WEAK 0-4. The rating refers to the methods used to conduct
the review, not to its findings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from metareview._util.jsonable import jsonable
from metareview.appraisal.common import RobCategory, is_int, keyed, norm, risk_of_bias_category
from metareview.errors import InputError

HealthEvidenceRating = Literal["strong", "moderate", "weak"]
Version = Literal["current", "2016"]

#: The ten questions, (key, question as worded on the tool), per version of the tool.
#: "current" is the wording on healthevidence.org; "2016" the earlier form (dictionary of
#: 10 November 2016), still cited by many published evidence reviews. Both score 0-10 and use
#: the same cut-offs.
ITEMS: dict[str, tuple[tuple[str, str], ...]] = {
    "current": (
        ("focused_question", "Is the research question clearly focused, describing the "
         "population, intervention, comparison and outcome(s) of interest?"),
        ("inclusion_criteria", "Are appropriate criteria used to select studies to include in "
         "the review?"),
        ("search_strategy", "Is the search strategy comprehensive and reproducible?"),
        ("search_years", "Does the search strategy cover an adequate number of years?"),
        ("level_of_evidence", "Is the level of evidence of studies included in the review "
         "described?"),
        ("quality_assessment", "Are included studies rigorously assessed for risk of "
         "bias/methodological quality and reported on?"),
        ("duplicate_assessment", "Are the quality assessments completed in duplicate with a "
         "method for conflict resolution described?"),
        ("synthesis_methods", "Are the methods used to compare and/or combine results across "
         "studies appropriate?"),
        ("quality_in_interpretation", "Are study quality and level of evidence taken into "
         "consideration when interpreting the results?"),
        ("conclusions_supported", "Is the certainty of the review's conclusions supported by "
         "the methodological approach and review findings?"),
    ),
    "2016": (
        ("focused_question", "Did the authors have a clearly focused question [population, "
         "intervention (strategy), and outcome(s)]?"),
        ("inclusion_criteria", "Were appropriate inclusion criteria used to select primary "
         "studies?"),
        ("search_strategy", "Did the authors describe a search strategy that was "
         "comprehensive?"),
        ("search_years", "Did search strategy cover an adequate number of years?"),
        ("level_of_evidence", "Did the authors describe the level of evidence in the primary "
         "studies included in the review?"),
        ("quality_assessment", "Did the review assess the methodological quality of the "
         "primary studies?"),
        ("results_transparent", "Are the results of the review transparent?"),
        ("appropriate_to_combine", "Was it appropriate to combine the findings of results "
         "across studies?"),
        ("combining_methods", "Were appropriate methods used for combining or comparing "
         "results across studies?"),
        ("data_support_interpretation", "Do the data support the author's interpretation?"),
    ),
}

_YES = {"yes", "y", "1", "true"}
_NO = {"no", "n", "0", "false"}


def rating_from_score(score: int) -> HealthEvidenceRating:
    """Quality rating from a total score: STRONG 8-10, MODERATE 5-7, WEAK 0-4 (the tool's bands).

    Raises
    ------
    InputError
        ``score`` is not a whole number from 0 to 10.
    """
    if not is_int(score) or not 0 <= int(score) <= 10:
        raise InputError(
            f"Health Evidence score {score!r}: must be a whole number from 0 to 10 "
            "(ten yes/no items)"
        )
    s = int(score)
    return "strong" if s >= 8 else "moderate" if s >= 5 else "weak"


def _answer(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if is_int(value) and int(value) in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = norm(value)
        if text in _YES:
            return True
        if text in _NO:
            return False
    raise InputError(f"{what}: answer {value!r} is not yes/no (True/False or 1/0)")


def _aliases(version: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, (key, _) in enumerate(ITEMS[version], start=1):
        for alias in (str(i), f"q{i}", f"q {i}", f"item {i}", f"item{i}"):
            out[alias] = key
    return out


@dataclass(frozen=True)
class HealthEvidenceAssessment:
    """A Health Evidence quality rating of a review.

    Attributes
    ----------
    score : int
        Total score, 0-10 (number of items answered yes).
    rating : {"strong", "moderate", "weak"}
        STRONG 8-10, MODERATE 5-7, WEAK 0-4.
    items : dict or None
        Item key -> answer (True = yes), in the tool's order; ``None`` when only the total score
        is known (as in published evidence reviews that report the score alone).
    version : {"current", "2016"}
        The version of the tool whose item wording ``items`` follows.
    """

    score: int
    rating: HealthEvidenceRating
    items: dict[str, bool] | None = None
    version: Version = "current"

    instrument: ClassVar[str] = "Health Evidence"

    @property
    def risk_of_bias(self) -> RobCategory:
        """Risk-of-bias category by the project's convention (strong -> low, ...)."""
        return risk_of_bias_category(self)

    def summary(self) -> str:
        """Readable item list, score and rating."""
        lines = ["Health Evidence Quality Assessment Tool (review articles)"]
        if self.items is not None:
            for i, (key, question) in enumerate(ITEMS[self.version], start=1):
                lines.append(f"  {i:>2}. {'yes' if self.items[key] else 'no ':<4}{question}")
        else:
            lines.append("  (item answers not available; total score only)")
        lines.append(f"Total score: {self.score}/10; quality rating: {self.rating.upper()}")
        lines.append(f"Risk-of-bias category (project convention): {self.risk_of_bias}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable({
            "instrument": self.instrument,
            "version": self.version,
            "score": self.score,
            "rating": self.rating,
            "items": None if self.items is None else dict(self.items),
            "risk_of_bias": self.risk_of_bias,
        })


def health_evidence_rating(
    items: Sequence[Any] | Mapping[Any, Any] | int | None = None,
    *,
    score: int | None = None,
    version: Version = "current",
) -> HealthEvidenceAssessment:
    """Health Evidence quality rating from the ten item answers or from the total score.

    Parameters
    ----------
    items : sequence, mapping or int
        The ten answers in the tool's order (``[True, False, ...]``; yes/no may also be given
        as 1/0 or ``"yes"``/``"no"``), or a mapping keyed by item number (1-10, ``"Q1"``,
        ``"item 1"``) or item key (see :data:`ITEMS`), or just the total score as an int.
    score : int, optional
        The total score (0-10) when only the score is known; an alternative to ``items``.
    version : {"current", "2016"}
        Which wording of the items to use for keys and the summary (the score is the same).

    Returns
    -------
    HealthEvidenceAssessment

    Raises
    ------
    InputError
        Neither or both of items and score; not ten answers; an answer that is not yes/no; an
        unknown item key; a score outside 0-10.

    Notes
    -----
    Rule (healthevidence.org): each item scores 1 for yes and 0 for no; total 8-10 = STRONG,
    5-7 = MODERATE, 0-4 = WEAK.

    Examples
    --------
    >>> health_evidence_rating(score=7).rating
    'moderate'
    """
    if version not in ITEMS:
        raise InputError(f"Health Evidence version {version!r}: expected 'current' or '2016'")
    if is_int(items):
        if score is not None:
            raise InputError("Health Evidence: give the item answers or the score, not both")
        items, score = None, items  # type: ignore[assignment]
    if (items is None) == (score is None):
        raise InputError("Health Evidence: give either the ten item answers or the total score")
    if score is not None:
        return HealthEvidenceAssessment(
            score=int(score), rating=rating_from_score(score), items=None, version=version
        )
    keys = tuple(k for k, _ in ITEMS[version])
    raw = keyed(items, keys, _aliases(version), "Health Evidence item")  # type: ignore[arg-type]
    answers = {k: _answer(v, f"Health Evidence item {k!r}") for k, v in raw.items()}
    total = sum(answers.values())
    return HealthEvidenceAssessment(
        score=total, rating=rating_from_score(total), items=answers, version=version
    )
