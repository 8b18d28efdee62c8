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

from metareview._util.textfmt import in_sentence, source_num
from metareview.effects.measures import is_ratio
from metareview.errors import InputError
from metareview.grade import SoFRow
from metareview.grade.certainty import LEVELS
from metareview.grade.sof import with_comparator_risk
from metareview.grade.statements import change_from_interval, statement
from metareview.studies import OutcomeRow, ReviewData
from metareview.synthesis.evidence_map import EvidenceMap, evidence_map
from metareview.synthesis.grading import (
    GradedOutcome,
    grade_outcomes,
    question_certainty,
    row_key,
)
from metareview.synthesis.overlap import Overlap, corrected_covered_area
from metareview.synthesis.pooling import PooledOutcome, pool_arms
from metareview.synthesis.single_arm import ReviewReconciliation, reconcile_review

#: GRADE certainty levels, best first (grade's LEVELS run worst first).
CERTAINTY_WORDS = tuple(reversed(LEVELS))
_REVIEW_KINDS = ("systematic review", "overview")


@dataclass(frozen=True)
class Answer:
    """The answer to one research question.

    ``plain`` is the answer in GRADE's informative-statement wording (Santesso 2020), one
    sentence per group of outcomes with the same direction and certainty; ``reason`` says in a
    few words why the certainty is what it is; ``details`` are the per-outcome statements
    behind it; ``text`` is all of them in one paragraph.
    """

    id: str
    question: str
    text: str
    certainty: str | None = None
    certainty_note: str = ""
    plain: str = ""
    reason: str = ""
    details: tuple[str, ...] = ()
    headline: str = ""

    def summary(self) -> str:
        """The question and its answer."""
        cert = f" [{self.certainty} certainty {self.certainty_note}".rstrip() + "]" if (
            self.certainty) else ""
        return f"{self.id}. {self.question}\n{self.text}{cert}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"id": self.id, "question": self.question, "text": self.text,
                "certainty": self.certainty, "certainty_note": self.certainty_note,
                "plain": self.plain, "reason": self.reason, "details": list(self.details),
                "headline": self.headline}


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
    #: The evidence map of graded results only (what is known with a certainty).
    graded_map: EvidenceMap | None = None

    def bottom_line(self) -> tuple[tuple[str, str, str | None], ...]:
        """One line per question for a reader who needs the decision: (question id, plain
        answer, certainty), in the protocol's order."""
        return tuple((a.id, a.headline or a.plain or a.text, a.certainty)
                     for a in self.answers)

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
        reconciliation_answer(q.id, q.text, review, recon)
        if q.answer == "reconciliation" and recon is not None
        else _answer_from_grades(q.id, q.text, review, grades)
        for q in proto.questions)
    em, map_title = _evidence_map(review, grades)
    graded, _ = _evidence_map(review, grades, graded_only=True)
    overlap, overlap_note = _overlap(review)
    return ReviewSynthesis(review, pooled, grades, answers, em, map_title, overlap, overlap_note,
                           recon, tuple(limitations(review)), graded)


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


def population_group(review: ReviewData, g: GradedOutcome) -> str:
    """Which population a graded outcome speaks for: ``"main"`` (the protocol's), ``"apart"``
    (its kept-apart populations) or ``"indirect"`` (its indirect populations)."""
    proto = review.protocol
    if g.kept_apart:
        return "apart"
    if proto.indirect is not None and g.row_key is not None:
        pops = {r.population for r in review.outcomes if row_key(r) == g.row_key}
        if pops and all(p in proto.indirect.populations for p in pops):
            return "indirect"
    return "main"


def _change(g: GradedOutcome) -> str:
    row = g.sof_row
    if row.ci_low is None or row.ci_high is None:
        return "none"
    return change_from_interval(row.ci_low, row.ci_high, 1.0 if is_ratio(row.measure or "")
                                else 0.0)


def _year(review: ReviewData, g: GradedOutcome) -> float:
    """Recency of a graded result: the source's year; our own pooling counts as newest."""
    if g.row_key is None:
        return float("inf")
    return float(review.studies[g.row_key[0]].year)


def _source_label(review: ReviewData, g: GradedOutcome) -> str:
    return ("pooled trials" if g.row_key is None else review.studies[g.row_key[0]].label)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def plain_statements(review: ReviewData, grades: list[GradedOutcome]) -> list[str]:
    """GRADE informative statements for a set of graded outcomes, one per (direction,
    certainty), outcomes joined.

    Per outcome the newest source leads (a newer review supersedes an older one; an analysis
    pooled here from trial data counts as newest); when older sources point another way,
    the sentence says so rather than setting two statements side by side.
    """
    subject = review.protocol.pico.intervention_name
    by_outcome: dict[str, list[GradedOutcome]] = {}
    for g in grades:
        by_outcome.setdefault(g.key[1].lower(), []).append(g)
    groups: dict[tuple[str, str], list[str]] = {}
    disagree: list[str] = []
    for outcome, gs in by_outcome.items():
        lead = max(gs, key=lambda g: (_year(review, g), -CERTAINTY_WORDS.index(g.level)))
        # very low certainty has one wording whatever the direction
        change = "none" if lead.level == "very low" else _change(lead)
        groups.setdefault((lead.level, change), []).append(outcome)
        # Older sources that found an effect the newest does not (or is very uncertain
        # about) are said in one sentence, not left as a contradictory statement beside it.
        others = [g for g in gs if g is not lead and g.level != "very low"
                  and (_change(g) != change or lead.level == "very low")
                  and _change(g) in _FOUND]
        if others:
            best = min(others, key=lambda g: CERTAINTY_WORDS.index(g.level))
            verdict = ("is very uncertain about it" if lead.level == "very low"
                       else "did not")
            disagree.append(
                f"For {outcome}, older sources found {_FOUND[_change(best)]} "
                f"({best.level} certainty at best: "
                f"{_and(sorted({_source_label(review, g) for g in others}))}); "
                f"the newest source, {_source_label(review, lead)}, {verdict}.")
    out = []
    for (level, change), outcomes in sorted(groups.items(), key=lambda kv: (
            CERTAINTY_WORDS.index(kv[0][0]), kv[0][1])):
        out.append(statement(in_sentence(subject), _and(outcomes), change,  # type: ignore[arg-type]
                             level))  # type: ignore[arg-type]
    return out + disagree


_FOUND = {"reduce": "a reduction", "increase": "an increase",
          "none": "little or no difference"}


def _also_reported(review: ReviewData, qid: str, labels: set[str]) -> list[str]:
    """What the uncontrolled studies also reported on the question besides responders (e.g.
    how many completed treatment or came back), in the sources' words with their places;
    figures that say nothing about efficacy but matter to a payer."""
    out = []
    for st in sorted(review.studies.values(), key=lambda s: s.id):
        if st.label not in labels:
            continue
        seen: dict[str, list[str]] = {}
        for r in review.outcomes:
            if (r.study == st.id and r.question == qid and r.estimate is not None
                    and r.outcome != "responders" and r.measure.startswith("proportion")):
                seen.setdefault(r.outcome, []).append(f"“{r.reported.rstrip('.')}” "
                                                      f"({r.source})")
        if seen:
            out.append(f"{st.label} also reported, uncontrolled: " + "; ".join(
                f"{outcome}: {', '.join(q)}" for outcome, q in seen.items()) + ".")
    return out


def _source_review_says(review: ReviewData, qid: str) -> list[str]:
    """What the review being rebuilt concluded on a question, quoted with its location (the
    protocol's ``source_review`` study's rows): its nuance stays in the answer, in its words."""
    sid = review.protocol.source_review
    if sid is None or sid not in review.studies:
        return []
    quotes = [f"“{r.reported.rstrip('.')}” ({r.source} [{r.reliability}])"
              for r in review.outcomes if r.study == sid and r.question == qid]
    if not quotes:
        return []
    return [f"{review.studies[sid].label} said: " + "; ".join(quotes) + "."]


def _reason(grades: list[GradedOutcome]) -> str:
    """Why the certainty is lower than high, in a few words (the domains downgraded)."""
    down: dict[str, int] = {}
    for g in grades:
        for d in g.domains():
            if d.judgement.startswith(("serious", "very serious")):
                down[d.name.lower()] = down.get(d.name.lower(), 0) + 1
    if not down:
        return "no serious concerns in any GRADE domain" if grades else ""
    names = sorted(down, key=lambda k: (-down[k], k))
    return "downgraded for " + _and(names)


def _answer_from_grades(qid: str, text: str, review: ReviewData,
                        grades: tuple[GradedOutcome, ...]) -> Answer:
    qs = [g for g in grades if g.question == qid]
    apart = review.protocol.kept_apart
    indirect = review.protocol.indirect
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
    qc = question_certainty(grades, review.protocol, qid)
    best, note = qc.level, f"({qc.note})"
    direct_rows = [r for r in rows if not (apart is not None and apart.applies(r.population))]
    if best is None and direct_rows:
        # Nothing that may set the question's certainty could be graded, yet the review's own
        # population has results: they are uncontrolled or lack an interval, which GRADE rates
        # very low (non-randomised evidence starts low and is rated down for risk of bias).
        best = "very low"
        note = (f"({qc.note}; the {len(direct_rows)} results reported in the review's own "
                "population are uncontrolled or give no confidence interval, so the evidence "
                "is very low certainty)")
    if not body:
        reported = [describe(review, r) for r in rows][:6]
        body = ("No outcome for this question could be graded from the data. Reported: "
                + "; ".join(reported) + "." if reported else
                "The data hold no result for this question.")
    groups = {k: [g for g in qs if population_group(review, g) == k]
              for k in ("main", "apart", "indirect")}
    plain = plain_statements(review, groups["main"])
    headline = " ".join(plain[:1] + [p for p in plain[1:] if not p.startswith("For ")])
    if not plain:
        n = len({r.study for r in rows if not (apart is not None and apart.applies(
            r.population))})
        plain = ["No result in the review's population could be graded" + (
            f" ({n} studies report results; none is a controlled estimate with a confidence "
            "interval from a review or from pooled trials)." if n else ".")]
        headline = plain[0]
    if groups["apart"] and apart is not None:
        if not groups["main"]:
            headline += (f" Graded evidence exists only in {apart.name} populations, which "
                         "are kept apart (see the answer).")
        plain.append(f"{apart.label}: " + " ".join(plain_statements(review, groups["apart"])))
    if groups["indirect"] and indirect is not None:
        plain.append(f"{indirect.label}: "
                     + " ".join(plain_statements(review, groups["indirect"])))
    lead = groups["main"] or qs
    reason = _reason([g for g in lead if g.level == best] or lead)
    if not groups["main"] and qs:
        reason = (f"only {apart.name if apart else 'indirect'} evidence could be graded; "
                  + reason)
    plain += _source_review_says(review, qid)
    return Answer(qid, text, body, best, note, " ".join(plain), reason,
                  tuple(g.statement for g in qs), headline)


def reconciliation_answer(qid: str, text: str, review: ReviewData,
                          recon: ReviewReconciliation) -> Answer:
    """A reconciliation question's conclusion, with its own certainty and reasons.

    The rule: comparing an uncontrolled group with the control arms of other studies is a
    non-randomised, indirect comparison, so its certainty is at most low; it is very low when
    any design difference that can produce improvement without a drug effect applies (no
    control group, placebo response, regression to the mean, natural course …).
    """
    subject = review.protocol.pico.intervention_name
    if not recon.results:
        return Answer(qid, text, recon.answer, None, "", recon.message or recon.answer,
                      "nothing could be reconciled", ())
    applies: list[str] = []
    overlap, above = [], []
    for item in recon.results:
        rec = item.reconciliation
        applies += [e.factor for e in rec.explanations if e.applies and e.factor not in applies]
        (above if rec.position == "above" else overlap).append(item)
    labels = _and(sorted({item.single.label for item in recon.results}))
    first = recon.results[0].reconciliation
    lo, hi = min(p.proportion for p in first.single), max(p.proportion for p in first.single)
    rates = f"{100 * lo:.1f}%" if lo == hi else f"{100 * lo:.1f}–{100 * hi:.1f}%"
    parts = [f"Randomised trials compare {in_sentence(subject)} with placebo in the same trial; "
             f"the uncontrolled study ({labels}) has no control group, so its {rates} "
             "responders include anyone who would have improved without the drug."]
    if overlap:
        ths = _and([item.threshold for item in overlap])
        parts.append(f"Its responder rates overlap what placebo groups of randomised trials "
                     f"show ({ths}), so on their own they cannot show an effect of "
                     f"{in_sentence(subject)}.")
    if above:
        ths = _and([item.threshold for item in above])
        parts.append(f"Its responder rates exceed what placebo groups show ({ths}), but with no "
                     "control group the excess cannot be attributed to "
                     f"{in_sentence(subject)}.")
    if applies:
        parts.append(f"Design differences that can explain the opposite conclusions "
                     f"({len(applies)}): {_and(applies)}.")
    parts += _also_reported(review, qid, {item.single.label for item in recon.results})
    level = "very low" if applies else "low"
    reason = ("uncontrolled results compared with other studies' control arms: at most low "
              "certainty (non-randomised, indirect)"
              + ("; very low because design differences that produce improvement without a "
                 "drug effect apply" if applies else ""))
    parts += _source_review_says(review, qid)
    return Answer(qid, text, recon.answer, level, "", " ".join(parts), reason,
                  tuple(item.answer() for item in recon.results), " ".join(parts[:2]))


# ---- Summary of Findings tables --------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SofGroup:
    """The graded outcomes of one population: one Summary of Findings table."""

    title: str
    population: str
    rows: tuple[SoFRow, ...]

    def summary(self) -> str:
        """Title and the number of outcomes."""
        return f"{self.title} ({self.population}): {len(self.rows)} outcomes"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"title": self.title, "population": self.population,
                "rows": [r.to_dict() for r in self.rows]}


def control_risk(review: ReviewData, outcome: str) -> tuple[float | None, str | None]:
    """The risk with the comparator for an outcome from the data: the control arms in the
    arm-level data whose outcome is the same (total events over total participants), with its
    source; ``(None, None)`` when the data hold none."""
    arms = [a for a in review.arms if a.role == "control"
            and a.outcome.strip().lower() == outcome.strip().lower()]
    if not arms:
        return None, None
    ev, n = sum(a.events for a in arms), sum(a.total for a in arms)
    studies = _and(sorted({review.studies[a.study].label for a in arms}))
    return ev / n, (f"Risk with the comparator from the control arms in the arm-level data: "
                    f"{ev} events among {n} participants ({studies}; "
                    f"{'; '.join(sorted({a.source for a in arms}))}).")


def sof_groups(review: ReviewData, grades: tuple[GradedOutcome, ...]) -> tuple[SofGroup, ...]:
    """One Summary of Findings table per population: the protocol's, its kept-apart
    populations and its indirect ones, each labelled. Ratio outcomes get absolute effects
    from the data's control risk where there is one, and say so where there is none."""
    proto = review.protocol
    out = []
    heads = {"main": (proto.kept_apart.rest if proto.kept_apart else "Main results",
                      proto.pico.population),
             "apart": ((proto.kept_apart.label, ", ".join(proto.kept_apart.populations))
                       if proto.kept_apart else ("", "")),
             "indirect": ((proto.indirect.label, ", ".join(proto.indirect.populations))
                          if proto.indirect else ("", ""))}
    for key in ("main", "apart", "indirect"):
        rows = []
        for g in grades:
            if population_group(review, g) != key:
                continue
            row = g.sof_row
            if row.absolute is None:
                risk, source = control_risk(review, g.key[1])
                row = with_comparator_risk(row, risk, source)
            rows.append(row)
        if rows:
            out.append(SofGroup(heads[key][0], heads[key][1], tuple(rows)))
    return tuple(out)


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


def _evidence_map(review: ReviewData, grades: tuple[GradedOutcome, ...],
                  graded_only: bool = False) -> tuple[EvidenceMap | None, str]:
    proto = review.protocol
    dims = tuple(proto.label(c) for c in ("population", "route", "regimen"))
    title = (f"Evidence map: {' × '.join(dims)} by {proto.label('window')}")
    entries = map_entries(review, grades)
    if graded_only:
        entries = [e for e in entries if e["certainty"] is not None]
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
