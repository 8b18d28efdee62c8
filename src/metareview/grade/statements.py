"""Plain-language statements of findings, worded by certainty (GRADE guidelines 26).

Santesso N, Glenton C, Dahm P, et al. GRADE guidelines 26: informative statements to
communicate the findings of systematic reviews of interventions. J Clin Epidemiol
2020;119:126-135. The verb carries the certainty: high "reduces", moderate "probably reduces",
low "may reduce", very low "the evidence is very uncertain about the effect".

"Little or no difference" claims an effect too small to matter: it is said only when the
confidence interval excludes the minimal important difference (MID) on both sides. An interval
that includes no effect and an important effect is "uncertain": the statement then says which
way the point estimate leans and that the interval includes no effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Certainty = Literal["high", "moderate", "low", "very low"]
Direction = Literal["benefit", "harm", "no difference", "unclear"]
Change = Literal["increase", "reduce", "none", "uncertain"]

_VERBS: dict[tuple[str, str], str] = {
    ("high", "increase"): "increases",
    ("moderate", "increase"): "probably increases",
    ("low", "increase"): "may increase",
    ("high", "reduce"): "reduces",
    ("moderate", "reduce"): "probably reduces",
    ("low", "reduce"): "may reduce",
    ("high", "none"): "makes little or no difference to",
    ("moderate", "none"): "probably makes little or no difference to",
    ("low", "none"): "may make little or no difference to",
}


def statement(
    intervention: str, outcome: str, change: Change, certainty: Certainty | None,
    lean: Literal["increase", "reduce"] | None = None,
) -> str:
    """One sentence in GRADE's informative-statement wording.

    Parameters
    ----------
    intervention, outcome : str
        E.g. ``"Oral aspirin"`` and ``"pain intensity"``.
    change : {"increase", "reduce", "none", "uncertain"}
        From :func:`change_from_interval`: the interval excludes no effect on one side
        ("increase", "reduce"), lies within the MIDs ("none", little or no difference), or
        includes no effect and an important effect ("uncertain").
    certainty : {"high", "moderate", "low", "very low"} or None
        GRADE certainty; ``None`` when not graded (the statement then says so).
    lean : {"increase", "reduce"}, optional
        For ``"uncertain"``: the side of no effect the point estimate lies on.

    Examples
    --------
    >>> statement("Oral aspirin", "pain intensity", "reduce", "low")
    'Oral aspirin may reduce pain intensity (low certainty).'
    >>> statement("Aspirin", "pain", "uncertain", "low", lean="reduce")
    'Aspirin may reduce pain, but the confidence interval includes no effect (low certainty).'
    """
    if certainty is None:
        return (f"The effect of {intervention} on {outcome} has not been graded; "
                "see the estimate and its source.")
    if certainty == "very low":
        return (f"The evidence is very uncertain about the effect of {intervention} on "
                f"{outcome} (very low certainty).")
    if change == "uncertain":
        if lean is None:
            text = (f"The effect of {intervention} on {outcome} is uncertain: the confidence "
                    f"interval includes no effect and an important effect ({certainty} "
                    "certainty).")
        else:
            verb = _VERBS[(certainty, lean)]
            text = (f"{intervention} {verb} {outcome}, but the confidence interval includes "
                    f"no effect ({certainty} certainty).")
    else:
        text = f"{intervention} {_VERBS[(certainty, change)]} {outcome} ({certainty} certainty)."
    return text[0].upper() + text[1:]


def change_from_interval(
    ci_low: float, ci_high: float, null: float,
    mid: float | Sequence[float] | None = None,
) -> Change:
    """Direction for :func:`statement` from a confidence interval, the null and the MID.

    An interval that excludes the null gives the side it lies on. One that contains the null
    gives ``"none"`` (little or no difference) only when it also excludes the MID on both sides
    (it lies strictly between the two thresholds); otherwise ``"uncertain"``: the interval is
    compatible with no effect and with an important one (GRADE guidelines 26, Santesso 2020).
    Without a MID an interval containing the null is always ``"uncertain"``.

    Parameters
    ----------
    ci_low, ci_high : float
        The interval, on the natural scale (RR 0.62, not its log).
    null : float
        No effect: 1 for ratios, 0 for differences.
    mid : float or (float, float), optional
        A distance from the null (``null - mid`` and ``null + mid``), or the pair of
        thresholds on the natural scale, e.g. ``(0.75, 1.25)`` for a risk ratio.

    Examples
    --------
    >>> change_from_interval(-32.1, 0.5, 0.0, 10.0)
    'uncertain'
    >>> change_from_interval(-0.4, 0.3, 0.0, 1.5)
    'none'
    """
    if not ci_low <= null <= ci_high:
        return "increase" if ci_low > null else "reduce"
    if mid is None:
        return "uncertain"
    if isinstance(mid, (int, float)):
        lo, hi = null - abs(mid), null + abs(mid)
    else:
        lo, hi = (float(x) for x in mid)
    return "none" if lo < ci_low and ci_high < hi else "uncertain"


def lean_of(estimate: float | None, null: float) -> Literal["increase", "reduce"] | None:
    """The side of no effect a point estimate lies on (None on it or when unknown)."""
    if estimate is None or estimate == null:
        return None
    return "increase" if estimate > null else "reduce"
