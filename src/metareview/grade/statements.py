"""Plain-language statements of findings, worded by certainty (GRADE guidelines 26).

Santesso N, Glenton C, Dahm P, et al. GRADE guidelines 26: informative statements to
communicate the findings of systematic reviews of interventions. J Clin Epidemiol
2020;119:126-135. The verb carries the certainty: high "reduces", moderate "probably reduces",
low "may reduce", very low "the evidence is very uncertain about the effect".
"""

from __future__ import annotations

from typing import Literal

Certainty = Literal["high", "moderate", "low", "very low"]
Direction = Literal["benefit", "harm", "no difference", "unclear"]

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
    intervention: str, outcome: str, change: Literal["increase", "reduce", "none"],
    certainty: Certainty | None,
) -> str:
    """One sentence in GRADE's informative-statement wording.

    Parameters
    ----------
    intervention, outcome : str
        E.g. ``"Oral aspirin"`` and ``"pain intensity"``.
    change : {"increase", "reduce", "none"}
        The direction of the effect estimate ("none" when the effect is small or the interval
        is centred on no effect).
    certainty : {"high", "moderate", "low", "very low"} or None
        GRADE certainty; ``None`` when not graded (the statement then says so).

    Examples
    --------
    >>> statement("Oral aspirin", "pain intensity", "reduce", "low")
    'Oral aspirin may reduce pain intensity (low certainty).'
    """
    if certainty is None:
        return (f"The effect of {intervention} on {outcome} has not been graded; "
                "see the estimate and its source.")
    if certainty == "very low":
        return (f"The evidence is very uncertain about the effect of {intervention} on "
                f"{outcome} (very low certainty).")
    verb = _VERBS[(certainty, change)]
    text = f"{intervention} {verb} {outcome} ({certainty} certainty)."
    return text[0].upper() + text[1:]


def change_from_interval(
    ci_low: float, ci_high: float, null: float
) -> Literal["increase", "reduce", "none"]:
    """Direction for :func:`statement` from a confidence interval against the null.

    An interval that contains the null gives ``"none"`` (the statement then says "little or no
    difference" or "very uncertain"); otherwise the side of the null it lies on.
    """
    if ci_low <= null <= ci_high:
        return "none"
    return "increase" if ci_low > null else "reduce"
