"""The web app in a real browser: Debian's Chromium driven by Selenium through Debian's
chromedriver (no downloaded browser build), against the app served by waitress.

One team's path: the owner signs in, imports a file, invites a reviewer by link; the two
screen blind by keyboard; their disagreement is resolved by the owner with a reason; the
PRISMA diagram and the exports are there. Screenshots of each screen go to
``$METAREVIEW_SCREENSHOTS`` when set. Without Chromium the test is skipped, except in CI
(``.ci/run`` installs it), where it fails.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from metareview.records.readers import read_records_bytes
from metareview.store.project import Project
from metareview.web.accounts import Site

PASSWORD = "correct horse battery"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
RIS = b"".join(
    b"TY  - JOUR\nTI  - " + t.encode() + b"\nAB  - " + a.encode() + b"\nAU  - Smith, J\n"
    b"PY  - 2021\nJO  - Pain\nER  - \n\n"
    for t, a in [
        ("Intravenous ketamine for complex regional pain syndrome: a randomised trial",
         "Sixty adults with CRPS received ketamine 0.35 mg/kg/h or placebo for 4 days. Pain "
         "scores fell more with ketamine at 1 week; the difference faded by 12 weeks."),
        ("Nitrogen deposition in alpine grassland soils",
         "We sampled 40 plots over three seasons."),
        ("Oral ketamine in chronic neuropathic pain: a cohort",
         "Retrospective cohort of 120 patients prescribed oral ketamine."),
    ])


def _need_browser() -> None:
    if Path(CHROMIUM).exists() and Path(DRIVER).exists():
        return
    why = f"no Chromium/chromedriver at {CHROMIUM}, {DRIVER}"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; in CI the browser tests must run (.ci/run installs them)",
                    pytrace=False)
    pytest.skip(f"{why}; .ci/run installs Debian's chromium and chromium-driver")


@pytest.fixture
def server(tmp_path):
    _need_browser()
    from waitress import create_server

    from metareview.web.app import create_app

    with Site.open(tmp_path) as site:
        alice = site.create_user("alice", PASSWORD)
        site.create_project(alice, "ketamine", "Ketamine for chronic pain",
                            criteria="P: adults with chronic pain\nI: ketamine (any route)\n"
                                     "C: placebo or usual care\nO: pain, opioid use, harms\n"
                                     "S: randomised trials")
        site.create_user("carol", PASSWORD, admin=False)
    app = create_app(tmp_path)
    srv = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.effective_port}", tmp_path, app
    srv.close()
    for worker in app.extensions["metareview_fit_workers"]:
        worker.close()
    app.extensions["metareview_site"].close()


@pytest.fixture
def browsers():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    class Chrome(webdriver.Chrome):
        """Chrome whose ``get`` and ``refresh`` return only once the page is whole.

        The wait lives here, not at the call sites, so that no page read can skip it.
        """

        def get(self, url: str) -> None:
            super().get(url)
            _whole(self)

        def refresh(self) -> None:
            super().refresh()
            _whole(self)

    made = []

    def new():
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--window-size=1366,900", "--disable-gpu"):
            opts.add_argument(arg)
        d = Chrome(service=Service(DRIVER), options=opts)
        d.implicitly_wait(5)
        made.append(d)
        return d

    yield new
    for d in made:
        d.quit()


def _shot(driver, name: str) -> None:
    folder = os.environ.get("METAREVIEW_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def _submit(driver, button) -> None:
    """Click a form's button and wait for the page it leads to."""
    from selenium.webdriver.common.by import By

    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    _loaded(driver, page)


def _loaded(driver, old) -> None:
    """Wait until ``old`` (an element of the page before) is gone and the new page is whole."""
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(staleness_of(old))
    _whole(driver)


def _whole(driver) -> None:
    """Wait until the page is loaded and, if it is HTML, has its ``main``.

    On the loaded 2-core CI machine chromedriver has returned from ``get`` with the document
    still being replaced (``page_source`` was ''), so every page read waits for this first.
    Other documents (the SVG charts) have no ``main``; their content type, not their URL,
    tells them apart.
    """
    from selenium.common.exceptions import JavascriptException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15, ignored_exceptions=(JavascriptException,
                                                  StaleElementReferenceException)).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
        and (d.execute_script("return document.contentType") != "text/html"
             or d.find_elements(By.TAG_NAME, "main")))


def _sign_in(driver, base: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/")
    assert "/sign-in" in driver.current_url
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    _submit(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    assert "/sign-in" not in driver.current_url


def _screen_all(driver, base: str, decide) -> list[str]:
    """Vote on every record by keyboard; returns the titles in the order shown."""
    from selenium.webdriver.common.by import By

    driver.get(base + "/p/ketamine/screen")
    seen = []
    for _ in range(10):
        titles = driver.find_elements(By.CSS_SELECTOR, "h1.title")
        if not titles:
            break
        title = titles[0].text
        seen.append(title)
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(decide(title))
        _loaded(driver, body)
    assert "Nothing left to screen" in driver.page_source
    return seen


def test_a_team_screens_blind_and_resolves_a_conflict(server, browsers, tmp_path):
    from selenium.webdriver.common.by import By

    base, root, app = server
    owner = browsers()
    owner.get(base + "/")
    _shot(owner, "01-sign-in")
    _sign_in(owner, base, "alice")
    _shot(owner, "02-projects")
    _submit(owner, owner.find_element(By.LINK_TEXT, "ketamine"))
    # Import a file through the form.
    upload = tmp_path / "embase.ris"
    upload.write_bytes(RIS)
    owner.find_element(By.ID, "file").send_keys(str(upload))
    owner.find_element(By.ID, "source").send_keys("Embase")
    _submit(owner, owner.find_element(By.XPATH, "//button[text()='Import']"))
    assert "imported 3 records from embase.ris (Embase)" in owner.page_source
    # Terms to mark for screeners.
    owner.find_element(By.ID, "include_terms").send_keys("ketamine\nrandom*\nchronic pain")
    owner.find_element(By.ID, "exclude_terms").send_keys("nitrogen\nsoil*\ncohort")
    _submit(owner, owner.find_element(By.XPATH, "//button[text()='Save']"))
    assert "criteria, highlighted terms and assignment saved" in owner.page_source
    # Invite a reviewer.
    _submit(owner, owner.find_element(By.XPATH, "//button[text()='Make an invitation link']"))
    link = owner.find_element(By.CSS_SELECTOR, ".invite input").get_attribute("value")
    _shot(owner, "03-dashboard")
    guest = browsers()
    guest.get(link)
    _shot(guest, "04-invitation")
    guest.find_element(By.ID, "name").send_keys("bob")
    guest.find_element(By.ID, "password").send_keys(PASSWORD)
    _submit(guest, guest.find_element(By.XPATH, "//button[text()='Join the project']"))
    assert guest.current_url.endswith("/p/ketamine/")
    # Both screen blind by keyboard; they disagree on the cohort.
    guest.get(base + "/p/ketamine/screen")
    assert "adults with chronic pain" in guest.page_source  # the criteria, shown to screeners
    first = guest.find_element(By.CSS_SELECTOR, "h1.title").text
    _submit(guest, guest.find_element(By.CSS_SELECTOR, "button.vote.include"))
    assert app.extensions["metareview_screenings"]["ketamine"].wait("bob")
    guest.refresh()
    assert "1 of 3 (1 relevant)" in guest.page_source
    assert "keep screening (p = " in guest.page_source
    assert guest.find_element(By.CSS_SELECTOR, "h1.title").text != first
    marks = {m.text: m.get_attribute("class")
             for m in guest.find_elements(By.CSS_SELECTOR, "mark")}
    assert marks.get("Nitrogen") == "exclude" or marks.get("ketamine") == "include", marks
    _shot(guest, "05-screening")
    seen_b = _screen_all(guest, base, lambda t: "e" if "Nitrogen" in t or "cohort" in t
                         else "i")
    seen_a = _screen_all(owner, base, lambda t: "e" if "Nitrogen" in t else "i")
    assert sorted(seen_a) == sorted([first, *seen_b]) and len(seen_a) == 3
    # The owner resolves the conflict with a reason.
    owner.get(base + "/p/ketamine/conflicts")
    _shot(owner, "06-conflicts")
    assert "alice: <strong>include</strong>" in owner.page_source
    assert "bob: <strong>exclude</strong>" in owner.page_source
    owner.find_element(By.CSS_SELECTOR, "input[name=reason]").send_keys("cohort: not an RCT")
    _submit(owner, owner.find_element(By.CSS_SELECTOR, "button.vote.exclude"))
    assert "No conflicts." in owner.page_source
    # The dashboard's PRISMA diagram is drawn and the exports are linked.
    owner.get(base + "/p/ketamine/")
    img = owner.find_element(By.CSS_SELECTOR, "img.prisma")
    assert owner.execute_script("return arguments[0].naturalWidth", img) > 100
    _shot(owner, "07-dashboard-after")
    assert owner.find_element(By.LINK_TEXT, "CSV").get_attribute("href").endswith(
        "/p/ketamine/export.csv")
    with Project.open(root / "projects" / "ketamine") as p:
        states = sorted(st.state for st in p.status("title_abstract").values())
    assert states == ["agreed", "agreed", "resolved"]
    # A signed-in member of no project sees none, and the project's pages are 404 to them.
    other = browsers()
    _sign_in(other, base, "carol")
    assert "not on any project" in other.page_source
    other.get(base + "/p/ketamine/screen")
    assert "404" in other.title


def test_import_errors_are_one_clear_line_in_the_page(server, browsers, tmp_path):
    from selenium.webdriver.common.by import By

    base, root, _ = server
    d = browsers()
    _sign_in(d, base, "alice")
    d.get(base + "/p/ketamine/")
    bad = tmp_path / "broken.csv"
    bad.write_text("title,year\nA trial,20x1\n", encoding="utf-8")
    d.find_element(By.ID, "file").send_keys(str(bad))
    _submit(d, d.find_element(By.XPATH, "//button[text()='Import']"))
    errors = d.find_elements(By.CSS_SELECTOR, ".flash.error")
    assert len(errors) == 1 and "broken.csv row 2, column year" in errors[0].text
    _shot(d, "08-import-error")
    with Project.open(root / "projects" / "ketamine") as p:
        assert p.records() == {}
    read_records_bytes(RIS, filename="ok.ris", source="x")  # the good file still reads
