"""Uncontrolled (single-arm) results of a review set beside the control arms of its trials.

The question a protocol marks ``answer: reconciliation`` is answered here: each single-arm
responder result (a study with no control group) is reconciled with the placebo/control
responder groups of the data (``placebo_response.csv`` and control arms of ``arms.csv``'s
responder categories), grouped by responder threshold, by
:func:`~metareview.synthesis.reconcile.reconcile_single_arm`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from metareview.studies import OutcomeRow, PlaceboResponseRow, ReviewData, Study
from metareview.synthesis.reconcile import (
    ControlArm,
    Reconciliation,
    ReportedProportion,
    SingleArmResult,
    reconcile_single_arm,
)

_NO_CONTROL = ("none", "no control", "no comparator", "no control group", "pre-post")


@dataclass(frozen=True, eq=False)
class ReconciledResult:
    """One single-arm result against the control groups with one responder threshold."""

    single: SingleArmResult
    threshold: str
    arms: tuple[ControlArm | ReportedProportion, ...]
    reconciliation: Reconciliation

    def answer(self) -> str:
        """The plain-language position and the design differences that apply."""
        rec = self.reconciliation
        applies = [e.factor for e in rec.explanations if e.applies]
        head = " ".join(rec.summary().splitlines()[1:3])
        return (f"Against placebo groups with {self.threshold}: {head}"
                + (" Design differences that can explain the gap: " + "; ".join(applies) + "."
                   if applies else ""))


@dataclass(frozen=True, eq=False)
class ReviewReconciliation:
    """Every single-arm result reconciled, the placebo rows with no usable numbers, and the
    answer in words (``message`` says why nothing could be reconciled, when so)."""

    results: tuple[ReconciledResult, ...]
    unusable: tuple[PlaceboResponseRow, ...]
    message: str | None = None

    @property
    def answer(self) -> str:
        """The answer to the reconciliation question."""
        parts = [self.message] if self.message else []
        return " ".join(parts + [r.answer() for r in self.results])

    def summary(self) -> str:
        """The answer, for people."""
        return self.answer

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"answer": self.answer, "message": self.message,
                "results": [{"study": r.single.label, "threshold": r.threshold,
                             "reconciliation": r.reconciliation.to_dict()}
                            for r in self.results],
                "unusable": [p.model_dump(mode="json", exclude_none=True)
                             for p in self.unusable]}


def is_single_arm(st: Study) -> bool:
    """Whether a study is an uncontrolled primary study (no comparator, single arm)."""
    design = st.design.lower()
    return (st.kind == "primary study"
            and (st.comparator.strip().lower() in _NO_CONTROL
                 or "single-arm" in design or "single arm" in design))


def _proportion(x: float, row: OutcomeRow) -> float:
    """A reported proportion as a fraction; the row's scale or measure says if it is in %."""
    percent = "%" in (row.scale or "") or "%" in row.measure
    return x / 100 if percent else x


def _reconciliation_questions(review: ReviewData) -> set[str]:
    return {q.id for q in review.protocol.questions if q.answer == "reconciliation"}


def single_arm_results(review: ReviewData) -> tuple[SingleArmResult, ...]:
    """Responder results of uncontrolled studies, as :class:`SingleArmResult`.

    They are the ``responders`` rows of the reconciliation questions; rows of the same
    questions whose outcome is ``regression to the mean`` or ``natural course`` describe
    those explanations.
    """
    qids = _reconciliation_questions(review)
    rows_q = [r for r in review.outcomes if r.question in qids]
    course = next((r.reported for r in rows_q if "natural course" in r.outcome.lower()), None)
    out = []
    for st in sorted(review.studies.values(), key=lambda s: s.id):
        if not is_single_arm(st):
            continue
        rows = [r for r in rows_q if r.study == st.id and r.outcome == "responders"]
        props = []
        for r in rows:
            if r.events is not None and r.total is not None:
                props.append((r.events / r.total, r.total, r))
            for v in (r.estimate, r.ci_low, r.ci_high) if r.measure.startswith("range") else (
                    r.estimate,):
                if v is not None and r.events is None:
                    props.append((_proportion(v, r), r.total or r.n_participants
                                  or st.n_participants, r))
        props = [p for p in props if p[1]]
        if not props:
            continue
        values = sorted(p[0] for p in props)
        first = props[0][2]
        kwargs: dict[str, Any] = {
            "label": st.label, "n": int(props[0][1]), "has_control": False,
            "outcome": first.outcome + (f" ({first.scale})" if first.scale else ""),
            "mcid_definition": first.notes, "follow_up": first.timepoint,
            # Selection on baseline severity is recorded by a regression-to-the-mean row of
            # this study (its own entry criterion), not by its population's description.
            "analysed": "unknown", "baseline_selection": _selection(rows_q, st.id),
            "natural_course": course, "condition": ", ".join(st.populations),
        }
        if len(values) > 1 and values[0] != values[-1]:
            kwargs["proportion_range"] = (values[0], values[-1])
        else:
            kwargs["proportion"] = values[0]
        out.append(SingleArmResult(**kwargs))
    return tuple(out)


def _selection(rows: list[OutcomeRow], study: str) -> str | None:
    own = next((r for r in rows if r.study == study
                and "regression to the mean" in r.outcome.lower()), None)
    if own is not None:
        inner = own.outcome[own.outcome.find("(") + 1:own.outcome.rfind(")")] if (
            "(" in own.outcome) else "selection on baseline severity"
        return f"{inner}; {own.source} [{own.reliability}]"
    return None  # not recorded for this study: unknown, not "does not apply"


def _threshold(definition: str | None) -> str:
    """The responder threshold named in a definition ('>= 30%', '>= 50%'), else 'other'."""
    m = re.search(r"(\d+)\s*%", definition or "")
    return f"≥{m.group(1)}% responders" if m else "other responder definitions"


def control_arms(review: ReviewData) -> tuple[dict[str, list[Any]], tuple[PlaceboResponseRow,
                                                                          ...]]:
    """Placebo/control responder groups, by responder threshold, and rows with no numbers.

    Rows with counts become :class:`ControlArm`; rows with a proportion and CI become
    :class:`ReportedProportion` (pooled on the logit scale, no counts invented).
    """
    groups: dict[str, list[Any]] = {}
    unusable = []
    for pr in review.placebo_response:
        key = _threshold(pr.responder_definition)
        common = {"responder_definition": pr.responder_definition, "follow_up": pr.follow_up,
                  "condition": pr.condition}
        label = f"{pr.study}: {pr.condition}"
        if pr.events is not None and pr.total is not None:
            groups.setdefault(key, []).append(
                ControlArm(study=label, responders=pr.events, n=pr.total, **common))
        elif None not in (pr.proportion, pr.ci_low, pr.ci_high):
            groups.setdefault(key, []).append(ReportedProportion(
                study=label, proportion=pr.proportion, ci_low=pr.ci_low, ci_high=pr.ci_high,
                n=pr.total, **common))
        else:
            unusable.append(pr)
    responder = {c.id for c in review.protocol.arm_categories if c.responder}
    for a in review.arms:
        if a.role == "control" and a.category in responder:
            groups.setdefault(_threshold(a.definition), []).append(ControlArm(
                study=review.studies[a.study].label, responders=a.events, n=a.total,
                responder_definition=a.definition, follow_up=a.timepoint,
                condition=a.population))
    return groups, tuple(unusable)


def reconcile_review(review: ReviewData) -> ReviewReconciliation:
    """Reconcile every single-arm result with every group of control arms."""
    singles = single_arm_results(review)
    groups, unusable = control_arms(review)
    if not singles:
        return ReviewReconciliation((), (), "The data hold no responder result from an "
                                    "uncontrolled (single-arm) study.")
    message = None
    if not groups:
        message = ("No placebo-arm responder proportions are in the data, so the single-arm "
                   "result cannot be set beside what a control arm would show.")
    results = tuple(ReconciledResult(sa, threshold, tuple(arms), reconcile_single_arm(sa, arms))
                    for sa in singles for threshold, arms in sorted(groups.items()))
    return ReviewReconciliation(results, unusable, message)
