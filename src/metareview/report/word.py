"""A review's report as a Word document: the :class:`ReviewReport` the HTML shows, as .docx.

Guideline panels read Word. :func:`render_docx` lays out the same report as
:func:`~metareview.report.review_report.render_html`, section by section and with the same
texts: every number is a string the report (or the typed result it holds) already formatted,
so the two files agree to the character and nothing is recomputed here. What HTML shows as
markup is a real Word object: the Summary of Findings is a table per population in GRADEpro's
layout (its two header rows repeat on every page, its footnotes below it), the GRADE domains,
evidence tables and the appendix are tables, and the plots are PNG pictures drawn from the
report's own matplotlib figures at print resolution.

The same report gives the same bytes: the document's properties carry no date, and the zip
entries a fixed one (python-docx stamps each with the time of saving).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Emu, Pt, RGBColor
from docx.table import Table, _Cell

from metareview.grade.sof import GRADE_NOTE, STAR_NOTE, SummaryOfFindings
from metareview.report.review_report import (
    NO_SEARCH,
    UNUSABLE_COLUMNS,
    ReviewReport,
    _domain_word,
    _reconciliation_lines,
    _unusable_rows,
    build_report,
)
from metareview.report.tables import EvidenceTable
from metareview.screening.prisma import PrismaCounts
from metareview.studies import ReviewData
from metareview.synthesis.review import synthesize

#: Pictures are drawn at print resolution.
PRINT_DPI = 300
#: The MIME type of a .docx file.
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

_FONT = "Calibri"
# GRADE's ⊕ and ◯ are not in Calibri: a symbol font that has them (Word substitutes one that
# has them where it is missing, as LibreOffice does).
_SYMBOL_FONT = "Segoe UI Symbol"
_A4 = (Cm(21.0), Cm(29.7))
_MARGIN = Cm(2.0)
_HEAD_FILL = "EEF2F7"
_BLUE = RGBColor(0x2B, 0x4C, 0x7E)
_GREY = RGBColor(0x55, 0x55, 0x55)
#: Cell fills of the evidence map by best certainty (the HTML's colours).
_MAP_FILL = {"high": "CFE8D5", "moderate": "E3F0CF", "low": "FBECCB", "very low": "F6D3D2",
             None: "E6E6E6"}
#: Widths of GRADEpro's seven SoF columns, as shares of the landscape text width.
_SOF_SHARES = (0.19, 0.09, 0.13, 0.12, 0.11, 0.18, 0.18)
# A zip entry's date must be one: the earliest a zip can hold.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


# ---- low-level helpers ----------------------------------------------------------------------
def _png(fig: Any, dpi: int = PRINT_DPI) -> bytes:
    """The figure as PNG bytes (no software stamp, so the same figure gives the same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def _set_cell_fill(cell: _Cell, fill: str) -> None:
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    cell._tc.get_or_add_tcPr().append(shd)


def _row_flag(row: Any, tag: str) -> None:
    """Mark a table row ``w:tblHeader`` (repeat on each page) or ``w:cantSplit``."""
    el = OxmlElement(tag)
    el.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(el)


def _clear(cell: _Cell) -> Any:
    """The cell's first paragraph, emptied (a new cell holds one empty paragraph; a merged
    one the runs of the cells merged)."""
    para = cell.paragraphs[0]
    for run in list(para.runs):
        run._r.getparent().remove(run._r)
    for extra in cell.paragraphs[1:]:
        extra._p.getparent().remove(extra._p)
    para.paragraph_format.space_after = Pt(0)
    return para


def _write(cell: _Cell, text: str, *, size: float = 8, bold: bool = False,
           sup: str = "") -> None:
    """Replace a cell's text with ``text`` (line breaks kept) and optional superscript
    footnote letters."""
    para = _clear(cell)
    run = para.add_run(text)
    run.font.size = Pt(size)
    run.bold = bold or None
    if sup:
        s = para.add_run(sup)
        s.font.size = Pt(size)
        s.font.superscript = True


def _widths(table: Table, widths: Sequence[int]) -> None:
    """Fix the column widths (Word reads each cell's, LibreOffice the grid's)."""
    table.autofit = False
    grid = table._tbl.tblGrid
    for col, w in zip(grid.findall(qn("w:gridCol")), widths, strict=True):
        col.set(qn("w:w"), str(int(w) // 635))  # EMU to twentieths of a point
    for row in table.rows:
        for cell, w in zip(row.cells, widths, strict=False):
            cell.width = Emu(int(w))


def _shares(columns: Sequence[str], rows: Sequence[Sequence[str]], size: float,
            width: int) -> list[float]:
    """Column shares of ``width`` from the text each column holds: each column is at least as
    wide as its longest word (at most 24 characters, at ``size`` points), and the rest of the
    width goes by the columns' mean amount of text, damped (a column of long cells gets more,
    not all)."""
    pt = 12700  # EMU
    floor, weight = [], []
    for i, head in enumerate(columns):
        cells = [str(r[i]) for r in rows]
        words = [len(x) for text in (head, *cells) for x in text.split()] or [1]
        floor.append(min(max(words), 24) * 0.55 * size * pt + 0.25 * 360000)
        weight.append(max(sum(map(len, cells)) / max(len(cells), 1), 4) ** 0.75)
    rest = width - sum(floor)
    if rest <= 0:
        return [f / sum(floor) for f in floor]
    return [(f + rest * x / sum(weight)) / width for f, x in zip(floor, weight, strict=True)]


class _Writer:
    """Builds the document section by section, switching page orientation as tables need."""

    def __init__(self, report: ReviewReport) -> None:
        self.r = report
        self.doc: DocxDocument = Document()
        styles = self.doc.styles
        normal = styles["Normal"]
        normal.font.name = _FONT
        normal.font.size = Pt(10)
        normal.element.rPr.rFonts.set(qn("w:eastAsia"), _FONT)
        for name, size in (("Title", 22), ("Heading 1", 15), ("Heading 2", 12),
                           ("Heading 3", 10.5)):
            st = styles[name]
            st.font.name = _FONT
            st.font.size = Pt(size)
            st.font.color.rgb = _BLUE
        sec = self.doc.sections[0]
        self._page(sec, landscape=False)
        self.landscape = False

    # -- layout
    def _page(self, sec: Any, *, landscape: bool) -> None:
        w, h = _A4
        sec.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
        sec.page_width, sec.page_height = (h, w) if landscape else (w, h)
        for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
            setattr(sec, side, _MARGIN)

    def orientation(self, landscape: bool) -> None:
        """Start a new section (on a new page) when the orientation changes."""
        if landscape != self.landscape:
            self._page(self.doc.add_section(WD_SECTION.NEW_PAGE), landscape=landscape)
            self.landscape = landscape

    @property
    def width(self) -> int:
        sec = self.doc.sections[-1]
        return int(sec.page_width - sec.left_margin - sec.right_margin)

    # -- text
    def heading(self, text: str, level: int) -> None:
        self.doc.add_heading(text, level)

    def para(self, text: str, *, note: bool = False, bold: str = "", style: str | None = None
             ) -> Any:
        """A paragraph; ``bold`` is a lead-in in bold, ``note`` a small grey one."""
        p = self.doc.add_paragraph(style=style)
        if bold:
            p.add_run(bold).bold = True
        p.add_run(text)
        if note:
            for run in p.runs:
                run.font.size = Pt(8.5)
                run.font.color.rgb = _GREY
            p.paragraph_format.space_after = Pt(4)
        return p

    def bullets(self, items: Sequence[str]) -> None:
        for item in items:
            self.doc.add_paragraph(item, style="List Bullet")

    def picture(self, fig: Any) -> None:
        """A figure as a PNG at print resolution, at its own size or the text width."""
        w_in, _ = fig.get_size_inches()
        width = min(int(Emu(int(w_in * 914400))), self.width)
        self.doc.add_picture(io.BytesIO(_png(fig)), width=Emu(width))

    # -- tables
    def table(self, columns: Sequence[str] | None, rows: Sequence[Sequence[str]], *,
              size: float = 8, shares: Sequence[float] | None = None,
              fills: Sequence[Sequence[str | None]] = ()) -> Table:
        """A grid with one header row (repeated on each page), or none (``columns`` None: the
        first column then heads each row); ``fills``: cell colours."""
        head = 0 if columns is None else 1
        t = self.doc.add_table(rows=head + len(rows), cols=len(columns or rows[0]))
        t.style = self.doc.styles["Table Grid"]
        t.alignment = WD_TABLE_ALIGNMENT.LEFT
        if columns is not None:
            _row_flag(t.rows[0], "w:tblHeader")
            for cell, text in zip(t.rows[0].cells, columns, strict=True):
                _write(cell, text, size=size, bold=True)
                _set_cell_fill(cell, _HEAD_FILL)
        for i, row in enumerate(rows):
            cells = t.rows[i + head].cells
            for j, (cell, text) in enumerate(zip(cells, row, strict=True)):
                _write(cell, str(text), size=size, bold=columns is None and j == 0)
                fill = fills[i][j] if i < len(fills) else (
                    _HEAD_FILL if columns is None and j == 0 else None)
                if fill:
                    _set_cell_fill(cell, fill)
        shares = shares or _shares(columns or [""] * len(rows[0]), rows, size, self.width)
        _widths(t, [s * self.width for s in shares])
        self.doc.add_paragraph().paragraph_format.space_after = Pt(2)
        return t

    def evidence_table(self, t: EvidenceTable, *, size: float = 8) -> None:
        self.table(t.columns, t.rows, size=size)
        if t.note:
            self.para(t.note, note=True)


# ---- sections -------------------------------------------------------------------------------
def _title_page(w: _Writer) -> None:
    r = w.r
    w.doc.add_heading(r.title, 0)
    if r.commissioned_by:
        w.para(r.commissioned_by, bold="Commissioned by: ")
    w.para(f"metareview {r.version}", bold="Version: ")
    w.para(r.fingerprint, bold="Review data fingerprint: ")
    w.para(f"Review {r.review_id}, generated from the review data: the same data gives the "
           "same report.", note=True)
    w.heading("The question (PICO)", 1)
    w.table(None, [("Population", r.pico.population),
                       ("Intervention", r.pico.intervention),
                       ("Comparator", r.pico.comparator),
                       ("Outcomes", ", ".join(r.pico.outcomes))], size=9.5,
            shares=(0.2, 0.8))
    w.heading("Contents", 1)
    for _, heading in r.toc:
        w.doc.add_paragraph(heading, style="List Number")


def _answers(w: _Writer) -> None:
    r = w.r
    w.doc.add_page_break()
    w.heading("Bottom line" + (f" for {r.commissioned_by}" if r.commissioned_by else ""), 1)
    for qid, plain, cert in r.bottom_line:
        p = w.doc.add_paragraph(style="List Bullet")
        p.add_run(f"{qid}: ").bold = True
        p.add_run(f"{plain} ")
        p.add_run("Question's certainty: ").italic = True
        p.add_run(cert or "not graded").bold = True
    w.para("Each line is the answer below in GRADE's informative-statement wording (Santesso "
           "2020): \"reduces\" high, \"probably\" moderate, \"may\" low certainty, \"very "
           "uncertain\" very low. A statement's own certainty is in its brackets; the "
           "question's certainty is that of its graded outcomes (the reason is with each "
           "answer).", note=True)
    w.heading("Answers", 1)
    for a in r.answers:
        w.heading(f"{a.id}. {a.question}", 2)
        w.para(a.plain or a.text)
        w.para(f" {a.certainty_note}".rstrip(), bold=f"Certainty: {a.certainty or 'not graded'}.")
        if a.reason:
            w.para(f"{a.reason}.", bold="Why: ")
        if a.details:
            w.para("Every statement behind this answer:", note=True)
            w.bullets(a.details)
        w.para(a.text, note=True)


def _reconciliation(w: _Writer) -> None:
    syn = w.r.synthesis
    recon = syn.reconciliation if syn is not None else None
    w.heading("Uncontrolled results beside placebo-controlled evidence", 1)
    if recon is None:
        w.para("The protocol asks no reconciliation question.")
        return
    if recon.message:
        w.para(recon.message)
    for item in recon.results:
        rec = item.reconciliation
        w.heading(f"{item.single.label} against placebo groups with {item.threshold} "
                  f"(k = {len(item.arms)})", 2)
        if rec.warnings:
            w.para("; ".join(rec.warnings), note=True)
        for line in _reconciliation_lines(rec):
            w.para(line.strip())  # HTML collapses the summary's indent; Word would show it
        w.picture(rec.plot())
        w.para("Design differences that can explain the gap:")
        for e in rec.explanations:
            word = {True: "applies", False: "does not apply", None: "unknown"}[e.applies]
            p = w.doc.add_paragraph(style="List Bullet")
            p.add_run(e.factor).bold = True
            p.add_run(f": {word} — {e.why}")
    if recon.unusable:
        w.heading("Placebo responder figures with no usable numbers", 2)
        w.para("Listed as recorded (e.g. searched for and not found).", note=True)
        w.table(UNUSABLE_COLUMNS, _unusable_rows(recon))


def _sof_table(w: _Writer, sof: SummaryOfFindings, *, standard_notes: bool) -> Table:
    """One Summary of Findings in GRADEpro's layout, with its footnotes below it."""
    d = sof.to_dict()
    heads = d["headings"]
    cap = w.doc.add_paragraph()
    cap.add_run(sof.title).bold = True
    for label, val in (("Patient or population", sof.population), ("Setting", sof.setting),
                       ("Intervention", sof.intervention), ("Comparison", sof.comparison)):
        if val:
            cap.add_run().add_break()
            cap.add_run(f"{label}: ").bold = True
            cap.add_run(val)
    for run in cap.runs:
        run.font.size = Pt(9)
    cap.paragraph_format.keep_with_next = True
    ci = heads["relative"][len("Relative effect ("):-1]
    t = w.doc.add_table(rows=2 + len(sof.rows), cols=7)
    t.style = w.doc.styles["Table Grid"]
    top, sub = t.rows[0], t.rows[1]
    for row in (top, sub):
        _row_flag(row, "w:tblHeader")
        _row_flag(row, "w:cantSplit")
    _widths(t, [s * w.width for s in _SOF_SHARES])
    for j, key in ((0, "outcome"), (1, "participants"), (2, "certainty"), (3, "relative"),
                   (6, "comments")):
        cell = top.cells[j].merge(sub.cells[j])
        _write(cell, heads[key], bold=True)
    both = top.cells[4].merge(top.cells[5])
    _write(both, f"Anticipated absolute effects* ({ci})", bold=True)
    _write(sub.cells[4], heads["comparator"], bold=True)
    _write(sub.cells[5], heads["effect"], bold=True)
    for cell in (*top.cells, *sub.cells):
        _set_cell_fill(cell, _HEAD_FILL)
    for i, (r, rd) in enumerate(zip(sof.rows, d["rows"], strict=True)):
        row = t.rows[2 + i]
        _row_flag(row, "w:cantSplit")
        cells = row.cells
        _write(cells[0], r.outcome, bold=True)
        small = ([f"scale: {r.scale}"] if r.scale and not r.unit else []) + (
            [f"follow-up: {r.follow_up}"] if r.follow_up else [])
        if small:
            p = cells[0].add_paragraph()
            p.add_run("; ".join(small)).font.size = Pt(7.5)
            p.paragraph_format.space_after = Pt(0)
        _write(cells[1], r.participants_text)
        _certainty(cells[2], r.certainty_text, ",".join(rd["footnote_letters"]["certainty"]))
        _write(cells[3], r.relative_text)
        _write(cells[4], r.comparator_text, sup=",".join(rd["footnote_letters"]["comparator"]))
        _write(cells[5], r.effect_text)
        _write(cells[6], r.comments)
    _widths(t, [s * w.width for s in _SOF_SHARES])
    notes = [sof.abbreviations]
    if standard_notes:
        notes = [STAR_NOTE, sof.abbreviations, GRADE_NOTE]
    for n in notes:
        w.para(n, note=True)
    if sof.general:
        w.para(" ".join(sof.general), note=True, bold="All outcomes in this table: ")
    if sof.footnotes:
        w.para("Explanations", note=True).runs[-1].bold = True
        for letter, text in sof.lettered_footnotes:
            p = w.doc.add_paragraph()
            p.paragraph_format.space_after = Pt(2)
            for part, sup in ((letter, True), (f" {text}", False)):
                run = p.add_run(part)
                run.font.size = Pt(8.5)
                run.font.color.rgb = _GREY
                run.font.superscript = sup or None
    return t


def _certainty(cell: _Cell, text: str, letters: str) -> None:
    """The certainty cell: GRADE's symbols in a font that has them, the word, the letters."""
    para = _clear(cell)
    symbols, _, word = text.partition(" ")
    if not word:  # "not graded"
        symbols, word = "", text
    if symbols:
        run = para.add_run(symbols + " ")
        run.font.name = _SYMBOL_FONT
        run.font.size = Pt(8)
    run = para.add_run(word)
    run.font.size = Pt(8)
    if letters:
        sup = para.add_run(letters)
        sup.font.size = Pt(8)
        sup.font.superscript = True


def _grade(w: _Writer) -> None:
    r = w.r
    syn = r.synthesis
    w.heading("Summary of findings (GRADE)", 1)
    if syn is None or not syn.grades:
        w.para("No outcome could be graded.")
        return
    pico = r.pico
    w.para(f"Intervention: {pico.intervention}. Comparison: {pico.comparator}. One table per "
           "population; the notes all tables share (GRADE's grades, the asterisk) are under "
           "the last table.", note=True)
    for i, (title, sof) in enumerate(r.sof_tables):
        w.heading(title, 2)
        _sof_table(w, sof, standard_notes=i == len(r.sof_tables) - 1)
    w.heading("GRADE domains, one row per outcome", 2)
    w.para("· not assessable from the data (e.g. one review's estimate: no publication bias "
           "or dose-response test is possible); no change: judged, no concern.", note=True)
    names = list(dict.fromkeys(d.name for g in syn.grades for d in g.domains()))
    rows = []
    for g in syn.grades:
        by = {d.name: d for d in g.domains()}
        rows.append((g.question, g.name, g.level,
                     *(_domain_word(by[n].judgement) if n in by else "" for n in names)))
    cols = ("Question", "Outcome", "Certainty", *names)
    longest = max(len(x) for g in syn.grades for x in (g.question, "Question"))
    w.table(cols, rows, size=7.5, shares=_domain_shares(len(names), longest, w.width))
    w.heading("Why each domain was judged so (every outcome)", 3)
    for g in syn.grades:
        w.para(f" — {g.level} certainty ({g.basis})",
               bold=g.name).paragraph_format.keep_with_next = True
        for d in g.domains():
            p = w.doc.add_paragraph(style="List Bullet")
            p.add_run(d.name).bold = True
            p.add_run(f" ({d.judgement}): {d.why}")
            for run in p.runs:
                run.font.size = Pt(9)


def _domain_shares(n: int, question: int, width: int) -> list[float]:
    """Question (wide enough for its longest id, ``question`` characters), outcome,
    certainty, then the domains side by side."""
    q = min(0.12, (question * 0.55 * 7.5 * 12700 + 90000) / width)
    rest = (0.66 - q) / max(n, 1)
    return [q, 0.26, 0.08, *([rest] * n)]


def _methods(w: _Writer) -> None:
    r = w.r
    w.heading("Question and methods", 1)
    w.para("The question (population, intervention, comparator, outcomes) is on the first "
           "page.", note=True)
    if r.notes:
        w.para(r.notes, note=True, bold="Protocol notes: ")
    w.heading("Inclusion criteria", 2)
    w.table(("Domain", "Included", "Excluded"),
            [(c.domain, c.include, c.exclude or "") for c in r.criteria])
    w.heading("Sources and reliability labels", 2)
    w.table(("Id", "Document", "Kind"), [(d.id, d.citation, d.kind) for d in r.documents])
    w.para("Reliability labels: V verbatim from the primary source; V-2 verbatim from a "
           "secondary summary; V-2* verbatim only in an unverified brief; I inference or "
           "arithmetic; NF searched for and not found.", note=True)


def _search(w: _Writer) -> None:
    r = w.r
    w.heading("Search and study selection (PRISMA)", 1)
    w.heading("Methods of search", 2)
    if r.search_rows:
        w.table(None, r.search_rows, shares=(0.2, 0.8))
    else:
        w.para(NO_SEARCH)
    w.heading("Flow of studies", 2)
    if r.prisma_figure is not None:
        w.picture(r.prisma_figure)
        w.para(r.prisma_note, note=True)
    else:
        w.para(r.prisma_note)
    if r.guidelines and r.guidelines.rows:
        w.heading("Guideline recommendations", 1)
        w.evidence_table(r.guidelines)


def _evidence(w: _Writer) -> None:
    r = w.r
    w.heading("Evidence tables", 1)
    for t in r.tables:
        w.heading(f"{t.title} ({len(t.rows)} studies)", 2)
        w.evidence_table(t, size=7.5)
    w.heading("Quality and risk of bias", 1)
    for fig in r.quality_charts:
        w.picture(fig)
    syn = r.synthesis
    if syn is not None:
        comps = [(st.label, dict(st.quality.components)) for st in
                 sorted(syn.data.studies.values(), key=lambda s: s.label)
                 if st.quality is not None and st.quality.components]
        names = sorted({c for _, cs in comps for c in cs})
        if names:
            w.heading("Component ratings", 2)
            w.table(("Study", *names), [(label, *(cs.get(c, "") for c in names))
                                        for label, cs in comps], size=7.5)
    if r.show_reviews:
        t = r.review_estimates
        w.heading("Review-level estimates and overlap", 1)
        w.heading(f"{t.title} ({len(t.rows)} estimates)", 2)
        w.evidence_table(t, size=7)
        _overlap(w)


def _overlap(w: _Writer) -> None:
    syn = w.r.synthesis
    ov = syn.overlap if syn is not None else None
    if ov is None:
        w.para(syn.overlap_note if syn is not None else "")
        return
    w.heading("Overlap between reviews", 2)
    excluded = ", ".join(ov.excluded) if ov.excluded else "none"
    p = w.para("Corrected covered area (Pieper 2014): ")
    p.add_run(f"{ov.cca:.1f}%").bold = True
    p.add_run(f" ({ov.interpretation}) across {ov.c} reviews and {ov.r} distinct primary "
              f"studies ({ov.n_inclusions} inclusions). Reviews whose included studies are not "
              f"listed in the sources: {excluded}.")
    w.para("Pairwise CCA (%)", note=True)
    pair = ov.pairwise.round(1).fillna("")
    w.table(("", *map(str, pair.columns)),
            [(str(i), *(str(v) for v in row)) for i, row in zip(pair.index, pair.values,
                                                               strict=True)], size=7)


def _pooled(w: _Writer) -> None:
    r = w.r
    w.heading("Pooled analyses of trial-level data", 1)
    if not r.pooled:
        w.para("No outcome has arm-level data from two or more trials.")
    for p in r.pooled:
        w.heading(p.title, 2)
        w.para(p.text).paragraph_format.keep_with_next = p.figure is not None
        if p.figure is not None:
            w.picture(p.figure)


def _map(w: _Writer) -> None:
    syn = w.r.synthesis
    w.heading("Evidence map", 1)
    if syn is None:
        return
    if syn.graded_map is None:
        w.para("No result was graded, so the map below has no certainty to show.")
    else:
        _map_table(w, syn.graded_map, f"{syn.map_title}: graded results only")
    w.heading("Every result, graded or not", 2)
    if syn.evidence_map is None:
        w.para("No results to map.")
    else:
        _map_table(w, syn.evidence_map, syn.map_title)


def _map_table(w: _Writer, m: Any, title: str) -> None:
    w.para(title, note=True)
    lookup = {(c.row, c.col): c for c in m.cells}
    cols = [*(d[:1].upper() + d[1:] for d in m.rows), *(" / ".join(k) for k in m.col_keys)]
    rows, fills = [], []
    for rk in m.row_keys:
        cells = [lookup.get((rk, ck)) for ck in m.col_keys]
        rows.append((*rk, *(c.label() if c is not None else "" for c in cells)))
        fills.append((*([None] * len(rk)),
                      *(_MAP_FILL[c.best_certainty] if c is not None else None for c in cells)))
    # The row dimensions are short words; the cells' texts need the room.
    dims = min(0.4, 0.13 * len(m.rows))
    shares = [dims / len(m.rows)] * len(m.rows) + [(1 - dims) / len(m.col_keys)] * len(
        m.col_keys)
    w.table(cols, rows, size=7.5, fills=fills, shares=shares)


def _ending(w: _Writer) -> None:
    r = w.r
    w.heading("Limitations", 1)
    w.bullets(r.limitations)
    t = r.appendix
    w.orientation(landscape=True)
    w.heading("Appendix: every number and its source", 1)
    w.para(f"{len(t.rows)} numbers with their sources and reliability labels.", note=True)
    w.evidence_table(t, size=7)


# ---- the document ---------------------------------------------------------------------------
def _properties(w: _Writer) -> None:
    """Fixed document properties: no timestamps (the default template's dates are removed)."""
    r = w.r
    cp = w.doc.core_properties
    cp.title = r.title
    cp.author = "metareview"
    cp.last_modified_by = "metareview"
    cp.comments = (f"Generated by metareview {r.version} from review {r.review_id} "
                   f"(data fingerprint {r.fingerprint}).")
    cp.revision = 1
    el = cp._element
    for tag in ("dcterms:created", "dcterms:modified"):
        for node in el.findall(qn(tag)):
            el.remove(node)
    # The template's thumbnail shows an empty page, not this report: left out.
    pkg = w.doc.part.package
    for rid, rel in list(pkg.rels.items()):
        if rel.reltype.endswith("/thumbnail"):
            pkg.rels.pop(rid)


def render_docx(report: ReviewReport) -> bytes:
    """The report as a Word document (.docx bytes), section by section as the HTML.

    Parameters
    ----------
    report : ReviewReport
        From :func:`~metareview.report.review_report.build_report`.

    Returns
    -------
    bytes
        The .docx file; the same report gives the same bytes.
    """
    w = _Writer(report)
    _title_page(w)
    _answers(w)
    w.orientation(landscape=True)
    if report.show_reconciliation:
        _reconciliation(w)
        w.doc.add_page_break()
    _grade(w)
    w.orientation(landscape=False)
    _methods(w)
    _search(w)
    w.orientation(landscape=True)
    _evidence(w)
    _pooled(w)
    _map(w)
    _ending(w)
    _properties(w)
    buf = io.BytesIO()
    w.doc.save(buf)
    return _fixed_zip(buf.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    """The same zip with every entry dated the same (python-docx stamps the time of saving)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(
            out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def write_docx(review: ReviewData, out: str | Path,
               prisma: PrismaCounts | None = None) -> Path:
    """Synthesise a review's data, render the report and write it as a Word file; returns
    its path (``prisma``: the review's own PRISMA counts, as for
    :func:`~metareview.report.review_report.write_report`)."""
    data = render_docx(build_report(synthesize(review), prisma))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


__all__ = ["DOCX_MIME", "PRINT_DPI", "render_docx", "write_docx"]
