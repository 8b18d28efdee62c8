"""The review store: schema, append-only history, dual screening rules, crash safety.

Each test runs on SQLite and, when a server is reachable, on PostgreSQL (``db_url`` fixture in
conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from metareview.errors import InputError
from metareview.records.model import ImportBatch, Record
from metareview.store import db
from metareview.store.models import APPEND_ONLY, Base
from metareview.store.project import DEFAULT_EXCLUSION_REASONS, Project

TA, FT = "title_abstract", "full_text"


def batch(n: int, *, source="PubMed", kind="database", sha="", start=0) -> ImportBatch:
    recs = tuple(Record(title=f"Ketamine trial {start + i}", authors=("Doe, J",),
                        year=2000 + i % 20, doi=f"10.1000/k{start + i}") for i in range(n))
    return ImportBatch(recs, source, kind=kind, format="ris", filename=f"{source}.ris",
                       sha256=sha or f"{source}-{start}-{n}")


#: Runs a test on the PostgreSQL half of ``db_url`` only (a feature SQLite does not have).
POSTGRESQL_ONLY = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def review(tmp_path, db_url):
    r = Project.create(tmp_path / "rv", "test review", db_url=db_url, criteria="Adults; RCTs")
    yield r
    r.close()


def test_schema_from_migrations_equals_models(review):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with review.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert db.current_revision(review.engine) == db.head_revision()


def test_sqlite_is_in_wal_mode(tmp_path):
    r = Project.create(tmp_path / "w", "w")
    with r.engine.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert (tmp_path / "w" / "review.sqlite").exists()
    r.close()


@pytest.mark.parametrize("table", APPEND_ONLY)
@pytest.mark.parametrize("statement", ["UPDATE {t} SET id = id", "DELETE FROM {t}"])
def test_append_only_tables_refuse_change(review, table, statement):
    review.add_import(batch(2))
    review.decide(1, TA, "ann", "include")
    review.set_retrieval(1, True, by="ann")
    review.link_study(1, "S1", by="ann")
    with pytest.raises(Exception, match="append-only"), review.engine.begin() as c:
        c.execute(text(statement.format(t=table)))


def test_reopen_keeps_everything(review, tmp_path):
    review.add_import(batch(3))
    review.decide(2, TA, "ann", "exclude")
    review.close()
    again = Project.open(tmp_path / "rv")
    assert again.settings()["name"] == "test review"
    assert again.settings()["criteria"] == "Adults; RCTs"
    assert [h["value"] for h in again.history()] == ["exclude"]
    again.close()


def test_init_twice_and_open_nothing(review, tmp_path):
    with pytest.raises(InputError, match="already exists"):
        Project.create(tmp_path / "rv", "again")
    with pytest.raises(InputError, match="no review here"):
        Project.open(tmp_path / "nothing")


def test_import_is_stored_whole_and_repeat_refused(review):
    iid = review.add_import(batch(4, sha="abc"))
    recs = review.records()
    assert len(recs) == 4 and {r.import_id for r in recs.values()} == {iid}
    assert recs[1].record.title == "Ketamine trial 0" and recs[1].record.authors == ("Doe, J",)
    with pytest.raises(InputError, match="already imported"):
        review.add_import(batch(4, sha="abc"))
    assert len(review.records()) == 4
    review.add_import(batch(4, sha="abc"), allow_repeat=True)
    assert len(review.records()) == 8
    assert [i["records"] for i in review.imports()] == [4, 4]


def test_bad_kind_rejected(review):
    with pytest.raises(InputError, match="source kind"):
        review.add_import(batch(1, kind="friend"))


def test_dual_screening_states(review):
    review.add_import(batch(6))
    votes = {1: ("include", "include"), 2: ("include", "maybe"), 3: ("exclude", "exclude"),
             4: ("include", "exclude"), 5: ("maybe", "exclude")}
    for rid, (a, b) in votes.items():
        review.decide(rid, TA, "ann", a)
        review.decide(rid, TA, "bob", b)
    review.decide(6, TA, "ann", "exclude")
    st = review.status(TA)
    assert {r: (s.state, s.final) for r, s in st.items()} == {
        1: ("agreed", "include"), 2: ("agreed", "include"), 3: ("agreed", "exclude"),
        4: ("conflict", None), 5: ("conflict", None), 6: ("pending", None)}
    assert sorted(review.conflicts(TA)) == [4, 5]
    # blinded queues: bob still has record 6 although ann decided it
    assert review.queue(TA, "bob") == [6]
    assert review.queue(TA, "ann") == []
    review.resolve(4, TA, "carol", "include")
    review.resolve(5, TA, "carol", "exclude")
    assert review.conflicts(TA) == {}
    assert review.eligible(FT) == [1, 2, 4]
    # the one-record check used at the keyboard agrees with the whole-review computation
    for stage in (TA, FT):
        for rid in range(0, 9):
            assert review._eligible_among(stage, [rid]) == set(review.eligible(stage)) & {rid}


def test_full_text_needs_reason_and_reasons_must_agree(review):
    review.add_import(batch(3))
    for rid in (1, 2, 3):
        for who in ("ann", "bob"):
            review.decide(rid, TA, who, "include")
    with pytest.raises(InputError, match="needs a reason"):
        review.decide(1, FT, "ann", "exclude")
    review.decide(1, FT, "ann", "exclude", reason="wrong population")
    review.decide(1, FT, "bob", "exclude", reason="Wrong population")
    review.decide(2, FT, "ann", "exclude", reason="wrong population")
    review.decide(2, FT, "bob", "exclude", reason="wrong outcome")
    review.decide(3, FT, "ann", "maybe")
    review.decide(3, FT, "bob", "include")
    st = review.status(FT)
    assert (st[1].state, st[1].final, st[1].reason) == ("agreed", "exclude", "wrong population")
    assert st[2].state == "conflict" and st[3].state == "conflict"


def test_changed_vote_and_undo_keep_history(review):
    review.add_import(batch(2))
    review.decide(1, TA, "ann", "exclude")
    review.decide(1, TA, "ann", "include")
    review.decide(2, TA, "ann", "maybe")
    assert review.own_labels(TA, "ann") == {1: "include", 2: "maybe"}
    assert review.undo(TA, "ann") == 2
    assert review.own_labels(TA, "ann") == {1: "include"}
    assert review.undo(TA, "ann") == 1          # back to the first vote
    assert review.own_labels(TA, "ann") == {1: "exclude"}
    assert review.undo(TA, "ann") == 1          # and before it: nothing
    assert review.own_labels(TA, "ann") == {}
    assert review.undo(TA, "ann") is None
    hist = review.history()
    assert [(h["kind"], h["value"]) for h in hist] == [
        ("vote", "exclude"), ("vote", "include"), ("vote", "maybe"),
        ("undo", None), ("undo", "exclude"), ("undo", None)]
    actions = [a["action"] for a in review.audit_log()]
    assert actions == ["init", "import"] + ["decide"] * 3 + ["undo"] * 3


def test_decisions_on_ineligible_records_refused(review):
    review.add_import(batch(2))
    with pytest.raises(InputError, match="not up for full_text"):
        review.decide(1, FT, "ann", "include")
    with pytest.raises(InputError, match=r"no such record|not up for"):
        review.decide(99, TA, "ann", "include")
    with pytest.raises(InputError, match="decision"):
        review.decide(1, TA, "ann", "perhaps")


def test_other_methods_go_straight_to_full_text(review):
    review.add_import(batch(2))
    review.add_import(batch(1, source="Citation searching", kind="citation", start=10))
    assert review.eligible(TA) == [1, 2]
    assert review.eligible(FT) == [3]


def test_automation_exclusions(review):
    review.add_import(batch(4))
    assert review.exclude_by_automation([3, 4], tool="stopping rule", reason="buscar p<0.05") == 2
    st = review.status(TA)
    assert st[3].state == "automated" and st[4].final == "exclude"
    assert review.eligible(TA) == [1, 2]


# -- crash safety: SIGKILL in the middle of a write ---------------------------------------------

CHILD = textwrap.dedent("""
    import sys
    from metareview.records.model import ImportBatch, Record
    from metareview.store.project import Project
    r = Project.open(sys.argv[1])
    if sys.argv[2] == "import":
        recs = tuple(Record(title=f"record {i} " + "x" * 200, authors=("A, B",) * 5,
                            abstract="y" * 2000) for i in range(int(sys.argv[3])))
        print("start", flush=True)
        r.add_import(ImportBatch(recs, "Embase", filename="big.ris", sha256="big"))
        print("done", flush=True)
    else:
        ids = r.queue("title_abstract", "ann")
        for i, rid in enumerate(ids):
            did = r.decide(rid, "title_abstract", "ann", "include" if i % 3 else "exclude")
            print(did, rid, flush=True)
""")


def _child(path: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path), *args],
                            stdout=subprocess.PIPE, text=True, env=env)


def test_killed_import_leaves_nothing_half_imported(review, tmp_path):
    review.add_import(batch(5))
    review.decide(1, TA, "ann", "include")
    proc = _child(tmp_path / "rv", "import", "150000")
    assert proc.stdout.readline().strip() == "start"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    rest = proc.communicate()[0]
    assert "done" not in rest, "the import finished before the kill; make it bigger"
    again = Project.open(tmp_path / "rv")
    assert len(again.records()) == 5              # nothing of the killed import
    assert [i["filename"] for i in again.imports()] == ["PubMed.ris"]
    assert again.own_labels(TA, "ann") == {1: "include"}
    if again.engine.dialect.name == "sqlite":
        with again.engine.connect() as c:
            assert c.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    again.close()


def test_killed_screening_loses_no_stored_decision(review, tmp_path):
    review.add_import(batch(3000))
    proc = _child(tmp_path / "rv", "decide")
    stored = []
    for line in proc.stdout:
        stored.append(tuple(int(x) for x in line.split()))
        if len(stored) == 25:
            break
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    again = Project.open(tmp_path / "rv")
    hist = {h["id"]: h["record"] for h in again.history()}
    # every decision reported as stored is there; at most the one in flight also landed
    assert all(hist.get(did) == rid for did, rid in stored)
    assert len(stored) <= len(hist) <= len(stored) + 1
    audit = [a for a in again.audit_log() if a["action"] == "decide"]
    assert len(audit) == len(hist)                 # decision and its audit row: one transaction
    again.close()


# -- TRUNCATE, and upgrading a database written before migration 0003 ---------------------------

# SQLite has no TRUNCATE (DELETE FROM is refused: see above), so these run on PostgreSQL only.
@POSTGRESQL_ONLY
@pytest.mark.parametrize("table", [*APPEND_ONLY, "reviewer"])
def test_truncate_refused_on_postgresql(review, table):
    review.add_import(batch(2))
    review.decide(1, TA, "ann", "include")
    # reviewer is not append-only itself, but CASCADE would empty decision with it
    with pytest.raises(Exception, match="append-only: TRUNCATE refused"), \
            review.engine.begin() as c:
        c.execute(text(f"TRUNCATE {table} CASCADE"))
    assert len(review.history()) == 1 and len(review.records()) == 2


def _downgrade(engine, revision: str) -> None:
    from alembic import command

    cfg = db._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_database_from_0002_upgrades_on_open(review, tmp_path):
    import warnings

    review.add_import(batch(2))
    review.decide(1, TA, "ann", "include")
    _downgrade(review.engine, "0002")
    assert db.current_revision(review.engine) == "0002"
    review.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error", db.SchemaUpgradeWarning)
        again = Project.open(tmp_path / "rv")
    assert db.current_revision(again.engine) == db.head_revision() == "0009"
    assert "schema-upgrade" not in [a["action"] for a in again.audit_log()]
    settings = again.settings()  # the columns 0004-0007 added, at their defaults
    assert (settings["ta_reasons"], settings["include_terms"], settings["exclude_terms"],
            settings["assignment"]) == (False, [], [], "everyone")
    assert settings["exclusion_reasons"] == list(DEFAULT_EXCLUSION_REASONS)
    assert again.fulltexts() == []
    assert again.extraction_states() == {}  # 0008's tables, empty
    from metareview.appraisal.team import appraisal_states

    assert appraisal_states(again.engine) == {}  # 0009's tables, empty
    again.decide(1, TA, "ann", "exclude")
    assert again.check() == []
    again.close()


def test_ta_reasons_setting_survives_the_0004_upgrade(review, tmp_path):
    # a project from before 0004 opens with the default: no reasons asked at title/abstract
    review.set_ta_reasons(True, actor="ann")
    assert review.settings()["ta_reasons"] is True
    _downgrade(review.engine, "0003")
    review.close()
    again = Project.open(tmp_path / "rv")
    assert again.settings()["ta_reasons"] is False
    again.set_ta_reasons(True, actor="ann")
    assert again.settings()["ta_reasons"] is True
    assert [a["detail"] for a in again.audit_log() if a["action"] == "ta-reasons"] == [
        {"ta_reasons": True}, {"ta_reasons": True}]
    again.close()


def test_forked_history_from_before_0003_is_kept_and_reported(review, tmp_path):
    review.add_import(batch(2))
    first = review.decide(1, TA, "ann", "include")
    review.decide(1, TA, "ann", "exclude")
    _downgrade(review.engine, "0002")
    fork = ("INSERT INTO decision (record_id, stage, reviewer_id, kind, value, supersedes, "
            "created_at) SELECT record_id, stage, reviewer_id, 'vote', 'maybe', {sup}, "
            "created_at FROM decision WHERE id = {sup}")
    with review.engine.begin() as c:   # what two racing processes could write before 0003
        c.execute(text(fork.format(sup=first)))
    review.close()
    with pytest.warns(db.SchemaUpgradeWarning, match="1 decision"):
        again = Project.open(tmp_path / "rv")
    assert db.current_revision(again.engine) == db.head_revision()
    entry = [a for a in again.audit_log() if a["action"] == "schema-upgrade"]
    assert [e["detail"] for e in entry] == [{
        "revision": "0003", "forked": [{"kind": "vote", "supersedes": first, "rows": 2}],
        "unique_after_decision": 3}]
    assert [h["value"] for h in again.history()] == ["include", "exclude", "maybe"]
    assert again.check() == [          # the fork, and the racer's audit row that is missing
        "decision 3: no audit row",
        "decision 3 (record 1, title_abstract): supersedes 1, not the row before it "
        "(forked history)"]
    # decisions after the upgrade are held to the index
    again.decide(1, TA, "ann", "include")
    with pytest.raises(IntegrityError), again.engine.begin() as c:
        c.execute(text(fork.format(sup=3)))
    again.close()


# -- credentials: never in the project folder ---------------------------------------------------

def test_password_is_stripped_and_found_from_the_environment(monkeypatch):
    url = "postgresql://ann:s3cret@db.example.org:5433/review?sslmode=require"
    assert db.has_password(url) and not db.has_password("postgresql:///review?service=team")
    assert db.strip_password(url) == "postgresql://ann@db.example.org:5433/review?sslmode=require"
    assert db.strip_password("sqlite:////x/review.sqlite") == "sqlite:////x/review.sqlite"
    stored = db.strip_password(url)
    monkeypatch.delenv(db.URL_VARIABLE, raising=False)
    assert db.resolve_url(stored) == stored           # libpq finds the password then
    monkeypatch.setenv(db.URL_VARIABLE, url)
    assert db.resolve_url(stored) == url
    # a variable naming another database (or user) does not redirect this project
    other = "postgresql://ann:s3cret@db.example.org:5433/other"
    monkeypatch.setenv(db.URL_VARIABLE, other)
    assert db.resolve_url(stored) == stored
    monkeypatch.setenv(db.URL_VARIABLE, "postgresql://bob:x@db.example.org:5433/review")
    assert db.resolve_url(stored) == stored


SECRET = "pw-7f3a9c-not-in-the-folder"


@pytest.fixture
def own_role(db_url, monkeypatch, tmp_path):
    """(URL with password, URL without) of a role with its own password on the test database;
    no password reaches libpq from the environment or a ~/.pgpass. Passwords are a PostgreSQL
    matter: the tests using this run on PostgreSQL only."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    role = f"mr_role_{os.getpid()}"
    admin = create_engine(db.normalise_url(db_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'"))
        c.execute(text(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}"))
    for var in (db.URL_VARIABLE, "PGPASSWORD", "PGSERVICE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    url = make_url(db_url).set(username=role, password=SECRET)
    yield (url.render_as_string(hide_password=False), db.strip_password(
        url.render_as_string(hide_password=False)))
    with admin.connect() as c:
        c.execute(text(f"DROP OWNED BY {role}"))
        c.execute(text(f"DROP ROLE {role}"))
    admin.dispose()


def _folder_holds(folder: Path, secret: str) -> list[str]:
    return [str(f) for f in folder.rglob("*") if f.is_file() and secret.encode() in f.read_bytes()]


@POSTGRESQL_ONLY
def test_password_never_lands_in_the_project_folder(own_role, tmp_path, monkeypatch):
    import yaml

    with_pw, without = own_role
    rv = Project.create(tmp_path / "rv", "pw", db_url=with_pw)
    rv.add_import(batch(2))
    rv.decide(1, TA, "ann", "include")
    rv.close()
    settings = yaml.safe_load((tmp_path / "rv" / "metareview.yaml").read_text())
    assert settings["database"] == without and SECRET not in without
    assert _folder_holds(tmp_path / "rv", SECRET) == []
    # with no password anywhere, opening says where it should come from
    with pytest.raises(InputError, match="PGPASSWORD"):
        Project.open(tmp_path / "rv")
    other = with_pw.rsplit("/", 1)[0] + "/postgres"
    monkeypatch.setenv(db.URL_VARIABLE, other)  # another database's URL is not used
    with pytest.raises(InputError, match="password"):
        Project.open(tmp_path / "rv")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"*:*:*:{without.split('//')[1].split('@')[0]}:{SECRET}\n")
    pgpass.chmod(0o600)
    for var, value in ((db.URL_VARIABLE, with_pw), ("PGPASSWORD", SECRET),
                       ("PGPASSFILE", str(pgpass))):
        monkeypatch.delenv(db.URL_VARIABLE, raising=False)
        monkeypatch.setenv(var, value)
        with Project.open(tmp_path / "rv") as again:
            assert [h["value"] for h in again.history()] == ["include"]
        monkeypatch.delenv("PGPASSWORD", raising=False)
    assert _folder_holds(tmp_path / "rv", SECRET) == []


@POSTGRESQL_ONLY
def test_old_settings_with_a_password_still_open_with_a_warning(own_role, tmp_path):
    from metareview.store.project import PasswordInSettingsWarning

    with_pw, _ = own_role
    Project.create(tmp_path / "rv", "old", db_url=with_pw).close()
    settings = tmp_path / "rv" / "metareview.yaml"
    settings.write_text(f"name: old\ndatabase: {with_pw}\n")  # as metareview <= 0002 wrote
    with pytest.warns(PasswordInSettingsWarning, match="holds a password"):
        Project.open(tmp_path / "rv").close()
    assert SECRET in settings.read_text()   # the user's file is theirs to fix, not rewritten


@POSTGRESQL_ONLY
def test_init_from_the_command_line_says_the_password_is_not_stored(own_role, tmp_path):
    from typer.testing import CliRunner

    from metareview.cli import app

    with_pw, without = own_role
    res = CliRunner().invoke(app, ["init", str(tmp_path / "rv"), "--db", with_pw])
    assert res.exit_code == 0, res.output
    assert "password is not stored" in res.stdout and SECRET not in res.stdout
    assert f"database: {without}" in (tmp_path / "rv" / "metareview.yaml").read_text()
    assert _folder_holds(tmp_path / "rv", SECRET) == []
