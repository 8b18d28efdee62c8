"""EPHPP Quality Assessment Tool for Quantitative Studies.

Effective Public Health Practice Project. Quality Assessment Tool for Quantitative Studies.
Hamilton, ON: EPHPP; 1998 (dictionary updated 2009). Thomas BH, Ciliska D, Dobbins M,
Micucci S. A process for systematically reviewing the literature: providing the research
evidence for public health nursing interventions. Worldviews Evid Based Nurs 2004;1(3):176-184.

Six components are each rated strong (1), moderate (2) or weak (3): A selection bias, B study
design, C confounders, D blinding, E data collection methods, F withdrawals and dropouts. The
global rating is STRONG with no weak component, MODERATE with one, WEAK with two or more. The
tool's components G (intervention integrity) and H (analyses) are recorded but not rated and
do not enter the global rating.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from metareview._util.jsonable import jsonable
from metareview.appraisal.common import RobCategory, is_int, keyed, norm, risk_of_bias_category
from metareview.errors import InputError

EphppRating = Literal["strong", "moderate", "weak"]

#: Ratings best first, with the tool's codes 1, 2, 3.
RATINGS: tuple[EphppRating, ...] = ("strong", "moderate", "weak")

#: The six rated components: (key, letter, name as printed on the tool).
COMPONENTS: tuple[tuple[str, str, str], ...] = (
    ("selection_bias", "A", "Selection bias"),
    ("study_design", "B", "Study design"),
    ("confounders", "C", "Confounders"),
    ("blinding", "D", "Blinding"),
    ("data_collection_methods", "E", "Data collection methods"),
    ("withdrawals_and_dropouts", "F", "Withdrawals and dropouts"),
)
KEYS = tuple(k for k, _, _ in COMPONENTS)
NAMES = {k: n for k, _, n in COMPONENTS}

_ALIASES = {
    **{letter.lower(): k for k, letter, _ in COMPONENTS},
    **{norm(name): k for k, _, name in COMPONENTS},
    "selection": "selection_bias",
    "design": "study_design",
    "confounding": "confounders",
    "data collection": "data_collection_methods",
    "withdrawals": "withdrawals_and_dropouts",
    "dropouts": "withdrawals_and_dropouts",
    "withdrawals and drop outs": "withdrawals_and_dropouts",
    "withdrawals & dropouts": "withdrawals_and_dropouts",
    "withdrawals & drop outs": "withdrawals_and_dropouts",
}
_UNRATED = {"g", "h", "intervention integrity", "analyses", "analysis"}


def _rating(value: Any, what: str) -> EphppRating:
    if is_int(value) and 1 <= int(value) <= 3:
        return RATINGS[int(value) - 1]
    if isinstance(value, str):
        text = norm(value)
        if text in RATINGS:
            return text  # type: ignore[return-value]
        if text in ("1", "2", "3"):
            return RATINGS[int(text) - 1]
    raise InputError(f"{what}: rating {value!r} is not strong/moderate/weak (or 1/2/3)")


@dataclass(frozen=True)
class EphppAssessment:
    """EPHPP component ratings and the global rating they give.

    Attributes
    ----------
    components : dict
        Component key (``"selection_bias"`` ... ``"withdrawals_and_dropouts"``, tool order A-F)
        -> ``"strong"``, ``"moderate"`` or ``"weak"``.
    global_rating : {"strong", "moderate", "weak"}
        STRONG: no weak component; MODERATE: one weak; WEAK: two or more weak.
    n_weak : int
        Number of components rated weak.
    """

    components: dict[str, EphppRating]
    global_rating: EphppRating
    n_weak: int

    instrument: ClassVar[str] = "EPHPP"

    @property
    def rating(self) -> EphppRating:
        """The global rating (the name every appraisal result shares)."""
        return self.global_rating

    @property
    def codes(self) -> dict[str, int]:
        """Component ratings as the tool's codes: strong 1, moderate 2, weak 3."""
        return {k: RATINGS.index(v) + 1 for k, v in self.components.items()}

    @property
    def weak_components(self) -> tuple[str, ...]:
        """Keys of the components rated weak, in tool order."""
        return tuple(k for k, v in self.components.items() if v == "weak")

    @property
    def risk_of_bias(self) -> RobCategory:
        """Risk-of-bias category by the project's convention (strong -> low, ...)."""
        return risk_of_bias_category(self)

    def summary(self) -> str:
        """Readable component table and global rating."""
        lines = ["EPHPP Quality Assessment Tool for Quantitative Studies"]
        for key, letter, name in COMPONENTS:
            value = self.components[key]
            lines.append(f"  {letter} {name + ':':<26}{value} ({RATINGS.index(value) + 1})")
        weak = "no weak component" if self.n_weak == 0 else (
            f"{self.n_weak} weak component{'s' if self.n_weak > 1 else ''}")
        lines.append(f"Global rating: {self.global_rating.upper()} ({weak})")
        lines.append(f"Risk-of-bias category (project convention): {self.risk_of_bias}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable({
            "instrument": self.instrument,
            "components": dict(self.components),
            "codes": self.codes,
            "global_rating": self.global_rating,
            "n_weak": self.n_weak,
            "weak_components": list(self.weak_components),
            "risk_of_bias": self.risk_of_bias,
        })


def ephpp_rating(components: Mapping[str, Any]) -> EphppAssessment:
    """Global EPHPP rating from the six component ratings.

    Parameters
    ----------
    components : mapping
        Exactly the six rated components, keyed by letter (``"A"``-``"F"``), by name as on the
        tool (``"Selection bias"``, ``"Study design"``, ``"Confounders"``, ``"Blinding"``,
        ``"Data collection methods"``, ``"Withdrawals and dropouts"``) or by key
        (``"selection_bias"`` ...); case, ``_`` and ``-`` are ignored. Values are
        ``"strong"``/``"moderate"``/``"weak"`` (any case) or the tool's codes 1/2/3.

    Returns
    -------
    EphppAssessment

    Raises
    ------
    InputError
        An unknown or repeated component, a missing one, or a value that is not a rating.
        Components G (intervention integrity) and H (analyses) are not rated by the tool and
        are refused here rather than silently ignored.

    Notes
    -----
    Global rating (EPHPP dictionary; Thomas et al. 2004): STRONG = no WEAK ratings, MODERATE =
    one WEAK rating, WEAK = two or more WEAK ratings.

    Examples
    --------
    >>> ephpp_rating({"A": "moderate", "B": "strong", "C": "strong", "D": "moderate",
    ...               "E": "strong", "F": "weak"}).global_rating
    'moderate'
    """
    if not isinstance(components, Mapping):
        raise InputError(
            f"EPHPP components: expected a mapping of the six components to ratings, "
            f"got {type(components).__name__}"
        )
    for raw in components:
        if norm(raw) in _UNRATED:
            raise InputError(
                f"EPHPP component {raw!r}: not rated by the tool and not part of the global "
                "rating; pass components A-F only"
            )
    raw_values = keyed(components, KEYS, _ALIASES, "EPHPP component")
    rated = {k: _rating(v, f"EPHPP component {k!r}") for k, v in raw_values.items()}
    n_weak = sum(v == "weak" for v in rated.values())
    # The tool's rule: 0 weak -> strong, 1 weak -> moderate, 2+ weak -> weak.
    global_rating: EphppRating = "strong" if n_weak == 0 else "moderate" if n_weak == 1 else "weak"
    return EphppAssessment(components=rated, global_rating=global_rating, n_weak=n_weak)


# ---- component rules from the dictionary ----------------------------------------------------
_DESIGN_STRONG = {
    "rct", "randomised controlled trial", "randomized controlled trial", "randomised trial",
    "randomized trial", "randomised clinical trial", "randomized clinical trial",
    "cluster randomised trial", "cluster randomized trial", "cluster rct",
    "randomised crossover trial", "randomized crossover trial", "crossover rct",
    "cct", "controlled clinical trial", "clinical controlled trial", "controlled trial",
    "non randomised controlled trial", "non randomized controlled trial", "nrct",
    "quasi randomised controlled trial", "quasi randomized controlled trial",
    "pseudo randomised controlled trial", "pseudo randomized controlled trial",
}
_DESIGN_MODERATE = {
    "cohort analytic", "cohort analytic two group pre post", "two group pre post",
    "case control", "cohort", "prospective cohort", "retrospective cohort",
    "one group pre post", "cohort one group pre post", "one group pre post before and after",
    "cohort one group pre post before and after", "pre test post test",
    "before and after", "before after", "pre post", "uncontrolled before and after",
    "interrupted time series", "its",
}


def _design_key(design: str) -> str:
    text = norm(design).replace("+", " ").replace("/", " ")
    text = re.sub(r"[().,']", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r" (study|studies|design)$", "", text)


def ephpp_design_rating(design: str) -> EphppRating:
    """Component B (study design) rating from the design, by the EPHPP dictionary.

    Parameters
    ----------
    design : str
        The design as the tool lists it or a common synonym: RCT, CCT (controlled clinical trial,
        i.e. a non-randomised controlled trial), cohort analytic (two group pre + post),
        case-control, cohort (one group pre + post, "before and after"), interrupted time
        series, other, can't tell.

    Returns
    -------
    {"strong", "moderate", "weak"}
        STRONG: RCT or CCT. MODERATE: cohort analytic, case-control, cohort (including one group
        pre + post) or interrupted time series. WEAK: any other design, or the design not
        stated. Any design not in the first two lists is therefore WEAK by the tool's rule.

    Raises
    ------
    InputError
        ``design`` is not a non-empty string.
    """
    if not isinstance(design, str) or not design.strip():
        raise InputError(f"EPHPP study design: {design!r} is not a design name")
    key = _design_key(design)
    key = key.replace("randomized", "randomised")
    strong = {d.replace("randomized", "randomised") for d in _DESIGN_STRONG}
    if key in strong:
        return "strong"
    if key in _DESIGN_MODERATE:
        return "moderate"
    return "weak"


def _percent(value: Any, what: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise InputError(f"{what}: {value!r} is not a percentage")
    x = float(value)
    if not math.isfinite(x) or not 0 <= x <= 100:
        raise InputError(f"{what}: {value!r} is outside 0-100%")
    return x


def ephpp_withdrawal_rating(
    percent_completed: float | None, *, not_applicable: bool = False
) -> EphppRating:
    """Component F (withdrawals and dropouts) rating from the completion rate.

    Parameters
    ----------
    percent_completed : float or None
        Percentage of participants completing the study (the lowest group's if it differs by
        group, as the tool asks). ``None`` when it cannot be told (withdrawals and dropouts not
        described).
    not_applicable : bool
        The tool's "not applicable" answer (e.g. a one-time survey or retrospective record
        review with no follow-up).

    Returns
    -------
    {"strong", "moderate", "weak"}
        EPHPP dictionary: STRONG when the follow-up rate is 80-100%; MODERATE when 60-79% or
        not applicable; WEAK when less than 60% or not described. The tool's bands are whole
        percentages; a fractional rate is banded by ``>= 80`` and ``>= 60``.

    Raises
    ------
    InputError
        The percentage is not a number in 0-100, or a percentage is given with
        ``not_applicable``.
    """
    if not_applicable:
        if percent_completed is not None:
            raise InputError(
                "EPHPP withdrawals: a completion rate was given for a study marked not applicable"
            )
        return "moderate"
    if percent_completed is None:
        return "weak"
    x = _percent(percent_completed, "EPHPP withdrawals: percent completed")
    return "strong" if x >= 80 else "moderate" if x >= 60 else "weak"


def ephpp_confounder_rating(
    important_differences: bool | None, percent_controlled: float | None = None
) -> EphppRating:
    """Component C (confounders) rating, by the EPHPP dictionary.

    Parameters
    ----------
    important_differences : bool or None
        Q1, "Were there important differences between groups prior to the intervention?"
        ``None`` means can't tell.
    percent_controlled : float or None
        Q2, the percentage of relevant confounders controlled (in the design or the analysis);
        ``None`` when it cannot be told.

    Returns
    -------
    {"strong", "moderate", "weak"}
        STRONG: no important differences (Q1 no) or at least 80% of relevant confounders
        controlled. MODERATE: 60-79% controlled. WEAK: less than 60% controlled, or control of
        confounders not described.

    Raises
    ------
    InputError
        A percentage outside 0-100, or ``important_differences`` not a bool or None.
    """
    if important_differences is not None and not isinstance(important_differences, bool):
        raise InputError(
            f"EPHPP confounders: important_differences {important_differences!r} is not "
            "True, False or None (can't tell)"
        )
    x = None
    if percent_controlled is not None:
        x = _percent(percent_controlled, "EPHPP confounders: percent controlled")
    if important_differences is False:
        return "strong"
    if x is None:
        return "weak"
    return "strong" if x >= 80 else "moderate" if x >= 60 else "weak"
