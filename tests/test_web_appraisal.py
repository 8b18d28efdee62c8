"""Risk-of-bias appraisal in the web app: two reviewers answer a study's RoB 2 form blind,
beside its PDF; the owner settles their disagreements and writes the agreed rating into the
study; the traffic-light plot of the agreed judgements is served as SVG. Each security property
is shown by a test that tries the attack (another project's study, a viewer's or reviewer's
write, a form without its CSRF token, markup in a justification). Runs on SQLite and PostgreSQL
(``db_url``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from metareview.appraisal import team
from metareview.records.readers import read_records_bytes
from metareview.store.project import Project, load_review_data
from metareview.web.accounts import Site
from metareview.web.app import create_app
from tests import test_web_browser as browser_tests
from tests.test_appraisal_store import rob2_answers
from tests.test_web import PASSWORD, RIS, Browser
from tests.test_web_fulltext import tiny_pdf

BCG = Path(__file__).resolve().parent.parent / "reviews" / "bcg-tuberculosis"
SID = "ferguson1949"
FORM = f"/p/alpha/appraisal/{SID}/rob2"


@pytest.fixture
def workspace(tmp_path, db_url):
    """alice owns ``alpha`` and ``beta``; bob and carol review ``alpha``, vera views it; dan
    reviews ``beta`` only. Both hold the BCG review; in ``alpha`` record 1 is a report of
    Ferguson & Simes 1949, with its PDF."""
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
            p.import_review(load_review_data(BCG))
            if slug == "alpha":
                p.add_import(read_records_bytes(RIS, filename="s.ris", source="Embase"))
                p.link_study(1, SID, by="alice")
                p.attach_fulltext(1, tiny_pdf("Ferguson 1949, Table 2"), "ferguson.pdf",
                                  actor="alice")
    site.close()
    app = create_app(tmp_path, site_url=db_url, testing=True)
    yield app
    for worker in app.extensions["metareview_fit_workers"]:
        worker.close()
    app.extensions["metareview_site"].close()


def _as(app, name: str) -> Browser:
    b = Browser(app)
    assert b.sign_in(name).status_code == 302
    return b


def _answers(judgements: list[str], support: str = "read in the report") -> dict[str, str]:
    """The form's fields for RoB 2 answers giving these five domain judgements."""
    out = {}
    for k, v in rob2_answers(judgements).items():
        out.update({f"a-{k}": v, f"s-{k}": support, f"l-{k}": f"Table {k[0]}"})
    return out


def _project(app, slug: str = "alpha") -> Project:
    return Project.open(app.extensions["metareview_site"].projects()[slug])


def test_two_appraisers_consensus_and_the_traffic_light_plot(workspace):
    bob, carol, alice = _as(workspace, "bob"), _as(workspace, "carol"), _as(workspace, "alice")
    page = bob.get(FORM)
    assert page.status_code == 200
    assert "Bias arising from the randomisation process" in page.text
    assert "Was the allocation sequence concealed until participants were enrolled" in page.text
    assert "/full-text/1/pdf/" in page.text  # the linked report's PDF beside the form
    partial = {k: v for k, v in _answers(["high", "low", "low", "low", "low"]).items()
               if "5." not in k}  # D5's questions left unanswered
    assert bob.post(FORM, partial).status_code == 302
    page = bob.get(FORM).text
    assert "Not answered yet: 5.1, 5.2, 5.3" in page
    bob.post(FORM, {**_answers(["high", "low", "low", "low", "low"]), "action": "submit"})
    page = bob.get(FORM).text
    assert "high risk of bias in D1" in page  # the algorithm's judgement, from rob2_overall
    assert "(1.2 N)" in page  # and the answer that gave D1's
    # blind: carol sees none of bob's answers, nor the comparison
    page = carol.get(FORM).text
    assert "high risk of bias in D1" not in page and "Table 1" not in page
    assert carol.get(f"{FORM}/consensus").status_code == 302
    carol.post(FORM, {**_answers(["low", "low", "low", "some concerns", "low"]),
                      "action": "submit"})
    cmp = alice.get(f"{FORM}/consensus")
    assert cmp.status_code == 200
    assert cmp.text.count('class="differs"') == 2  # 1.2 and 4.3
    assert alice.post(f"{FORM}/consensus", {"field": "1.2", "choice": "A"}).status_code == 302
    alice.post(f"{FORM}/consensus", {"field": "4.3", "choice": "entered", "value": "N",
                                     "reason": "assessors blinded, Methods"})
    assert "Apply the agreed appraisal" in alice.get(f"{FORM}/consensus").text
    read = _as(workspace, "vera").get(f"{FORM}/consensus")  # viewers read, settle nothing
    assert read.status_code == 200 and "1.2" in read.text
    assert "Take A's" not in read.text and "Apply the agreed appraisal" not in read.text
    assert alice.post(f"{FORM}/apply").status_code == 302
    with _project(workspace) as p:
        q = p.review_data().studies[SID].quality
    assert (q.instrument, q.rating) == ("RoB 2", "high")
    assert "consensus of bob and carol, applied by alice" in q.source.location
    listing = alice.get("/p/alpha/appraisal")
    assert listing.status_code == 200 and "/p/alpha/appraisal/rob2.svg" in listing.text
    vera = _as(workspace, "vera")
    assert "applied by alice" in vera.get(f"{FORM}/consensus").text
    svg = vera.get("/p/alpha/appraisal/rob2.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert svg.data.lstrip().startswith(b"<svg") and b"<script" not in svg.data
    assert "script-src" not in svg.headers["Content-Security-Policy"]  # none: default-src
    assert b"Ferguson &amp; Simes 1949" in svg.data


def test_security_non_member_viewer_csrf_and_escaping(workspace):
    dan, vera, bob = _as(workspace, "dan"), _as(workspace, "vera"), _as(workspace, "bob")
    assert dan.get(FORM).status_code == 404  # another project's study
    assert dan.get("/p/alpha/appraisal").status_code == 404
    assert dan.get("/p/alpha/appraisal/rob2.svg").status_code == 404
    assert bob.get("/p/alpha/appraisal/no-such-study/rob2").status_code == 404
    assert bob.get(f"/p/alpha/appraisal/{SID}/jadad").status_code == 404
    assert vera.get(FORM).status_code == 200
    assert vera.post(FORM, _answers(["low"] * 5)).status_code == 403
    assert bob.post(f"{FORM}/apply").status_code == 403  # reviewers do not run consensus
    assert bob.post(f"{FORM}/consensus", {"field": "1.2", "choice": "A"}).status_code == 403
    assert bob.post(FORM, _answers(["low"] * 5), token=False).status_code == 400
    with _project(workspace) as p:
        assert team.appraisal_states(p.engine) == {}  # none of it was stored
    bob.post(FORM, _answers(["low"] * 5, support="<script>alert(1)</script>"))
    page = bob.get(FORM).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_bad_input_is_a_message_not_an_error(workspace):
    bob = _as(workspace, "bob")
    r = bob.post(FORM, {"a-1.1": "moderate"})
    assert r.status_code == 302
    page = bob.get(FORM).text
    assert "RoB 2 1.1: &#39;moderate&#39; is not an option" in page
    r = bob.post(FORM, {"action": "submit", "a-1.1": "Y"})
    assert "not answered yet: 1.2, 1.3, 2.1" in bob.get(FORM).text
    bob.post(f"{FORM}/override", {"value": "high", "reason": ""})
    assert "needs a reason" in bob.get(FORM).text
    bob.post(f"{FORM}/override", {"field": "D3", "value": "high", "reason": ""})
    assert "D3: an override of the algorithm needs a reason" in bob.get(FORM).text


server = browser_tests.server  # the browser test's fixtures: the app served by waitress,
browsers = browser_tests.browsers  # and headless Chromium


def test_chromium_two_appraisers_a_consensus_and_the_plot(server, browsers):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, _, app = server
    site = app.extensions["metareview_site"]
    alice = site.authenticate("alice", PASSWORD, "127.0.0.1")
    for user in (site.create_user("bob", PASSWORD, admin=False),
                 site.authenticate("carol", PASSWORD, "127.0.0.1")):
        site.accept(site.invite(alice, "ketamine", "reviewer"), user)
    with Project.open(site.projects()["ketamine"]) as p:
        p.import_review(load_review_data(BCG))
        p.add_import(read_records_bytes(RIS, filename="s.ris", source="Embase"))
        p.link_study(1, SID, by="alice")
        p.attach_fulltext(1, tiny_pdf("Ferguson 1949, Table 2"), "ferguson.pdf", actor="alice")
        # two other trials agreed already, so the plot has rows of each colour
        for sid, a in (("aronson1948", ["low", "some concerns", "low", "low", "low"]),
                       ("hart1977", ["low"] * 5)):
            for who in ("bob", "carol"):
                team.save_answers(p.engine, sid, "RoB 2", who, [
                    team.AnswerInput(k, v, "from the methods section", f"p. {k[0]}")
                    for k, v in rob2_answers(a).items()])
                team.submit(p.engine, sid, "RoB 2", who)
    form = base + f"/p/ketamine/appraisal/{SID}/rob2"

    def appraise(name: str, judgements: list[str]) -> None:
        d = browsers()
        browser_tests._sign_in(d, base, name)
        d.get(base + "/p/ketamine/appraisal")
        d.get(form)
        answers = rob2_answers(judgements)
        for k, v in answers.items():
            box = d.find_element(By.CSS_SELECTOR, f"input[name='a-{k}'][value='{v}']")
            d.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
            box.click()
        for k in ("1.2", "4.3"):  # the support and location of two answers
            field = d.find_element(By.NAME, f"s-{k}")
            d.execute_script("arguments[0].closest('details').open = true", field)
            field.send_keys(f"{name}: see the report")
            d.find_element(By.NAME, f"l-{k}").send_keys(f"Table {k[0]}")
        button = d.find_element(By.XPATH, "//button[text()='Save answers']")
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        browser_tests._submit(d, button)
        assert f"saved {len(answers)} changed answers" in d.page_source
        d.execute_script("window.scrollTo(0, 0)")
        browser_tests._shot(d, f"appraisal-form-{name}")
        d.execute_script("arguments[0].scrollIntoView({block: 'start'})",
                         d.find_element(By.XPATH, "//h2[starts-with(., 'D4:')]"))
        browser_tests._shot(d, f"appraisal-form-d4-{name}")
        button = d.find_element(By.XPATH, "//button[text()='Save and submit']")
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        browser_tests._submit(d, button)

    appraise("bob", ["high", "low", "low", "low", "low"])
    appraise("carol", ["low", "low", "low", "some concerns", "low"])
    d = browsers()
    browser_tests._sign_in(d, base, "alice")
    d.get(form + "/consensus")
    assert len(d.find_elements(By.CSS_SELECTOR, "tr.differs")) == 2
    browser_tests._shot(d, "appraisal-consensus")
    row = d.find_elements(By.CSS_SELECTOR, "tr.differs")[0]
    browser_tests._submit(d, row.find_element(By.XPATH, ".//button[text()=\"Take A's\"]"))
    row = d.find_element(By.CSS_SELECTOR, "tr.differs")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
    row.find_element(By.TAG_NAME, "summary").click()
    Select(row.find_element(By.NAME, "value")).select_by_visible_text("N")
    row.find_element(By.NAME, "reason").send_keys("outcome assessors blinded (Methods)")
    browser_tests._submit(d, row.find_element(By.XPATH, ".//button[text()='Enter']"))
    browser_tests._shot(d, "appraisal-consensus-settled")
    d.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    browser_tests._shot(d, "appraisal-consensus-apply")
    browser_tests._submit(d, d.find_element(By.XPATH,
                                            "//button[text()='Apply the agreed appraisal']"))
    assert "quality set to RoB 2 high" in d.page_source
    d.get(form + "/history/1.2")
    assert "see the report" in d.page_source  # both appraisers' answers, and the agreed one
    browser_tests._shot(d, "appraisal-history")
    d.get(base + "/p/ketamine/appraisal")
    img = d.find_element(By.CSS_SELECTOR, ".rb-plot img")
    assert d.execute_script("return arguments[0].naturalWidth", img) > 0  # the SVG drew
    browser_tests._shot(d, "appraisal-list")
    d.execute_script("arguments[0].scrollIntoView({block: 'start'})", img)
    browser_tests._shot(d, "appraisal-list-plot")
    d.get(base + "/p/ketamine/appraisal/rob2.svg")
    browser_tests._shot(d, "appraisal-traffic-light")


def test_history_of_an_answer_is_shown_and_blind(workspace):
    bob, carol, dan = _as(workspace, "bob"), _as(workspace, "carol"), _as(workspace, "dan")
    bob.post(FORM, _answers(["low"] * 5, support="first reading"))
    bob.post(FORM, {**_answers(["high", "low", "low", "low", "low"], support="second reading")})
    page = bob.get(f"{FORM}/history/1.2").text
    assert page.index("first reading") < page.index("second reading")
    assert "<strong>Y</strong>" in page and "<strong>N</strong>" in page
    assert "first reading" not in carol.get(f"{FORM}/history/1.2").text  # blind
    assert dan.get(f"{FORM}/history/1.2").status_code == 404
    assert bob.get(f"{FORM}/history/9.9").status_code == 404
