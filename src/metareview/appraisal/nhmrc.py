"""NHMRC levels of evidence for intervention questions.

National Health and Medical Research Council. NHMRC additional levels of evidence and grades for
recommendations for developers of guidelines. Canberra: NHMRC; 2009 (Table 3, evidence
hierarchy, "Intervention" column, and its footnotes).

Levels, best first: I, II, III-1, III-2, III-3, IV. A systematic review is level I only when
it reviews level II studies; a review of lower-level studies is "only assigned a level of
evidence as high as the studies it contains".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from metareview.appraisal.common import norm
from metareview.errors import InputError

NhmrcLevel = Literal["I", "II", "III-1", "III-2", "III-3", "IV"]

#: Levels best first, each with the NHMRC (2009) definition for intervention questions.
LEVELS: dict[NhmrcLevel, str] = {
    "I": "A systematic review of level II studies",
    "II": "A randomised controlled trial",
    "III-1": "A pseudorandomised controlled trial (i.e. alternate allocation or some other "
             "method)",
    "III-2": "A comparative study with concurrent controls: non-randomised, experimental trial; "
             "cohort study; case-control study; interrupted time series with a control group",
    "III-3": "A comparative study without concurrent controls: historical control study; two or "
             "more single arm studies; interrupted time series without a parallel control group",
    "IV": "Case series with either post-test or pre-test/post-test outcomes",
}
ORDER: tuple[NhmrcLevel, ...] = tuple(LEVELS)

_DESIGNS: dict[str, NhmrcLevel] = {}


def _add(level: NhmrcLevel, *names: str) -> None:
    for name in names:
        _DESIGNS[name] = level


_add("II", "rct", "randomised controlled trial", "randomised trial", "randomised clinical trial",
     "cluster randomised trial", "cluster randomised controlled trial", "cluster rct",
     "randomised crossover trial", "crossover rct", "randomised controlled crossover trial")
_add("III-1", "pseudo rct", "pseudo randomised controlled trial", "pseudo randomised trial",
     "quasi rct", "quasi randomised controlled trial", "quasi randomised trial",
     "alternate allocation", "alternate allocation trial")
_add("III-2", "non randomised trial", "non randomised controlled trial",
     "non randomised experimental trial", "controlled clinical trial", "cct", "cohort",
     "prospective cohort", "retrospective cohort", "controlled cohort", "case control",
     "its with control", "its with a control group", "interrupted time series with control",
     "interrupted time series with a control group", "controlled its",
     # NHMRC 2009 footnote to "non-randomised, experimental trial": also controlled
     # before-and-after (pre-test/post-test) studies and adjusted indirect comparisons.
     "controlled before after", "controlled before and after", "controlled pre post",
     "adjusted indirect comparison")
_add("III-3", "historical control", "historically controlled", "historical control trial",
     "historically controlled trial", "historical cohort control",
     # "Two or more single arm study": single-arm studies compared with each other (footnote:
     # also unadjusted indirect comparisons). One single-arm study on its own is a case series.
     "two or more single arm", "comparison of single arm", "comparison of two single arm",
     "unadjusted indirect comparison",
     # An interrupted time series with no parallel control group; a bare "ITS" is read as this.
     "its", "interrupted time series", "its without control", "its without a control group",
     "its without a parallel control group", "interrupted time series without control",
     "interrupted time series without a control group",
     "interrupted time series without a parallel control group")
_add("IV", "case series", "prospective case series", "retrospective case series",
     "single arm", "single arm trial", "open label single arm", "uncontrolled trial",
     "pre post", "pre test post test", "before after", "before and after",
     "uncontrolled before after", "uncontrolled before and after", "post test",
     "retrospective cohort without control", "retrospective cohort without a control group",
     "cohort without control", "cohort without a control group", "uncontrolled cohort",
     "uncontrolled retrospective cohort")

_REVIEWS = (
    "systematic review and meta analysis", "systematic review with meta analysis",
    "systematic review", "meta analysis", "review",
)
_PLURALS = {"trials": "trial", "studies": "study", "rcts": "rct", "cohorts": "cohort",
            "controls": "control", "comparisons": "comparison", "reviews": "review"}


def _key(design: str) -> str:
    text = norm(design).replace("+", " ").replace("/", " ").replace("&", " and ")
    text = re.sub(r"[().,']", " ", text)
    text = re.sub(r"\brandomized\b", "randomised", text)
    text = re.sub(r"\b(non|pseudo|quasi)randomi[sz]ed\b", r"\1 randomised", text)
    text = " ".join(_PLURALS.get(w, w) for w in text.split())
    return re.sub(r" (study|design)$", "", text)


def _level(value: Any, what: str) -> NhmrcLevel:
    if isinstance(value, str):
        text = re.sub(r"^level ", "", norm(value)).upper().replace(" ", "-")
        if text in LEVELS:
            return text  # type: ignore[return-value]
    raise InputError(f"{what}: {value!r} is not an NHMRC level ({', '.join(LEVELS)})")


def nhmrc_rank(level: str) -> int:
    """Position of a level in the hierarchy: 0 for I (best) to 5 for IV.

    Raises
    ------
    InputError
        ``level`` is not one of I, II, III-1, III-2, III-3, IV.
    """
    return ORDER.index(_level(level, "NHMRC level"))


def nhmrc_worst(levels: Iterable[str]) -> NhmrcLevel:
    """The lowest (worst) of several levels.

    Raises
    ------
    InputError
        No levels, or one that is not an NHMRC level.
    """
    parsed = [_level(x, "NHMRC level") for x in levels]
    if not parsed:
        raise InputError("NHMRC levels: none given")
    return max(parsed, key=ORDER.index)


def _review_of(key: str) -> tuple[bool, str | None]:
    """(is a review, what it reviews or None) for a normalised design name."""
    for prefix in _REVIEWS:
        if key == prefix:
            return True, None
        if key.startswith(prefix + " of "):
            return True, key[len(prefix) + 4:]
    return False, None


def nhmrc_level(design: str, included_levels: Iterable[str] | None = None) -> NhmrcLevel:
    """NHMRC (2009) level of evidence of a study design, for an intervention question.

    Parameters
    ----------
    design : str
        A common design name: "RCT" / "randomised controlled trial" (II); "pseudo-RCT" /
        "pseudorandomised controlled trial" / "alternate allocation" (III-1); "non-randomised
        trial", "cohort", "retrospective cohort", "case-control", "ITS with control",
        "controlled before-and-after" (III-2); "historical control", "two or more single-arm
        studies", "ITS" / "interrupted time series" without a parallel control group (III-3);
        "case series", "single-arm", "pre-post" / "before and after", "retrospective cohort
        without control" (IV). Reviews: "systematic review", "meta-analysis" or "systematic
        review and meta-analysis", optionally "of <design>" ("systematic review of RCTs").
        Case, hyphens, plurals and randomised/randomized are ignored.
    included_levels : iterable of str, optional
        For a systematic review: the levels of the studies it includes (for the outcome being
        graded). Required for a review whose name does not say what it reviews.

    Returns
    -------
    {"I", "II", "III-1", "III-2", "III-3", "IV"}

    Raises
    ------
    InputError
        Unknown design; a review without ``included_levels`` or "of <design>"; an included
        level that is not an NHMRC level; ``included_levels`` for a design that is not a review
        or contradicting the review's name.

    Notes
    -----
    A systematic review is level I only if all the studies it includes are level II (a review
    of level I reviews counts as a review of level II studies). NHMRC (2009, footnote to
    Table 3) assigns a review of lower-level studies "a level of evidence as high as the
    studies it contains"; when the included studies are of mixed levels, this project takes
    the *lowest* of them, because the pooled result rests on all of them (NHMRC asks for the
    level to be judged per outcome, so pass the levels of the studies contributing to that
    outcome). Mapping choices for names the table does not list: a bare "ITS" is an
    interrupted time series without a parallel control group (III-3); a single single-arm
    study is a case series (IV), and only a comparison of two or more single-arm studies is
    III-3; a cohort without a control group is a case series (IV).

    Examples
    --------
    >>> nhmrc_level("RCT")
    'II'
    >>> nhmrc_level("systematic review", included_levels=["II", "II"])
    'I'
    >>> nhmrc_level("meta-analysis", included_levels=["II", "III-2"])
    'III-2'
    """
    if not isinstance(design, str) or not design.strip():
        raise InputError(f"NHMRC design: {design!r} is not a design name")
    key = _key(design)
    is_review, of = _review_of(key)
    if not is_review:
        if included_levels is not None:
            raise InputError(
                f"NHMRC design {design!r}: included_levels applies to systematic reviews only"
            )
        if key not in _DESIGNS:
            raise InputError(
                f"NHMRC design {design!r}: unknown; use a design such as RCT, pseudo-RCT, "
                "cohort, case-control, non-randomised trial, ITS, historical control, "
                "case series, pre-post, or a systematic review"
            )
        return _DESIGNS[key]
    implied: NhmrcLevel | None = None
    if of is not None:
        level_text = re.sub(r"^level ", "", of)
        level_text = re.sub(r" study$", "", level_text)
        if level_text.upper().replace(" ", "-") in LEVELS:
            implied = _level(level_text, f"NHMRC design {design!r}")
        else:
            implied = nhmrc_level(of)
    if included_levels is None:
        if implied is None:
            raise InputError(
                f"NHMRC design {design!r}: a review's level depends on the studies it includes; "
                "pass included_levels or name them (e.g. 'systematic review of RCTs')"
            )
        levels = [implied]
    else:
        if isinstance(included_levels, str):
            included_levels = [included_levels]
        levels = [_level(x, f"NHMRC included level of {design!r}") for x in included_levels]
        if not levels:
            raise InputError(f"NHMRC design {design!r}: included_levels is empty")
        if implied is not None:
            ok = {implied, "I"} if implied == "II" else {implied}
            if not set(levels) <= ok:
                raise InputError(
                    f"NHMRC design {design!r}: included_levels {levels} contradict the "
                    f"design's name (level {implied} studies)"
                )
    # Reviews of level I reviews rest on level II studies.
    base = ["II" if x == "I" else x for x in levels]
    if all(x == "II" for x in base):
        return "I"
    return nhmrc_worst(base)
