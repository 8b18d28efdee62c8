"""A review synthesised: every analysis its study data support, as one typed result.

:func:`synthesize` runs, over a :class:`~metareview.studies.ReviewData`: pooling of arm-level
data, GRADE for every outcome that can be graded, the evidence map, the overlap of the reviews'
primary studies, the reconciliation of single-arm results with control arms, the limitations
that follow from the data, and the answer to each of the protocol's questions. The report
layer only renders the :class:`ReviewSynthesis` it returns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from metareview._util.textfmt import source_num
from metareview.errors import InputError
from metareview.studies import OutcomeRow, ReviewData
from metareview.synthesis.evidence_map import EvidenceMap, evidence_map
from metareview.synthesis.grading import GradedOutcome, grade_outcomes, row_key
from metareview.synthesis.overlap import Overlap, corrected_covered_area
from metareview.synthesis.pooling import PooledOutcome, pool_arms
from metareview.synthesis.single_arm import ReviewReconciliation, reconcile_review

#: GRADE certainty levels, best first.
CERTAINTY_WORDS = ("high", "moderate", "low", "very low")
_REVIEW_KINDS = ("systematic review", "overview")


@dataclass(frozen=True)
class Answer:
    """The answer to one research question, with the best certainty behind it."""

    id: str
    question: str
    text: str
    certainty: str | None = None
    certainty_note: str = ""

    def summary(self) -> str:
        """The question and its answer."""
        cert = f" [{self.certainty} certainty {self.certainty_note}".rstrip() + "]" if (
            self.certainty) else ""
        return f"{self.id}. {self.question}\n{self.text}{cert}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"id": self.id, "question": self.question, "text": self.text,
                "certainty": self.certainty, "certainty_note": self.certainty_note}


@dataclass(frozen=True, eq=False)
class ReviewSynthesis:
    """Everything a review's data support, computed (see :func:`synthesize`)."""

    data: ReviewData
    pooled: tuple[PooledOutcome, ...]
    grades: tuple[GradedOutcome, ...]
    answers: tuple[Answer, ...]
    evidence_map: EvidenceMap | None
    map_title: str
    overlap: Overlap | None
    overlap_note: str
    reconciliation: ReviewReconciliation | None
    limitations: tuple[str, ...]

    def summary(self) -> str:
        """The answers, for people."""
        head = f"{self.data.protocol.title}\n{self.data.summary()}"
        return "\n\n".join([head, *(a.summary() for a in self.answers)])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {
            "review": self.data.protocol.id, "fingerprint": self.data.fingerprint(),
            "answers": [a.to_dict() for a in self.answers],
            "grades": [g.to_dict() for g in self.grades],
            "pooled": [p.to_dict() for p in self.pooled],
            "overlap": None if self.overlap is None else {
                "cca": self.overlap.cca, "interpretation": self.overlap.interpretation,
                "reviews": list(self.overlap.reviews)},
            "reconciliation": None if self.reconciliation is None
            else self.reconciliation.to_dict(),
            "limitations": list(self.limitations),
        }


def synthesize(review: ReviewData, method: str = "REML") -> ReviewSynthesis:
    """Run every analysis the review's data support.

    Parameters
    ----------
    review : ReviewData
        A review's study data (from a folder or a project).
    method : str
        tau² estimator for pooling arm-level data.

    Raises
    ------
    InputError
        If a GRADE judgement names an outcome or domain that is not graded.
    """
    proto = review.protocol
    pooled = pool_arms(review, method=method)
    grades = grade_outcomes(review, pooled)
    recon = None
    if any(q.answer == "reconciliation" for q in proto.questions):
        recon = reconcile_review(review)
    answers = tuple(
        Answer(q.id, q.text, recon.answer) if q.answer == "reconciliation" and recon is not None
        else _answer_from_grades(q.id, q.text, review, grades)
        for q in proto.questions)
    em, map_title = _evidence_map(review, grades)
    overlap, overlap_note = _overlap(review)
    return ReviewSynthesis(review, pooled, grades, answers, em, map_title, overlap, overlap_note,
                           recon, tuple(limitations(review)))


# ---- answers ----------------------------------------------------------------------------------
def describe(review: ReviewData, r: OutcomeRow) -> str:
    """An outcome row in a sentence: study, outcome, time point, estimate, reliability."""
    st = review.studies[r.study]
    if r.estimate is None:
        return f"{st.label}: {r.reported} [{r.reliability}]"
    ci = (f" (95% CI {source_num(r.ci_low)} to {source_num(r.ci_high)})"
          if r.ci_low is not None and r.ci_high is not None else "")
    scale = f" on {r.scale}" if r.scale else ""
    return (f"{st.label}: {r.outcome}, {r.timepoint}: {r.measure} "
            f"{source_num(r.estimate)}{ci}{scale} [{r.reliability}]")


def _answer_from_grades(qid: str, text: str, review: ReviewData,
                        grades: tuple[GradedOutcome, ...]) -> Answer:
    qs = [g for g in grades if g.question == qid]
    apart = review.protocol.kept_apart
    main = [g.statement for g in qs if not g.kept_apart]
    separate = [g.statement for g in qs if g.kept_apart]
    rows = [r for r in review.outcomes if r.question == qid]
    body = ""
    if separate and apart is not None:
        ungraded = [describe(review, r) for r in rows
                    if not apart.applies(r.population) and r.estimate is None][:4]
        body = f"{apart.rest}: " + (" ".join(main) if main else (
            "no result could be graded; reported: " + "; ".join(ungraded) + "."
            if ungraded else "no results.")) + f" {apart.label}: " + " ".join(separate)
    elif main:
        body = " ".join(main)
    found = sorted({g.level for g in qs if g.level in CERTAINTY_WORDS},
                   key=CERTAINTY_WORDS.index)
    best = found[0] if found else None
    note = (f"(graded outcomes range from {found[-1]} to {found[0]} certainty; see each "
            "statement)" if len(found) > 1 else "")
    if separate and not main and apart is not None:
        note = f"({apart.name} evidence only; no {apart.rest_name} result could be graded)"
    if not body:
        reported = [describe(review, r) for r in rows][:6]
        body = ("No outcome for this question could be graded from the data. Reported: "
                + "; ".join(reported) + "." if reported else
                "The data hold no result for this question.")
    return Answer(qid, text, body, best, note)


# ---- evidence map and overlap -----------------------------------------------------------------
def map_entries(review: ReviewData, grades: tuple[GradedOutcome, ...]) -> list[dict[str, Any]]:
    """One entry per outcome row and per arm row: where the evidence sits.

    A row's certainty is our GRADE assessment where the row was graded (for an arm row, that of
    its category's pooled outcome), else the certainty the source reported, else none. Columns
    are named by the protocol's vocabulary labels.
    """
    proto = review.protocol
    pop, route, regimen = (proto.label(c) for c in ("population", "route", "regimen"))
    graded = {g.row_key: g.level for g in grades if g.row_key is not None}
    entries = []
    for r in review.outcomes:
        st = review.studies[r.study]
        entries.append({
            pop: r.population, route: r.route, regimen: r.regimen, "window": r.window,
            "study": st.label, "n": r.n_participants or r.total or st.n_participants,
            "certainty": graded.get(row_key(r), _normalise_certainty(r.certainty_reported)),
            "direction": r.direction, "design": st.evidence_level or st.design,
        })
    titles = {c.id: (c.question, c.title) for c in proto.arm_categories}
    pooled = {g.key[:2]: g.level for g in grades if g.key[2:] == (None, None)}
    for a in review.arms:
        st = review.studies[a.study]
        entries.append({
            pop: a.population, route: a.route, regimen: a.regimen, "window": a.window,
            "study": st.label, "n": st.n_participants,
            "certainty": pooled.get(titles.get(a.category, ("", ""))),
            "direction": "unclear", "design": st.evidence_level or st.design,
        })
    return entries


def _evidence_map(review: ReviewData, grades: tuple[GradedOutcome, ...]
                  ) -> tuple[EvidenceMap | None, str]:
    proto = review.protocol
    dims = tuple(proto.label(c) for c in ("population", "route", "regimen"))
    title = (f"Evidence map: {' × '.join(dims)} by {proto.label('window')}")
    entries = map_entries(review, grades)
    if not entries:
        return None, title
    # rows in the protocol's display order (its vocabularies)
    order = {label: proto.allowed(col) or [] for col, label in
             zip(("population", "route", "regimen"), dims, strict=True)}
    return evidence_map(entries, rows=dims, cols="window", order=order), title


def _normalise_certainty(text: str | None) -> str | None:
    if not text:
        return None
    t = text.lower().replace("-", " ")
    for word in ("very low", "moderate", "high", "low"):
        if word in t:
            return word
    return None


def _overlap(review: ReviewData) -> tuple[Overlap | None, str]:
    reviews = {s.label: s.included_studies for s in sorted(review.studies.values(),
                                                          key=lambda s: s.label)
               if s.kind in _REVIEW_KINDS}
    if len(reviews) < 2:
        return None, "Fewer than two reviews: overlap does not apply."
    try:
        return corrected_covered_area(reviews), ""
    except InputError as exc:
        return None, f"Overlap could not be measured: {exc}."


# ---- limitations ------------------------------------------------------------------------------
def limitations(review: ReviewData) -> list[str]:
    """Limitations that follow from the data themselves (reliability, gaps, definitions)."""
    out = []
    labels = Counter(r.reliability for r in review.outcomes)
    labels.update(a.reliability for a in review.arms)
    labels.update(p.reliability for p in review.placebo_response)
    total = sum(labels.values())
    if total:
        secondary = labels["V-2"] + labels["V-2*"]
        out.append(
            f"Of {total} data rows, {labels['V']} are verbatim from a primary source, {secondary} "
            f"only from secondary summaries (V-2: {labels['V-2']}, unverified brief V-2*: "
            f"{labels['V-2*']}), {labels['I']} are inferences or arithmetic, and "
            f"{labels['NF']} record numbers searched for and not found."
        )
    nf = [r for r in review.outcomes if r.reliability == "NF" or (r.estimate is None and
          r.events is None and r.measure.lower() in ("nf", "not found"))]
    if nf:
        names = sorted({f"{review.studies[r.study].label}: {r.outcome} ({r.timepoint})"
                        for r in nf})
        out.append("Not found in any accessible source: " + "; ".join(names) + ".")
    unclear = [r for r in review.outcomes if r.window == "unclear"]
    if unclear:
        out.append(f"{len(unclear)} results have a follow-up that cannot be placed in a time "
                   "window (for example, Cochrane's immediate/short/medium/long-term windows "
                   "whose definitions were not available); they are mapped as 'unclear'.")
    no_denominator = [r for r in review.outcomes if r.denominator_note]
    if no_denominator:
        out.append(f"{len(no_denominator)} reported percentages or counts have an unclear "
                   "denominator; they are shown as reported and not pooled.")
    unrated = [s for s in review.studies.values() if s.quality is None]
    if unrated:
        out.append(f"{len(unrated)} of {len(review.studies)} studies have no quality rating in "
                   "the sources; their risk of "
                   "bias is treated as 'some concerns' when grading.")
    reviews = [s for s in review.studies.values() if s.kind in _REVIEW_KINDS]
    unknown = [s for s in reviews if not s.included_studies]
    if unknown:
        out.append(f"The included primary studies of {len(unknown)} of {len(reviews)} reviews "
                   "are not listed in the sources, so their overlap cannot be measured.")
    if reviews:
        out.append("The data hold no trial-level risk-of-bias ratings for the trials inside the "
                   "reviews, so review-level estimates are graded with risk of bias 'some "
                   "concerns' (one level down); where a review's trials were mostly at high risk "
                   "this is still too lenient. The reviews' own certainty ratings are shown "
                   "beside ours.")
        out.append("Review-level estimates are reported as the reviews give them and are never "
                   "pooled with each other; only arm-level trial data are pooled with the "
                   "engine.")
    return out
