"""ROBINS-I: risk of bias in non-randomised studies of interventions (domain level).

Sterne JAC, Hernán MA, Reeves BC, et al. ROBINS-I: a tool for assessing risk of bias in
non-randomised studies of interventions. BMJ 2016;355:i4919. Sterne JAC, Higgins JPT, Elbers
RG, Reeves BC and the development group for ROBINS-I. Risk Of Bias In Non-randomized Studies
of Interventions (ROBINS-I): detailed guidance, updated 12 October 2016.

Seven domains (two pre-intervention, one at intervention, four post-intervention) are each
judged low, moderate, serious or critical risk of bias, or "no information"; the overall
judgement follows from them. Signalling questions are not implemented: give the domain
judgements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from metareview._util.jsonable import jsonable
from metareview.appraisal.common import (
    Domain,
    RobCategory,
    choice,
    domain_aliases,
    keyed,
    risk_of_bias_category,
    worst,
)

RobinsIJudgement = Literal["low", "moderate", "serious", "critical", "no information"]

#: Judgement options in the order in which they decide the overall judgement, best first:
#: "no information" sits between moderate and serious (see :func:`robins_i_overall`).
SEVERITY: tuple[RobinsIJudgement, ...] = (
    "low", "moderate", "no information", "serious", "critical",
)
#: Judgement options as the tool lists them, and the wording it prints.
JUDGEMENTS: tuple[RobinsIJudgement, ...] = (
    "low", "moderate", "serious", "critical", "no information",
)
JUDGEMENT_LABELS: dict[str, str] = {
    "low": "Low risk of bias",
    "moderate": "Moderate risk of bias",
    "serious": "Serious risk of bias",
    "critical": "Critical risk of bias",
    "no information": "No information",
}

#: The seven domains (Sterne et al. 2016, Table 1).
DOMAINS: tuple[Domain, ...] = (
    Domain("D1", "Bias due to confounding", "confounding"),
    Domain("D2", "Bias in selection of participants into the study",
           "selection of participants", ("selection of participants into the study",
                                         "participant selection")),
    Domain("D3", "Bias in classification of interventions", "classification of interventions",
           ("classification",)),
    Domain("D4", "Bias due to deviations from intended interventions",
           "deviations from intended interventions", ("deviations",)),
    Domain("D5", "Bias due to missing data", "missing data"),
    Domain("D6", "Bias in measurement of outcomes", "measurement of outcomes",
           ("measurement", "outcome measurement")),
    Domain("D7", "Bias in selection of the reported result", "selection of the reported result",
           ("reported result", "selective reporting", "reporting")),
)
KEYS = tuple(d.key for d in DOMAINS)

_OPTIONS: dict[str, str] = {}
for _j in JUDGEMENTS:
    _OPTIONS[_j] = _j
    if _j != "no information":
        _OPTIONS[f"{_j} risk"] = _j
        _OPTIONS[f"{_j} risk of bias"] = _j
_OPTIONS.update({"ni": "no information", "no info": "no information"})


@dataclass(frozen=True)
class RobinsIAssessment:
    """ROBINS-I domain judgements for one result and the overall judgement.

    Attributes
    ----------
    domains : dict
        ``"D1"`` ... ``"D7"`` -> ``"low"``, ``"moderate"``, ``"serious"``, ``"critical"`` or
        ``"no information"``.
    overall : str
        Overall risk of bias, one of the same five.
    reason : str
        Which rule gave ``overall``.
    """

    domains: dict[str, RobinsIJudgement]
    overall: RobinsIJudgement
    reason: str

    instrument: ClassVar[str] = "ROBINS-I"

    @property
    def rating(self) -> RobinsIJudgement:
        """The overall judgement (the name every appraisal result shares)."""
        return self.overall

    @property
    def risk_of_bias(self) -> RobCategory:
        """Risk-of-bias category by the project's convention (serious/critical -> high, ...)."""
        return risk_of_bias_category(self)

    def summary(self) -> str:
        """Readable domain table and overall judgement."""
        lines = ["ROBINS-I (risk of bias in non-randomised studies of interventions)"]
        for d in DOMAINS:
            lines.append(f"  {d.key} {d.short + ':':<42}{JUDGEMENT_LABELS[self.domains[d.key]]}")
        lines.append(f"Overall: {JUDGEMENT_LABELS[self.overall]} ({self.reason})")
        lines.append(f"Risk-of-bias category (project convention): {self.risk_of_bias}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable({
            "instrument": self.instrument,
            "domains": dict(self.domains),
            "overall": self.overall,
            "reason": self.reason,
            "risk_of_bias": self.risk_of_bias,
        })


def robins_i_overall(domains: Mapping[str, str] | Sequence[str]) -> RobinsIAssessment:
    """Overall ROBINS-I judgement from the seven domain judgements.

    Parameters
    ----------
    domains : mapping or sequence
        ``{"D1": "serious", ...}`` keyed by domain number, name or short name (see
        :data:`DOMAINS`; case, ``_`` and ``-`` ignored), or seven judgements in domain order.
        Judgements: low, moderate, serious, critical (each optionally followed by "risk" or
        "risk of bias"), or "no information" ("NI").

    Returns
    -------
    RobinsIAssessment

    Raises
    ------
    InputError
        Unknown, repeated or missing domain, or a judgement not among the five options.

    Notes
    -----
    Overall risk of bias (Sterne et al. 2016, Table 2): *critical* if at least one domain is
    critical; *serious* if at least one domain is serious but none critical; *no information*
    if there is no clear indication of serious or critical risk and information is lacking in
    one or more domains; *moderate* if all domains are low or moderate; *low* if all are low.
    Equivalently, the overall judgement is the worst domain judgement in the order low <
    moderate < no information < serious < critical. The guidance asks for "no information" in
    one or more *key* domains, which is a reviewer's judgement; here every domain counts as key,
    so a result with an unassessable domain is never rated low or moderate overall.

    Examples
    --------
    >>> robins_i_overall(["serious", "no information", "low", "low", "low", "low",
    ...                   "moderate"]).overall
    'serious'
    """
    raw = keyed(domains, KEYS, domain_aliases(DOMAINS), "ROBINS-I domain")
    judged: dict[str, RobinsIJudgement] = {
        k: choice(v, _OPTIONS, f"ROBINS-I domain {k}")  # type: ignore[misc]
        for k, v in raw.items()
    }
    overall: RobinsIJudgement = worst(judged.values(), SEVERITY)  # type: ignore[assignment]
    which = [k for k, v in judged.items() if v == overall]
    reason = {
        "critical": f"critical risk of bias in {', '.join(which)}",
        "serious": f"serious risk of bias in {', '.join(which)}, none critical",
        "no information": (f"no information in {', '.join(which)}, no indication of serious or "
                           "critical risk"),
        "moderate": f"low or moderate risk in all domains, moderate in {', '.join(which)}",
        "low": "low risk of bias in all domains",
    }[overall]
    return RobinsIAssessment(domains=judged, overall=overall, reason=reason)
