"""A guideline panel's own Summary of Findings: the outcomes it chooses, in its order, with the
comparator risks it assumes (GRADEpro's interactive SoF).

The rows are the synthesis's own (:attr:`~metareview.synthesis.review.ReviewSynthesis.grades`):
nothing is re-estimated. An assumed comparator risk only changes the absolute effects, worked
out from the pooled relative effect and its CI (GRADE handbook 5.2.4), and its footnote says
that the panel set it and what the data's own risk was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from metareview.errors import InputError
from metareview.grade.certainty import DOMAIN_LABELS, DOWNGRADE_DOMAINS
from metareview.grade.sof import (
    ABSOLUTE_MEASURES,
    SoFRow,
    SummaryOfFindings,
    summary_of_findings,
    with_comparator_risk,
)
from metareview.studies.schema import JudgementRow
from metareview.synthesis.review import ReviewSynthesis, control_risk

#: The level changes a reviewer may choose per GRADE domain, in GRADEpro's words.
JUDGEMENTS: dict[str, tuple[tuple[int, str], ...]] = {
    **{d: ((0, "not serious"), (-1, "serious"), (-2, "very serious"))
       for d in DOWNGRADE_DOMAINS},
    "large_effect": ((0, "none"), (1, "large (+1)"), (2, "very large (+2)")),
    "dose_response": ((0, "none"), (1, "gradient (+1)")),
    "plausible_confounding": ((0, "none"), (1, "would reduce the effect (+1)")),
}


def panel_row(syn: ReviewSynthesis, index: int, risk: float | None = None) -> SoFRow:
    """The SoF row of graded outcome ``index`` (in ``syn.grades``), with absolute effects from
    ``risk`` when given, else from the data's comparator risk as in the report.

    Raises
    ------
    InputError
        No such outcome, a risk outside (0, 1), or a risk for an outcome whose effect is not
        a ratio or a risk difference (no absolute effect per 1,000 to work out).
    """
    if not 0 <= index < len(syn.grades):
        raise InputError(f"outcome {index + 1}: there are {len(syn.grades)} graded outcomes")
    g = syn.grades[index]
    row = g.sof_row
    data_risk, data_source = control_risk(syn.data, g.key[1])
    if risk is None:
        return row if row.absolute is not None else with_comparator_risk(row, data_risk,
                                                                         data_source)
    if row.measure not in ABSOLUTE_MEASURES or row.estimate is None:
        raise InputError(f"{g.name}: its effect ({row.measure}) has no risk with the "
                         "comparator to assume")
    if not 0 < risk < 1:
        raise InputError(f"{g.name}: a risk with the comparator is a proportion between 0 "
                         f"and 1 (got {risk:g})")
    before = (f"the data's own is {1000 * data_risk:.0f} per 1,000" if data_risk is not None
              else "the data hold none")
    source = (f"Assumed risk with the comparator set by the panel: {1000 * risk:g} per "
              f"1,000 ({before}).")
    return with_comparator_risk(replace(row, absolute=None, absolute_missing=None), risk,
                                source)


def panel_sof(syn: ReviewSynthesis, outcomes: Sequence[int] | None = None,
              risks: Mapping[int, float] | None = None) -> SummaryOfFindings:
    """A Summary of Findings table of the chosen graded outcomes, in the order given.

    Parameters
    ----------
    syn : ReviewSynthesis
        The review's synthesis.
    outcomes : sequence of int, optional
        Indexes into ``syn.grades`` (default: all, in the synthesis's order).
    risks : mapping of int to float, optional
        Assumed risk with the comparator (a proportion) per outcome index.

    Raises
    ------
    InputError
        An outcome chosen twice or not there, or a bad risk (see :func:`panel_row`).
    """
    order = list(range(len(syn.grades))) if outcomes is None else [int(i) for i in outcomes]
    if len(set(order)) != len(order):
        raise InputError("an outcome is chosen twice")
    risks = dict(risks or {})
    unknown = sorted(set(risks) - set(order))
    if unknown:
        raise InputError(f"outcome {unknown[0] + 1}: a risk is set for an outcome not shown")
    if not order:
        raise InputError("choose at least one outcome")
    rows = [panel_row(syn, i, risks.get(i)) for i in order]
    pico = syn.data.protocol.pico
    return summary_of_findings(
        rows, title=f"{pico.intervention_name} compared to {pico.comparator_name}",
        population=pico.population, intervention=pico.intervention_name,
        comparison=pico.comparator_name)


def judgement(syn: ReviewSynthesis, index: int, domain: str, change: int, reason: str, *,
              by: str, date: str) -> JudgementRow:
    """A reviewer's GRADE judgement of one domain of graded outcome ``index``, as the row of
    the study data's ``judgements`` table that makes it count (the newest row of a domain
    counts; the reason becomes the SoF footnote).

    Raises
    ------
    InputError
        No such outcome, a change GRADE does not allow in that domain, or no reason.
    """
    if not 0 <= index < len(syn.grades):
        raise InputError("no such graded outcome (the data changed: reload the page)")
    if change not in dict(JUDGEMENTS.get(domain, ())):
        raise InputError(f"{DOMAIN_LABELS.get(domain, domain or 'the domain')}: not a "
                         "judgement GRADE allows here")
    reason = " ".join(reason.split())
    if not reason:
        raise InputError("give the reason for the judgement: it becomes the footnote")
    question, outcome, comparison, window = syn.grades[index].key
    return JudgementRow(question=question, outcome=outcome, comparison=comparison,
                        window=window, domain=domain, change=change, reason=reason, by=by,
                        date=date)


__all__ = ["JUDGEMENTS", "judgement", "panel_row", "panel_sof"]
