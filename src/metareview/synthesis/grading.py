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

Rules the protocol declares as data (GRADE guidelines 8 and 2):

- indirectness is computed from the protocol's ``indirectness`` rules: a graded row (or, for a
  pooled outcome, any of its trials' arm rows) matching a rule is rated down by the rule's
  change, with its reason; a row matching none is direct ("no change") when its population is
  one of the protocol's ``indirectness.direct``, and not assessable otherwise. Without
  ``indirectness`` in the protocol the domain is left to the reviewer, as before;
- a review-level estimate is never graded above the certainty its review reported
  (``certainty_reported``, when it is a GRADE level) unless a ``judgements.csv`` row with domain
  ``source_certainty`` says why; the cap, or the reason it was lifted, is shown beside the grade
  (a line of the assessment and a sentence of the statement);
- statements say "little or no difference" only when the interval excludes the MID on both
  sides (:func:`~metareview.grade.statements.change_from_interval`);
- a question's certainty is the lowest among its critical outcomes
  (:func:`question_certainty`), never set by evidence the protocol keeps apart.

A reviewer's judgement in ``judgements.csv`` replaces the proposed judgement of its domain, and
the assessment shows it as a reviewer override with its reason, author and date, beside the
proposal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from metareview._util.textfmt import in_sentence
from metareview.appraisal import risk_of_bias_category
from metareview.effects.measures import is_comparative, is_ratio
from metareview.errors import InputError
from metareview.grade import (
    DOMAIN_LABELS,
    DOMAINS,
    LEVELS,
    Certainty,
    DomainJudgement,
    SoFRow,
    Thresholds,
    assess_certainty,
    sof_row,
)
from metareview.grade.certainty import Ceiling
from metareview.grade.statements import change_from_interval, lean_of, statement
from metareview.studies import OutcomeRow, ReviewData, Study
from metareview.studies.schema import Protocol
from metareview.synthesis.pooling import PooledOutcome

#: Identifies a graded outcome: question, outcome, comparison, window (the last two are None
#: for an outcome pooled from arm-level data).
GradeKey = tuple[str, str, str | None, str | None]
#: The judgements.csv domain that lifts the cap at the source review's own certainty.
SOURCE_CERTAINTY = "source_certainty"
_INDIRECTNESS_RULE = ("protocol's indirectness rules: a matching population (route, comparison "
                      "…) is rated down by the rule's change; populations the protocol names as "
                      "direct: no change; others: reviewer judgement (GRADE guidelines 8, "
                      "Guyatt 2011 JCE 64:1303)")


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
        """Each domain's judgement in words, with its reason (an override with who judged it,
        when, and what the rule proposed), then the source review's own certainty where it
        capped the grade or a reason lifted the cap."""
        lines = [DomainLine(DOMAIN_LABELS.get(k, k), _judgement(d), _why(d))
                 for k, d in self.certainty.domains.items()]
        c = self.certainty
        if c.ceiling is not None and c.cap_note is not None:
            what = (f"graded above it ({c.ceiling.level})" if c.ceiling.lifted
                    else f"capped at the source review's own rating ({c.ceiling.level})")
            lines.append(DomainLine("source review's certainty", what, c.cap_note))
        return tuple(lines)

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
    overrides, lifts = _overrides(review)
    subject = review.protocol.pico.intervention_name
    ratio_mid = Thresholds().ratio_mid
    out: list[GradedOutcome] = []
    for p in pooled:
        fit = p.ratio
        if fit is None:
            continue
        ids = {review.studies[s].label: s for s in p.studies}
        rob = [rob_category(review.studies[ids[label]]) for label in fit.study]
        key: GradeKey = (p.question, p.title, None, None)
        arms = [a for a in review.arms if a.study in p.studies and
                review.protocol.arm_categories and a.category == _category(review, p.title)]
        cert = assess_certainty(in_sentence(p.title), design="randomised", fit=fit,
                                risk_of_bias=rob, overrides=overrides.pop(key, None),
                                indirectness=indirectness(
                                    review.protocol, [_cols(a) for a in arms]))
        bt = fit.back_transformed or {}
        change = change_from_interval(bt.get("ci_low", fit.ci_low), bt.get("ci_high", fit.ci_high),
                                      1.0, ratio_mid)
        text = statement(subject, in_sentence(p.title), change, cert.final,
                         lean=lean_of(bt.get("estimate"), 1.0))
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
        mid = _mid(review, r)
        cert = assess_certainty(
            f"{outcome} ({window})", design=design, measure=measure,
            estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, i2=r.i2, k=r.n_studies,
            n_participants=r.n_participants, risk_of_bias="some concerns", mid=mid,
            overrides=overrides.pop(k4, None),
            indirectness=indirectness(review.protocol, [_cols(r)]),
            ceiling=_ceiling(r, lifts.pop(k4, None)),
        )
        null = 1.0 if is_ratio(measure) else 0.0
        change = change_from_interval(r.ci_low, r.ci_high, null,
                                      ratio_mid if is_ratio(measure) else mid)
        text = statement(_intervention(comparison), outcome, change, cert.final,
                         lean=lean_of(r.estimate, null))
        text = text[:-1] + f" [{st.label}; {r.timepoint}]."
        if cert.cap_note is not None:
            text += f" {cert.cap_note}"
        elif r.certainty_reported:
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
    if overrides or lifts:
        (q, outcome, comparison, window), _ = next(iter({**overrides, **lifts}.items()))
        what = " / ".join(x for x in (q, outcome, comparison, window) if x)
        raise InputError(f"judgements.csv: no graded outcome {what} (a judgement must name a "
                         "question, outcome, comparison and window the report grades)")
    return tuple(out)


def row_key(r: OutcomeRow) -> tuple[str, str, str, str, str]:
    """Identifies an outcome row for linking it to its GRADE assessment."""
    return (r.study, r.question, r.outcome, r.comparison, r.window)


def _overrides(review: ReviewData) -> tuple[dict[GradeKey, dict[str, dict[str, Any]]],
                                             dict[GradeKey, dict[str, Any]]]:
    """The reviewers' domain judgements per graded outcome, and the lifted source caps."""
    out: dict[GradeKey, dict[str, dict[str, Any]]] = {}
    lifts: dict[GradeKey, dict[str, Any]] = {}
    for i, j in enumerate(review.judgements):
        at = f"{review.origin}/judgements.csv line {review.line('judgements.csv', i)}"
        key: GradeKey = (j.question, j.outcome, j.comparison, j.window)
        if j.domain == SOURCE_CERTAINTY:
            if j.change != 0:
                raise InputError(f"{at}, column change: a {SOURCE_CERTAINTY} row lifts the cap "
                                 f"at the source review's certainty; its change must be 0 (the "
                                 f"domains set the level), got {j.change}")
            lifts[key] = {"reason": j.reason, "by": j.by, "date": j.date}
            continue
        if j.domain not in DOMAINS:
            raise InputError(f"{at}, column domain: unknown GRADE domain {j.domain!r} (one of "
                             f"{', '.join(DOMAINS)}, or {SOURCE_CERTAINTY})")
        out.setdefault(key, {})[j.domain] = {"change": j.change, "reason": j.reason,
                                             "by": j.by, "date": j.date}
    return out, lifts


def _ceiling(r: OutcomeRow, lift: dict[str, Any] | None) -> Ceiling | None:
    """The source review's own certainty as a ceiling (None when it reported no GRADE level)."""
    level = normalise_certainty(r.certainty_reported)
    if level is None:
        return None
    return Ceiling(level, **(lift or {}))


def normalise_certainty(text: str | None) -> str | None:
    """A GRADE level from a reported certainty (``"Very low"`` -> ``"very low"``), else None
    (e.g. "not GRADEd in abstract")."""
    if text is None:
        return None
    key = " ".join(text.strip().lower().replace("-", " ").split())
    return key if key in LEVELS else None


def _cols(row: Any) -> dict[str, str | None]:
    """A row's columns that indirectness rules can match."""
    return {c: getattr(row, c, None)
            for c in ("population", "route", "regimen", "window", "comparison", "outcome")}


def _category(review: ReviewData, title: str) -> str | None:
    return next((c.id for c in review.protocol.arm_categories if c.title == title), None)


def indirectness(protocol: Protocol, rows: Sequence[dict[str, str | None]]
                 ) -> DomainJudgement | int:
    """The indirectness judgement the protocol's rules give for the rows behind one estimate.

    Parameters
    ----------
    protocol : Protocol
        Its ``indirectness`` declares the rules and the direct populations.
    rows : sequence of dict
        Each row's columns (population, route, regimen, window, comparison, outcome): one for
        a review-level estimate, the arm rows of the trials for a pooled one.

    Returns
    -------
    DomainJudgement or int
        The computed judgement (the worst rule any row matches, with its reason; "no change"
        when every row's population is direct; "not assessable" otherwise), or 0 when the
        protocol declares no indirectness rules (left to the reviewer).
    """
    spec = protocol.indirectness
    if spec is None or not rows:
        return 0
    hits: dict[str, tuple[int, str]] = {}
    unknown: list[str] = []
    for row in rows:
        matched = [rule for rule in spec.rules if rule.matches(row)]
        if matched:
            worst = min(matched, key=lambda rule: rule.change)
            what = ", ".join(f"{c} {v}" for c, v in worst.criteria().items())
            hits.setdefault(what, (worst.change, worst.reason))
        elif row.get("population") not in spec.direct:
            unknown.append(str(row.get("population")))
    pops = sorted({str(row.get("population")) for row in rows})
    values = {"populations": pops, "matched": sorted(hits)}
    if hits:
        change = min(c for c, _ in hits.values())
        why = "; ".join(f"{what}: {reason.rstrip('.')}" for what, (_, reason) in hits.items())
        return DomainJudgement("indirectness", change, f"Protocol rule ({why}).",
                               _INDIRECTNESS_RULE, values)
    if unknown:
        return DomainJudgement(
            "indirectness", 0, f"Not assessable from data: population "
            f"{', '.join(sorted(set(unknown)))} is neither one the protocol names as direct "
            f"({', '.join(spec.direct) or 'none'}) nor covered by an indirectness rule; "
            "reviewer judgement required.", _INDIRECTNESS_RULE, values, assessable=False)
    return DomainJudgement("indirectness", 0, f"Population {', '.join(pops)} is one the "
                           "protocol names as direct, and no indirectness rule matches.",
                           _INDIRECTNESS_RULE, values)


def _intervention(comparison: str) -> str:
    return comparison.split(" vs ")[0].strip() or "the intervention"


def _mid(review: ReviewData, r: OutcomeRow) -> float | None:
    """The protocol's MID for this outcome on the same scale, if there is one."""
    for m in review.protocol.mids:
        if m.outcome == r.outcome and r.scale and m.scale == r.scale:
            return m.value
    return None


def _why(d: DomainJudgement) -> str:
    """The rationale, with who overrode it, when, and what the rule proposed."""
    if not d.overridden or d.proposed is None:
        return d.rationale
    who = ", ".join(x for x in (d.by, d.date) if x)
    return (f"{d.rationale.rstrip('.')}{' (' + who + ')' if who else ''}. Proposed: "
            f"{_judgement(d.proposed)}: {d.proposed.rationale}")


def _judgement(d: Any) -> str:
    change = getattr(d, "effective_change", d.change)
    if not getattr(d, "assessable", True):
        return "not assessable"
    words = {0: "no change", -1: "serious (−1)", -2: "very serious (−2)", 1: "+1", 2: "+2"}
    text = words.get(change, str(change))
    return text + (" (reviewer override)" if getattr(d, "overridden", False) else "")


@dataclass(frozen=True)
class QuestionCertainty:
    """The certainty of the evidence answering one question (GRADE: the lowest certainty among
    its critical outcomes).

    Attributes
    ----------
    question : str
        The question id.
    level : str or None
        High, moderate, low or very low; None when no outcome that may set it was graded.
    deciding : tuple of str
        The graded outcomes at ``level`` among those that set it (their names as graded).
    critical : tuple of str
        The outcomes the protocol declares critical for the question (empty: none declared,
        so every graded outcome counts).
    note : str
        How the level was reached, in one sentence.
    """

    question: str
    level: str | None
    deciding: tuple[str, ...]
    critical: tuple[str, ...]
    note: str

    def summary(self) -> str:
        """``Q1: very low certainty (…)``."""
        level = f"{self.level} certainty" if self.level else "no graded certainty"
        return f"{self.question}: {level} ({self.note})"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"question": self.question, "level": self.level, "deciding": list(self.deciding),
                "critical": list(self.critical), "note": self.note}


def question_certainty(grades: Sequence[GradedOutcome], protocol: Protocol,
                       question_id: str) -> QuestionCertainty:
    """The certainty of a question's evidence: the lowest among its critical outcomes.

    GRADE rates the overall certainty of a body of evidence by the lowest certainty of the
    outcomes critical for the decision (GRADE guidelines 11, Guyatt 2013 JCE 66:151), not by
    the best graded outcome. The protocol's ``critical_outcomes`` name them per question; when
    it names none for the question, every graded outcome counts (so the lowest of all sets
    it). Outcomes the protocol keeps apart (e.g. another setting) never set the level.

    Parameters
    ----------
    grades : sequence of GradedOutcome
        The review's graded outcomes (``ReviewSynthesis.grades``).
    protocol : Protocol
        The review's protocol.
    question_id : str
        A question id of the protocol.

    Returns
    -------
    QuestionCertainty
    """
    apart = protocol.kept_apart
    crit = protocol.critical(question_id)
    qs = [g for g in grades if g.question == question_id]
    main = [g for g in qs if not g.kept_apart]
    names = tuple(crit.outcomes) if crit is not None else ()
    pool = [g for g in main if crit is None or crit.includes(g.key[1])]
    if not pool:
        if crit is not None and main:
            why = (f"no critical outcome ({', '.join(names)}) could be graded; graded outcomes "
                   "that are not critical do not set it")
        elif qs and apart is not None:
            why = (f"only {apart.name} evidence was graded, and evidence kept apart does not "
                   f"set the certainty of the {apart.rest_name} question")
        else:
            why = "no outcome for this question could be graded"
        return QuestionCertainty(question_id, None, (), names, why)
    level = min((g.level for g in pool), key=LEVELS.index)
    deciding = tuple(g.name for g in pool if g.level == level)
    which = (f" of the critical outcomes: {', '.join(names)}" if crit is not None
             else " (no critical outcomes declared, so every graded outcome counts)")
    note = (f"the lowest certainty among {len(pool)} graded estimate"
            f"{'s' if len(pool) != 1 else ''}{which}; set by {'; '.join(deciding)}")
    if apart is not None and len(main) < len(qs):
        note += f"; {apart.name} evidence, kept apart, does not count"
    return QuestionCertainty(question_id, level, deciding, names, note)
