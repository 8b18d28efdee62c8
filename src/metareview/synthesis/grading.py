"""GRADE for every outcome a review's data can support, with the reviewers' own judgements.

What is graded is decided by the data and the protocol (outcome names, designs, roles, the arm
categories' questions), never by a review's topic:

- each risk ratio pooled from arm-level trial data (graded as trials, starting high; risk of
  bias from the trials' quality ratings, weighted by their meta-analysis weights, so that
  pseudo-randomised allocation rated at high risk counts there; the Summary of Findings says
  "RCTs" only when every trial is randomised, NHMRC level I or II);
- for each (question, outcome, comparison, window) reported by reviews, the most recent review's
  estimate (a newer review supersedes an older one; all stay in the side-by-side table).
  Evidence from a review of randomised trials starts high. A review's quality rating describes
  how the review was done, not the risk of bias of its trials; with no trial-level ratings in
  the data, risk of bias is taken as "some concerns".

A reviewer's judgement in ``judgements.csv`` replaces the proposed judgement of its domain, and
the assessment shows it as a reviewer override with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from metareview._util.textfmt import in_sentence
from metareview.appraisal import risk_of_bias_category
from metareview.effects.measures import is_comparative, is_ratio
from metareview.errors import InputError
from metareview.grade import DOMAIN_LABELS, DOMAINS, Certainty, SoFRow, assess_certainty, sof_row
from metareview.grade.statements import change_from_interval, statement
from metareview.studies import OutcomeRow, ReviewData, Study
from metareview.synthesis.pooling import PooledOutcome

#: Identifies a graded outcome: question, outcome, comparison, window (the last two are None
#: for an outcome pooled from arm-level data).
GradeKey = tuple[str, str, str | None, str | None]


@dataclass(frozen=True, eq=False)
class DomainLine:
    """One GRADE domain as the report shows it."""

    name: str
    judgement: str
    why: str


@dataclass(frozen=True, eq=False)
class GradedOutcome:
    """One outcome's GRADE assessment, its plain-language statement and SoF row."""

    key: GradeKey
    name: str
    certainty: Certainty
    statement: str
    basis: str
    sof_row: SoFRow
    kept_apart: bool = False
    row_key: tuple[str, ...] | None = None  # the outcome row graded (review-level results)

    @property
    def question(self) -> str:
        """The research question the outcome answers."""
        return self.key[0]

    @property
    def level(self) -> str:
        """The final certainty: high, moderate, low or very low."""
        return self.certainty.final

    def domains(self) -> tuple[DomainLine, ...]:
        """Each domain's judgement in words, with its reason."""
        return tuple(DomainLine(DOMAIN_LABELS.get(k, k), _judgement(d), d.rationale)
                     for k, d in self.certainty.domains.items())

    def summary(self) -> str:
        """The statement with its basis."""
        return f"{self.question}: {self.statement} (basis: {self.basis})"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"question": self.question, "outcome": self.name, "certainty": self.level,
                "statement": self.statement, "basis": self.basis,
                "kept_apart": self.kept_apart, "assessment": self.certainty.to_dict(),
                "sof_row": self.sof_row.to_dict()}


def rob_category(st: Study) -> str:
    """Risk-of-bias category of a study from its quality rating (appraisal's mapping)."""
    if st.quality is None or st.quality.rating == "not rated":
        return "some concerns"
    return risk_of_bias_category(st.quality.rating, instrument=st.quality.instrument)


def grade_outcomes(review: ReviewData, pooled: Sequence[PooledOutcome]
                   ) -> tuple[GradedOutcome, ...]:
    """GRADE every outcome the data can support (see the module's description).

    Raises
    ------
    InputError
        If a judgement names a domain GRADE does not have, or an outcome that is not graded.
    """
    overrides = _overrides(review)
    subject = review.protocol.pico.intervention_name
    out: list[GradedOutcome] = []
    for p in pooled:
        fit = p.ratio
        if fit is None:
            continue
        ids = {review.studies[s].label: s for s in p.studies}
        rob = [rob_category(review.studies[ids[label]]) for label in fit.study]
        key: GradeKey = (p.question, p.title, None, None)
        cert = assess_certainty(in_sentence(p.title), design="randomised", fit=fit,
                                risk_of_bias=rob, overrides=overrides.pop(key, None))
        bt = fit.back_transformed or {}
        change = change_from_interval(bt.get("ci_low", fit.ci_low), bt.get("ci_high", fit.ci_high),
                                      1.0)
        text = statement(subject, in_sentence(p.title), change, cert.final)
        text = text[:-1] + f" [pooled from {fit.k} trials]."
        row = sof_row(f"{p.title} (pooled trials)", certainty=cert, fit=fit)
        randomised = sum(review.studies[ids[label]].evidence_level in ("I", "II")
                         for label in fit.study)
        if randomised < fit.k:
            # Not all RCTs: the participants cell must not say "RCTs"; the comment says what
            # the trials are (their allocation is judged in the risk-of-bias domain).
            row = replace(row, design=None, comments=(
                f"{randomised} randomised trials (NHMRC level I/II) and {fit.k - randomised} "
                "other controlled trials (not randomised, or no level given); graded as "
                "trials, with their allocation judged under risk of bias."))
        out.append(GradedOutcome(key, p.title, cert, text, f"pooled from arms.csv ({fit.k} trials)",
                                 row))

    latest: dict[tuple[str, str, str, str], OutcomeRow] = {}
    for r in review.outcomes:
        st = review.studies[r.study]
        if st.kind not in ("systematic review", "overview") or r.estimate is None:
            continue
        if r.ci_low is None or r.ci_high is None:
            continue
        if not is_comparative(r.measure.split()[0]):
            continue  # event rates of uncontrolled studies are not effects to grade
        k4 = (r.question, r.outcome, r.comparison, r.window)
        if k4 not in latest or st.year > review.studies[latest[k4].study].year:
            latest[k4] = r
    apart = review.protocol.kept_apart
    for k4, r in sorted(latest.items()):
        q, outcome, comparison, window = k4
        st = review.studies[r.study]
        design = "randomised" if st.evidence_level in ("I", "II") else "observational"
        measure = r.measure.split()[0]
        cert = assess_certainty(
            f"{outcome} ({window})", design=design, measure=measure,
            estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, i2=r.i2, k=r.n_studies,
            n_participants=r.n_participants, risk_of_bias="some concerns", mid=_mid(review, r),
            overrides=overrides.pop(k4, None),
        )
        change = change_from_interval(r.ci_low, r.ci_high, 1.0 if is_ratio(measure) else 0.0)
        text = statement(_intervention(comparison), outcome, change, cert.final)
        text = text[:-1] + f" [{st.label}; {r.timepoint}]."
        if r.certainty_reported:
            text += f" The review itself rated this {r.certainty_reported}."
        row = sof_row(f"{outcome}: {comparison}", certainty=cert, follow_up=r.timepoint,
                      measure=measure, estimate=r.estimate, ci_low=r.ci_low,
                      ci_high=r.ci_high, k=r.n_studies, n_participants=r.n_participants,
                      comparator_risk=None, scale=r.scale,
                      comments=f"{st.label}; {r.source} [{r.reliability}]")
        out.append(GradedOutcome(
            k4, f"{outcome}, {comparison}, {window}", cert, text,
            f"{st.label} ({r.source}, reliability {r.reliability})", row,
            kept_apart=apart is not None and apart.applies(r.population), row_key=row_key(r)))
    if overrides:
        (q, outcome, comparison, window), _ = next(iter(overrides.items()))
        what = " / ".join(x for x in (q, outcome, comparison, window) if x)
        raise InputError(f"judgements.csv: no graded outcome {what} (a judgement must name a "
                         "question, outcome, comparison and window the report grades)")
    return tuple(out)


def row_key(r: OutcomeRow) -> tuple[str, str, str, str, str]:
    """Identifies an outcome row for linking it to its GRADE assessment."""
    return (r.study, r.question, r.outcome, r.comparison, r.window)


def _overrides(review: ReviewData) -> dict[GradeKey, dict[str, dict[str, Any]]]:
    out: dict[GradeKey, dict[str, dict[str, Any]]] = {}
    for i, j in enumerate(review.judgements):
        if j.domain not in DOMAINS:
            raise InputError(f"{review.origin}/judgements.csv line "
                             f"{review.line('judgements.csv', i)}, column domain: unknown GRADE "
                             f"domain {j.domain!r} (one of {', '.join(DOMAINS)})")
        key: GradeKey = (j.question, j.outcome, j.comparison, j.window)
        out.setdefault(key, {})[j.domain] = {"change": j.change, "reason": j.reason,
                                             "by": j.by}
    return out


def _intervention(comparison: str) -> str:
    return comparison.split(" vs ")[0].strip() or "the intervention"


def _mid(review: ReviewData, r: OutcomeRow) -> float | None:
    """The protocol's MID for this outcome on the same scale, if there is one."""
    for m in review.protocol.mids:
        if m.outcome == r.outcome and r.scale and m.scale == r.scale:
            return m.value
    return None


def _judgement(d: Any) -> str:
    change = getattr(d, "effective_change", d.change)
    if not getattr(d, "assessable", True):
        return "not assessable"
    words = {0: "no change", -1: "serious (−1)", -2: "very serious (−2)", 1: "+1", 2: "+2"}
    text = words.get(change, str(change))
    return text + (" (reviewer override)" if getattr(d, "overridden", False) else "")
