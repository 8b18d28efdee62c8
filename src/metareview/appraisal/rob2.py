"""RoB 2: the revised Cochrane risk-of-bias tool for randomised trials (domain level).

Sterne JAC, Savović J, Page MJ, et al. RoB 2: a revised tool for assessing risk of bias in
randomised trials. BMJ 2019;366:l4898. Higgins JPT, Savović J, Page MJ, Sterne JAC (eds).
Revised Cochrane risk-of-bias tool for randomized trials (RoB 2), full guidance document,
22 August 2019.

Each of five domains is judged "low risk of bias", "some concerns" or "high risk of bias" for
one result; the overall judgement follows from the domain judgements. The signalling questions
and their per-domain algorithms are not implemented here: give the domain judgements.
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
    is_int,
    keyed,
    risk_of_bias_category,
    worst,
)
from metareview.errors import InputError

Rob2Judgement = Literal["low", "some concerns", "high"]

#: Judgement options, best first, and the wording the tool prints for each.
JUDGEMENTS: tuple[Rob2Judgement, ...] = ("low", "some concerns", "high")
JUDGEMENT_LABELS: dict[str, str] = {
    "low": "Low risk of bias",
    "some concerns": "Some concerns",
    "high": "High risk of bias",
}

#: The five domains (Sterne et al. 2019, Table 1).
DOMAINS: tuple[Domain, ...] = (
    Domain("D1", "Bias arising from the randomisation process", "randomisation process",
           ("randomisation", "randomization", "randomization process",
            "bias arising from the randomization process")),
    Domain("D2", "Bias due to deviations from intended interventions",
           "deviations from intended interventions", ("deviations",)),
    Domain("D3", "Bias due to missing outcome data", "missing outcome data", ("missing data",)),
    Domain("D4", "Bias in measurement of the outcome", "measurement of the outcome",
           ("measurement", "outcome measurement")),
    Domain("D5", "Bias in selection of the reported result", "selection of the reported result",
           ("reported result", "selective reporting", "reporting")),
)
KEYS = tuple(d.key for d in DOMAINS)

_OPTIONS = {
    "low": "low", "low risk": "low", "low risk of bias": "low",
    "some concerns": "some concerns", "some concern": "some concerns",
    "high": "high", "high risk": "high", "high risk of bias": "high",
}


@dataclass(frozen=True)
class Rob2Assessment:
    """RoB 2 domain judgements for one result and the overall judgement.

    Attributes
    ----------
    domains : dict
        ``"D1"`` ... ``"D5"`` -> ``"low"``, ``"some concerns"`` or ``"high"``.
    overall : {"low", "some concerns", "high"}
        Overall risk of bias of the result.
    reason : str
        Which rule gave ``overall``.
    many_concerns_is_high : int or None
        The reviewer's threshold for "some concerns in multiple domains" counting as high risk
        (None: not applied).
    """

    domains: dict[str, Rob2Judgement]
    overall: Rob2Judgement
    reason: str
    many_concerns_is_high: int | None = None

    instrument: ClassVar[str] = "RoB 2"

    @property
    def rating(self) -> Rob2Judgement:
        """The overall judgement (the name every appraisal result shares)."""
        return self.overall

    @property
    def n_some_concerns(self) -> int:
        """Number of domains judged "some concerns"."""
        return sum(v == "some concerns" for v in self.domains.values())

    @property
    def n_high(self) -> int:
        """Number of domains judged high risk."""
        return sum(v == "high" for v in self.domains.values())

    @property
    def risk_of_bias(self) -> RobCategory:
        """Risk-of-bias category (the RoB 2 overall judgement itself)."""
        return risk_of_bias_category(self)

    def summary(self) -> str:
        """Readable domain table and overall judgement."""
        lines = ["RoB 2 (Cochrane risk-of-bias tool for randomised trials)"]
        for d in DOMAINS:
            lines.append(f"  {d.key} {d.short + ':':<42}{JUDGEMENT_LABELS[self.domains[d.key]]}")
        lines.append(f"Overall: {JUDGEMENT_LABELS[self.overall]} ({self.reason})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable({
            "instrument": self.instrument,
            "domains": dict(self.domains),
            "overall": self.overall,
            "reason": self.reason,
            "many_concerns_is_high": self.many_concerns_is_high,
            "risk_of_bias": self.risk_of_bias,
        })


def rob2_overall(
    domains: Mapping[str, str] | Sequence[str],
    *,
    many_concerns_is_high: int | None = None,
) -> Rob2Assessment:
    """Overall RoB 2 judgement from the five domain judgements.

    Parameters
    ----------
    domains : mapping or sequence
        ``{"D1": "low", ...}`` keyed by domain number, name or short name (see
        :data:`DOMAINS`; case, ``_`` and ``-`` ignored), or five judgements in domain order.
        Judgements: "low" / "low risk of bias", "some concerns", "high" / "high risk of bias".
    many_concerns_is_high : int, optional
        Number of "some concerns" domains (2-5) from which the result is judged at high risk.
        RoB 2 allows "some concerns for multiple domains in a way that substantially lowers
        confidence in the result" to be judged high risk but leaves the threshold to the
        reviewers; ``None`` (default) applies no such rule.

    Returns
    -------
    Rob2Assessment

    Raises
    ------
    InputError
        Unknown, repeated or missing domain; a judgement not among the three options; a
        threshold that is not a whole number from 2 to 5.

    Notes
    -----
    Overall risk of bias (Sterne et al. 2019, Table 2): *low* if the result is at low risk of
    bias in all domains; *some concerns* if some concerns are raised in at least one domain but
    no domain is at high risk; *high* if at least one domain is at high risk, or there are some
    concerns in multiple domains in a way that substantially lowers confidence (here: at least
    ``many_concerns_is_high`` domains).

    Examples
    --------
    >>> rob2_overall(["low", "some concerns", "low", "low", "some concerns"]).overall
    'some concerns'
    >>> rob2_overall(["low", "some concerns", "low", "low", "some concerns"],
    ...              many_concerns_is_high=2).overall
    'high'
    """
    if many_concerns_is_high is not None and (
        not is_int(many_concerns_is_high) or not 2 <= int(many_concerns_is_high) <= 5
    ):
        raise InputError(
            f"RoB 2 many_concerns_is_high {many_concerns_is_high!r}: must be a whole number of "
            "domains from 2 to 5 (\"multiple\" domains) or None"
        )
    raw = keyed(domains, KEYS, domain_aliases(DOMAINS), "RoB 2 domain")
    judged: dict[str, Rob2Judgement] = {
        k: choice(v, _OPTIONS, f"RoB 2 domain {k}") for k, v in raw.items()  # type: ignore[misc]
    }
    n_some = sum(v == "some concerns" for v in judged.values())
    overall: Rob2Judgement = worst(judged.values(), JUDGEMENTS)  # type: ignore[assignment]
    if overall == "high":
        high = [k for k, v in judged.items() if v == "high"]
        reason = f"high risk of bias in {', '.join(high)}"
    elif many_concerns_is_high is not None and n_some >= many_concerns_is_high:
        overall = "high"
        reason = (f"some concerns in {n_some} domains (threshold {many_concerns_is_high}), "
                  "substantially lowering confidence in the result")
    elif overall == "some concerns":
        some = [k for k, v in judged.items() if v == "some concerns"]
        reason = f"some concerns in {', '.join(some)}, no domain at high risk"
    else:
        reason = "low risk of bias in all domains"
    return Rob2Assessment(
        domains=judged, overall=overall, reason=reason,
        many_concerns_is_high=None if many_concerns_is_high is None else int(many_concerns_is_high),
    )
