"""Evidence tables rendered from a review's data: the protocol's tables, estimates, sources."""

from __future__ import annotations

import re
from dataclasses import dataclass

from metareview._util.textfmt import source_num
from metareview.studies import OutcomeRow, ReviewData, Study
from metareview.studies.schema import TableSpec


@dataclass(frozen=True)
class EvidenceTable:
    """A titled table: column headings and rows of cell text."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def describe_result(row: OutcomeRow) -> str:
    """One outcome row as text: 'pain intensity (2 weeks): MD -1.83 [-2.35, -1.31], p<0.001'."""
    head = f"{row.outcome} ({row.timepoint})"
    parts = []
    if row.estimate is not None:
        est = f"{row.measure} {source_num(row.estimate)}"
        if row.ci_low is not None and row.ci_high is not None:
            est += f" [{source_num(row.ci_low)}, {source_num(row.ci_high)}]"
        parts.append(est)
    if row.events is not None and row.total is not None:
        parts.append(f"{row.events}/{row.total}")
    if row.p:
        parts.append(f"p {row.p}" if row.p[0] in "<>=" else f"p = {row.p}")
    if row.scale:
        parts.append(row.scale)
    if row.i2 is not None:
        parts.append(f"I² {source_num(row.i2)}%")
    text = head + (": " + ", ".join(parts) if parts else f": {row.reported}")
    return text + f" [{row.reliability}]"


def _quality(st: Study) -> str:
    if st.quality is None:
        return "not rated"
    q = st.quality
    out = f"{q.rating} ({q.instrument}"
    if q.score is not None:
        out += f", {q.score}/10"
    return out + ")"


def _population(st: Study) -> str:
    n = []
    if st.n_studies is not None:
        n.append(f"{st.n_studies} studies")
    if st.n_participants is not None:
        n.append(f"N={st.n_participants:,}")
    return st.population + (f" ({'; '.join(n)})" if n else "")


def _intervention(st: Study) -> str:
    iv = st.intervention
    bits = [f"{iv.drug}, {iv.route}"]
    if iv.dose:
        bits.append(iv.dose)
    bits.append(f"regimen: {iv.regimen}")
    if iv.duration:
        bits.append(iv.duration)
    return "; ".join(bits)


COLUMNS = ("Reference", "Design (NHMRC level)", "Population", "Intervention", "Comparator",
           "Follow-up", "Key outcomes", "Quality")


def study_table(review: ReviewData, spec: TableSpec) -> EvidenceTable:
    """Rows for the studies ``spec`` selects, with their outcome rows for its question."""
    rows = []
    for st in sorted(review.studies.values(), key=lambda s: (s.year, s.label)):
        if not spec.selects(st):
            continue
        results = [describe_result(r) for r in review.outcomes
                   if r.study == st.id and r.question == spec.question]
        if spec.show_arms:
            results += [f"{a.outcome} ({a.timepoint}): {a.arm} {a.events}/{a.total} "
                        f"[{a.reliability}]" for a in review.arms if a.study == st.id]
        level = f" ({st.evidence_level})" if st.evidence_level else ""
        rows.append((
            f"{st.label}: {st.citation}", st.design + level, _population(st), _intervention(st),
            st.comparator, st.follow_up or "not reported", "\n".join(results) or "—",
            _quality(st),
        ))
    return EvidenceTable(spec.title, COLUMNS, tuple(rows))


def _is_review(st: Study) -> bool:
    return st.kind in ("systematic review", "overview")


def table_specs(review: ReviewData) -> list[TableSpec]:
    """The protocol's evidence tables; without any, one table per question (with the
    question's arm-level counts where its arm categories have any)."""
    proto = review.protocol
    if proto.tables:
        return list(proto.tables)
    with_arms = {c.question for c in proto.arm_categories}
    return [TableSpec(title=f"Studies for {q.id}: {q.text}", question=q.id,
                      show_arms=q.id in with_arms)
            for q in proto.questions if q.answer == "graded"]


def evidence_tables(review: ReviewData) -> list[EvidenceTable]:
    """The evidence tables of :func:`table_specs` (only non-empty tables)."""
    tables = [study_table(review, spec) for spec in table_specs(review)]
    return [t for t in tables if t.rows]


def review_level_estimates(review: ReviewData) -> EvidenceTable:
    """Estimates reported by reviews, side by side (never pooled with each other)."""
    rows = []
    for r in review.outcomes:
        st = review.studies[r.study]
        if not _is_review(st) or r.estimate is None:
            continue
        ci = (f"{source_num(r.ci_low)} to {source_num(r.ci_high)}"
              if r.ci_low is not None and r.ci_high is not None else "not reported")
        rows.append((st.label, r.question, r.outcome, r.comparison, r.window, r.timepoint,
                     r.measure, source_num(r.estimate), ci,
                     str(r.n_studies or ""), r.certainty_reported or "", r.source, r.reliability))
    rows.sort(key=lambda x: (x[1], x[2], x[4], x[0]))
    return EvidenceTable(
        "Review-level estimates, side by side",
        ("Review", "Question", "Outcome", "Comparison", "Window", "Time point", "Measure",
         "Estimate", "95% CI", "Studies", "Certainty (as reported)", "Source", "Reliability"),
        tuple(rows),
        "Shown side by side and never pooled: the reviews share primary studies (see overlap), "
        "and pooling a review with its own included trials would count them twice.",
    )


def number_appendix(review: ReviewData) -> EvidenceTable:
    """Every number in the data with its source, reliability label and where to open it.

    The last column names the cited document's text as a path inside the review folder and
    the location within it (``sources/report.txt, at Table 4``). It is plain text, not a link:
    the report stays one self-contained file, and the path opens from the review folder.
    """
    rows: list[tuple[str, ...]] = []
    files = {d.id: d.file for d in review.protocol.documents}

    def opened(source: str) -> str:
        doc, _, loc = source.partition(" ")
        file = files.get(doc)
        if file is None:
            return f"{doc}: no stored text"
        return f"{file}, at {loc}" if loc else file

    def add(where: str, what: str, value: str, source: str, rel: str) -> None:
        rows.append((where, what, value, source, rel, opened(source)))

    for st in sorted(review.studies.values(), key=lambda s: s.id):
        loc = f"{st.source.document} {st.source.location}"
        if st.n_participants is not None:
            add(st.label, "participants", f"{st.n_participants:,}", loc, st.reliability)
        if st.n_studies is not None:
            add(st.label, "studies", str(st.n_studies), loc, st.reliability)
        if st.quality is not None and st.quality.score is not None:
            q = st.quality
            add(st.label, f"{q.instrument} score", str(q.score),
                f"{q.source.document} {q.source.location}", st.reliability)
    for r in review.outcomes:
        label = review.studies[r.study].label
        for name, val in (("estimate", r.estimate), ("CI low", r.ci_low), ("CI high", r.ci_high),
                          ("events", r.events), ("total", r.total), ("I²", r.i2),
                          ("studies", r.n_studies), ("participants", r.n_participants)):
            if val is not None:
                add(label, f"{r.outcome}, {r.timepoint}: {r.measure} {name}", source_num(val),
                    r.source, r.reliability)
        if r.p:
            add(label, f"{r.outcome}, {r.timepoint}: p", r.p, r.source, r.reliability)
    for a in review.arms:
        label = review.studies[a.study].label
        add(label, f"{a.outcome}, {a.arm} arm", f"{a.events}/{a.total}", a.source, a.reliability)
    for pr in review.placebo_response:
        vals = _placebo_values(pr)
        add(pr.study, f"placebo responders ({pr.responder_definition})", vals, pr.source,
            pr.reliability)
    # Two data rows can hold the same number from the same place (e.g. one denominator shared
    # by two responder definitions): it is listed once.
    return EvidenceTable("Every number and its source", ("Study", "Quantity", "Value", "Source",
                                                         "Reliability", "Text to open"),
                         tuple(dict.fromkeys(rows)),
                         note="Text to open: the cited document's text inside the review folder "
                              "and the place in it (a path relative to the review folder).")


def guideline_recommendations(review: ReviewData) -> EvidenceTable:
    """Guidelines' recommendations with their strength and source, as the data hold them:
    each outcome row of a guideline, else each ``population: recommendation (strength)`` part
    of its key findings."""
    rows: list[tuple[str, ...]] = []
    for st in sorted(review.studies.values(), key=lambda s: (s.year, s.label)):
        if st.kind != "guideline":
            continue
        where = f"{st.source.document} {st.source.location} [{st.reliability}]"
        own = [r for r in review.outcomes if r.study == st.id]
        for r in own:
            rows.append((st.label, r.population, r.reported or r.outcome,
                         r.certainty_reported or "not stated", f"{r.source} [{r.reliability}]"))
        if own or not st.key_findings:
            continue
        for part in (p.strip() for p in re.split(r";\s*|\.\s+(?=[A-Z])", st.key_findings)
                     if p.strip()):
            who, _, rec = part.partition(": ")
            if not rec:
                who, rec = st.population, part
            rec = rec.rstrip(".")
            strength = "not stated"
            if rec.endswith(")") and "(" in rec:
                rec, strength = rec[:rec.rfind("(")].strip(), rec[rec.rfind("(") + 1:-1]
            rows.append((st.label, who, rec, strength, where))
    return EvidenceTable(
        "Guideline recommendations",
        ("Guideline", "Population", "Recommendation", "Strength / grade (as stated)", "Source"),
        tuple(dict.fromkeys(rows)),
        "As the guidelines state them; strength is the guideline's own grade, not ours.")


def _placebo_values(pr) -> str:
    parts: list[str] = []
    if pr.proportion is not None:
        parts.append(f"{pr.proportion:.3g}")
    if pr.ci_low is not None and pr.ci_high is not None:
        parts.append(f"[{pr.ci_low:.3g}, {pr.ci_high:.3g}]")
    if pr.events is not None and pr.total is not None:
        parts.append(f"{pr.events}/{pr.total}")
    if pr.n_trials is not None:
        parts.append(f"{pr.n_trials} trials")
    return " ".join(parts)
