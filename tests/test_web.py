"""The team web app (issue 14): accounts, sessions, CSRF, roles, no cross-project access, and
dual blind screening over HTTP. Each security property is shown by a test that tries the
attack. The accounts database runs on SQLite and on PostgreSQL (``db_url``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from metareview.errors import InputError
from metareview.records.readers import read_records_bytes
from metareview.store.project import Project
from metareview.web import accounts
from metareview.web.accounts import InvitationRow, Site, UserRow
from metareview.web.app import create_app

PASSWORD = "correct horse battery"
RIS = b"".join(
    b"TY  - JOUR\nTI  - " + title.encode() + b"\nAB  - " + abstract.encode()
    + b"\nPY  - 2020\nER  - \n\n"
    for title, abstract in [
        ("Ketamine infusion for chronic pain: a randomised trial", "Adults with CRPS."),
        ("<script>alert('x')</script> & ketamine", "An abstract with <b>markup</b>."),
        ("Soil nitrogen in alpine meadows", "Plots were sampled."),
        ("Oral ketamine and opioid use", "A cohort of patients."),
    ])


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


class Browser:
    """A test client that signs in and posts forms with the page's CSRF token."""

    def __init__(self, app) -> None:
        self.c = app.test_client()
        self.token = _csrf(self.c.get("/sign-in").text)

    def get(self, path: str):
        return self.c.get(path)

    def post(self, path: str, data: dict | None = None, *, token: bool = True):
        data = dict(data or {})
        if token:
            data["csrf"] = self.token
        return self.c.post(path, data=data)

    def sign_in(self, name: str, password: str = PASSWORD):
        self.token = _csrf(self.c.get("/sign-in").text)  # as the sign-in page holds it
        r = self.post("/sign-in", {"name": name, "password": password})
        if r.status_code == 302:
            self.token = _csrf(self.c.get("/").text)
        return r


@pytest.fixture
def workspace(tmp_path, db_url):
    """A workspace with two projects: alice administers both, bob reviews only ``alpha``,
    vera views ``alpha``. ``alpha`` holds four records."""
    site = Site.open(tmp_path, db_url)
    alice = site.create_user("alice", PASSWORD)
    for slug in ("alpha", "beta"):
        site.create_project(alice, slug, slug.title(), criteria="P: adults with pain")
    for name, role in (("bob", "reviewer"), ("vera", "viewer")):
        user = site.create_user(name, PASSWORD)
        site.accept(site.invite(alice, "alpha", role), user)
    with Project.open(tmp_path / "projects" / "alpha") as p:
        p.add_import(read_records_bytes(RIS, filename="s.ris", source="Embase"))
    with Project.open(tmp_path / "projects" / "beta") as p:
        p.add_import(read_records_bytes(RIS[:200] + b"\nER  - \n", filename="b.ris",
                                        source="Embase"))
    site.close()
    app = create_app(tmp_path, site_url=db_url, testing=True)
    yield app
    for worker in app.extensions["metareview_fit_workers"]:
        worker.close()
    app.extensions["metareview_site"].close()


def _routes(app) -> list[tuple[str, str]]:
    """Every route with made-up arguments, and its methods."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        args = {a: ("1" if a == "record_id" or f"<int:{a}>" in rule.rule
                    else "alpha" if a == "slug" else "x")
                for a in rule.arguments}
        path = rule.rule
        for a, v in args.items():
            path = re.sub(r"<(?:[a-z]+:)?" + a + ">", v, path)
        for m in rule.methods - {"HEAD", "OPTIONS"}:
            out.append((m, path))
    return out


def test_every_route_without_a_session_is_refused(workspace):
    c = workspace.test_client()
    token = _csrf(c.get("/sign-in").text)
    for method, path in _routes(workspace):
        if path in ("/sign-in",) or path.startswith("/invite/"):
            continue
        r = c.open(path, method=method, data={"csrf": token})
        if method == "GET":
            assert r.status_code == 302 and r.location.startswith("/sign-in"), path
        else:
            assert r.status_code == 401, (method, path)
    # The invitation page of an unknown token is a 404, not a form.
    assert c.get("/invite/not-a-token").status_code == 404


def test_passwords_are_argon2id_hashes_and_wrong_ones_fail(workspace):
    site = workspace.extensions["metareview_site"]
    with Session(site.engine) as s:
        stored = s.scalar(select(UserRow.password_hash).where(UserRow.name == "alice"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    b = Browser(workspace)
    assert b.sign_in("alice", "wrong password!").status_code == 401
    assert b.sign_in("nobody").status_code == 401
    r = b.sign_in("alice")
    assert r.status_code == 302
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_sign_in_is_rate_limited(workspace):
    b = Browser(workspace)
    for _ in range(accounts.MAX_FAILURES):
        assert b.sign_in("bob", "not the password").status_code == 401
    # Locked now, even with the right password.
    r = b.sign_in("bob")
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text
    # Another account from another address is not locked.
    other = workspace.test_client()
    token = _csrf(other.get("/sign-in").text)
    r = other.post("/sign-in", data={"name": "alice", "password": PASSWORD, "csrf": token},
                   environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert r.status_code == 302


def test_a_member_of_one_project_reads_nothing_of_another(workspace):
    b = Browser(workspace)
    b.sign_in("bob")
    assert b.get("/p/alpha/").status_code == 200
    for path in ("/p/beta/", "/p/beta/screen", "/p/beta/records/1", "/p/beta/export.csv",
                 "/p/nonexistent/"):
        assert b.get(path).status_code == 404, path
    for path in ("/p/beta/screen", "/p/beta/screen/undo", "/p/beta/invitations"):
        assert b.post(path, {"record": "1", "value": "include"}).status_code == 404, path
    # A record id of the other project, asked through bob's own project, is not there either.
    beta_ids = list(Project.open(workspace.extensions["metareview_site"].projects()["beta"])
                    .records())
    alpha_ids = set(Project.open(workspace.extensions["metareview_site"].projects()["alpha"])
                    .records())
    foreign = [i for i in beta_ids if i not in alpha_ids] or [max(alpha_ids) + 1]
    assert b.get(f"/p/alpha/records/{foreign[0]}").status_code == 404
    assert "beta" not in b.get("/").text.lower()


def test_a_form_without_its_csrf_token_is_refused_and_stores_nothing(workspace):
    b = Browser(workspace)
    b.sign_in("bob")
    page = b.get("/p/alpha/screen").text
    record = re.search(r'name="record" value="(\d+)"', page).group(1)
    r = b.post("/p/alpha/screen", {"record": record, "value": "include"}, token=False)
    assert r.status_code == 400 and "CSRF" in r.text
    r = b.c.post("/p/alpha/screen", data={"record": record, "value": "include",
                                           "csrf": "forged"})
    assert r.status_code == 400
    with Project.open(workspace.extensions["metareview_site"].projects()["alpha"]) as p:
        assert p.own_labels("title_abstract", "bob") == {}
    # Signing out needs the token too (no cross-site sign-out).
    assert b.post("/sign-out", token=False).status_code == 400


def test_titles_render_escaped(workspace):
    b = Browser(workspace)
    b.sign_in("alice")
    p = Project.open(workspace.extensions["metareview_site"].projects()["alpha"])
    rid = next(i for i, r in p.records().items() if "script" in r.record.title)
    page = b.get(f"/p/alpha/records/{rid}").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; ketamine" in page
    assert "&lt;b&gt;markup&lt;/b&gt;" in page
    assert "script-src 'self'" in b.get("/").headers["Content-Security-Policy"]


def test_viewers_cannot_vote_and_reviewers_cannot_invite(workspace):
    v = Browser(workspace)
    v.sign_in("vera")
    assert v.get("/p/alpha/").status_code == 200
    assert v.get("/p/alpha/screen").status_code == 403
    assert v.post("/p/alpha/screen", {"record": "1", "value": "include"}).status_code == 403
    b = Browser(workspace)
    b.sign_in("bob")
    assert b.post("/p/alpha/invitations", {"role": "owner"}).status_code == 403


def test_invitations_are_single_use_and_expire(workspace):
    site = workspace.extensions["metareview_site"]
    alice = site.user(1)
    token = site.invite(alice, "alpha", "reviewer")
    new = Browser(workspace)
    assert new.get(f"/invite/{token}").status_code == 200
    r = new.post(f"/invite/{token}", {"name": "carol", "password": PASSWORD})
    assert r.status_code == 302 and r.location.endswith("/p/alpha/")
    assert ("carol", "reviewer") in site.members("alpha")
    again = Browser(workspace)
    assert again.get(f"/invite/{token}").status_code == 404
    assert again.post(f"/invite/{token}", {"name": "mallory",
                                           "password": PASSWORD}).status_code == 404
    late = site.invite(alice, "alpha", "owner")
    with Session(site.engine) as s, s.begin():
        s.execute(update(InvitationRow).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert again.get(f"/invite/{late}").status_code == 404
    # A short password is refused with its reason, and no account is made.
    fresh = site.invite(alice, "alpha", "viewer")
    r = again.post(f"/invite/{fresh}", {"name": "dave", "password": "short"})
    assert r.status_code == 302
    assert "at least 10 characters" in again.get(f"/invite/{fresh}").text
    assert all(name != "dave" for name, _ in site.members("alpha"))


def test_two_reviewers_screen_blind_and_disagreement_is_a_conflict(workspace):
    a, b = Browser(workspace), Browser(workspace)
    a.sign_in("alice")
    b.sign_in("bob")
    seen_a: dict[str, str] = {}
    for browser, name, votes in ((a, "alice", seen_a), (b, "bob", {})):
        for _ in range(4):
            page = browser.get("/p/alpha/screen").text
            assert "blind" in page and "P: adults with pain" in page
            rid = re.search(r'name="record" value="(\d+)"', page).group(1)
            title = re.search(r'<h1 class="title">(.*?)</h1>', page, re.S).group(1)
            value = "exclude" if "Soil" in title else (
                "include" if name == "alice" or "Oral" not in title else "exclude")
            votes[rid] = value
            r = browser.post("/p/alpha/screen", {"record": rid, "value": value})
            assert r.status_code == 302
            if name == "alice" and len(votes) == 1:  # the first vote starts her model
                screening = workspace.extensions["metareview_screenings"]["alpha"]
                assert screening.wait("alice")
                assert set(screening.order["alice"]) == set(
                    Project.open(workspace.extensions["metareview_site"].projects()["alpha"])
                    .queue("title_abstract", "alice"))
                assert "after your first vote" not in browser.get("/p/alpha/screen").text
            if name == "bob":  # bob never sees alice's votes on the page
                assert "alice" not in page and "include" not in page.split("<form")[0]
        assert workspace.extensions["metareview_screenings"]["alpha"].wait(name)
        done = browser.get("/p/alpha/screen").text
        assert "Nothing left to screen" in done
        assert "4 of 4 (" in done and "complete: every record screened" in done
    dash = a.get("/p/alpha/").text
    assert re.search(r"<td>conflict</td><td class=\"num\">1</td>", dash)
    # the two records both included are up for full text; nobody has voted there yet
    assert "Full text</a> (2)" in dash
    assert re.search(r"<td>alice</td><td>owner</td><td class=\"num\">4</td>"
                     r"<td class=\"num\">0</td>", dash)
    rows = list(csv.DictReader(io.StringIO(a.get("/p/alpha/export.csv").text)))
    assert len(rows) == 4
    states = {r["title_abstract_state"] for r in rows}
    assert states == {"agreed", "conflict"}
    # undo takes bob's last vote back
    assert b.post("/p/alpha/screen/undo").status_code == 302
    assert "Nothing left to screen" not in b.get("/p/alpha/screen").text


def test_signing_out_ends_the_session_and_stale_sessions_are_refused(workspace):
    b = Browser(workspace)
    b.sign_in("bob")
    assert b.get("/p/alpha/").status_code == 200
    site = workspace.extensions["metareview_site"]
    site.end_sessions(site.user(2).id)  # bob, everywhere
    assert b.get("/p/alpha/").status_code == 302
    b.sign_in("bob")
    assert b.post("/sign-out").status_code == 302
    assert b.get("/p/alpha/").status_code == 302


def test_open_redirect_after_sign_in_is_refused(workspace):
    b = Browser(workspace)
    r = b.post("/sign-in", {"name": "bob", "password": PASSWORD,
                            "next": "//evil.example/phish"})
    assert r.status_code == 302 and r.location == "/"


def test_user_create_cli(tmp_path):
    from typer.testing import CliRunner

    from metareview.cli import app

    (tmp_path / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
    (tmp_path / "short").write_text("short\n", encoding="utf-8")
    run = CliRunner().invoke
    r = run(app, ["user", "create", "alice", "--password-file", str(tmp_path / "pw"),
                  "--workspace", str(tmp_path)])
    assert r.exit_code == 0 and "administrator" in r.output
    r = run(app, ["user", "create", "alice", "--password-file", str(tmp_path / "pw"),
                  "--workspace", str(tmp_path)])
    assert r.exit_code == 2 and r.output.strip() == "metareview: error: user 'alice' already " \
        "exists"
    r = run(app, ["user", "create", "bob", "--password-file", str(tmp_path / "short"),
                  "--workspace", str(tmp_path)])
    assert r.exit_code == 2 and "at least 10 characters" in r.output
    r = run(app, ["user", "create", "bob", "--password-file", str(tmp_path / "missing"),
                  "--workspace", str(tmp_path)])
    assert r.exit_code == 2 and r.output.count("\n") == 1


def test_owner_imports_dedupes_resolves_and_exports(workspace):
    a = Browser(workspace)
    a.sign_in("alice")
    ris = (b"TY  - JOUR\nTI  - Ketamine infusion for chronic pain: a randomised trial\n"
           b"AB  - Adults with CRPS.\nPY  - 2020\nER  - \n")
    r = a.c.post("/p/alpha/imports", data={"csrf": a.token, "source": "MEDLINE",
                                           "file": (io.BytesIO(ris), "medline.ris")},
                 content_type="multipart/form-data")
    assert r.status_code == 302
    dash = a.get("/p/alpha/").text
    assert "imported 1 records from medline.ris (MEDLINE)" in dash
    # A bad file: the importer's one-line error, nothing stored, no 500.
    r = a.c.post("/p/alpha/imports", data={"csrf": a.token, "source": "x",
                                           "file": (io.BytesIO(b"\x00\x01garbage"), "bad.ris")},
                 content_type="multipart/form-data")
    assert r.status_code == 302
    page = a.get("/p/alpha/").text
    assert "bad.ris" in page and "flash error" in page
    assert a.post("/p/alpha/dedupe").status_code == 302
    assert "duplicate" in a.get("/p/alpha/").text.lower()
    # Reviewers cannot import.
    b = Browser(workspace)
    b.sign_in("bob")
    r = b.c.post("/p/alpha/imports", data={"csrf": b.token, "source": "x",
                                           "file": (io.BytesIO(ris), "m2.ris")},
                 content_type="multipart/form-data")
    assert r.status_code == 403
    # A conflict: alice includes, bob excludes the same record; alice resolves it.
    p = Project.open(workspace.extensions["metareview_site"].projects()["alpha"])
    rid = p.queue("title_abstract", "bob")[0]
    p.decide(rid, "title_abstract", "alice", "include")
    p.decide(rid, "title_abstract", "bob", "exclude")
    page = a.get("/p/alpha/conflicts").text
    assert f"Record {rid}" in page and "alice: <strong>include</strong>" in page
    assert "Gwet&#39;s AC1" in page
    assert b.get("/p/alpha/conflicts").status_code == 403
    assert a.post(f"/p/alpha/conflicts/{rid}", {"value": "include"}).status_code == 302
    assert "give the reason" in a.get("/p/alpha/conflicts").text
    a.post(f"/p/alpha/conflicts/{rid}", {"value": "include", "reason": "adults, ketamine"})
    assert p.status("title_abstract")[rid].state == "resolved"
    svg = a.get("/p/alpha/prisma.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert a.get("/p/alpha/prisma.png").data[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(io.StringIO(a.get("/p/alpha/export.csv").text)))
    mine = next(r for r in rows if r["record_id"] == str(rid))
    assert mine["title_abstract_state"] == "resolved"
    assert mine["title_abstract_vote_bob"] == "exclude"
    assert b"TY  - " in a.get("/p/alpha/export.ris").data
    log = a.get("/p/alpha/audit").text
    assert "resolve" in log and "import" in log and "alice" in log


def test_owner_sets_terms_that_are_marked_escaped_in_the_screening_page(workspace):
    a = Browser(workspace)
    a.sign_in("alice")
    r = a.post("/p/alpha/settings", {"criteria": "P: adults\nI: ketamine",
                                     "include_terms": "ketamine\nrandom*\n\n<b>markup</b>",
                                     "exclude_terms": "soil\nrats"})
    assert r.status_code == 302
    p = Project.open(workspace.extensions["metareview_site"].projects()["alpha"])
    settings = p.settings()
    assert settings["include_terms"] == ["ketamine", "random*", "<b>markup</b>"]
    assert settings["exclude_terms"] == ["soil", "rats"]
    assert settings["criteria"] == "P: adults\nI: ketamine"
    b = Browser(workspace)
    b.sign_in("bob")
    assert b.post("/p/alpha/settings", {"criteria": "x"}).status_code == 403
    pages = []
    for _ in range(4):
        page = b.get("/p/alpha/screen").text
        pages.append(page)
        rid = re.search(r'name="record" value="(\d+)"', page).group(1)
        b.post("/p/alpha/screen", {"record": rid, "value": "exclude"})
    text = "\n".join(pages)
    assert '<mark class="include">Ketamine</mark> infusion' in text
    assert '<mark class="include">randomised</mark> trial' in text
    assert '<mark class="exclude">Soil</mark> nitrogen' in text
    # A term holding markup matches the abstract's text and is escaped like all text.
    assert '<mark class="include">&lt;b&gt;markup&lt;/b&gt;</mark>' in text
    assert "<b>markup" not in text
    assert "inclusion terms" in text and "exclusion terms" in text
    log = a.get("/p/alpha/audit").text
    assert "terms" in log and "criteria" in log


def test_pairs_assignment_takes_a_record_out_of_other_queues_once_it_has_two_votes(workspace):
    site = workspace.extensions["metareview_site"]
    carol = site.create_user("carol", PASSWORD, admin=False)
    site.accept(site.invite(site.user(1), "alpha", "reviewer"), carol)
    p = Project.open(site.projects()["alpha"])
    first = p.queue("title_abstract", "carol")[0]
    p.decide(first, "title_abstract", "alice", "include")
    p.decide(first, "title_abstract", "bob", "exclude")
    assert first in p.queue("title_abstract", "carol")  # everyone: carol still screens it
    a = Browser(workspace)
    a.sign_in("alice")
    r = a.post("/p/alpha/settings", {"criteria": "", "include_terms": "", "exclude_terms": "",
                                     "assignment": "pairs"})
    assert r.status_code == 302 and p.settings()["assignment"] == "pairs"
    assert first not in p.queue("title_abstract", "carol")
    p.undo("title_abstract", "bob")  # one vote again: back in carol's queue
    assert first in p.queue("title_abstract", "carol")
    a.post("/p/alpha/settings", {"criteria": "kept?", "include_terms": "kept?",
                                 "assignment": "all"})
    assert "assignment &#39;all&#39;" in a.get("/p/alpha/").text
    after = p.settings()  # a refused form changes nothing
    assert after["assignment"] == "pairs" and after["criteria"] == ""
    assert after["include_terms"] == []
    # A form that leaves fields out changes only those it sends.
    a.post("/p/alpha/settings", {"criteria": "P: adults"})
    assert p.settings()["criteria"] == "P: adults" and p.settings()["assignment"] == "pairs"


def test_the_web_csv_export_never_hands_a_spreadsheet_a_formula(workspace, tmp_path):
    from metareview.store.exchange import export_records

    site = workspace.extensions["metareview_site"]
    p = Project.open(site.projects()["alpha"])
    formula = '=HYPERLINK("http://evil.example","click")'
    p.add_import(read_records_bytes(
        b"TY  - JOUR\nTI  - " + formula.encode() + b"\nAB  - +1 to -2 @home\nER  - \n",
        filename="f.ris", source="Embase"))
    a = Browser(workspace)
    a.sign_in("alice")
    rows = list(csv.DictReader(io.StringIO(a.get("/p/alpha/export.csv").text)))
    mine = next(r for r in rows if "HYPERLINK" in r["title"])
    assert mine["title"] == "'" + formula and mine["abstract"] == "'+1 to -2 @home"
    assert all(not v or v[0] not in "=+-@" for r in rows for v in r.values())
    # The library's own export keeps the text as it is (it imports again unchanged).
    export_records(p, tmp_path / "plain.csv")
    plain = list(csv.DictReader(open(tmp_path / "plain.csv", encoding="utf-8")))
    assert any(r["title"] == formula for r in plain)


def test_projects_made_in_the_app_keep_their_tables_apart(tmp_path, db_url, monkeypatch):
    """A project created in the app: a SQLite file in its folder when the site is on SQLite;
    on PostgreSQL a schema of its own in the site's database, opened with the site's password
    (the folder's settings hold none), its tables invisible from another project's."""
    import yaml
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url

    from metareview.store.db import normalise_url
    from metareview.web.accounts import project_schema

    site = Site.open(tmp_path, db_url)
    alice = site.create_user("alice", PASSWORD)
    site.create_project(alice, "ketamine-pain", "Ketamine", criteria="adults")
    site.create_project(alice, "other", "Other")
    settings = yaml.safe_load((tmp_path / "projects" / "ketamine-pain" / "metareview.yaml")
                              .read_text())
    monkeypatch.delenv("METAREVIEW_DATABASE_URL", raising=False)
    with site.open_project("ketamine-pain") as p:
        p.add_import(read_records_bytes(RIS, filename="s.ris", source="Embase"))
        assert p.settings()["database"] == ("sqlite" if db_url is None else "postgresql")
    with site.open_project("other") as p:
        assert p.records() == {}  # the other project's records are not here
    if db_url is None:
        assert settings["database"] == "review.sqlite"
        assert (tmp_path / "projects" / "ketamine-pain" / "review.sqlite").exists()
        site.close()
        return
    assert project_schema("ketamine-pain") == "mr_ketamine_pain"
    stored = make_url(settings["database"])
    assert stored.password is None
    assert stored.query["options"] == "-csearch_path=mr_ketamine_pain"
    eng = create_engine(normalise_url(db_url))
    try:
        tables = inspect(eng)
        assert {"record", "decision", "alembic_version"} <= set(
            tables.get_table_names(schema="mr_ketamine_pain"))
        assert "record" in tables.get_table_names(schema="mr_other")
        assert "record" not in tables.get_table_names(schema="public")
        with eng.connect() as c:
            n = c.exec_driver_sql("select count(*) from mr_ketamine_pain.record").scalar()
        assert n == 4
    finally:
        eng.dispose()
    # without the site's password the folder alone does not open the database
    with pytest.raises(InputError, match="password"):
        Project.open(tmp_path / "projects" / "ketamine-pain")
    # the CLI's way: the database's URL in the environment gives the password, the folder
    # the schema
    monkeypatch.setenv("METAREVIEW_DATABASE_URL", db_url)
    with Project.open(tmp_path / "projects" / "ketamine-pain") as p:
        assert len(p.records()) == 4
    site.close()


def test_an_upload_sent_with_progress_gets_its_next_page_with_the_messages_kept(workspace):
    """upload.js sends the import form itself (X-Upload): the redirect comes back as JSON, so
    the flashed message waits for the page the browser then opens; a bad file likewise."""
    a = Browser(workspace)
    a.sign_in("alice")
    ris = b"TY  - JOUR\nTI  - Oral ketamine\nPY  - 2021\nER  - \n"
    for data, said in ((ris, "imported 1 records from m.ris"), (b"\x00garbage", "bad.ris")):
        r = a.c.post("/p/alpha/imports",
                     data={"csrf": a.token, "source": "MEDLINE",
                           "file": (io.BytesIO(data), "m.ris" if data == ris else "bad.ris")},
                     content_type="multipart/form-data", headers={"X-Upload": "1"})
        assert r.status_code == 200 and r.json == {"location": "/p/alpha/"}
        assert said in a.get(r.json["location"]).text
    # the same request without its token is still refused, as JSON or not
    r = a.c.post("/p/alpha/imports", data={"file": (io.BytesIO(ris), "m.ris")},
                 content_type="multipart/form-data", headers={"X-Upload": "1"})
    assert r.status_code == 400
