"""The review's report as a Word document (issue 15): it opens (python-docx reads it back), its
Summary of Findings tables hold the engine's numbers cell by cell, as the HTML report shows
them, with their footnotes; the plots are pictures; the same report gives the same bytes; the
command line and the web app write it. The web routes run on SQLite and on PostgreSQL
(``db_url``)."""

from __future__ import annotations

import html
import io
import math
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from docx import Document
from docx.enum.section import WD_ORIENT
from docx.image.image import Image
from docx.oxml.ns import qn

from metareview.report.review_report import build_report, render_html
from metareview.report.word import DOCX_MIME, PRINT_DPI, render_docx, write_docx
from metareview.store.project import Project
from metareview.studies import load_folder
from metareview.synthesis.review import synthesize
from tests import test_web
from tests.reference_data import rma_case
from tests.test_web import Browser

#: The web app with two projects and its members (tests/test_web.py's fixture).
workspace = test_web.workspace
ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "reviews" / "ketamine-chronic-pain"
BCG = ROOT / "reviews" / "bcg-tuberculosis"


@cache
def _build(folder: Path):
    """The report of a review folder, its .docx bytes and document, and its HTML (built once
    per folder in a test run)."""
    report = build_report(synthesize(load_folder(folder)))
    data = render_docx(report)
    return report, data, Document(io.BytesIO(data)), html.unescape(render_html(report))


@pytest.fixture(scope="module", params=["flagship", "bcg"])
def built(request):
    return _build(FLAGSHIP if request.param == "flagship" else BCG)


def _sof_tables(doc):
    return [t for t in doc.tables if t.rows[0].cells[0].text == "Outcomes"]


def _plain(cell) -> str:
    """The cell's text without its superscript footnote letters."""
    return "".join(r.text for p in cell.paragraphs for r in p.runs if not r.font.superscript)


def _sup(cell) -> str:
    return "".join(r.text for p in cell.paragraphs for r in p.runs if r.font.superscript)


def _html_sof_rows(page: str) -> list[list[list[str]]]:
    """Each HTML SoF table's body rows as cell texts (a line break kept as one)."""
    out = []
    for table in re.findall(r'<table class="sof".*?</table>', page, flags=re.S):
        body = re.search(r"<tbody>(.*?)</tbody>", table, flags=re.S).group(1)
        rows = []
        for tr in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S):
            cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, flags=re.S)
            rows.append([re.sub(r"<[^>]+>", "", c.replace("<br>", "\n")) for c in cells])
        out.append(rows)
    return out


def test_every_sof_cell_is_the_typed_rows_value_and_the_htmls(built):
    report, _, doc, page = built
    tables = _sof_tables(doc)
    assert len(tables) == len(report.sof_tables) >= 1
    html_tables = _html_sof_rows(page)
    assert len(html_tables) == len(tables)
    for t, (_, sof), html_rows in zip(tables, report.sof_tables, html_tables, strict=True):
        assert len(t.rows) == 2 + len(sof.rows) == 2 + len(html_rows)
        letters = [r["footnote_letters"] for r in sof.to_dict()["rows"]]
        for i, r in enumerate(sof.rows):
            cells = t.rows[2 + i].cells
            outcome = cells[0].paragraphs[0].text
            small = [p.text for p in cells[0].paragraphs[1:]]
            assert outcome == r.outcome
            assert r.outcome_text == outcome + (f" ({small[0]})" if small else "")
            assert cells[1].text == r.participants_text
            if r.participants is not None:
                assert cells[1].text.startswith(f"{r.participants:,} ({r.studies} ")
            assert _plain(cells[2]) == r.certainty_text
            assert _sup(cells[2]) == ",".join(letters[i]["certainty"])
            assert cells[3].text == r.relative_text
            if r.relative_text != "—":
                assert f"{r.estimate:.2f} ({r.ci_low:.2f} to {r.ci_high:.2f})" in cells[3].text
            assert _plain(cells[4]) == r.comparator_text
            assert _sup(cells[4]) == ",".join(letters[i]["comparator"])
            assert cells[5].text == r.effect_text
            assert cells[6].text == r.comments
            # The HTML report shows the same strings in the same cells.
            assert [c.text for c in cells] == html_rows[i]
        # GRADEpro's two header rows, repeated on every page.
        for row in t.rows[:2]:
            assert row._tr.trPr.find(qn("w:tblHeader")) is not None
        assert t.rows[1].cells[4].text.startswith("Risk with ")
        assert t.rows[1].cells[5].text.startswith("Risk difference with ")


def test_the_sof_holds_the_engines_pooled_estimate():
    report, _, doc, _ = _build(BCG)
    fit = report.synthesis.pooled[0].ratio
    # reference: metafor 3.8-1, tests/reference/metafor_reference.R, rma(measure="RR",
    # method="REML") on dat.bcg (the numbers committed in metafor_reference.json)
    ref = rma_case("bcg", "RR", "REML", "z")
    assert fit.estimate == pytest.approx(ref["estimate"], rel=1e-6)
    row = _sof_tables(doc)[0].rows[2].cells
    want = (f"RR {math.exp(ref['estimate']):.2f} ({math.exp(ref['ci_lb']):.2f} to "
            f"{math.exp(ref['ci_ub']):.2f})")
    assert row[3].text == want == "RR 0.49 (0.34 to 0.70)"
    assert row[1].text == "357,347 (13 studies)"


def test_footnotes_say_why_each_rating_was_lowered(built):
    report, _, doc, _ = built
    paras = [p for p in doc.paragraphs]
    texts = [p.text for p in paras]
    for _, sof in report.sof_tables:
        assert sof.abbreviations in texts
        for letter, note in sof.lettered_footnotes:
            hits = [p for p in paras if p.text == f"{letter} {note}"]
            assert hits, (letter, note)
            assert hits[0].runs[0].font.superscript and hits[0].runs[0].text == letter
        if sof.general:
            assert f"All outcomes in this table: {' '.join(sof.general)}" in texts
    downgrades = [n for _, sof in report.sof_tables for n in sof.footnotes + sof.general
                  if n.startswith("Downgraded")]
    assert downgrades
    # Where a reviewer's or the source's judgement changed a grade, the reason is printed.
    for g in report.synthesis.grades:
        for d in g.domains():
            assert any(t.endswith(f"({d.judgement}): {d.why}") for t in texts), (g.name, d.name)


def test_the_flagship_says_where_its_grade_was_capped_by_the_source():
    report, _, doc, _ = _build(FLAGSHIP)
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "Capped at the source review's own rating (very low); the domains give low." in text
    # The title page and the question.
    assert doc.paragraphs[0].text == report.title
    assert f"Review data fingerprint: {report.fingerprint}" in text
    assert f"Version: metareview {report.version}" in text
    pico = doc.tables[0]
    assert [r.cells[0].text for r in pico.rows] == ["Population", "Intervention", "Comparator",
                                                     "Outcomes"]
    assert pico.rows[0].cells[1].text == report.pico.population
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    for _, heading in report.toc:
        assert any(h.startswith(heading) for h in headings), heading
    # Every number's source: the appendix table, row for row.
    appendix = next(t for t in doc.tables if t.rows[0].cells[0].text == "Study"
                    and t.rows[0].cells[-1].text == "Text to open")
    assert len(appendix.rows) == 1 + len(report.appendix.rows)
    assert tuple(c.text for c in appendix.rows[1].cells) == report.appendix.rows[0]
    assert tuple(c.text for c in appendix.rows[-1].cells) == report.appendix.rows[-1]
    # The evidence tables, cell for cell (line breaks kept).
    first = report.tables[0]
    t = next(t for t in doc.tables if tuple(c.text for c in t.rows[0].cells) == first.columns)
    assert tuple(c.text for c in t.rows[1].cells) == first.rows[0]


def test_plots_are_pictures_at_print_resolution(built):
    report, _, doc, _ = built
    syn = report.synthesis
    figs = ([p.figure for p in report.pooled if p.figure is not None]
            + ([report.prisma_figure] if report.prisma_figure is not None else [])
            + list(report.quality_charts))
    recon = len(syn.reconciliation.results) if syn.reconciliation is not None else 0
    shapes = doc.inline_shapes
    assert len(figs) >= 2
    assert len(shapes) == len(figs) + recon
    blobs = [doc.part.related_parts[s._inline.graphic.graphicData.pic.blipFill.blip.embed].blob
             for s in shapes]
    assert all(b.startswith(b"\x89PNG") for b in blobs)
    # The forest plots: drawn at 300 dpi and shown at their own width when it fits the page.
    for p in (p for p in report.pooled if p.figure is not None):
        w_in, _ = p.figure.get_size_inches()
        assert any(abs(Image.from_blob(b).px_width - w_in * PRINT_DPI) < 1 for b in blobs)
        assert int(w_in * 914400) in {s.width for s in shapes}  # EMU: fits in landscape


def test_wide_tables_sit_on_landscape_pages(built):
    _, _, doc, _ = built
    orient = [s.orientation for s in doc.sections]
    assert orient[0] == WD_ORIENT.PORTRAIT and WD_ORIENT.LANDSCAPE in orient
    for s in doc.sections:
        wide = s.orientation == WD_ORIENT.LANDSCAPE
        assert (s.page_width > s.page_height) == wide


def test_same_report_same_bytes_and_no_timestamps(built, tmp_path):
    report, data, doc, _ = built
    assert render_docx(report) == data
    cp = doc.core_properties
    assert cp.created is None and cp.modified is None
    assert cp.title == report.title and report.fingerprint in cp.comments
    # Built again from the data: the same bytes.
    folder = BCG if report.review_id == "bcg-tuberculosis" else FLAGSHIP
    again = write_docx(load_folder(folder), tmp_path / "again" / "report.docx")
    assert again.read_bytes() == data


# ---- the command line ----------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metareview.cli", *args],
                          capture_output=True, text=True, timeout=300)


def test_cli_writes_word_by_the_suffix_and_refuses_others(tmp_path):
    out = tmp_path / "report.docx"
    r = _cli("report", str(BCG), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"wrote {out}"
    doc = Document(out)
    assert _sof_tables(doc)[0].rows[2].cells[3].text == "RR 0.49 (0.34 to 0.70)"
    for bad, why in (("report.pdf", "not .pdf"), ("report", "not a file without a suffix")):
        r = _cli("report", str(BCG), "--out", str(tmp_path / bad))
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("metareview: error: --out ")
        assert "written as .html or .docx" in lines[0] and lines[0].endswith(why)
        assert not (tmp_path / bad).exists()


# ---- the web app ---------------------------------------------------------------------------
def test_web_report_for_members_only(workspace, tmp_path):
    with Project.open(tmp_path / "projects" / "alpha") as p:
        p.import_review(load_folder(BCG), actor="alice")
    c = workspace.test_client()
    for path in ("/p/alpha/report.docx", "/p/alpha/report.html"):
        r = c.get(path)
        assert r.status_code == 302 and r.location.startswith("/sign-in")

    vera = Browser(workspace)  # a viewer: any member may read the report
    vera.sign_in("vera")
    r = vera.get("/p/alpha/report.docx")
    assert r.status_code == 200
    assert r.mimetype == DOCX_MIME
    assert r.headers["Content-Disposition"] == 'attachment; filename="alpha-report.docx"'
    doc = Document(io.BytesIO(r.data))
    assert _sof_tables(doc)[0].rows[2].cells[3].text == "RR 0.49 (0.34 to 0.70)"
    r = vera.get("/p/alpha/report.html")
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert "RR 0.49 (0.34 to 0.70)" in r.text and "<script" not in r.text
    assert "script-src" not in r.headers["Content-Security-Policy"]  # default-src 'none'
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]

    bob = Browser(workspace)  # a reviewer of alpha, no member of beta
    bob.sign_in("bob")
    for path in ("/p/beta/report.docx", "/p/beta/report.html"):
        assert bob.get(path).status_code == 404

    alice = Browser(workspace)  # beta has records but no study data: a message, not a 500
    alice.sign_in("alice")
    r = alice.get("/p/beta/report.docx")
    assert r.status_code == 302 and r.location == "/p/beta/"
    page = alice.get("/p/beta/").text
    assert "No report yet: project beta: no study data yet (import a review folder first)" in (
        html.unescape(page))
    assert str(tmp_path) not in page
    assert 'href="/p/beta/report.docx"' in page and 'href="/p/beta/report.html"' in page
