"""GRADE certainty of evidence for one outcome: proposed judgements, overrides, final level.

The engine follows the GRADE guidelines series (Guyatt GH, Oxman AD, Schünemann HJ et al.,
J Clin Epidemiol 2011;64): a body of randomised evidence starts at HIGH certainty and a body
of observational evidence at LOW (GRADE guidelines 3, Balshem 2011, 64:401); five domains can
rate it down one (serious) or two (very serious) levels and three can rate observational
evidence up; the result is HIGH, MODERATE, LOW or VERY LOW.

It *proposes* a judgement for every domain it can compute from data, with the rule and the
numbers behind it, and leaves the reviewer the last word: an :class:`Override` (with its
reason, which is required) replaces a proposal, and the proposal is kept beside it. The rules
are this project's operationalisations of GRADE guidance; GRADE itself asks for judgement, so
every threshold is a parameter of :class:`Thresholds`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from scipy import stats

from metareview._util import html as _html
from metareview._util.jsonable import jsonable
from metareview._util.textfmt import prose_num, prose_p
from metareview.effects.measures import MEASURE_TABLE
from metareview.errors import InputError
from metareview.models.rma import MetaAnalysis

Level = Literal["high", "moderate", "low", "very low"]
Design = Literal["randomised", "observational"]

#: Certainty levels from lowest to highest; a level's score is its index + 1.
LEVELS: tuple[str, ...] = ("very low", "low", "moderate", "high")
#: GRADEpro's symbols for each level.
SYMBOLS: dict[str, str] = {
    "high": "⊕⊕⊕⊕",
    "moderate": "⊕⊕⊕◯",
    "low": "⊕⊕◯◯",
    "very low": "⊕◯◯◯",
}
#: Domains that rate certainty down (change 0, -1 or -2).
DOWNGRADE_DOMAINS: tuple[str, ...] = (
    "risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias",
)
#: Domains that rate observational evidence up.
UPGRADE_DOMAINS: tuple[str, ...] = ("large_effect", "dose_response", "plausible_confounding")
DOMAINS: tuple[str, ...] = DOWNGRADE_DOMAINS + UPGRADE_DOMAINS
DOMAIN_LABELS: dict[str, str] = {
    "risk_of_bias": "risk of bias",
    "inconsistency": "inconsistency",
    "indirectness": "indirectness",
    "imprecision": "imprecision",
    "publication_bias": "publication bias",
    "large_effect": "large effect",
    "dose_response": "dose-response gradient",
    "plausible_confounding": "plausible confounding",
}
_ALLOWED: dict[str, tuple[int, ...]] = {
    **{d: (0, -1, -2) for d in DOWNGRADE_DOMAINS},
    "large_effect": (0, 1, 2),
    "dose_response": (0, 1),
    "plausible_confounding": (0, 1),
}
#: Measures analysed on the log scale (HR, IRR for review-level estimates given without a fit).
RATIO_MEASURES: tuple[str, ...] = tuple(c for c, m in MEASURE_TABLE.items() if m.ratio)
#: Single-group measures: no null effect, so no imprecision-against-the-null or large effect.
SINGLE_GROUP_MEASURES: tuple[str, ...] = tuple(
    c for c, m in MEASURE_TABLE.items() if m.single_group)
#: Risk-of-bias categories accepted (RoB 2, RoB 1 and ROBINS-I wordings) and what they count as.
ROB_CATEGORIES: dict[str, str] = {
    "low": "low",
    "low risk": "low",
    "some concerns": "some concerns",
    "some": "some concerns",
    "unclear": "some concerns",
    "unclear risk": "some concerns",
    "moderate": "some concerns",
    "high": "high",
    "high risk": "high",
    "serious": "high",
    "critical": "high",
}
_NOT_ASSESSED = "Not assessed from data; reviewer judgement required."
_DESIGNS = {"randomised": "randomised", "randomized": "randomised", "rct": "randomised",
            "rcts": "randomised", "observational": "observational"}


# ---- thresholds ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Thresholds:
    """The numbers behind the proposed judgements (defaults as documented in
    :func:`assess_certainty`).

    Attributes
    ----------
    rob_very_serious : float
        Weight share of high-risk studies at or above which risk of bias is very serious.
    rob_serious : float
        Weight share of studies at high risk or with some concerns at or above which risk of
        bias is serious.
    i2_serious, i2_very_serious : float
        I^2 bands (percent) for serious and possibly very serious inconsistency.
    egger_alpha : float
        Egger's test p-value below which publication bias is suspected.
    egger_min_k : int
        Fewest studies for which a funnel-plot asymmetry test is interpreted.
    large_effect, very_large_effect : float
        Ratio beyond which an effect is large (and its reciprocal below), and very large.
    ratio_mid : tuple of float
        Default thresholds of appreciable benefit and harm for ratio measures (natural scale).
    ois_alpha, ois_power : float
        Two-sided type I error and power for the optimal information size.
    """

    rob_very_serious: float = 0.5
    rob_serious: float = 0.5
    i2_serious: float = 50.0
    i2_very_serious: float = 75.0
    egger_alpha: float = 0.10
    egger_min_k: int = 10
    large_effect: float = 2.0
    very_large_effect: float = 5.0
    ratio_mid: tuple[float, float] = (0.75, 1.25)
    ois_alpha: float = 0.05
    ois_power: float = 0.80

    def __post_init__(self) -> None:
        for name in ("rob_very_serious", "rob_serious"):
            v = getattr(self, name)
            if not 0 < v <= 1:
                raise InputError(f"thresholds: {name} must be a weight share in (0, 1] (got {v})")
        if not 0 <= self.i2_serious <= self.i2_very_serious <= 100:
            raise InputError("thresholds: need 0 <= i2_serious <= i2_very_serious <= 100 "
                             f"(got {self.i2_serious}, {self.i2_very_serious})")
        if not 0 < self.egger_alpha < 1:
            raise InputError(f"thresholds: egger_alpha must be in (0, 1) (got {self.egger_alpha})")
        if self.egger_min_k < 3:
            raise InputError(f"thresholds: egger_min_k must be at least 3 "
                             f"(got {self.egger_min_k})")
        if not 1 < self.large_effect <= self.very_large_effect:
            raise InputError("thresholds: need 1 < large_effect <= very_large_effect "
                             f"(got {self.large_effect}, {self.very_large_effect})")
        lo, hi = self.ratio_mid
        if not 0 < lo < 1 < hi:
            raise InputError(f"thresholds: ratio_mid must straddle 1, e.g. (0.75, 1.25) "
                             f"(got {self.ratio_mid})")
        _check_alpha_power(self.ois_alpha, self.ois_power)


# ---- optimal information size ----------------------------------------------------------------
def _check_alpha_power(alpha: float, power: float) -> None:
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1) (got {alpha})")
    if not 0 < power < 1:
        raise InputError(f"power must be in (0, 1) (got {power})")


def optimal_information_size_continuous(
    mid: float, sd: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Optimal information size (total participants) for a continuous outcome.

    The sample size of one adequately powered two-arm trial that would detect a difference
    of ``mid`` (GRADE guidelines 6: Guyatt GH et al. Rating the quality of evidence:
    imprecision. J Clin Epidemiol 2011;64:1283-1293, section 5)::

        n per group = 2 (z_{1-alpha/2} + z_{power})^2 sd^2 / mid^2
        total       = 2 * ceil(n per group)

    Parameters
    ----------
    mid : float
        Minimal important difference (positive, in the outcome's units).
    sd : float
        Standard deviation of the outcome (e.g. pooled across the trials).
    alpha : float
        Two-sided type I error.
    power : float
        1 - type II error.

    Returns
    -------
    int
        Total participants across both groups.

    Examples
    --------
    mid = 1, sd = 2: 2 * 2 * (1.959964 + 0.841621)^2 * 4 / 1 = 125.58, so 62.79 -> 63 per group.

    >>> optimal_information_size_continuous(1, 2)
    126
    """
    _positive(mid, "mid")
    _positive(sd, "sd")
    _check_alpha_power(alpha, power)
    z = stats.norm.isf(alpha / 2) + stats.norm.ppf(power)
    per_group = 2 * z**2 * sd**2 / mid**2
    return 2 * math.ceil(per_group - 1e-9)


def optimal_information_size_binary(
    control_risk: float, rrr: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Optimal information size (total participants) for a binary outcome.

    The conventional two-proportion sample size (Fleiss; R's ``power.prop.test``) for a
    control risk ``p0`` and an intervention risk ``p1 = p0 (1 - rrr)``, as GRADE guidelines 6
    (Guyatt 2011, J Clin Epidemiol 64:1283, section 5) prescribes for the OIS::

        pbar = (p0 + p1) / 2
        n per group = (z_{1-alpha/2} sqrt(2 pbar (1 - pbar))
                       + z_{power} sqrt(p0 (1 - p0) + p1 (1 - p1)))^2 / (p0 - p1)^2
        total = 2 * ceil(n per group)

    Parameters
    ----------
    control_risk : float
        Risk in the control group, in (0, 1).
    rrr : float
        Relative risk reduction to detect, in (0, 1) (GRADE suggests 0.25 or 0.20); a negative
        value is a relative risk increase (the intervention risk must stay below 1).
    alpha, power : float
        Two-sided type I error and power.

    Returns
    -------
    int
        Total participants across both groups.

    Examples
    --------
    p0 = 0.2, rrr = 0.25 (p1 = 0.15): (1.959964 * 0.537355 + 0.841621 * 0.536190)^2 / 0.05^2
    = 905.4, so 906 per group.

    >>> optimal_information_size_binary(0.2, 0.25)
    1812
    """
    if not 0 < control_risk < 1:
        raise InputError(f"control_risk must be in (0, 1) (got {control_risk})")
    if rrr == 0 or rrr >= 1:
        raise InputError(f"rrr must be a non-zero relative risk reduction below 1 (got {rrr})")
    _check_alpha_power(alpha, power)
    p0 = control_risk
    p1 = p0 * (1 - rrr)
    if not 0 < p1 < 1:
        raise InputError(f"rrr {rrr} with control risk {p0} gives an intervention risk of {p1:g}, "
                         "outside (0, 1)")
    pbar = (p0 + p1) / 2
    za, zb = stats.norm.isf(alpha / 2), stats.norm.ppf(power)
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1))
    per_group = num**2 / (p0 - p1) ** 2
    return 2 * math.ceil(per_group - 1e-9)


def _positive(x: float, name: str) -> None:
    if x is None or not np.isfinite(x) or x <= 0:
        raise InputError(f"{name} must be a positive number (got {x})")


# ---- judgements ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Override:
    """A reviewer's judgement that replaces the engine's proposal for one domain.

    Parameters
    ----------
    change : int
        Level change: 0, -1 (serious) or -2 (very serious) for the rating-down domains; 0, +1
        or +2 for large effect; 0 or +1 for dose-response and plausible confounding.
    reason : str
        Why (required, non-empty): it becomes the domain's footnote, as GRADEpro requires an
        explanation for every judgement that departs from "not serious".
    by : str, optional
        Who made the judgement.
    date : str, optional
        When, as an ISO date (``YYYY-MM-DD``).
    """

    change: int
    reason: str
    by: str | None = None
    date: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.change, bool) or not isinstance(self.change, (int, np.integer)):
            raise InputError(f"override change must be an integer level change "
                             f"(got {self.change!r})")
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise InputError("override needs a reason: a reviewer's judgement that replaces the "
                             "proposed one must say why")
        object.__setattr__(self, "change", int(self.change))
        object.__setattr__(self, "reason", " ".join(self.reason.split()))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"change": self.change, "reason": self.reason, "by": self.by, "date": self.date}


@dataclass(frozen=True, eq=False)
class DomainJudgement:
    """The judgement on one GRADE domain.

    Attributes
    ----------
    domain : str
        One of :data:`DOMAINS`.
    change : int
        Level change (negative rates down, positive rates up).
    rationale : str
        One sentence with the numbers that produced the judgement (or the reviewer's reason).
    rule : str
        The rule applied, with its source.
    values : dict
        The numbers the rule used (None where unavailable).
    assessable : bool
        False when the data do not allow the rule to be applied (the change is then 0 unless a
        reviewer says otherwise).
    applied : bool
        For the rating-up domains: whether the change counts (only for observational evidence
        not rated down, GRADE guidelines 9).
    overridden : bool
        Whether a reviewer's :class:`Override` replaced the proposal.
    reason : str or None
        The override's reason.
    by : str or None
        Who overrode it.
    date : str or None
        When it was overridden (ISO date).
    proposed : DomainJudgement or None
        The engine's original proposal, kept when overridden.
    """

    domain: str
    change: int
    rationale: str
    rule: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    assessable: bool = True
    applied: bool = True
    overridden: bool = False
    reason: str | None = None
    by: str | None = None
    proposed: DomainJudgement | None = None
    date: str | None = None

    @property
    def label(self) -> str:
        """The judgement in GRADEpro's words (e.g. ``"serious"``, ``"very large"``)."""
        return _label(self.domain, self.change)

    @property
    def effective_change(self) -> int:
        """The change that counts towards the final level."""
        return self.change if self.applied else 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (the proposal nested when overridden)."""
        return jsonable({
            "domain": self.domain,
            "label": self.label,
            "change": self.change,
            "effective_change": self.effective_change,
            "rationale": self.rationale,
            "rule": self.rule,
            "values": dict(self.values),
            "assessable": self.assessable,
            "applied": self.applied,
            "overridden": self.overridden,
            "reason": self.reason,
            "by": self.by,
            "date": self.date,
            "proposed": self.proposed.to_dict() if self.proposed is not None else None,
        })


def _label(domain: str, change: int) -> str:
    if domain in DOWNGRADE_DOMAINS:
        return {0: "not serious", -1: "serious", -2: "very serious"}[change]
    if domain == "large_effect":
        return {0: "none", 1: "large", 2: "very large"}[change]
    return {0: "none", 1: "present"}[change]


# ---- ceiling ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ceiling:
    """A level the certainty may not exceed, e.g. the certainty the source review reported.

    A grade built on one review's estimate should not claim more than the review's own
    assessment, which saw its trials' risk of bias and indirectness: the ceiling caps the
    level unless ``reason`` says why the evidence deserves more (then it is lifted, and the
    reason is shown beside the grade).

    Parameters
    ----------
    level : {"high", "moderate", "low", "very low"}
        The ceiling.
    what : str
        What the level is, for the note, e.g. ``"the source review's own rating"``.
    reason, by, date : str, optional
        Why the ceiling is lifted, who decided it and when (ISO date); no reason: it caps.
    """

    level: str
    what: str = "the source review's own rating"
    reason: str | None = None
    by: str | None = None
    date: str | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise InputError(f"ceiling must be one of {', '.join(LEVELS)} (got {self.level!r})")
        if self.reason is not None and not self.reason.strip():
            raise InputError("a lifted ceiling needs a reason")

    @property
    def lifted(self) -> bool:
        """Whether a recorded reason lifts the ceiling."""
        return self.reason is not None

    def apply(self, level: str) -> tuple[str, str | None]:
        """The level after the ceiling, and the note to show (None when it changes nothing).

        Examples
        --------
        >>> Ceiling("very low").apply("low")
        ('very low', "Capped at the source review's own rating (very low); the domains give low.")
        """
        if LEVELS.index(level) <= LEVELS.index(self.level):
            return level, None
        if self.lifted:
            who = ", ".join(x for x in (self.by, self.date) if x)
            return level, (f"Graded above {self.what} ({self.level}): "
                           f"{self.reason.rstrip('.')}"  # type: ignore[union-attr]
                           f"{' (' + who + ')' if who else ''}.")
        return self.level, (f"Capped at {self.what} ({self.level}); the domains give {level}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"level": self.level, "what": self.what, "reason": self.reason, "by": self.by,
                "date": self.date, "lifted": self.lifted}


# ---- certainty -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Certainty:
    """GRADE certainty of the evidence for one outcome.

    Attributes
    ----------
    outcome : str
        Outcome name (with its time window, if any).
    design : {"randomised", "observational"}
        The body of evidence.
    start : {"high", "low"}
        Starting level (GRADE guidelines 3).
    domains : dict of str to DomainJudgement
        Every domain of :data:`DOMAINS`, in that order.
    final : {"high", "moderate", "low", "very low"}
        The certainty after rating down and up, clamped to [very low, high].
    footnotes : tuple of str
        One explanation per domain that changed the rating or was overridden, in domain
        order (as GRADEpro's footnotes).
    measure : str or None
        Effect measure; ``estimate``, ``ci_low``, ``ci_high`` are on its natural scale (RR, not
        log RR).
    estimate, ci_low, ci_high : float or None
        The pooled effect graded.
    level : float
        Confidence level of the interval, percent.
    k : int or None
        Number of studies.
    n_participants : int or None
        Number of participants.
    uncapped : str or None
        The level the domains give, before a :class:`Ceiling` (None: same as ``final``).
    ceiling : Ceiling or None
        The ceiling that applied to this outcome, if any.
    cap_note : str or None
        The line that says the ceiling capped the level (or why it was lifted).
    symbols : str
        GRADEpro's symbols for ``final`` (derived).
    """

    outcome: str
    design: str
    start: str
    domains: dict[str, DomainJudgement]
    final: str
    footnotes: tuple[str, ...] = ()
    measure: str | None = None
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    level: float = 95.0
    k: int | None = None
    n_participants: int | None = None
    uncapped: str | None = None
    ceiling: Ceiling | None = None
    cap_note: str | None = None
    symbols: str = field(init=False)

    def __post_init__(self) -> None:
        if self.final not in LEVELS:
            raise InputError(f"certainty must be one of {', '.join(LEVELS)} (got {self.final!r})")
        object.__setattr__(self, "symbols", SYMBOLS[self.final])

    @property
    def score(self) -> int:
        """1 (very low) to 4 (high)."""
        return LEVELS.index(self.final) + 1

    @property
    def capped(self) -> bool:
        """Whether a ceiling lowered the level the domains give."""
        return self.uncapped is not None and self.uncapped != self.final

    @property
    def downgrade(self) -> int:
        """Total change from the rating-down domains (0 or negative)."""
        return sum(self.domains[d].effective_change for d in DOWNGRADE_DOMAINS
                   if d in self.domains)

    @property
    def upgrade(self) -> int:
        """Total change from the rating-up domains that count (0 or positive)."""
        return sum(self.domains[d].effective_change for d in UPGRADE_DOMAINS if d in self.domains)

    @property
    def label(self) -> str:
        """``"⊕⊕◯◯ LOW"``: symbols and the level in capitals, as GRADEpro prints it."""
        return f"{self.symbols} {self.final.upper()}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (None for NaN)."""
        return jsonable({
            "outcome": self.outcome,
            "design": self.design,
            "start": self.start,
            "final": self.final,
            "symbols": self.symbols,
            "score": self.score,
            "downgrade": self.downgrade,
            "upgrade": self.upgrade,
            "domains": {name: d.to_dict() for name, d in self.domains.items()},
            "footnotes": list(self.footnotes),
            "measure": self.measure,
            "estimate": self.estimate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "level": self.level,
            "k": self.k,
            "n_participants": self.n_participants,
            "uncapped": self.uncapped if self.uncapped is not None else self.final,
            "capped": self.capped,
            "ceiling": self.ceiling.to_dict() if self.ceiling is not None else None,
            "cap_note": self.cap_note,
        })

    def _heading(self) -> list[str]:
        """The outcome, evidence, effect and study-count lines heading the profile."""
        lines = [f"GRADE certainty: {self.outcome}",
                 f"Evidence: {self.design} (starts {self.start.upper()})"]
        if self.estimate is not None and self.measure is not None:
            eff = f"{self.measure} {_fmt(self.estimate)}"
            if self.ci_low is not None and self.ci_high is not None:
                eff += f" ({self.level:g}% CI {_fmt(self.ci_low)} to {_fmt(self.ci_high)})"
            lines.append(f"Effect: {eff}")
        size = []
        if self.k is not None:
            size.append(f"k = {self.k}")
        if self.n_participants is not None:
            size.append(f"N = {self.n_participants}")
        if size:
            lines.append("Studies: " + ", ".join(size))
        return lines

    def summary(self) -> str:
        """A readable evidence-profile row: each domain with its change and rationale."""
        lines = [*self._heading(), ""]
        width = max(len(DOMAIN_LABELS[d]) for d in self.domains)
        for name, d in self.domains.items():
            change = f"{d.change:+d}" if d.change else " 0"
            flags = []
            if d.overridden:
                flags.append("overridden")
            if not d.applied:
                flags.append("not applied")
            flag = f" [{', '.join(flags)}]" if flags else ""
            lines.append(f"  {DOMAIN_LABELS[name]:<{width}}  {d.label:<12} {change:>2}{flag}  "
                         f"{d.rationale}")
        lines += ["", f"Certainty: {self.label}"]
        if self.cap_note is not None:
            lines.append(f"  {self.cap_note}")
        for letter, note in zip(_letters(len(self.footnotes)), self.footnotes, strict=True):
            lines.append(f"  {letter}. {note}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """The evidence profile of :meth:`summary` as an HTML table, for notebooks."""
        head = self._heading()
        rows = []
        for name, d in self.domains.items():
            flags = ([] if d.applied else ["not applied"])
            if d.overridden:
                flags.insert(0, "overridden" + (f" by {d.by}" if d.by else "")
                             + (f" on {d.date}" if d.date else "")
                             + (f" (proposed: {d.proposed.label})" if d.proposed else ""))
            rows.append([DOMAIN_LABELS[name], d.label, f"{d.change:+d}" if d.change else "0",
                         "; ".join(flags), d.rationale])
        parts = [_html.table(["Domain", "Judgement", "Change", "Note", "Rationale"], rows,
                             caption="Domains")]
        parts.append(f"<p><strong>Certainty: {_html.esc(self.label)}</strong></p>")
        if self.cap_note is not None:
            parts.append(f"<p>{_html.esc(self.cap_note)}</p>")
        if self.footnotes:
            parts.append(_html.listing(self.footnotes, lettered=True))
        return _html.block(head, parts)


def _letters(n: int) -> list[str]:
    """Footnote letters a, b, ..., z, aa, ab, ..."""
    out = []
    for i in range(n):
        s, j = "", i
        while True:
            s = chr(ord("a") + j % 26) + s
            j = j // 26 - 1
            if j < 0:
                break
        out.append(s)
    return out


def _fmt(x: float | None, digits: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "NA"
    return f"{x:.{digits}f}"


# ---- the evidence being graded ---------------------------------------------------------------
@dataclass(frozen=True)
class _Evidence:
    """Effect, heterogeneity and size on the analysis scale (log for ratios), with formatting."""

    measure: str | None
    est: float | None
    lo: float | None
    hi: float | None
    pi_lo: float | None
    pi_hi: float | None
    i2: float | None
    k: int | None
    n: int | None
    level: float
    mid: tuple[float, float] | None  # analysis scale, (below null, above null)
    mid_text: str | None

    @property
    def ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    @property
    def comparative(self) -> bool:
        return self.measure is not None and self.measure not in SINGLE_GROUP_MEASURES

    def nat(self, x: float) -> float:
        return float(np.exp(x)) if self.ratio else float(x)

    def show(self, x: float) -> str:
        """A value on the natural scale with the measure's name, e.g. ``RR 0.62``."""
        return f"{self.measure} {prose_num(self.nat(x))}" if self.measure else prose_num(x)

    @property
    def null_text(self) -> str:
        return "1" if self.ratio else "0"


def _num(x: Any, name: str) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number (got {x!r})") from None
    if np.isnan(v):
        return None
    if not np.isfinite(v):
        raise InputError(f"{name} must be finite (got {x!r})")
    return v


def _count(x: Any, name: str) -> int | None:
    v = _num(x, name)
    if v is None:
        return None
    if v < 0 or v != int(v):
        raise InputError(f"{name} must be a non-negative whole number (got {x!r})")
    return int(v)


def _participants(fit: MetaAnalysis) -> int | None:
    arms = fit.effects.arms if fit.effects is not None else {}
    if "n1i" in arms and "n2i" in arms:
        return round(float(np.sum(arms["n1i"]) + np.sum(arms["n2i"])))
    if "ni" in arms:
        return round(float(np.sum(arms["ni"])))
    return None


def _to_analysis(measure: str, x: float | None, name: str) -> float | None:
    if x is None or measure not in RATIO_MEASURES:
        return x
    if x <= 0:
        raise InputError(f"{name} must be positive for {measure} (give the ratio as reported, "
                         f"not its log; got {x:g})")
    return math.log(x)


def _resolve_mid(
    measure: str | None, mid: float | Sequence[float] | None, th: Thresholds
) -> tuple[tuple[float, float] | None, str | None]:
    """MID thresholds on the analysis scale, and how to describe them."""
    if measure is None:
        if mid is not None:
            raise InputError("mid needs a measure (from the fit or measure=)")
        return None, None
    if measure in SINGLE_GROUP_MEASURES:
        if mid is not None:
            raise InputError(f"mid is defined against a null effect; {measure} (a single-group "
                             "measure) has none")
        return None, None
    ratio = measure in RATIO_MEASURES
    if mid is None:
        if not ratio:
            return None, None
        lo, hi = th.ratio_mid
        return ((math.log(lo), math.log(hi)),
                f"{measure} {prose_num(lo)} and {prose_num(hi)}, the GRADE default")
    if isinstance(mid, (int, float, np.integer, np.floating)) and not isinstance(mid, bool):
        m = _num(mid, "mid")
        if m is None or m <= 0:
            raise InputError(f"mid must be a positive distance from the null on the analysis "
                             f"scale (got {mid!r})")
        if ratio:
            return (-m, m), (f"{measure} {prose_num(math.exp(-m))} and {prose_num(math.exp(m))}, "
                             f"i.e. {prose_num(m)} on the log scale")
        return (-m, m), f"{measure} -{prose_num(m)} and {prose_num(m)}"
    try:
        a, b = (float(v) for v in mid)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise InputError(f"mid must be a number or a pair (low, high) of thresholds "
                         f"(got {mid!r})") from None
    null = 1.0 if ratio else 0.0
    if not a < null < b:
        raise InputError(f"mid thresholds must lie either side of the null {null:g} "
                         f"(got {a:g}, {b:g})")
    if ratio:
        return (math.log(a), math.log(b)), f"{measure} {prose_num(a)} and {prose_num(b)}"
    return (a, b), f"{measure} {prose_num(a)} and {prose_num(b)}"


# ---- the rules -------------------------------------------------------------------------------
_RULE_ROB = ("weight share of studies at high risk >= {vs:g}: very serious; share at high risk or "
             "with some concerns >= {s:g}: serious (project operationalisation of GRADE handbook "
             "5.2.1; GRADE guidelines 4, Guyatt 2011 JCE 64:407)")
_RULE_INC = ("I² >= {vs:g}% with a prediction interval beyond both MID thresholds: very serious; "
             "I² >= {s:g}%: serious (GRADE guidelines 7, Guyatt 2011 JCE 64:1294; Cochrane "
             "Handbook 10.10.2)")
_RULE_IMP = ("CI includes both MID thresholds: very serious; CI crosses the null and includes "
             "one MID threshold: serious; total N below the optimal information size: at least "
             "serious (GRADE guidelines 6, Guyatt 2011 JCE 64:1283)")
_RULE_PB = ("k >= {k}: Egger's test p < {a:g}: serious (publication bias suspected); fewer "
            "studies: not assessable (GRADE guidelines 5, Guyatt 2011 JCE 64:1277; Sterne 2011 BMJ "
            "343:d4002)")
_RULE_LE = ("ratio > {l:g} or < {il:g}: +1; > {v:g} or < {iv:g}: +2, observational evidence "
            "without downgrades only (GRADE guidelines 9, Guyatt 2011 JCE 64:1311)")
_RULE_REVIEWER = "reviewer judgement (not computable from data)"


def _rob_categories(
    risk_of_bias: str | Sequence[str] | Mapping[str, str] | None,
    fit: MetaAnalysis | None,
    weights: Sequence[float] | None,
) -> tuple[list[str], np.ndarray, list[str] | None] | None:
    if risk_of_bias is None:
        return None
    studies: list[str] | None = list(fit.study) if fit is not None else None
    if isinstance(risk_of_bias, str):
        raw = [risk_of_bias] * (fit.k if fit is not None else 1)
    elif isinstance(risk_of_bias, Mapping):
        if studies is not None:
            missing = [s for s in studies if s not in risk_of_bias]
            if missing:
                raise InputError(f"risk_of_bias: no judgement for study {missing[0]!r} "
                                 f"({len(missing)} of {len(studies)} studies missing)")
            raw = [risk_of_bias[s] for s in studies]
        else:
            studies = [str(s) for s in risk_of_bias]
            raw = list(risk_of_bias.values())
    else:
        raw = list(risk_of_bias)
        if fit is not None and len(raw) != fit.k:
            raise InputError(f"risk_of_bias has {len(raw)} judgements but the meta-analysis has "
                             f"{fit.k} studies (give one per study, aligned with fit.study)")
    if not raw:
        raise InputError("risk_of_bias is empty: give one category per study or a single one")
    cats = []
    for i, c in enumerate(raw):
        key = " ".join(str(c).strip().lower().replace("_", " ").replace("-", " ").split())
        if key not in ROB_CATEGORIES:
            who = f" for {studies[i]!r}" if studies is not None else f" (study {i + 1})"
            raise InputError(f"risk_of_bias{who}: unknown category {c!r}; use low, some concerns "
                             "or high")
        cats.append(ROB_CATEGORIES[key])
    if weights is not None:
        w = np.asarray([_num(x, "weights") for x in weights], dtype=float)
        if len(w) != len(cats):
            raise InputError(f"weights has {len(w)} values but there are {len(cats)} risk-of-bias "
                             "judgements")
    elif fit is not None and len(cats) == fit.k:
        w = np.asarray(fit.weights, dtype=float)
    else:
        w = np.ones(len(cats))
    if np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError("weights must be non-negative numbers with a positive sum")
    return cats, w / w.sum(), studies


def _judge_rob(rob, th: Thresholds) -> DomainJudgement:
    rule = _RULE_ROB.format(vs=th.rob_very_serious, s=th.rob_serious)
    if rob is None:
        return DomainJudgement("risk_of_bias", 0, "Not assessed: no risk-of-bias judgements were "
                               "given; reviewer judgement required.", rule, assessable=False)
    cats, w, _ = rob
    share = {c: float(sum(wi for ci, wi in zip(cats, w, strict=True) if ci == c))
             for c in ("low", "some concerns", "high")}
    high, some = share["high"], share["some concerns"]
    nums = (f"{100 * high:.0f}% of the weight comes from studies at high risk of bias and "
            f"{100 * some:.0f}% from studies with some concerns")
    if high >= th.rob_very_serious:
        change, why = -2, f" (high risk >= {100 * th.rob_very_serious:.0f}%)"
    elif high + some >= th.rob_serious:
        change, why = -1, (f" (high risk or some concerns together >= "
                           f"{100 * th.rob_serious:.0f}%)")
    else:
        change, why = 0, (f" (less than {100 * th.rob_serious:.0f}% from studies with some "
                          "concerns or high risk)")
    values = {"share_high": high, "share_some_concerns": some, "share_low": share["low"],
              "studies": len(cats)}
    return DomainJudgement("risk_of_bias", change, nums + why + ".", rule, values)


def _judge_inconsistency(ev: _Evidence, th: Thresholds) -> DomainJudgement:
    rule = _RULE_INC.format(vs=th.i2_very_serious, s=th.i2_serious)
    values: dict[str, Any] = {"i2": ev.i2, "k": ev.k, "pi_low": None, "pi_high": None}
    if ev.k is not None and ev.k < 2:
        return DomainJudgement("inconsistency", 0, f"Not assessable: k = {ev.k} (inconsistency "
                               "needs at least 2 studies).", rule, values, assessable=False)
    if ev.i2 is None:
        return DomainJudgement("inconsistency", 0, "Not assessable: no I² available.", rule,
                               values, assessable=False)
    i2 = ev.i2
    text = f"I² = {i2:.0f}%"
    if i2 < th.i2_serious:
        return DomainJudgement("inconsistency", 0, f"{text} (below {th.i2_serious:g}%).", rule,
                               values)
    if i2 < th.i2_very_serious:
        return DomainJudgement("inconsistency", -1, f"{text} (between {th.i2_serious:g}% and "
                               f"{th.i2_very_serious:g}%).", rule, values)
    # I^2 in the top band: very serious only if the prediction interval spans appreciable
    # benefit and appreciable harm.
    head = f"{text} (>= {th.i2_very_serious:g}%)"
    if ev.pi_lo is None or ev.pi_hi is None:
        return DomainJudgement("inconsistency", -1, f"{head}; no prediction interval, so very "
                               "serious could not be judged.", rule, values)
    values.update(pi_low=ev.nat(ev.pi_lo), pi_high=ev.nat(ev.pi_hi))
    pi = f"prediction interval {ev.show(ev.pi_lo)} to {prose_num(ev.nat(ev.pi_hi))}"
    if ev.mid is None:
        return DomainJudgement("inconsistency", -1, f"{head}; {pi}, but no MID was given, so "
                               "very serious could not be judged.", rule, values)
    lo, hi = ev.mid
    if ev.pi_lo <= lo and ev.pi_hi >= hi:
        return DomainJudgement("inconsistency", -2, f"{head} and the {pi} extends beyond both "
                               f"MID thresholds ({ev.mid_text}).", rule, values)
    return DomainJudgement("inconsistency", -1, f"{head}; the {pi} does not extend beyond both "
                           f"MID thresholds ({ev.mid_text}).", rule, values)


def _judge_imprecision(ev: _Evidence, ois: int | None, ois_text: str | None,
                       th: Thresholds) -> DomainJudgement:
    values: dict[str, Any] = {"ci_low": None, "ci_high": None, "mid_low": None,
                              "mid_high": None, "n": ev.n, "ois": ois}
    if ev.lo is None or ev.hi is None:
        return DomainJudgement("imprecision", 0, "Not assessable: no confidence interval.",
                               _RULE_IMP, values, assessable=False)
    if not ev.comparative:
        return DomainJudgement("imprecision", 0, f"Not assessable from data: {ev.measure} is a "
                               "single-group measure with no null effect; reviewer judgement "
                               "required.", _RULE_IMP, values, assessable=False)
    lo, hi = ev.lo, ev.hi
    values.update(ci_low=ev.nat(lo), ci_high=ev.nat(hi))
    ci = f"the {ev.level:g}% CI ({ev.show(lo)} to {prose_num(ev.nat(hi))})"
    crosses = lo < 0 < hi
    if ev.mid is not None:
        ml, mh = ev.mid
        values.update(mid_low=ev.nat(ml), mid_high=ev.nat(mh))
        if lo <= ml and hi >= mh:
            change, text = -2, (f"{ci} includes both appreciable benefit and harm (MID "
                                f"thresholds {ev.mid_text})")
        elif crosses and (lo <= ml or hi >= mh):
            side = ev.show(ml) if lo <= ml else ev.show(mh)
            change, text = -1, (f"{ci} crosses the null ({ev.null_text}) and includes the MID "
                                f"threshold {side}")
        elif crosses:
            change, text = 0, (f"{ci} crosses the null but excludes both MID thresholds "
                               f"({ev.mid_text})")
        else:
            change, text = 0, f"{ci} excludes the null ({ev.null_text})"
    elif crosses:
        change, text = -1, (f"{ci} crosses the null ({ev.null_text}); no MID was given, so very "
                            "serious could not be judged")
    else:
        change, text = 0, f"{ci} excludes the null ({ev.null_text}); no MID was given"
    if ois is not None and ev.n is not None:
        src = f" ({ois_text})" if ois_text else ""
        if ev.n < ois:
            change = min(change, -1)
            text += f"; total N = {ev.n} is below the optimal information size of {ois}{src}"
        else:
            text += f"; total N = {ev.n} meets the optimal information size of {ois}{src}"
    elif ev.n is None and ois is not None:
        text += f"; the optimal information size is {ois} but the number of participants is unknown"
    return DomainJudgement("imprecision", change, text[0].upper() + text[1:] + ".", _RULE_IMP,
                           values)


def _judge_publication_bias(k: int | None, egger_p: float | None, egger_note: str | None,
                            th: Thresholds) -> DomainJudgement:
    rule = _RULE_PB.format(k=th.egger_min_k, a=th.egger_alpha)
    values = {"k": k, "egger_p": egger_p}
    if k is None or k < th.egger_min_k:
        kk = "unknown" if k is None else str(k)
        return DomainJudgement("publication_bias", 0, f"Not assessable from data: k = {kk}, "
                               f"fewer than {th.egger_min_k} studies for a funnel-plot asymmetry "
                               "test; reviewer judgement required.", rule, values,
                               assessable=False)
    if egger_p is None:
        note = f" ({egger_note})" if egger_note else ""
        return DomainJudgement("publication_bias", 0, f"Not assessed: no Egger's test p-value"
                               f"{note}; reviewer judgement required.", rule, values,
                               assessable=False)
    if egger_p < th.egger_alpha:
        return DomainJudgement("publication_bias", -1, f"Publication bias suspected: Egger's test "
                               f"{prose_p(egger_p)} (< {th.egger_alpha:g}) with k = {k}.", rule,
                               values)
    return DomainJudgement("publication_bias", 0, f"Egger's test {prose_p(egger_p)} "
                           f"(>= {th.egger_alpha:g}) with k = {k}.", rule, values)


def _judge_large_effect(ev: _Evidence, design: str, th: Thresholds) -> DomainJudgement:
    rule = _RULE_LE.format(l=th.large_effect, il=1 / th.large_effect, v=th.very_large_effect,
                           iv=1 / th.very_large_effect)
    values: dict[str, Any] = {"ratio": None}
    if design == "randomised":
        return DomainJudgement("large_effect", 0, "Not applicable: randomised evidence starts at "
                               "high and is not rated up.", rule, values, assessable=False)
    if ev.est is None or not ev.ratio:
        what = "no effect estimate" if ev.est is None else f"{ev.measure} is not a ratio measure"
        return DomainJudgement("large_effect", 0, f"Not assessable from data ({what}); reviewer "
                               "judgement required.", rule, values, assessable=False)
    r = ev.nat(ev.est)
    values["ratio"] = r
    big, huge = th.large_effect, th.very_large_effect
    shown = f"{ev.measure} = {prose_num(r)}"
    for change, cut, name in ((2, huge, "very large"), (1, big, "large")):
        if r > cut:
            return DomainJudgement("large_effect", change,
                                   f"{shown} is above {prose_num(cut)} ({name} effect).",
                                   rule, values)
        if r < 1 / cut:
            return DomainJudgement("large_effect", change,
                                   f"{shown} is below {prose_num(1 / cut)} ({name} effect).",
                                   rule, values)
    return DomainJudgement("large_effect", 0,
                           f"{shown} is within {prose_num(1 / big)} to {prose_num(big)}.",
                           rule, values)


def _reviewer(domain: str, given: int | Override | DomainJudgement,
              design: str) -> DomainJudgement:
    """A domain only the reviewer can judge (indirectness, dose-response, confounding), or
    a judgement the caller computed from data (a :class:`DomainJudgement`, e.g. indirectness
    from the protocol's rules)."""
    if isinstance(given, DomainJudgement):
        if given.domain != domain:
            raise InputError(f"{domain}: the judgement given is for {given.domain}")
        _check_change(domain, given.change)
        return given
    if domain in UPGRADE_DOMAINS and design == "randomised" and given == 0:
        return DomainJudgement(domain, 0, "Not applicable: randomised evidence is not rated up.",
                               _RULE_REVIEWER, assessable=False)
    if isinstance(given, Override):
        _check_change(domain, given.change)
        return DomainJudgement(domain, given.change, f"Reviewer judgement: {given.reason}",
                               _RULE_REVIEWER, by=given.by, reason=given.reason, date=given.date)
    if isinstance(given, bool) or not isinstance(given, (int, np.integer)):
        raise InputError(f"{domain} must be an integer level change or an Override "
                         f"(got {given!r})")
    _check_change(domain, int(given))
    if given == 0:
        return DomainJudgement(domain, 0, _NOT_ASSESSED, _RULE_REVIEWER, assessable=False)
    return DomainJudgement(domain, int(given), f"Reviewer judgement: {_label(domain, int(given))} "
                           "(no reason given).", _RULE_REVIEWER)


def _check_change(domain: str, change: int) -> None:
    if change not in _ALLOWED[domain]:
        allowed = ", ".join(f"{c:+d}" if c else "0" for c in _ALLOWED[domain])
        raise InputError(f"{domain}: level change must be one of {allowed} (got {change})")


def _domain_key(name: str) -> str:
    key = "_".join(str(name).strip().lower().replace("-", " ").split())
    key = {"publication": "publication_bias", "rob": "risk_of_bias", "bias": "risk_of_bias",
           "confounding": "plausible_confounding", "dose": "dose_response",
           "dose_response_gradient": "dose_response"}.get(key, key)
    if key not in DOMAINS:
        raise InputError(f"override for unknown domain {name!r}; use one of {', '.join(DOMAINS)}")
    return key


def _as_override(name: str, value: Override | Mapping[str, Any]) -> Override:
    if isinstance(value, Override):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"change", "reason", "by", "date"}
        if unknown or "change" not in value:
            raise InputError(f"override for {name}: give change and reason (got keys "
                             f"{', '.join(sorted(map(str, value)))})")
        return Override(value["change"], value.get("reason", ""), value.get("by"),
                        value.get("date"))
    raise InputError(f"override for {name} must be an Override or a mapping with change and "
                     f"reason (got {value!r})")


def _footnote(d: DomainJudgement) -> str | None:
    name = DOMAIN_LABELS[d.domain]
    change = d.effective_change
    if change == 0 and not d.overridden and not (d.change and not d.applied):
        return None
    if change < 0:
        head = f"Downgraded {'one level' if change == -1 else 'two levels'} for {name} ({d.label})"
    elif change > 0:
        head = f"Upgraded {'one level' if change == 1 else 'two levels'} for {name} ({d.label})"
    elif d.change and not d.applied:
        return (f"Not upgraded for {name}: {d.rationale.rstrip('.')}; rating up applies only to "
                "observational evidence with no reason to rate down (GRADE guidelines 9).")
    else:
        verb = "downgraded" if d.domain in DOWNGRADE_DOMAINS else "upgraded"
        head = f"Not {verb} for {name}"
    if d.overridden and d.proposed is not None:
        who = ", ".join(x for x in (d.by, d.date) if x)
        return (f"{head}: {d.reason.rstrip('.') if d.reason else ''} (reviewer override"
                f"{' by ' + who if who else ''}; the rule proposed {d.proposed.label}: "
                f"{d.proposed.rationale.rstrip('.')}).")
    body = d.rationale
    if body.startswith("Reviewer judgement: "):
        body = body[len("Reviewer judgement: "):]
    return f"{head}: {body.rstrip('.')}."


# ---- the engine ------------------------------------------------------------------------------
def assess_certainty(
    outcome: str,
    *,
    design: str,
    fit: MetaAnalysis | None = None,
    measure: str | None = None,
    estimate: float | None = None,
    ci_low: float | None = None,
    ci_high: float | None = None,
    level: float | None = None,
    i2: float | None = None,
    pi_low: float | None = None,
    pi_high: float | None = None,
    k: int | None = None,
    n_participants: int | None = None,
    risk_of_bias: str | Sequence[str] | Mapping[str, str] | None = None,
    weights: Sequence[float] | None = None,
    mid: float | Sequence[float] | None = None,
    mid_scale: str | None = None,
    ois: int | None = None,
    egger_p: float | None = None,
    indirectness: int | Override | DomainJudgement = 0,
    dose_response: int | Override = 0,
    plausible_confounding: int | Override = 0,
    overrides: Mapping[str, Override | Mapping[str, Any]] | None = None,
    thresholds: Thresholds | None = None,
    ceiling: Ceiling | None = None,
) -> Certainty:
    """Grade the certainty of the evidence for one outcome (GRADE).

    The evidence starts HIGH if randomised and LOW if observational (GRADE guidelines 3:
    Balshem H et al. J Clin Epidemiol 2011;64:401-406). Each domain below is *proposed* from
    the data by the stated rule; ``overrides`` replace proposals with a reviewer's judgement
    (its reason is required and the proposal is kept). The final level is the start plus all
    changes, clamped to [very low, high]. Rating up counts only for observational evidence
    that was not rated down in any domain (GRADE guidelines 9: Guyatt GH et al. J Clin
    Epidemiol 2011;64:1311-1316); otherwise rating-up judgements are recorded but not applied.

    Rules (defaults in :class:`Thresholds`):

    Risk of bias
        From per-study categories (low / some concerns / high; RoB 1's "unclear" and
        ROBINS-I's "moderate" count as some concerns, "serious" and "critical" as high),
        weighted by the studies' meta-analysis weights: share of weight at high risk >= 0.5:
        very serious (-2); share at high risk or with some concerns >= 0.5: serious (-1); else
        not serious. This is the project's operationalisation of the GRADE handbook (5.2.1)
        question whether most of the weight comes from studies at high risk of bias (GRADE
        guidelines 4: Guyatt GH et al. J Clin Epidemiol 2011;64:407-415). No categories:
        not assessed (0).
    Inconsistency
        I^2 < 50%: not serious; 50% <= I^2 < 75%: serious; I^2 >= 75%: very serious if the
        prediction interval also includes both appreciable benefit and appreciable harm
        (extends beyond both MID thresholds, so it crosses the null), else serious. Fewer than
        2 studies: not assessable (0). GRADE guidelines 7 (Guyatt GH et al. J Clin Epidemiol
        2011;64:1294-1302); I^2 bands from the Cochrane Handbook 10.10.2.
    Indirectness
        Not computable from the numbers: the reviewer's ``indirectness`` (0 by default,
        recorded as "not assessed from data; reviewer judgement required"), or a judgement
        computed from declared rules (a :class:`DomainJudgement` for ``indirectness``, e.g.
        a population the protocol declares indirect). GRADE guidelines 8 (Guyatt GH et al.
        J Clin Epidemiol 2011;64:1303-1310).
    Imprecision
        Against the null and the MID thresholds: CI includes both MID thresholds (appreciable
        benefit and harm): very serious (-2); CI crosses the null and includes one MID
        threshold: serious (-1); plus the optimal information size: total N below the OIS:
        at least serious. Without a MID (non-ratio measures) a CI crossing the null is serious.
        GRADE guidelines 6 (Guyatt GH et al. J Clin Epidemiol 2011;64:1283-1293).
    Publication bias
        With k >= 10 studies: Egger's regression test p < 0.10: serious (publication bias
        "suspected"); fewer studies: not assessable (0). GRADE guidelines 5 (Guyatt GH et al.
        J Clin Epidemiol 2011;64:1277-1282); the k >= 10 rule from Sterne JAC et al. BMJ
        2011;343:d4002.
    Large effect (observational only)
        Point estimate of a ratio measure: RR > 2 or < 0.5: +1; > 5 or < 0.2: +2 (GRADE
        guidelines 9). Odds ratios are read as risk ratios (close when risks are low).
    Dose-response, plausible confounding (observational only)
        The reviewer's ``dose_response`` and ``plausible_confounding`` (+1 each).

    Parameters
    ----------
    outcome : str
        Outcome name, with its time window if any (e.g. ``"Mortality at 30 days"``).
    design : {"randomised", "observational"}
        The body of evidence ("randomized" and "RCT" are accepted).
    fit : MetaAnalysis, optional
        The pooled analysis. Gives measure, estimate, CI, I^2, prediction interval, k, the
        number of participants (from the arms), study weights, Egger's test (k >= 10) and the
        OIS (RR/OR from the pooled control risk, MD from the pooled SD, SMD with SD 1).
    measure, estimate, ci_low, ci_high, level, i2, pi_low, pi_high, k, n_participants
        For a review-level estimate without a fit, or to replace the fit's values. Effects are
        on the natural scale as reported (RR 0.62, not its log); ``i2`` in percent.
    risk_of_bias : str, sequence of str or mapping, optional
        One category per study (aligned with ``fit.study``), a mapping study -> category, or a
        single category for the whole body of evidence.
    weights : sequence of float, optional
        Study weights for ``risk_of_bias`` (default: the fit's weights, else equal).
    mid : float or (float, float), optional
        Minimal important difference: a positive distance from the null on the analysis scale
        (log scale for ratios), or a pair of thresholds on the natural scale, e.g.
        ``(0.75, 1.25)`` for a risk ratio or ``(-10, 10)`` points. Default for ratio measures:
        ``thresholds.ratio_mid`` (RR 0.75 and 1.25, GRADE guidelines 6); none otherwise.
    mid_scale : str, optional
        What the MID is measured in (e.g. "points on a 0-100 VAS"), for the rationale.
    ois : int, optional
        Optimal information size (total participants); replaces the computed one.
    egger_p : float, optional
        Egger's test p-value; replaces the one computed from the fit.
    indirectness, dose_response, plausible_confounding : int or Override
        The reviewer's judgement (an :class:`Override` carries the reason); ``indirectness``
        may also be a computed :class:`DomainJudgement` (a proposal ``overrides`` can
        replace).
    overrides : mapping of domain name to Override, optional
        Reviewer overrides of any domain; a mapping ``{"change": -1, "reason": "..."}`` is
        accepted too.
    thresholds : Thresholds, optional
        The rules' thresholds.
    ceiling : Ceiling, optional
        A level the result may not exceed (e.g. the certainty the source review itself
        reported) unless the ceiling carries a reason for lifting it; the result records the
        level before the cap and a note that is printed beside the grade.

    Returns
    -------
    Certainty

    Raises
    ------
    InputError
        For an unknown design, domain or risk-of-bias category, an override without a reason,
        a level change out of range, or inconsistent numbers.
    """
    th = thresholds if thresholds is not None else Thresholds()
    if not isinstance(outcome, str) or not outcome.strip():
        raise InputError("outcome must be a non-empty name")
    key = str(design).strip().lower()
    if key not in _DESIGNS:
        raise InputError(f"design must be 'randomised' or 'observational' (got {design!r})")
    design = _DESIGNS[key]
    start = "high" if design == "randomised" else "low"

    # -- the evidence, on the analysis scale
    ois_text = None
    egger_note = None
    if fit is not None:
        if not isinstance(fit, MetaAnalysis):
            raise InputError(f"fit must be a MetaAnalysis (got {type(fit).__name__})")
        if not fit.intercept_only:
            raise InputError("GRADE needs a pooled estimate, but the fit is a meta-regression "
                             f"(moderators: {', '.join(fit.mods) or 'given'})")
    m = (measure.upper() if measure is not None else None) or (fit.measure if fit else None)
    if m is not None and m not in MEASURE_TABLE:
        raise InputError(f"unknown measure {measure!r}; choose one of "
                         f"{', '.join(MEASURE_TABLE)}")
    if fit is not None and measure is not None and m != fit.measure:
        raise InputError(f"measure {measure!r} does not match the fit's measure {fit.measure}")
    nat = {n: _num(v, n) for n, v in (("estimate", estimate), ("ci_low", ci_low),
                                      ("ci_high", ci_high), ("pi_low", pi_low),
                                      ("pi_high", pi_high))}
    if m is None and any(v is not None for v in nat.values()):
        raise InputError("measure is required with estimate, ci_low, ci_high, pi_low or "
                         "pi_high (e.g. measure='RR' or 'MD')")
    an = {n: (_to_analysis(m, v, n) if m is not None else v) for n, v in nat.items()}
    if fit is not None:
        for n, v in (("estimate", fit.estimate), ("ci_low", fit.ci_low),
                     ("ci_high", fit.ci_high), ("pi_low", fit.pi_low), ("pi_high", fit.pi_high)):
            if an[n] is None:
                an[n] = _num(v, n)
    if (an["ci_low"] is None) != (an["ci_high"] is None):
        raise InputError("give both ci_low and ci_high (or neither)")
    if an["ci_low"] is not None and an["ci_high"] is not None:
        if an["ci_low"] > an["ci_high"]:
            raise InputError(f"ci_low ({ci_low}) is above ci_high ({ci_high})")
        e = an["estimate"]
        if e is not None and not an["ci_low"] - 1e-12 <= e <= an["ci_high"] + 1e-12:
            raise InputError(f"the estimate lies outside its confidence interval "
                             f"({estimate} not in [{ci_low}, {ci_high}])")
    if (an["pi_low"] is None) != (an["pi_high"] is None):
        raise InputError("give both pi_low and pi_high (or neither)")
    lvl = _num(level, "level") if level is not None else (fit.level if fit is not None else 95.0)
    if lvl is None or not 0 < lvl < 100:
        raise InputError(f"level must be between 0 and 100 (got {level})")
    i2v = _num(i2, "i2") if i2 is not None else (_num(fit.i2, "i2") if fit is not None else None)
    if i2v is not None and not 0 <= i2v <= 100:
        raise InputError(f"i2 is a percentage, so must be in [0, 100] (got {i2v:g})")
    kv = _count(k, "k") if k is not None else (fit.k if fit is not None else None)
    nv = (_count(n_participants, "n_participants") if n_participants is not None
          else (_participants(fit) if fit is not None else None))
    mid_an, mid_text = _resolve_mid(m, mid, th)
    if mid_text is not None and mid_scale:
        mid_text += f", {mid_scale}"
    ev = _Evidence(m, an["estimate"], an["ci_low"], an["ci_high"], an["pi_low"], an["pi_high"],
                   i2v, kv, nv, float(lvl), mid_an, mid_text)

    # -- optimal information size
    if ois is not None:
        ois_v = _count(ois, "ois")
        ois_text = "given"
    else:
        ois_v, ois_text = _ois_from_fit(fit, ev, th)

    # -- Egger's test
    egger = _num(egger_p, "egger_p")
    if egger is not None and not 0 <= egger <= 1:
        raise InputError(f"egger_p must be a p-value in [0, 1] (got {egger:g})")
    if egger is None and fit is not None and kv is not None and kv >= th.egger_min_k:
        egger, egger_note = _egger(fit)

    proposals: dict[str, DomainJudgement] = {
        "risk_of_bias": _judge_rob(_rob_categories(risk_of_bias, fit, weights), th),
        "inconsistency": _judge_inconsistency(ev, th),
        "indirectness": _reviewer("indirectness", indirectness, design),
        "imprecision": _judge_imprecision(ev, ois_v, ois_text, th),
        "publication_bias": _judge_publication_bias(kv, egger, egger_note, th),
        "large_effect": _judge_large_effect(ev, design, th),
        "dose_response": _reviewer("dose_response", dose_response, design),
        "plausible_confounding": _reviewer("plausible_confounding", plausible_confounding,
                                           design),
    }

    # -- overrides
    domains = dict(proposals)
    for name, value in (overrides or {}).items():
        dom = _domain_key(name)
        ov = _as_override(dom, value)
        _check_change(dom, ov.change)
        domains[dom] = DomainJudgement(
            dom, ov.change, f"Reviewer override: {ov.reason}", proposals[dom].rule,
            dict(proposals[dom].values), assessable=True, overridden=True, reason=ov.reason,
            by=ov.by, proposed=proposals[dom], date=ov.date)

    # -- rating up only counts for observational evidence not rated down (GRADE guidelines 9)
    down = sum(domains[d].change for d in DOWNGRADE_DOMAINS)
    eligible = design == "observational" and down == 0
    for d in UPGRADE_DOMAINS:
        if domains[d].change and not eligible:
            domains[d] = replace(domains[d], applied=False)
    up = sum(domains[d].effective_change for d in UPGRADE_DOMAINS)
    score = LEVELS.index(start) + 1 + down + up
    final = LEVELS[min(4, max(1, score)) - 1]
    uncapped = final
    cap_note = None
    if ceiling is not None:
        final, cap_note = ceiling.apply(final)
    notes = tuple(n for n in (_footnote(domains[d]) for d in DOMAINS) if n is not None)
    notes += (cap_note,) if cap_note is not None else ()

    def shown(x: float | None) -> float | None:
        return None if x is None else ev.nat(x)

    return Certainty(
        outcome=outcome.strip(), design=design, start=start, domains=domains, final=final,
        footnotes=notes, measure=m, estimate=shown(ev.est), ci_low=shown(ev.lo),
        ci_high=shown(ev.hi), level=ev.level, k=kv, n_participants=nv, uncapped=uncapped,
        ceiling=ceiling, cap_note=cap_note,
    )


def _ois_from_fit(fit: MetaAnalysis | None, ev: _Evidence,
                  th: Thresholds) -> tuple[int | None, str | None]:
    """OIS from the fit's arms and the MID, where the measure allows (else None)."""
    if fit is None or fit.effects is None or ev.mid is None:
        return None, None
    arms = fit.effects.arms
    a, p = th.ois_alpha, th.ois_power
    setting = f"alpha {a:g}, power {p:g}"
    if fit.measure in ("RR", "OR") and "ci" in arms and "n2i" in arms:
        n2 = float(np.sum(arms["n2i"]))
        p0 = float(np.sum(arms["ci"])) / n2 if n2 > 0 else 0.0
        rrr = 1 - math.exp(ev.mid[0])
        if not 0 < p0 < 1 or not 0 < rrr < 1:
            return None, None
        return (optimal_information_size_binary(p0, rrr, a, p),
                f"control risk {prose_num(p0)}, relative risk reduction {prose_num(rrr)}, "
                f"{setting}")
    if fit.measure == "MD" and "sd1i" in arms and "sd2i" in arms:
        n1, n2 = np.asarray(arms["n1i"], float), np.asarray(arms["n2i"], float)
        dfree = float(np.sum(n1 - 1) + np.sum(n2 - 1))
        if dfree <= 0:
            return None, None
        sd = math.sqrt(float(np.sum((n1 - 1) * arms["sd1i"] ** 2 + (n2 - 1) * arms["sd2i"] ** 2))
                       / dfree)
        mid = min(-ev.mid[0], ev.mid[1])
        if sd <= 0:
            return None, None
        return (optimal_information_size_continuous(mid, sd, a, p),
                f"MID {prose_num(mid)}, pooled SD {prose_num(sd)}, {setting}")
    if fit.measure == "SMD":
        mid = min(-ev.mid[0], ev.mid[1])
        return (optimal_information_size_continuous(mid, 1.0, a, p),
                f"SMD {prose_num(mid)}, {setting}")
    return None, None


def _egger(fit: MetaAnalysis) -> tuple[float | None, str | None]:
    """Egger's test p from the fit (a fixed-effect refit for Mantel-Haenszel/Peto fits)."""
    from metareview.diagnostics import regtest
    from metareview.models.rma import meta_analysis

    target = fit
    try:
        if not fit.is_inverse_variance:
            if fit.effects is None:
                return None, "the fit carries no effect sizes"
            target = meta_analysis(fit.effects, method="FE", level=fit.level)
        if fit.effects is None:
            return None, "the fit carries no effect sizes"
        p = float(regtest(target).p)
    except (InputError, ValueError, np.linalg.LinAlgError) as exc:
        return None, f"Egger's test failed: {exc}"
    return (p if np.isfinite(p) else None), None

