"""A review's report: render a :class:`~metareview.synthesis.review.ReviewSynthesis` as HTML.

``build_report(synthesis)`` turns the typed results of the synthesis layer into the report's
sections: evidence tables, pooled arm-level data with forest plots, review-level estimates side
by side with their overlap (CCA), GRADE assessments with a Summary of Findings table, the
evidence map, the reconciliation of single-arm results with control arms, limitations, and an
appendix with every number's source. Nothing here computes a result. ``render_html(report)``
writes one HTML file with every image inline: it opens offline, and the same data gives the
same bytes (no dates; plot files carry no timestamps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import jinja2

from metareview._util.figures import svg_text
from metareview._util.textfmt import in_sentence, prose_num
from metareview._util.version import __version__
from metareview.grade import summary_of_findings
from metareview.report.forest import forest_plot
from metareview.report.quality import component_table, quality_chart
from metareview.report.tables import (
    EvidenceTable,
    evidence_tables,
    number_appendix,
    review_level_estimates,
)
from metareview.studies import ReviewData
from metareview.synthesis.review import Answer, ReviewSynthesis, synthesize
from metareview.synthesis.single_arm import ReviewReconciliation

CERTAINTY_WORDS = ("high", "moderate", "low", "very low")


@dataclass(frozen=True)
class PooledSection:
    title: str
    text: str
    svg: str


@dataclass(frozen=True, eq=False)
class ReviewReport:
    """Everything the HTML shows, rendered from a synthesis."""

    review_id: str
    title: str
    commissioned_by: str | None
    version: str
    fingerprint: str
    pico: Any
    notes: str | None
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
    synthesis: ReviewSynthesis | None = field(default=None, repr=False)
    #: Sections that only apply to some reviews: review-level estimates and overlap (when the
    #: data hold reviews or their estimates), the reconciliation (when a question asks for it).
    show_reviews: bool = True
    show_reconciliation: bool = True


def _esc(x: Any) -> str:
    return escape(str(x))


# ---- sections ---------------------------------------------------------------------------------
def _pooled_sections(syn: ReviewSynthesis) -> list[PooledSection]:
    pico = syn.data.protocol.pico
    subject, control = pico.intervention_name, pico.comparator_name
    out = []
    for p in syn.pooled:
        # Left of 1 favours the intervention for harms, the control for benefits (RevMan).
        fav = (f"Favours {in_sentence(subject)}", f"Favours {control}")
        fav = fav[::-1] if p.benefit else fav
        notes = _pooled_notes(p)
        for kind, fit in p.fits():
            what = (f"risk ratio, {in_sentence(subject)} vs {control}" if kind == "ratio"
                    else f"proportion of participants, {in_sentence(subject)} arms")
            text = (f"{p.title}: pooled {what} {_estimate_text(fit)} from {fit.k} "
                    f"studies; I² = {fit.i2:.0f}%, tau² = {prose_num(fit.tau2)} ({fit.method}). "
                    f"Sources: {', '.join(p.sources)}.")
            if kind == "ratio":
                text += notes
            else:
                # Arms alone: what they show includes what would have happened without it.
                text += (f" {subject} arms only, not a comparison with {control}: it includes "
                         f"events that would have occurred without {in_sentence(subject)}."
                         + _pooled_notes(p, handling=False))
            fig = forest_plot(fit, favours=fav if kind == "ratio" else ("", ""),
                              title=f"{p.title} ({what})")
            out.append(PooledSection(f"{p.title}: {what}", text, svg_text(fig)))
            sens = p.sensitivity
            if kind == "ratio" and sens is not None:
                left = "; ".join(f"{syn.data.studies[s].label} ({w})"
                                 for s, w in zip(sens.left_out, sens.why, strict=True))
                head = f"{p.title}: sensitivity analysis without indirect populations"
                if sens.ratio is None:
                    out.append(PooledSection(head, f"Left out: {left}. Too few trials remain "
                                             "to pool.", ""))
                    continue
                text = (f"Left out: {left}. The {what} from the remaining {sens.ratio.k} "
                        f"studies is {_estimate_text(sens.ratio)} (I² = {sens.ratio.i2:.0f}%, "
                        f"{sens.ratio.method}), against {_estimate_text(fit)} with all "
                        f"{fit.k}.")
                sfig = forest_plot(sens.ratio, favours=fav,
                                   title=f"{p.title}: without indirect populations")
                out.append(PooledSection(head, text, svg_text(sfig)))
        if p.trials is not None:
            t = p.trials
            each = "; ".join(
                f"{t.study[i]} RR {_ratio_text(t.yi[i], t.vi[i])}" for i in range(t.k))
            text = (f"{p.title}: not pooled, {p.not_pooled}. Each trial's own risk ratio, "
                    f"{in_sentence(subject)} vs {control}: {each}. Sources: "
                    f"{', '.join(p.sources)}." + notes)
            fig = forest_plot(t, favours=fav, title=f"{p.title} (trials not pooled)",
                              pooled=False)
            out.append(PooledSection(f"{p.title}: trials not pooled", text, svg_text(fig)))
    return out


def _estimate_text(fit: Any) -> str:
    """'2.25 (95% CI 1.53 to 3.29)' on the natural scale (percent for proportions)."""
    bt = fit.back_transformed or {}
    est = bt.get("estimate", fit.estimate)
    lo, hi = bt.get("ci_low", fit.ci_low), bt.get("ci_high", fit.ci_high)
    unit, mult = ("%", 100) if fit.measure == "PLO" else ("", 1)
    return (f"{est * mult:.2f}{unit} ({fit.level:g}% CI {lo * mult:.2f}{unit} to "
            f"{hi * mult:.2f}{unit})")


def _ratio_text(yi: float, vi: float) -> str:
    """A study's log ratio as 'RR (95% CI lo to hi)' on the natural scale."""
    se = math.sqrt(vi)
    return (f"{math.exp(yi):.2f} (95% CI {math.exp(yi - 1.959964 * se):.2f} to "
            f"{math.exp(yi + 1.959964 * se):.2f})")


def _pooled_notes(p: Any, handling: bool = True) -> str:
    """What a pooled outcome can answer and (``handling``) how its trials were analysed."""
    text = f" What it can and cannot answer: {p.scope}" if p.scope else ""
    if text and not text.endswith("."):
        text += "."
    return text + ("".join(f" {h}" for h in p.handling) if handling else "")


def _sof_html(syn: ReviewSynthesis) -> str:
    """The Summary of Findings table in GRADEpro's layout."""
    if not syn.grades:
        return "<p>No outcome could be graded.</p>"
    proto = syn.data.protocol
    sof = summary_of_findings([g.sof_row for g in syn.grades], title=proto.title,
                              population=proto.pico.population,
                              intervention=proto.pico.intervention,
                              comparison=proto.pico.comparator)
    return sof.to_html()


def _map_html(syn: ReviewSynthesis) -> str:
    if syn.evidence_map is None:
        return "<p>No results to map.</p>"
    return syn.evidence_map.to_html(title=syn.map_title)


def _overlap_html(syn: ReviewSynthesis) -> str:
    ov = syn.overlap
    if ov is None:
        return f"<p>{_esc(syn.overlap_note)}</p>"
    excluded = ", ".join(ov.excluded) if ov.excluded else "none"
    pair = ov.pairwise.round(1).fillna("").to_html(classes="pairwise", border=0)
    return (f"<h3>Overlap between reviews</h3><p>Corrected covered area (Pieper 2014): "
            f"<strong>{ov.cca:.1f}%</strong> ({_esc(ov.interpretation)}) across {ov.c} reviews "
            f"and {ov.r} distinct primary studies ({ov.n_inclusions} inclusions). Reviews whose "
            f"included studies are not listed in the sources: {_esc(excluded)}.</p>"
            f"<p class='note'>Pairwise CCA (%)</p>{pair}")


def _reconciliation_html(recon: ReviewReconciliation | None) -> str:
    if recon is None:
        return "<p>The protocol asks no reconciliation question.</p>"
    parts = [f"<p>{_esc(recon.message)}</p>"] if recon.message else []
    for item in recon.results:
        rec = item.reconciliation
        parts.append(f"<h3>{_esc(item.single.label)} against placebo groups with "
                     f"{_esc(item.threshold)} (k = {len(item.arms)})</h3>")
        if rec.warnings:
            parts.append("<p class='note'>" + _esc("; ".join(rec.warnings)) + "</p>")
        lines = rec.summary().split("Design differences")[0].strip().splitlines()
        parts.append("".join(f"<p>{_esc(line)}</p>" for line in lines if line.strip()))
        parts.append(f"<div class='figure'>{svg_text(rec.plot())}</div>")
        items = []
        for e in rec.explanations:
            cls, word = {True: ("applies-yes", "applies"), False: ("applies-no", "does not apply"),
                         None: ("applies-unknown", "unknown")}[e.applies]
            items.append(f"<li><strong>{_esc(e.factor)}</strong>: "
                         f"<span class='{cls}'>{word}</span>. {_esc(e.why)}</li>")
        parts.append("<p>Design differences that can explain the gap:</p>"
                     f"<ul class='expl'>{''.join(items)}</ul>")
    if recon.unusable:
        rows = "".join(
            f"<tr><td>{_esc(p.study)}</td><td>{_esc(p.condition)}</td>"
            f"<td>{_esc(p.responder_definition)}</td>"
            f"<td>{'' if p.proportion is None else f'{100 * p.proportion:.1f}%'}</td>"
            f"<td>{'' if p.ci_low is None else f'{100 * p.ci_low:.1f}–{100 * p.ci_high:.1f}%'}"
            f"</td><td>{p.n_trials or ''}</td><td>{_esc(p.source)} [{p.reliability}]</td></tr>"
            for p in recon.unusable)
        parts.append("<h3>Placebo responder figures with no usable numbers</h3>"
                     "<p class='note'>Listed as recorded (e.g. searched for and not found).</p>"
                     "<table><tr><th>Source</th><th>Condition</th><th>Responder definition</th>"
                     "<th>Proportion</th><th>95% CI</th><th>Trials</th><th>Source</th></tr>"
                     f"{rows}</table>")
    return "".join(parts)


def _grade_details(syn: ReviewSynthesis) -> list[dict[str, Any]]:
    return [{"outcome": f"{g.name} — {g.level} certainty ({g.basis})",
             "domains": [{"name": d.name, "judgement": d.judgement, "why": d.why}
                         for d in g.domains()]} for g in syn.grades]


# ---- the report -------------------------------------------------------------------------------
def build_report(syn: ReviewSynthesis) -> ReviewReport:
    """Render every section of a synthesised review."""
    review = syn.data
    proto = review.protocol
    ratings = [(st.quality.instrument, st.quality.rating)
               for st in review.studies.values() if st.quality is not None]
    figs = [svg_text(quality_chart(ratings))] if ratings else []
    comps = [(st.label, dict(st.quality.components)) for st in
             sorted(review.studies.values(), key=lambda s: s.label)
             if st.quality is not None and st.quality.components]
    review_estimates = review_level_estimates(review)
    return ReviewReport(
        review_id=proto.id, title=proto.title, commissioned_by=proto.commissioned_by,
        version=__version__, fingerprint=review.fingerprint(), pico=proto.pico, notes=proto.notes,
        criteria=list(proto.criteria), documents=list(proto.documents),
        answers=list(syn.answers), tables=evidence_tables(review),
        review_estimates=review_estimates, appendix=number_appendix(review),
        pooled=_pooled_sections(syn), quality_figures=figs, quality_html=component_table(comps),
        overlap_html=_overlap_html(syn), map_html=_map_html(syn), sof_html=_sof_html(syn),
        grade_details=_grade_details(syn),
        reconciliation_html=_reconciliation_html(syn.reconciliation),
        limitations=list(syn.limitations), synthesis=syn,
        show_reviews=bool(review_estimates.rows) or any(
            st.kind in ("systematic review", "overview") for st in review.studies.values()),
        show_reconciliation=syn.reconciliation is not None,
    )


def render_html(report: ReviewReport) -> str:
    """The report as one self-contained HTML document."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("metareview.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )
    return env.get_template("review.html.j2").render(r=report)


def write_report(review: ReviewData, out: str | Path) -> Path:
    """Synthesise a review's data, render the report and write the HTML file; returns its
    path."""
    html = render_html(build_report(synthesize(review)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out


__all__ = ["ReviewReport", "build_report", "render_html", "write_report"]
