"""Data extraction in the web app: two extractors fill a study's form blind, beside its PDF; the
owner settles their disagreement field by field and writes the agreed data into the study;
every value keeps its history. Each security property is shown by a test that tries the attack
(another project's study, a viewer's or reviewer's write, a form without its CSRF token, markup
in a value). Runs on SQLite and PostgreSQL (``db_url``); the Chromium test runs a team through
it in a real browser and saves screenshots when ``METAREVIEW_SCREENSHOTS`` is set.
"""

from __future__ import annotations

import math
import re

import pytest
from scipy import stats

from metareview.records.readers import read_records_bytes
from metareview.store.extraction import ValueInput
from metareview.store.project import Project
from metareview.web.accounts import Site
from metareview.web.app import create_app
from tests import test_web_browser as browser_tests
from tests.test_extraction import STUDY, TB, _bcg_without
from tests.test_web import PASSWORD, RIS, Browser
from tests.test_web_fulltext import tiny_pdf

PDF = tiny_pdf("Aronson 1948: BCG vaccination, Table 1")
SID = "aronson-1948"
FORM = f"/p/alpha/extraction/{SID}"


def _setup(p: Project) -> None:
    """The BCG review without one trial; a report of that trial linked to a new study, with
    its PDF."""
    p.import_review(_bcg_without())
    p.add_import(read_records_bytes(RIS, filename="s.ris", source="Embase"))
    p.link_study(1, "Aronson 1948", by="alice")
    p.attach_fulltext(1, PDF, "Aronson 1948.pdf", actor="alice")


@pytest.fixture
def workspace(tmp_path, db_url):
    """alice owns ``alpha`` and ``beta``; bob and carol extract in ``alpha``, vera views it;
    dan reviews ``beta`` only."""
    site = Site.open(tmp_path, db_url)
    alice = site.create_user("alice", PASSWORD)
    for slug in ("alpha", "beta"):
        site.create_project(alice, slug, slug.title())
    for name, role, slug in (("bob", "reviewer", "alpha"), ("carol", "reviewer", "alpha"),
                             ("vera", "viewer", "alpha"), ("dan", "reviewer", "beta")):
        user = site.create_user(name, PASSWORD)
        site.accept(site.invite(alice, slug, role), user)
    for slug in ("alpha", "beta"):
        with Project.open(site.projects()[slug]) as p:
            _setup(p)
    site.close()
    app = create_app(tmp_path, site_url=db_url, testing=True)
    yield app
    for worker in app.extensions["metareview_fit_workers"]:
        worker.close()
    app.extensions["metareview_site"].close()


def _project(app, slug: str = "alpha") -> Project:
    return Project.open(app.extensions["metareview_site"].projects()[slug])


def _signed_in(app, name: str) -> Browser:
    b = Browser(app)
    assert b.sign_in(name).status_code == 302
    return b


def _form(changes: dict[str, str] | None = None, *, page: str = "1",
          result: bool = True) -> dict[str, str]:
    """The form as a browser posts it: every field, the result's unit and location (without
    the result's fields when ``result`` is False: before it is added)."""
    data = {f"v:{k}": v for k, v in {**STUDY, **(changes or {})}.items()
            if result or not k.startswith("res")}
    data |= {f"unit:{TB[:-1]}": "participants", f"loc:{TB[:-1]}:page": page,
             f"loc:{TB[:-1]}:table": "row 1", "loc:study:table": "dat.bcg"}
    return data


def _flash(b: Browser, r) -> str:
    assert r.status_code == 302, r.status_code
    return b.get(r.location).text


def _extract(b: Browser, changes: dict[str, str] | None = None, *, page: str = "1",
             submit: bool = True) -> str:
    """Add the TB result, fill the form and submit it (or save a draft); returns the page
    after saving."""
    r = b.post(f"{FORM}/result", {"outcome": "tb", "window": "> 3 months", "type": "counts"})
    assert "result added: Tuberculosis cases, &gt; 3 months" in _flash(b, r)
    then = {"then": "submit"} if submit else {}
    return _flash(b, b.post(f"{FORM}/save", {**_form(changes, page=page), **then}))


def test_two_extractors_work_blind_and_the_owner_settles_and_writes(workspace):
    bob, carol = _signed_in(workspace, "bob"), _signed_in(workspace, "carol")
    listing = bob.get("/p/alpha/extraction").text
    assert "Aronson 1948" in listing and ">start</a>" in listing
    page = bob.get(FORM).text
    # the study's PDF beside the form, served through its own record
    assert re.search(r'<iframe class="ex-frame" src="/p/alpha/full-text/1/pdf/1#', page)
    assert "Blind: only your own values are shown" in page
    r = bob.post(f"{FORM}/save", _form({"study|notes": "bob-was-here"}, result=False))
    described = sum(not k.startswith("res") for k in STUDY) + 1
    assert f"draft saved: {described} value(s) changed" in _flash(bob, r)
    page = _extract(bob, {"study|notes": "bob-was-here"}, page="3")
    assert f"your extraction of {SID} is submitted" in page
    carol_page = _extract(carol, {TB + "arm2|events": "12"}, page="4", submit=False)
    # blind: carol, who has not submitted, sees none of bob's values (his note, his 11)
    history = carol.get(f"{FORM}/history?field=study%7Cnotes").text
    assert "bob-was-here" not in carol_page + history and "Your own entries only" in history
    assert 'value="12"' in carol_page and 'value="11"' not in carol_page
    assert "Not open yet" in carol.get(f"{FORM}/consensus").text
    assert "submitted" in _flash(carol, carol.post(f"{FORM}/submit"))
    # both submitted: the owner sees the one difference, field by field
    alice = _signed_in(workspace, "alice")
    listing = alice.get("/p/alpha/extraction").text
    assert "2 fields to settle" in listing and "in the study data already" in listing
    page = alice.get(f"{FORM}/consensus").text
    row = re.search(r'<tr id="f-res-tb---3-months-1-arm2-events" class="differs">(.*?)</tr>',
                    page, re.S).group(1)
    assert "arm 2 events" in row and "p. 3, row 1" in row and "p. 4, row 1" in row
    assert re.findall(r'class="ex-value">(\d+) <span class="muted">(\w+)', row) == [
        ("11", "participants"), ("12", "participants")]
    assert "Use A" in row and "Use B" in row
    assert page.count('class="differs"') == 2  # and bob's note, which carol left empty
    assert "bob-was-here" in page
    # a reviewer reads the comparison once both submitted, but does not settle or write
    assert "Use A" not in bob.get(f"{FORM}/consensus").text
    field = TB + "arm2|events"
    assert bob.post(f"{FORM}/consensus/resolve", {"field": field,
                                                  "choice": "B"}).status_code == 403
    assert bob.post(f"{FORM}/consensus/apply").status_code == 403
    r = alice.post(f"{FORM}/consensus/resolve", {"field": field, "choice": "entered",
                                                 "value": "10"})
    assert "differs from both extractors&#39;; say why" in _flash(alice, r)
    r = alice.post(f"{FORM}/consensus/resolve", {"field": field, "choice": "entered",
                                                 "value": "10", "page": "7",
                                                 "table": "Table 3", "reason": "erratum"})
    assert "agreed: 10 participants (p. 7, Table 3)" in _flash(alice, r)
    r = alice.post(f"{FORM}/consensus/resolve", {"field": field, "choice": "A"})
    page = _flash(alice, r)
    assert "agreed: 11 participants (p. 3, row 1)" in page and "A&#39;s value, by alice" in page
    r = alice.post(f"{FORM}/consensus/apply")
    assert "1 field(s) still differ between bob and carol: study: notes" in _flash(alice, r)
    alice.post(f"{FORM}/consensus/resolve", {"field": "study|notes", "choice": "A"})
    r = alice.post(f"{FORM}/consensus/apply")
    assert ("written into the study data: the description of Aronson 1948, 2 arm row(s), "
            "0 outcome row(s)") in _flash(alice, r)
    with _project(workspace) as p:
        rows = [(a.arm, a.events, a.total, a.source) for a in p.review_data().arms
                if a.study == SID]
        assert rows == [("BCG vaccinated", 4, 123, "metadat p. 3, row 1"),
                        ("not vaccinated", 11, 139, "metadat p. 3, row 1")]
    assert "written" in alice.get("/p/alpha/extraction").text
    # the history of the settled value: both extractors', the typed one and the one kept
    hist = alice.get(f"{FORM}/history?field=" + field.replace("|", "%7C")).text
    cells = re.findall(r"<td>(bob|carol|alice)", hist)
    assert cells == ["bob", "carol", "alice", "alice"]
    assert "typed: erratum" in hist and "A&#39;s value" in hist


def test_a_member_of_another_project_gets_404_and_roles_hold(workspace):
    dan = _signed_in(workspace, "dan")
    assert dan.get(f"/p/beta/extraction/{SID}").status_code == 200  # his own project
    gets = ["/p/alpha/extraction", FORM, f"{FORM}/consensus",
            f"{FORM}/history?field=study%7Clabel"]
    posts = ["save", "result", "result/remove", "convert", "submit", "reopen",
             "consensus/resolve", "consensus/apply"]
    for path in gets:
        assert dan.get(path).status_code == 404, path
    for path in posts:
        assert dan.post(f"{FORM}/{path}", {"v:study|label": "x"}).status_code == 404, path
    bob = _signed_in(workspace, "bob")
    assert bob.get("/p/alpha/extraction/nope").status_code == 404
    assert bob.get(f"{FORM}/history?field=nope").status_code == 404
    vera = _signed_in(workspace, "vera")
    assert vera.get("/p/alpha/extraction").status_code == 200
    assert "Viewers do not extract" in vera.get(FORM).text
    for path in posts:
        assert vera.post(f"{FORM}/{path}", _form()).status_code == 403, path
    with _project(workspace) as p:
        assert p.extraction_states() == {}


def test_forms_without_their_csrf_token_are_refused_and_store_nothing(workspace):
    bob = _signed_in(workspace, "bob")
    for path in ("save", "result", "convert", "submit"):
        r = bob.post(f"{FORM}/{path}", _form(), token=False)
        assert r.status_code == 400 and "CSRF" in r.text, path
    alice = _signed_in(workspace, "alice")
    for path in ("consensus/resolve", "consensus/apply"):
        assert alice.post(f"{FORM}/{path}", {"field": "study|label", "choice": "A"},
                          token=False).status_code == 400
    with _project(workspace) as p:
        assert p.extraction_states() == {}


def test_markup_in_a_value_is_shown_as_text(workspace):
    evil = "<script>alert(1)</script>"
    bob, carol = _signed_in(workspace, "bob"), _signed_in(workspace, "carol")
    _extract(bob, {"study|notes": evil, "arm|1|name": evil})
    _extract(carol, {"study|notes": "fine"})
    alice = _signed_in(workspace, "alice")
    pages = [bob.get(FORM).text, alice.get(f"{FORM}/consensus").text,
             alice.get(f"{FORM}/history?field=study%7Cnotes").text]
    for page in pages:
        assert evil not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_bad_input_is_a_message_naming_the_field_not_a_500(workspace):
    bob = _signed_in(workspace, "bob")
    bob.post(f"{FORM}/result", {"outcome": "tb", "window": "> 3 months", "type": "counts"})
    r = bob.post(f"{FORM}/save", _form({TB + "arm1|events": "four"}))
    assert ("Tuberculosis cases, &gt; 3 months: arm 1 events: not a number (&#39;four&#39;)"
            in _flash(bob, r))
    r = bob.post(f"{FORM}/result", {"outcome": "tb", "window": "> 3 months", "type": "means"})
    assert "&#39;means&#39; is not one of counts, proportion, estimate_ci" in _flash(bob, r)
    r = bob.post(f"{FORM}/result", {"outcome": "tb", "window": "week 99", "type": "counts"})
    assert "unknown time window" in _flash(bob, r)
    r = bob.post(f"{FORM}/submit")
    assert "submitted" in _flash(bob, r)  # values from the first result are there
    r = bob.post(f"{FORM}/save", _form())
    assert "you submitted your extraction; reopen it" in _flash(bob, r)
    page = _flash(bob, bob.post(f"{FORM}/reopen"))
    assert "is open again" in page
    alice = _signed_in(workspace, "alice")
    assert "Not open yet" in alice.get(f"{FORM}/consensus").text


def test_a_conversion_in_the_form_stores_its_method(workspace):
    bob = _signed_in(workspace, "bob")
    bob.post(f"{FORM}/result", {"outcome": "tb", "window": "> 3 months",
                                "type": "estimate_ci"})
    res = TB[:-1]
    data = _form({TB + "type": "estimate_ci", TB + "measure": "RR", TB + "estimate": "0.3",
                  TB + "p": "0.03"})
    for k in ("arm1|events", "arm1|total", "arm2|events", "arm2|total"):
        data.pop(f"v:{TB}{k}")
    data |= {"convert": res, f"conv:{res}:name": "p_to_se", f"conv:{res}:target": "effect"}
    r = bob.post(f"{FORM}/convert", data)
    page = _flash(bob, r)
    # reference: Cochrane Handbook 6.3.2 / metafor conv.wald: SE = |log RR| / z(p / 2)
    se = abs(math.log(0.3)) / stats.norm.isf(0.015)
    assert f"Effect with its p-value → SE and 95% CI: se = {se:.10g}" in page
    low, high = (math.exp(math.log(0.3) + sign * stats.norm.isf(0.025) * se)
                 for sign in (-1, 1))
    # one conversion, one line: its outputs in form order, its inputs and its method
    assert (f"converted: <strong>CI lower = {low:.4g}, CI upper = {high:.4g}, SE = {se:.4g}"
            "</strong> from estimate 0.3, p 0.03 <span") in page
    with _project(workspace) as p:
        stored = p.extraction_values(SID, "bob")
    assert stored[TB + "se"].converted_from == {"estimate": 0.3, "p": 0.03}
    assert "Handbook v6 6.3.1-6.3.2, 6.5.2.3" in stored[TB + "se"].method
    assert float(stored[TB + "se"].value) == pytest.approx(se, rel=1e-9)
    assert float(stored[TB + "ci_low"].value) == pytest.approx(low, rel=1e-9)
    assert float(stored[TB + "ci_high"].value) == pytest.approx(high, rel=1e-9)


# -- in Chromium ---------------------------------------------------------------------------------

server = browser_tests.server  # the browser test's fixtures: the app served by waitress,
browsers = browser_tests.browsers  # and Debian's Chromium through Selenium


def test_chromium_two_extractors_and_a_consensus(server, browsers):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, _, app = server
    site = app.extensions["metareview_site"]
    alice = site.authenticate("alice", PASSWORD, "127.0.0.1")
    for user in (site.create_user("bob", PASSWORD, admin=False),
                 site.authenticate("carol", PASSWORD, "127.0.0.1")):
        site.accept(site.invite(alice, "ketamine", "reviewer"), user)
    with Project.open(site.projects()["ketamine"]) as p:
        _setup(p)
        # the description typed already; the browser does the arms and the result
        for name in ("bob", "carol"):
            p.save_extraction(SID, name, {k: ValueInput(v) for k, v in STUDY.items()
                                          if k.startswith("study|")})

    def shown(d, text: str) -> None:
        """Wait for ``text`` in the page (page_source can be read as '' while it loads)."""
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(d, 20).until(lambda drv: text in drv.page_source)

    def press(d, button) -> None:
        """Click a button in the middle of the window (the save bar stays at its bottom)."""
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        browser_tests._submit(d, button)

    def extract(name: str, control_events: str, page: str) -> None:
        d = browsers()
        browser_tests._sign_in(d, base, name)
        d.get(base + "/p/ketamine/extraction")
        browser_tests._submit(d, d.find_element(By.LINK_TEXT, "Aronson 1948"))
        for field, value in (("arm|1|name", "BCG vaccinated"), ("arm|2|name",
                                                                 "not vaccinated")):
            d.find_element(By.NAME, f"v:{field}").send_keys(value)
        Select(d.find_element(By.NAME, "v:arm|1|role")).select_by_visible_text("intervention")
        Select(d.find_element(By.NAME, "v:arm|2|role")).select_by_visible_text("control")
        Select(d.find_element(By.ID, "add-outcome")).select_by_value("tb")
        Select(d.find_element(By.ID, "add-window")).select_by_visible_text("> 3 months")
        browser_tests._shot(d, f"extraction-start-{name}")
        press(d, d.find_element(By.XPATH, "//button[text()='Add result']"))
        assert "result added: Tuberculosis cases" in d.page_source
        for field, value in (("arm1|events", "4"), ("arm1|total", "123"),
                             ("arm2|events", control_events), ("arm2|total", "139")):
            d.find_element(By.NAME, f"v:{TB}{field}").send_keys(value)
        d.find_element(By.NAME, f"loc:{TB[:-1]}:page").send_keys(page)
        d.find_element(By.NAME, f"v:{TB}timepoint").send_keys("end of follow-up")
        # the PDF is the frame's document (served inline, framable by this site only)
        d.switch_to.frame(d.find_element(By.CSS_SELECTOR, "iframe.ex-frame"))
        assert d.execute_script("return document.contentType") == "application/pdf"
        d.switch_to.default_content()
        browser_tests._shot(d, f"extraction-form-{name}")
        press(d, d.find_element(By.XPATH, "//button[text()='Save and submit']"))
        assert f"your extraction of {SID} is submitted" in d.page_source
        assert 'value="4"' in d.page_source  # her own values, now read-only

    extract("bob", "11", "3")
    extract("carol", "12", "4")
    owner = browsers()
    browser_tests._sign_in(owner, base, "alice")
    # before the agreed data are written: the twelve other trials
    owner.get(base + "/p/ketamine/analysis?outcome=tb")
    shown(owner, "<td class=\"num\">12</td>")
    sof_before = owner.find_element(By.TAG_NAME, "main").text
    owner.get(base + "/p/ketamine/extraction")
    assert "1 field to settle" in owner.page_source
    browser_tests._shot(owner, "extraction-list")
    browser_tests._submit(owner, owner.find_element(By.PARTIAL_LINK_TEXT, "field to settle"))
    differs = owner.find_elements(By.CSS_SELECTOR, "tr.differs")
    assert len(differs) == 1 and "arm 2 events" in differs[0].text
    owner.execute_script("arguments[0].scrollIntoView({block: 'center'})", differs[0])
    browser_tests._shot(owner, "extraction-consensus")
    browser_tests._submit(owner, differs[0].find_element(By.XPATH,
                                                         ".//button[text()='Use A']"))
    assert "agreed: 11 participants (p. 3)" in owner.page_source
    browser_tests._submit(owner, owner.find_element(
        By.XPATH, "//button[text()='Write the agreed data into the study']"))
    assert "2 arm row(s)" in owner.page_source
    browser_tests._shot(owner, "extraction-written")
    history = owner.find_element(By.CSS_SELECTOR, "tr.resolved a.ex-hist")
    browser_tests._submit(owner, history)
    assert [td.text for td in owner.find_elements(
        By.CSS_SELECTOR, "table.ex-history td:nth-child(2)")] == ["bob", "carol", "alice agreed"]
    browser_tests._shot(owner, "extraction-history")
    with Project.open(site.projects()["ketamine"]) as p:
        assert [(a.events, a.total) for a in p.review_data().arms if a.study == SID] == [
            (4, 123), (11, 139)]
    # the analysis, its forest plot and the Summary of Findings follow: all 13 trials of
    # dat.bcg (reference: metafor 3.8-1, rma(measure="RR", …, method="REML"): RR 0.489)
    owner.get(base + "/p/ketamine/analysis?outcome=tb")
    shown(owner, "<td class=\"num\">13</td>")
    assert "0.489 (0.344 to 0.696)" in owner.page_source
    forest = owner.find_element(By.CSS_SELECTOR, "img.plot")
    assert owner.execute_script("return arguments[0].naturalWidth", forest) > 300
    browser_tests._shot(owner, "analysis-after-extraction")
    owner.get(base + "/p/ketamine/sof")
    shown(owner, "RR 0.49 (0.34 to 0.70)")
    assert owner.find_element(By.TAG_NAME, "main").text != sof_before
    # a GRADE judgement that differs from the suggestion needs a reason; the log keeps it
    owner.get(base + "/p/ketamine/grade")
    shown(owner, "Judge otherwise")
    reason = "I² 92%, but every trial favours the vaccine: judged serious, not very serious"
    Select(owner.find_element(By.ID, "change-0-inconsistency")).select_by_visible_text(
        "serious")
    owner.find_element(By.ID, "reason-0-inconsistency").send_keys(reason)
    press(owner, owner.find_element(
        By.CSS_SELECTOR, "#outcome-0 form.override:has(#reason-0-inconsistency) button"))
    assert "Inconsistency judged serious" in owner.page_source or "judged serious" in (
        owner.page_source)
    browser_tests._shot(owner, "grade-override")
    owner.get(base + "/p/ketamine/audit")
    shown(owner, reason)
    # the Word report from the dashboard's link: its SoF table has the engine's numbers
    import io
    import urllib.request

    from docx import Document

    owner.get(base + "/p/ketamine/")
    link = owner.find_element(By.PARTIAL_LINK_TEXT, "Word").get_attribute("href")
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in owner.get_cookies())
    with urllib.request.urlopen(urllib.request.Request(link, headers={"Cookie": cookie})) as r:
        doc = Document(io.BytesIO(r.read()))
    with Project.open(site.projects()["ketamine"]) as p:
        from metareview.synthesis.review import synthesize

        row = synthesize(p.review_data()).grades[0].sof_row
    cells = [[c.text for c in r.cells] for t in doc.tables for r in t.rows]
    found = [c for c in cells if c and c[0].startswith(row.outcome)]
    assert found and found[0][3] == row.relative_text == "RR 0.49 (0.34 to 0.70)"
    assert row.certainty_text.split()[-1].lower() in found[0][2].lower()
