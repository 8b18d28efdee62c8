"""Full-text review: PDFs stored with the project, the project's shared exclusion reasons and
reports linked to studies, in the library and in the web app. Each security property is shown
by a test that tries the attack (another project's PDF, another record's PDF, a form without
its CSRF token, an oversized or non-PDF upload, a reason not on the list). Runs on SQLite and
on PostgreSQL (``db_url``)."""

from __future__ import annotations

import hashlib
import io
import re

import pytest

from metareview.cli.screener import DEFAULT_REASONS, run_screener
from metareview.errors import InputError
from metareview.records.model import ImportBatch, Record
from metareview.records.readers import read_records_bytes
from metareview.store import db
from metareview.store import project as project_module
from metareview.store.project import DEFAULT_EXCLUSION_REASONS, FULLTEXT_DIR, Project
from metareview.web.accounts import Site
from metareview.web.app import create_app
from tests import test_web_browser as browser_tests
from tests.test_web import PASSWORD, RIS, Browser

TA, FT = "title_abstract", "full_text"


def tiny_pdf(text: str = "Ketamine trial, full text") -> bytes:
    """A valid one-page PDF (header, objects, cross-reference table with true offsets)."""
    content = b"BT /F1 24 Tf 72 720 Td (" + text.encode("latin-1") + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return out


PDF = tiny_pdf()


# -- the library ------------------------------------------------------------------------------


@pytest.fixture
def review(tmp_path, db_url):
    r = Project.create(tmp_path / "rv", "full texts", db_url=db_url, criteria="Adults; RCTs")
    recs = tuple(Record(title=f"Ketamine trial {i}", year=2020) for i in range(3))
    r.add_import(ImportBatch(recs, "PubMed", kind="database", format="ris", filename="a.ris",
                             sha256="a"))
    yield r
    r.close()


def _folder(r: Project) -> list[str]:
    d = r.root / FULLTEXT_DIR
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_attach_refuses_empty_oversized_and_non_pdf_files_and_stores_nothing(review,
                                                                            monkeypatch):
    monkeypatch.setattr(project_module, "MAX_FULLTEXT_BYTES", 1000)
    cases = [
        (b"", "the file is empty"),
        (b"%PDF-1.4\n" + b"0" * 1000, "larger than 1 kB, the most a full text may be"),
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "not a PDF; it looks like an HTML"),
        (b"PK\x03\x04\x14\x00\x06\x00", "not a PDF; it looks like a ZIP archive"),
        (b"plain text", r"not a PDF \(a PDF starts with %PDF-\)"),
    ]
    for data, message in cases:
        with pytest.raises(InputError, match=message):
            review.attach_fulltext(1, data, "trial.pdf", actor="ann")
    with pytest.raises(InputError, match="record 99: no such record"):
        review.attach_fulltext(99, PDF, "trial.pdf", actor="ann")
    assert review.fulltexts() == [] and review.retrieval() == {} and _folder(review) == []
    assert not [a for a in review.audit_log() if a["action"] in ("fulltext", "retrieval")]


def test_attach_stores_the_pdf_once_in_the_project_folder_and_marks_it_retrieved(review):
    digest = hashlib.sha256(PDF).hexdigest()
    first = review.attach_fulltext(1, PDF, "../../etc/Smith 2020.pdf", actor="ann")
    assert review.attach_fulltext(1, PDF, "copy.pdf", actor="bob") == first  # same record
    other = review.attach_fulltext(2, PDF, "Smith 2020.pdf", actor="bob")
    assert other != first
    # one file, named by its hash (never by the uploader's name), no temporary file left
    assert _folder(review) == [f"{digest}.pdf"]
    assert (review.root / FULLTEXT_DIR / f"{digest}.pdf").read_bytes() == PDF
    fts = review.fulltexts()
    assert [(f.id, f.record_id, f.filename, f.size, f.uploaded_by) for f in fts] == [
        (first, 1, "Smith 2020.pdf", len(PDF), "ann"),
        (other, 2, "Smith 2020.pdf", len(PDF), "bob")]
    assert review.fulltexts(2) == fts[1:]
    assert fts[0].to_dict()["sha256"] == digest and "Smith 2020.pdf" in fts[0].summary()
    ft, path = review.fulltext_file(first)
    assert ft == fts[0] and path.read_bytes() == PDF
    # uploading is retrieving (PRISMA's "reports not retrieved" no longer counts it)
    assert review.retrieval() == {1: True, 2: True}
    review.set_retrieval(3, False, by="ann")
    review.attach_fulltext(3, tiny_pdf("another"), "b.pdf", actor="ann")
    assert review.retrieval()[3] is True
    assert [a["detail"]["record"] for a in review.audit_log() if a["action"] == "fulltext"] == [
        1, 2, 3]


def test_a_removed_or_unknown_attachment_is_not_served(review):
    fid = review.attach_fulltext(1, PDF, "a.pdf", actor="ann")
    with pytest.raises(InputError, match="full text 99: no such file in this project"):
        review.fulltext_file(99)
    review.remove_fulltext(fid, actor="ann")
    assert review.fulltexts() == []
    with pytest.raises(InputError, match="no such file"):
        review.fulltext_file(fid)
    with pytest.raises(InputError, match="no such file"):
        review.remove_fulltext(fid, actor="ann")
    assert review.attach_fulltext(1, PDF, "a.pdf", actor="ann") != fid  # attached anew


def test_exclusion_reasons_default_configure_and_clean(review):
    assert review.settings()["exclusion_reasons"] == list(DEFAULT_EXCLUSION_REASONS)
    review.configure(actor="ann", exclusion_reasons=[
        " wrong population ", "", "Wrong population", "not randomised", "wrong outcomes"])
    assert review.settings()["exclusion_reasons"] == [
        "wrong population", "not randomised", "wrong outcomes"]
    for bad, message in (([" ", ""], "keep at least one"),
                         (["x" * 201], "exclusion reason 'xxx.*one line of at most 200"),
                         (["a\nb"], "one line")):
        with pytest.raises(InputError, match=message):
            review.configure(actor="ann", exclusion_reasons=bad, criteria="changed")
    # all or none: the criteria given with a bad list did not change either
    assert review.settings()["criteria"] == "Adults; RCTs"
    assert review.settings()["exclusion_reasons"][1] == "not randomised"
    review.configure(actor="ann", exclusion_reasons=review.settings()["exclusion_reasons"])
    audits = [a["detail"] for a in review.audit_log() if a["action"] == "exclusion-reasons"]
    assert audits == [{"reasons": ["wrong population", "not randomised", "wrong outcomes"]}]


def test_the_cli_screener_offers_the_projects_reasons(review):
    from rich.console import Console

    assert DEFAULT_REASONS == DEFAULT_EXCLUSION_REASONS
    review.configure(actor="ann", exclusion_reasons=["not randomised", "wrong population"])
    for rid in (1, 2, 3):
        review.resolve(rid, TA, "ann", "include", note="in")
    con = Console(record=True, width=100)
    run_screener(review, stage="ft", reviewer="ann", keys=["e", "2", "q"], console=con)
    assert "1. not randomised" in con.export_text()
    assert [(h["value"], h["reason"]) for h in review.history() if h["stage"] == FT] == [
        ("exclude", "wrong population")]


def _downgrade(engine, revision: str) -> None:
    from alembic import command

    cfg = db._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_a_project_from_0006_upgrades_and_keeps_its_data(review, tmp_path):
    review.decide(1, TA, "ann", "include")
    review.set_retrieval(2, False, by="ann")
    review.configure(actor="ann", include_terms=["ketamine"])
    _downgrade(review.engine, "0006")
    review.close()
    again = Project.open(tmp_path / "rv")
    try:
        assert db.current_revision(again.engine) == db.head_revision()
        assert again.own_labels(TA, "ann") == {1: "include"}
        assert again.retrieval() == {2: False}
        settings = again.settings()
        assert settings["include_terms"] == ["ketamine"]
        assert settings["exclusion_reasons"] == list(DEFAULT_EXCLUSION_REASONS)
        assert again.fulltexts() == []
        again.attach_fulltext(2, PDF, "a.pdf", actor="ann")
        assert again.retrieval() == {2: True} and again.check() == []
    finally:
        again.close()


# -- the web app ------------------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path, db_url):
    """Two projects: alice owns both; bob reviews ``alpha``, vera views it, carol reviews only
    ``beta``. In each, the first three records are up for full text (included at
    title/abstract); ``alpha``'s fourth is not."""
    site = Site.open(tmp_path, db_url)
    alice = site.create_user("alice", PASSWORD)
    for slug in ("alpha", "beta"):
        site.create_project(alice, slug, slug.title(), criteria="P: adults with pain\n"
                                                               "S: randomised trials")
    for name, role, slug in (("bob", "reviewer", "alpha"), ("vera", "viewer", "alpha"),
                             ("carol", "reviewer", "beta")):
        user = site.create_user(name, PASSWORD)
        site.accept(site.invite(alice, slug, role), user)
    for slug in ("alpha", "beta"):
        with Project.open(site.projects()[slug]) as p:
            p.add_import(read_records_bytes(RIS, filename="s.ris", source="Embase"))
            for rid in sorted(p.records())[:3]:
                p.resolve(rid, TA, "alice", "include", note="fits")
    site.close()
    app = create_app(tmp_path, site_url=db_url, testing=True)
    yield app
    for worker in app.extensions["metareview_fit_workers"]:
        worker.close()
    app.extensions["metareview_site"].close()


def _project(app, slug: str) -> Project:
    return Project.open(app.extensions["metareview_site"].projects()[slug])


def _upload(b: Browser, slug: str, rid: int, data: bytes, name: str = "Smith 2020.pdf", *,
            token: bool = True):
    form = {"pdf": (io.BytesIO(data), name, "application/pdf")}
    if token:
        form["csrf"] = b.token
    return b.c.post(f"/p/{slug}/full-text/{rid}/pdf", data=form,
                    content_type="multipart/form-data")


def _signed_in(app, name: str) -> Browser:
    b = Browser(app)
    assert b.sign_in(name).status_code == 302
    return b


def test_upload_a_pdf_and_read_it_in_the_page(workspace):
    b = _signed_in(workspace, "bob")
    listing = b.get("/p/alpha/full-text")
    assert listing.status_code == 200 and "3 reports up for full text" in listing.text
    r = _upload(b, "alpha", 1, PDF)
    assert r.status_code == 302 and "/p/alpha/full-text/1" in r.location
    page = b.get(r.location)
    assert "Smith 2020.pdf attached to record 1" in page.text
    src = re.search(r'<iframe class="ft-pdf" src="([^"#]+)#', page.text).group(1)
    assert src == "/p/alpha/full-text/1/pdf/1"
    # the page itself may not be framed; the PDF may, by this site's pages only
    assert page.headers["X-Frame-Options"] == "DENY"
    pdf = b.get(src)
    assert pdf.status_code == 200 and pdf.data == PDF
    assert pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"].startswith("inline")
    assert "Smith 2020.pdf" in pdf.headers["Content-Disposition"]
    assert pdf.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in pdf.headers["Content-Security-Policy"]
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    # the list shows it, and a viewer reads it too
    assert "PDF</span>" in b.get("/p/alpha/full-text").text
    v = _signed_in(workspace, "vera")
    assert v.get(src).status_code == 200
    page = v.get("/p/alpha/full-text/1").text
    assert "Viewers read; they do not vote." in page and 'name="pdf"' not in page
    with _project(workspace, "alpha") as p:
        assert [f.filename for f in p.fulltexts(1)] == ["Smith 2020.pdf"]
        assert p.retrieval() == {1: True}


def test_oversized_and_non_pdf_uploads_are_refused_with_a_message(workspace, monkeypatch):
    monkeypatch.setattr(project_module, "MAX_FULLTEXT_BYTES", 2000)
    b = _signed_in(workspace, "bob")
    r = _upload(b, "alpha", 1, PDF + b"%" + b"0" * 2000 + b"\n")
    assert r.status_code == 302
    assert "larger than 2 kB, the most a full text may be" in b.get(r.location).text
    html = b"<!doctype html><html><title>Sign in to read</title></html>"
    r = _upload(b, "alpha", 1, html, "article.pdf")
    assert r.status_code == 302
    page = b.get(r.location).text
    assert "article.pdf: not a PDF; it looks like an HTML or XML page" in page
    r = b.post("/p/alpha/full-text/1/pdf")  # no file chosen
    assert "choose a PDF to upload" in b.get(r.location).text
    with _project(workspace, "alpha") as p:
        assert p.fulltexts() == [] and p.retrieval() == {}
        assert not (p.root / FULLTEXT_DIR).exists() or not list((p.root / FULLTEXT_DIR)
                                                                .iterdir())


def test_a_reviewer_of_one_project_gets_nothing_of_another(workspace):
    carol = _signed_in(workspace, "carol")
    assert _upload(carol, "beta", 1, tiny_pdf("beta's secret")).status_code == 302
    assert carol.get("/p/beta/full-text/1/pdf/1").status_code == 200
    b = _signed_in(workspace, "bob")
    assert _upload(b, "alpha", 1, PDF).status_code == 302
    for path in ("/p/beta/full-text", "/p/beta/full-text/1", "/p/beta/full-text/1/pdf/1"):
        assert b.get(path).status_code == 404, path
    assert carol.get("/p/alpha/full-text/1/pdf/1").status_code == 404
    for path, data in (("/p/beta/full-text/1/vote", {"value": "include"}),
                       ("/p/beta/full-text/1/retrieval", {"retrieved": "no"}),
                       ("/p/beta/full-text/1/study", {"new_study": "X 2020"}),
                       ("/p/beta/full-text/reasons", {"exclusion_reasons": "x"})):
        assert b.post(path, data).status_code == 404, path
    assert _upload(b, "beta", 1, PDF).status_code == 404
    # within bob's own project: an attachment id through another record, or none at all
    assert b.get("/p/alpha/full-text/2/pdf/1").status_code == 404
    assert b.get("/p/alpha/full-text/1/pdf/2").status_code == 404
    # a record that is not up for full text (not included at title/abstract)
    assert b.get("/p/alpha/full-text/4").status_code == 404
    assert b.get("/p/alpha/full-text/999").status_code == 404
    with _project(workspace, "beta") as p:
        assert [f.uploaded_by for f in p.fulltexts()] == ["carol"]
        assert p.history(1)[-1]["stage"] == TA


def test_forms_without_their_csrf_token_are_refused(workspace):
    b = _signed_in(workspace, "bob")
    r = b.post("/p/alpha/full-text/1/vote", {"value": "include"}, token=False)
    assert r.status_code == 400 and "CSRF" in r.text
    assert _upload(b, "alpha", 1, PDF, token=False).status_code == 400
    assert b.post("/p/alpha/full-text/1/retrieval", {"retrieved": "no"},
                  token=False).status_code == 400
    a = _signed_in(workspace, "alice")
    assert a.post("/p/alpha/full-text/reasons", {"exclusion_reasons": "mine"},
                  token=False).status_code == 400
    with _project(workspace, "alpha") as p:
        assert [h for h in p.history() if h["stage"] == FT] == []
        assert p.fulltexts() == [] and p.retrieval() == {}
        assert p.settings()["exclusion_reasons"] == list(DEFAULT_EXCLUSION_REASONS)


def test_exclusions_take_a_reason_from_the_shared_list_only(workspace):
    b = _signed_in(workspace, "bob")
    page = b.get("/p/alpha/full-text/1").text
    assert '<select id="reason" name="reason" required>' in page
    assert "<option>wrong study design</option>" in page
    r = b.post("/p/alpha/full-text/1/vote", {"value": "exclude", "reason": "wrong desing"})
    assert r.status_code == 302
    assert ("exclusion reason &#39;wrong desing&#39; is not on this project&#39;s list"
            in b.get(r.location).text)
    r = b.post("/p/alpha/full-text/1/vote", {"value": "exclude", "reason": ""})
    assert "choose the reason for excluding" in b.get(r.location).text
    b.post("/p/alpha/full-text/1/vote", {"value": "exclude", "reason": "wrong study design",
                                         "note": "a cohort"})
    # the owner changes the list; reviewers then choose from the new one
    assert b.post("/p/alpha/full-text/reasons",
                  {"exclusion_reasons": "x"}).status_code == 403
    a = _signed_in(workspace, "alice")
    r = a.post("/p/alpha/full-text/reasons",
               {"exclusion_reasons": "not randomised\r\n\r\nwrong population\r\n"})
    assert r.status_code == 302 and "exclusion reasons saved" in a.get(r.location).text
    assert "<option>not randomised</option>" in b.get("/p/alpha/full-text/2").text
    r = b.post("/p/alpha/full-text/2/vote", {"value": "exclude", "reason": "wrong study design"})
    assert "not on this project" in b.get(r.location).text
    b.post("/p/alpha/full-text/2/vote", {"value": "exclude", "reason": "not randomised"})
    b.post("/p/alpha/full-text/3/vote", {"value": "maybe", "reason": "not randomised"})
    v = _signed_in(workspace, "vera")
    assert v.post("/p/alpha/full-text/3/vote", {"value": "include"}).status_code == 403
    with _project(workspace, "alpha") as p:
        assert [(h["record"], h["reviewer"], h["value"], h["reason"], h["note"])
                for h in p.history() if h["stage"] == FT] == [
            (1, "bob", "exclude", "wrong study design", "a cohort"),
            (2, "bob", "exclude", "not randomised", None),
            (3, "bob", "maybe", None, None)]
        assert p.settings()["exclusion_reasons"] == ["not randomised", "wrong population"]


def test_votes_are_blind_and_the_owner_resolves_a_conflict(workspace):
    b = _signed_in(workspace, "bob")
    b.post("/p/alpha/full-text/1/vote", {"value": "exclude", "reason": "wrong setting"})
    a = _signed_in(workspace, "alice")
    page = a.get("/p/alpha/full-text/1").text
    assert "wrong setting" not in page.replace("<option>wrong setting</option>", "")
    assert "waiting for your vote" in page
    a.post("/p/alpha/full-text/1/vote", {"value": "include"})
    page = a.get("/p/alpha/full-text/1").text
    assert "bob: exclude (wrong setting)" in page and "Resolve: include" in page
    assert "bob: exclude" not in b.get("/p/alpha/full-text/1").text  # only the owner sees
    r = a.post("/p/alpha/full-text/1/resolve", {"value": "exclude", "reason": "wrong setting",
                                                "note": ""})
    assert "say why" in a.get(r.location).text
    a.post("/p/alpha/full-text/1/resolve", {"value": "exclude", "reason": "wrong setting",
                                            "note": "a pain clinic, not primary care"})
    assert "excluded: wrong setting (resolved)" in b.get("/p/alpha/full-text").text
    with _project(workspace, "alpha") as p:
        st = p.status(FT)[1]
        assert (st.state, st.final, st.reason) == ("resolved", "exclude", "wrong setting")


def test_could_not_retrieve_marks_the_report(workspace):
    b = _signed_in(workspace, "bob")
    r = b.post("/p/alpha/full-text/2/retrieval", {"retrieved": "no"})
    page = b.get(r.location).text
    assert "full text marked as not retrieved" in page and "Found after all" in page
    with _project(workspace, "alpha") as p:
        assert p.retrieval() == {2: False}
    b.post("/p/alpha/full-text/2/retrieval", {"retrieved": "yes"})
    with _project(workspace, "alpha") as p:
        assert p.retrieval() == {2: True}


def test_an_included_report_is_linked_to_a_new_or_an_existing_study(workspace):
    b = _signed_in(workspace, "bob")
    assert 'name="new_study"' not in b.get("/p/alpha/full-text/1").text  # not included yet
    r = b.post("/p/alpha/full-text/1/study", {"new_study": "Alvarez 2023"})
    assert "link a report to its study once it is included" in b.get(r.location).text
    b.post("/p/alpha/full-text/1/vote", {"value": "include"})
    assert 'name="new_study"' in b.get("/p/alpha/full-text/1").text
    r = b.post("/p/alpha/full-text/1/study", {"new_study": "Alvarez 2023"})
    assert "record 1 linked to study alvarez-2023" in b.get(r.location).text
    b.post("/p/alpha/full-text/2/vote", {"value": "include"})
    page = b.get("/p/alpha/full-text/2").text
    assert '<option value="alvarez-2023">Alvarez 2023 (1 report)</option>' in page
    r = b.post("/p/alpha/full-text/2/study", {"study": "alvarez-2023", "new_study": "Other"})
    assert "not both" in b.get(r.location).text
    r = b.post("/p/alpha/full-text/2/study", {"study": "no-such-study"})
    assert "no such study" in b.get(r.location).text
    b.post("/p/alpha/full-text/2/study", {"study": "alvarez-2023"})
    with _project(workspace, "alpha") as p:
        assert p.studies() == {1: "alvarez-2023", 2: "alvarez-2023"}
        [entry] = p.study_entries()
        assert (entry.label, entry.reports) == ("Alvarez 2023", (1, 2))
    assert "Alvarez 2023" in b.get("/p/alpha/full-text").text


def test_titles_and_file_names_render_escaped(workspace):
    b = _signed_in(workspace, "bob")
    with _project(workspace, "alpha") as p:
        rid = next(i for i, r in p.records().items() if "script" in r.record.title)
    assert rid <= 3  # up for full text
    _upload(b, "alpha", rid, PDF, name="<img src=x onerror=alert(1)>.pdf")
    for path in ("/p/alpha/full-text", f"/p/alpha/full-text/{rid}"):
        page = b.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; ketamine" in page
    assert "&lt;img src=x onerror=alert(1)&gt;.pdf" in b.get(f"/p/alpha/full-text/{rid}").text


def test_a_wrong_pdf_is_removed_by_its_uploader_or_the_owner_only(workspace):
    b = _signed_in(workspace, "bob")
    _upload(b, "alpha", 1, PDF, "wrong paper.pdf")
    page = b.get("/p/alpha/full-text/1").text
    assert "Remove this PDF" in page
    v = _signed_in(workspace, "vera")
    assert v.post("/p/alpha/full-text/1/pdf/1/remove").status_code == 403
    assert "Remove this PDF" not in v.get("/p/alpha/full-text/1").text
    assert b.post("/p/alpha/full-text/2/pdf/1/remove").status_code == 404  # another record
    r = b.post("/p/alpha/full-text/1/pdf/1/remove")
    assert "wrong paper.pdf removed from record 1" in b.get(r.location).text
    assert b.get("/p/alpha/full-text/1/pdf/1").status_code == 404
    assert "No PDF yet" in b.get("/p/alpha/full-text/1").text
    with _project(workspace, "alpha") as p:
        assert p.fulltexts() == []
        assert [a["action"] for a in p.audit_log()][-1] == "fulltext-removed"


# -- in a real browser: the PDF is shown in the page -----------------------------------------

server = browser_tests.server  # the browser test's fixtures: the app served by waitress,
browsers = browser_tests.browsers  # and Debian's Chromium through Selenium


def test_chromium_shows_the_uploaded_pdf_inside_the_record_page(server, browsers, tmp_path):
    from selenium.webdriver.common.by import By

    base, _, app = server
    with Project.open(app.extensions["metareview_site"].projects()["ketamine"]) as p:
        p.add_import(read_records_bytes(browser_tests.RIS, filename="s.ris", source="Embase"))
        p.resolve(1, TA, "alice", "include", note="fits")
    d = browsers()
    browser_tests._sign_in(d, base, "alice")
    d.get(base + "/p/ketamine/full-text")
    browser_tests._submit(d, d.find_element(By.PARTIAL_LINK_TEXT, "Intravenous ketamine"))
    (tmp_path / "Smith 2021.pdf").write_bytes(PDF)
    d.find_element(By.ID, "pdf").send_keys(str(tmp_path / "Smith 2021.pdf"))
    browser_tests._submit(d, d.find_element(By.XPATH, "//button[text()='Upload']"))
    assert "Smith 2021.pdf attached to record 1" in d.page_source
    d.switch_to.frame(d.find_element(By.CSS_SELECTOR, "iframe.ft-pdf"))
    # the frame holds the PDF itself (framing allowed for this site), not an error page
    assert d.execute_script("return document.contentType") == "application/pdf"
    d.switch_to.default_content()
    browser_tests._shot(d, "fulltext-record")
