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
from metareview.grade.sof import SummaryOfFindings
from metareview.report.forest import forest_plot
from metareview.report.prisma import prisma_diagram
from metareview.report.quality import component_table, quality_chart
from metareview.report.tables import (
    EvidenceTable,
    evidence_tables,
    guideline_recommendations,
    number_appendix,
    review_level_estimates,
)
from metareview.screening.prisma import PrismaCounts
from metareview.studies import ReviewData
from metareview.synthesis.review import Answer, ReviewSynthesis, sof_groups, synthesize
from metareview.synthesis.single_arm import ReviewReconciliation


@dataclass(frozen=True)
class PooledSection:
    title: str
    text: str
    svg: str
    #: The forest plot drawn (None when too few trials remain), for other renderings (Word).
    figure: Any = field(default=None, repr=False, compare=False)


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
    #: (question id, plain answer, certainty) per question, for the top of the report.
    bottom_line: list[tuple[str, str, str | None]] = field(default_factory=list)
    #: (anchor, heading) of every section, in order: the table of contents.
    toc: list[tuple[str, str]] = field(default_factory=list)
    prisma_html: str = ""
    search_html: str = ""
    domains_html: str = ""
    graded_map_html: str = ""
    guidelines: EvidenceTable | None = None
    #: Sections that only apply to some reviews: review-level estimates and overlap (when the
    #: data hold reviews or their estimates), the reconciliation (when a question asks for it).
    show_reviews: bool = True
    show_reconciliation: bool = True
    #: The typed results behind the HTML of some sections, for other renderings (Word):
    #: (heading, table) per Summary of Findings, the PRISMA figure (None when no flow can be
    #: drawn) with its note or the reason for none, the quality charts, the search rows.
    sof_tables: list[tuple[str, SummaryOfFindings]] = field(default_factory=list)
    prisma_figure: Any = field(default=None, repr=False)
    prisma_note: str = ""
    quality_charts: list[Any] = field(default_factory=list, repr=False)
    search_rows: list[tuple[str, str]] = field(default_factory=list)


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
            out.append(PooledSection(f"{p.title}: {what}", text, svg_text(fig), fig))
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
                out.append(PooledSection(head, text, svg_text(sfig), sfig))
        if p.trials is not None:
            t = p.trials
            each = "; ".join(
                f"{t.study[i]} RR {_ratio_text(t.yi[i], t.vi[i])}" for i in range(t.k))
            text = (f"{p.title}: not pooled, {p.not_pooled}. Each trial's own risk ratio, "
                    f"{in_sentence(subject)} vs {control}: {each}. Sources: "
                    f"{', '.join(p.sources)}." + notes)
            fig = forest_plot(t, favours=fav, title=f"{p.title} (trials not pooled)",
                              pooled=False)
            out.append(PooledSection(f"{p.title}: trials not pooled", text, svg_text(fig),
                                     fig))
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


def _sof_tables(syn: ReviewSynthesis) -> list[tuple[str, SummaryOfFindings]]:
    """Summary of Findings tables in GRADEpro's layout: (heading, table) per population."""
    pico = syn.data.protocol.pico
    return [(grp.title, summary_of_findings(
        list(grp.rows), title=f"{pico.intervention_name} compared to {pico.comparator_name}"
        f": {grp.title}", population=grp.population, intervention=pico.intervention_name,
        comparison=pico.comparator_name)) for grp in sof_groups(syn.data, syn.grades)]


def _sof_html(syn: ReviewSynthesis, tables: list[tuple[str, SummaryOfFindings]]) -> str:
    """The Summary of Findings tables as HTML: one per population."""
    if not syn.grades:
        return "<p>No outcome could be graded.</p>"
    pico = syn.data.protocol.pico
    parts = [f"<p class='note'>Intervention: {_esc(pico.intervention)}. Comparison: "
             f"{_esc(pico.comparator)}. One table per population; the notes all tables share "
             "(GRADE's grades, the asterisk) are under the last table.</p>"]
    for i, (title, sof) in enumerate(tables):
        parts.append(f"<h3>{_esc(title)}</h3>"
                     f"{sof.to_html(standard_notes=i == len(tables) - 1)}")
    return "".join(parts)


def _domains_html(syn: ReviewSynthesis) -> str:
    """Every graded outcome's GRADE domains in one table (one row per outcome), the reasons
    behind a fold."""
    if not syn.grades:
        return ""
    names = list(dict.fromkeys(d.name for g in syn.grades for d in g.domains()))
    head = "".join(f"<th>{_esc(n)}</th>" for n in names)
    rows, details = [], []
    for g in syn.grades:
        by = {d.name: d for d in g.domains()}
        cells = "".join(f"<td>{_short(by[n].judgement) if n in by else ''}</td>" for n in names)
        rows.append(f"<tr><td>{_esc(g.question)}</td><td>{_esc(g.name)}</td>"
                    f"<td><span class='cert cert-{g.level.replace(' ', '-')}'>"
                    f"{_esc(g.level)}</span></td>{cells}</tr>")
        why = "".join(f"<li><strong>{_esc(d.name)}</strong> ({_esc(d.judgement)}): "
                      f"{_esc(d.why)}</li>" for d in g.domains())
        details.append(f"<p><strong>{_esc(g.name)}</strong> — {_esc(g.level)} certainty "
                       f"({_esc(g.basis)})</p><ul>{why}</ul>")
    return ("<p class='note'>· not assessable from the data (e.g. one review's estimate: no "
            "publication bias or dose-response test is possible); no change: judged, no "
            "concern.</p>"
            "<table class='domains'><tr><th>Question</th><th>Outcome</th><th>Certainty</th>"
            f"{head}</tr>{''.join(rows)}</table>"
            "<details><summary>Why each domain was judged so (every outcome)</summary>"
            f"{''.join(details)}</details>")


def _short(judgement: str) -> str:
    return _esc(_domain_word(judgement))


def _domain_word(judgement: str) -> str:
    """A domain's judgement in the one-row-per-outcome table ("·": not assessable)."""
    return "·" if judgement == "not assessable" else judgement


def _prisma(review: ReviewData, counts: PrismaCounts | None = None) -> tuple[Any, str]:
    """The PRISMA 2020 flow and its note (or, without a figure, why there is none): from the
    review's own records when it has them (a project), else from the counts the source review
    reports (boxes it does not report say "not reported", never 0)."""
    if counts is not None:
        return (prisma_diagram(counts, unknown="not applicable"),
                "PRISMA 2020 flow counted from this review's records and screening decisions.")
    pr = review.protocol.prisma
    if pr is None:
        return None, ("No search records or reported flow counts are in the data, so no PRISMA "
                      "flow diagram can be drawn.")
    counts = PrismaCounts(
        database_results=pr.database_results, duplicates=pr.duplicates,
        records_screened=pr.records_screened, records_excluded=pr.records_excluded,
        dbr_assessed=pr.reports_assessed, dbr_excluded=pr.reports_excluded,
        new_studies=pr.studies_included, new_reports=pr.reports_included)
    fig = prisma_diagram(counts, unknown="not reported")
    note = f" {pr.note}" if pr.note else ""
    other = (f" Records from other sources: {pr.other_results:,}." if pr.other_results
             is not None else "")
    return fig, (f"PRISMA 2020 flow as reported by the source review ({pr.source.document} "
                 f"{pr.source.location} [{pr.reliability}]); boxes the source does not report "
                 f"say \"not reported\".{other}{note}")


def _prisma_html(fig: Any, note: str) -> str:
    note = escape(note, quote=False)  # text of a paragraph: its quotes stay as written
    if fig is None:
        return f"<p>{note}</p>"
    return f"<div class='figure prisma'>{svg_text(fig)}</div><p class='note'>{note}</p>"


#: Said instead of the search table when the protocol has no search.
NO_SEARCH = "The protocol does not record how studies were searched for."


def _search_rows(review: ReviewData) -> list[tuple[str, str]]:
    """(what, value) of the protocol's search, the empty ones left out."""
    sm = review.protocol.search
    if sm is None:
        return []
    rows = [("Databases", ", ".join(sm.databases)),
            ("Other sources", "; ".join(sm.other_sources)), ("Dates covered", sm.dates),
            ("Searched", sm.searched), ("Limits", sm.limits),
            ("Search terms", " AND ".join(f"({t})" for t in sm.terms)), ("Note", sm.note),
            ("Source", f"{sm.source.document} {sm.source.location}")]
    return [(k, v) for k, v in rows if v]


def _search_html(rows: list[tuple[str, str]]) -> str:
    if not rows:
        return f"<p>{NO_SEARCH}</p>"
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<table class='search'>{body}</table>"


def _map_html(syn: ReviewSynthesis) -> str:
    if syn.evidence_map is None:
        return "<p>No results to map.</p>"
    return syn.evidence_map.to_html(title=syn.map_title)


def _graded_map_html(syn: ReviewSynthesis) -> str:
    if syn.graded_map is None:
        return "<p>No result was graded, so the map below has no certainty to show.</p>"
    return syn.graded_map.to_html(title=f"{syn.map_title}: graded results only")


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
        parts.append("".join(f"<p>{_esc(line)}</p>" for line in _reconciliation_lines(rec)))
        parts.append(f"<div class='figure'>{svg_text(rec.plot())}</div>")
        items = []
        for e in rec.explanations:
            cls, word = {True: ("applies-yes", "applies"), False: ("applies-no", "does not apply"),
                         None: ("applies-unknown", "unknown")}[e.applies]
            items.append(f"<li><strong>{_esc(e.factor)}</strong>: "
                         f"<span class='{cls}'>{word}</span> — {_esc(e.why)}</li>")
        parts.append("<p>Design differences that can explain the gap:</p>"
                     f"<ul class='expl'>{''.join(items)}</ul>")
    if recon.unusable:
        rows = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>"
                       for row in _unusable_rows(recon))
        parts.append("<h3>Placebo responder figures with no usable numbers</h3>"
                     "<p class='note'>Listed as recorded (e.g. searched for and not found).</p>"
                     "<table><tr>" + "".join(f"<th>{c}</th>" for c in UNUSABLE_COLUMNS)
                     + f"</tr>{rows}</table>")
    return "".join(parts)


def _reconciliation_lines(rec: Any) -> list[str]:
    """A reconciliation's summary lines, up to its design differences (listed apart)."""
    lines = rec.summary().split("Design differences")[0].strip().splitlines()
    return [line for line in lines if line.strip()]


UNUSABLE_COLUMNS = ("Source", "Condition", "Responder definition", "Proportion", "95% CI",
                    "Trials", "Source")


def _unusable_rows(recon: ReviewReconciliation) -> list[tuple[str, ...]]:
    """The placebo-response rows with no usable numbers, as table cells."""
    return [(p.study, p.condition, p.responder_definition,
             "" if p.proportion is None else f"{100 * p.proportion:.1f}%",
             "" if p.ci_low is None else f"{100 * p.ci_low:.1f}–{100 * p.ci_high:.1f}%",
             str(p.n_trials or ""), f"{p.source} [{p.reliability}]") for p in recon.unusable]


def _grade_details(syn: ReviewSynthesis) -> list[dict[str, Any]]:
    return [{"outcome": f"{g.name} — {g.level} certainty ({g.basis})",
             "domains": [{"name": d.name, "judgement": d.judgement, "why": d.why}
                         for d in g.domains()]} for g in syn.grades]


# ---- the report -------------------------------------------------------------------------------
def build_report(syn: ReviewSynthesis, prisma: PrismaCounts | None = None) -> ReviewReport:
    """Render every section of a synthesised review.

    ``prisma``: the review's own PRISMA counts (from a project's records); without them the
    flow is drawn from the counts the protocol says the source review reports."""
    review = syn.data
    proto = review.protocol
    ratings = [(st.quality.instrument, st.quality.rating)
               for st in review.studies.values() if st.quality is not None]
    charts = [quality_chart(ratings)] if ratings else []
    comps = [(st.label, dict(st.quality.components)) for st in
             sorted(review.studies.values(), key=lambda s: s.label)
             if st.quality is not None and st.quality.components]
    review_estimates = review_level_estimates(review)
    guidelines = guideline_recommendations(review)
    show_reviews = bool(review_estimates.rows) or any(
        st.kind in ("systematic review", "overview") for st in review.studies.values())
    toc = [("bottom-line", "Bottom line"), ("answers", "Answers")]
    if syn.reconciliation is not None:
        toc.append(("reconciliation", "Uncontrolled results beside placebo-controlled evidence"))
    toc += [("grade", "Summary of findings (GRADE)"), ("methods", "Question and methods"),
            ("search", "Search and study selection (PRISMA)")]
    if guidelines.rows:
        toc.append(("guidelines", "Guideline recommendations"))
    toc += [("tables", "Evidence tables"), ("quality", "Quality and risk of bias")]
    if show_reviews:
        toc.append(("reviews", "Review-level estimates and overlap"))
    toc += [("pooled", "Pooled analyses of trial-level data"), ("map", "Evidence map"),
            ("limitations", "Limitations"), ("appendix", "Appendix: every number and its source")]
    sof = _sof_tables(syn)
    prisma_fig, prisma_note = _prisma(review, prisma)
    search = _search_rows(review)
    return ReviewReport(
        review_id=proto.id, title=proto.title, commissioned_by=proto.commissioned_by,
        version=__version__, fingerprint=review.fingerprint(), pico=proto.pico, notes=proto.notes,
        criteria=list(proto.criteria), documents=list(proto.documents),
        answers=list(syn.answers), tables=evidence_tables(review),
        review_estimates=review_estimates, appendix=number_appendix(review),
        pooled=_pooled_sections(syn), quality_figures=[svg_text(f) for f in charts],
        quality_html=component_table(comps),
        overlap_html=_overlap_html(syn), map_html=_map_html(syn), sof_html=_sof_html(syn, sof),
        grade_details=_grade_details(syn),
        reconciliation_html=_reconciliation_html(syn.reconciliation),
        limitations=list(syn.limitations), synthesis=syn,
        show_reviews=show_reviews,
        show_reconciliation=syn.reconciliation is not None,
        bottom_line=list(syn.bottom_line()), toc=toc,
        prisma_html=_prisma_html(prisma_fig, prisma_note),
        search_html=_search_html(search), domains_html=_domains_html(syn),
        graded_map_html=_graded_map_html(syn), guidelines=guidelines,
        sof_tables=sof, prisma_figure=prisma_fig, prisma_note=prisma_note,
        quality_charts=charts, search_rows=search,
    )


def render_html(report: ReviewReport) -> str:
    """The report as one self-contained HTML document."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("metareview.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )
    return env.get_template("review.html.j2").render(r=report)


def write_report(review: ReviewData, out: str | Path,
                 prisma: PrismaCounts | None = None) -> Path:
    """Synthesise a review's data, render the report and write the HTML file; returns its
    path (``prisma``: the review's own PRISMA counts, see :func:`build_report`)."""
    html = render_html(build_report(synthesize(review), prisma))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out


__all__ = ["ReviewReport", "build_report", "render_html", "write_report"]
