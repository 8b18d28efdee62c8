"""A review's report: run every analysis its data supports and render self-contained HTML.

``build_report(review)`` chains the library's layers over a loaded review: evidence tables,
pooled arm-level data (engine), review-level estimates side by side with their overlap (CCA),
GRADE assessments with a Summary of Findings table, the evidence map, the reconciliation of
single-arm results with placebo arms, limitations, and an appendix with every number's source.
``render_html(report)`` writes one HTML file with every image inline: it opens offline, and the
same data gives the same bytes (no dates; plot files carry no timestamps).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from metareview import __version__
from metareview._util.figures import svg_text
from metareview.report.forest import forest_plot
from metareview.report.pooling import PooledOutcome, pool_arms
from metareview.report.quality import component_table, quality_chart
from metareview.report.tables import (
    EvidenceTable,
    evidence_tables,
    fmt_num,
    number_appendix,
    review_level_estimates,
)
from metareview.review.load import Review
from metareview.review.schema import OutcomeRow, Study

CERTAINTY_WORDS = ("high", "moderate", "low", "very low")


@dataclass(frozen=True)
class Answer:
    id: str
    question: str
    text: str
    certainty: str | None = None
    certainty_note: str = ""


@dataclass(frozen=True)
class PooledSection:
    title: str
    text: str
    svg: str


@dataclass(frozen=True, eq=False)
class ReviewReport:
    """Everything the HTML shows, already computed."""

    review_id: str
    title: str
    commissioned_by: str | None
    version: str
    fingerprint: str
    pico: Any
    criteria: list[Any]
    documents: list[Any]
    answers: list[Answer]
    tables: list[EvidenceTable]
    review_estimates: EvidenceTable
    appendix: EvidenceTable
    pooled: list[PooledSection]
    quality_figures: list[str]
    quality_html: str
    overlap_html: str
    map_html: str
    sof_html: str
    grade_details: list[dict[str, Any]]
    reconciliation_html: str
    limitations: list[str]
    methods_html: str = ""
    results: dict[str, Any] = field(default_factory=dict)


def fingerprint(root: Path) -> str:
    """SHA-256 (first 12 hex) over the review's data files (YAML, CSV), in a fixed order."""
    h = hashlib.sha256()
    data = [p for p in root.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".csv")]
    for path in sorted(data):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


# ---- risk of bias per study (appraisal's convention) ------------------------------------------
def rob_category(st: Study) -> str:
    """Risk-of-bias category of a study from its quality rating (appraisal's mapping)."""
    from metareview.appraisal import risk_of_bias_category

    if st.quality is None or st.quality.rating == "not rated":
        return "some concerns"
    return risk_of_bias_category(st.quality.rating, instrument=st.quality.instrument)


# ---- pooled sections ------------------------------------------------------------------------
def _pooled_sections(review: Review, pooled: list[PooledOutcome]) -> list[PooledSection]:
    out = []
    for p in pooled:
        for fit, kind in ((p.ratio, "risk ratio, ketamine vs control"),
                          (p.proportion, "proportion of patients, ketamine arms")):
            if fit is None:
                continue
            bt = fit.back_transformed or {}
            est = bt.get("estimate", fit.estimate)
            lo, hi = bt.get("ci_low", fit.ci_low), bt.get("ci_high", fit.ci_high)
            scale = "%" if fit.measure == "PLO" else ""
            mult = 100 if fit.measure == "PLO" else 1
            text = (f"{p.title}: pooled {kind} {est * mult:.2f}{scale} "
                    f"(95% CI {lo * mult:.2f}{scale} to {hi * mult:.2f}{scale}) from {fit.k} "
                    f"studies; I² = {fit.i2:.0f}%, tau² = {fit.tau2:.3g} ({fit.method}). "
                    f"Sources: {', '.join(p.sources)}.")
            fav = (("Favours ketamine", "Favours control") if fit.measure == "RR"
                   else ("", ""))
            fig = forest_plot(fit, favours=fav, title=f"{p.title} ({kind})")
            out.append(PooledSection(f"{p.title}: {kind}", text, svg_text(fig)))
    return out


# ---- answers --------------------------------------------------------------------------------
def _rows(review: Review, question: str) -> list[OutcomeRow]:
    return [r for r in review.outcomes if r.question == question]


def _describe(review: Review, r: OutcomeRow) -> str:
    st = review.studies[r.study]
    if r.estimate is None:
        return f"{st.label}: {r.reported} [{r.reliability}]"
    ci = (f" (95% CI {fmt_num(r.ci_low)} to {fmt_num(r.ci_high)})"
          if r.ci_low is not None and r.ci_high is not None else "")
    scale = f" on {r.scale}" if r.scale else ""
    return (f"{st.label}: {r.outcome}, {r.timepoint}: {r.measure} {fmt_num(r.estimate)}{ci}"
            f"{scale} [{r.reliability}]")


def _answer_from_grades(qid: str, text: str, review: Review, grades: list[dict[str, Any]]
                        ) -> Answer:
    qs = [g for g in grades if g["question"] == qid]
    # Perioperative evidence is kept apart from chronic-pain evidence.
    chronic = [g["statement"] for g in qs if not g.get("perioperative")]
    periop = [g["statement"] for g in qs if g.get("perioperative")]
    body = ""
    if periop:
        ungraded = [_describe(review, r) for r in _rows(review, qid)
                    if r.pain_type != "perioperative" and r.estimate is None][:4]
        body = "In chronic pain: " + (" ".join(chronic) if chronic else (
            "no result could be graded; reported: " + "; ".join(ungraded) + "."
            if ungraded else "no results.")) + " Perioperatively (kept apart): " + " ".join(periop)
    elif chronic:
        body = " ".join(chronic)
    found = sorted({g["certainty"] for g in qs if g["certainty"] in CERTAINTY_WORDS},
                   key=CERTAINTY_WORDS.index)
    best = found[0] if found else None
    note = (f"(graded outcomes range from {found[-1]} to {found[0]} certainty; see each "
            "statement)" if len(found) > 1 else "")
    if periop and not chronic:
        note = "(perioperative evidence only; no chronic-pain result could be graded)"
    if not body:
        reported = [_describe(review, r) for r in _rows(review, qid)][:6]
        body = ("No outcome for this question could be graded from the data. Reported: "
                + "; ".join(reported) + "." if reported else
                "The data hold no result for this question.")
    return Answer(qid, text, body, best, note)


def render_html(report: ReviewReport) -> str:
    """The report as one self-contained HTML document."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("metareview.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )
    return env.get_template("review.html.j2").render(r=report)


def write_report(review_dir: str | Path, out: str | Path) -> Path:
    """Load a review, build its report and write the HTML file; returns its path."""
    from metareview.review.load import load_review

    review = load_review(review_dir)
    report = build_report(review)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    return out


def build_report(review: Review) -> ReviewReport:
    """Run every analysis the review's data support and collect the results."""
    from metareview.report.review_analyses import (
        grade_outcomes,
        limitations,
        map_html,
        overlap_html,
        reconciliation_html,
        sof_html,
    )

    proto = review.protocol
    pooled = pool_arms(review)
    grades = grade_outcomes(review, pooled)
    qtext = {q.id: q.text for q in proto.questions}
    answers = [
        _answer_from_grades(q, qtext.get(q, q), review, grades) for q in ("Q1", "Q2", "Q3")
        if q in qtext
    ]
    recon_html, recon_answer = reconciliation_html(review)
    if "Q4" in qtext:
        answers.append(Answer("Q4", qtext["Q4"], recon_answer))
    ratings = [(st.quality.instrument, st.quality.rating)
               for st in review.studies.values() if st.quality is not None]
    figs = [svg_text(quality_chart(ratings))] if ratings else []
    comps = [(st.label, dict(st.quality.components)) for st in
             sorted(review.studies.values(), key=lambda s: s.label)
             if st.quality is not None and st.quality.components]
    return ReviewReport(
        review_id=proto.id, title=proto.title, commissioned_by=proto.commissioned_by,
        version=__version__, fingerprint=fingerprint(review.root), pico=proto.pico,
        criteria=list(proto.criteria), documents=list(proto.documents), answers=answers,
        tables=evidence_tables(review), review_estimates=review_level_estimates(review),
        appendix=number_appendix(review), pooled=_pooled_sections(review, pooled),
        quality_figures=figs, quality_html=component_table(comps),
        overlap_html=overlap_html(review), map_html=map_html(review, grades),
        sof_html=sof_html(review, grades), grade_details=[g["detail"] for g in grades],
        reconciliation_html=recon_html, limitations=limitations(review),
        results={"grades": [{k: v for k, v in g.items() if k not in ("detail", "obj")}
                            for g in grades]},
    )


__all__ = ["ReviewReport", "build_report", "render_html", "write_report"]
