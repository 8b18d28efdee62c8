"""Concurrent writers: processes voting at once lose, duplicate and fork nothing.

Each test runs on SQLite and, when a server is reachable, on PostgreSQL (``db_url`` fixture in
conftest.py). Workers are separate processes, as separate screeners are; they are forked so
they start without importing metareview again, and each opens its own connections.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import subprocess
import sys
import traceback
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from metareview.records.model import ImportBatch, Record
from metareview.store.project import Project

TA = "title_abstract"
N_RECORDS = 8
#: Worker i votes as REVIEWERS[i]: three processes share one new reviewer, two another.
REVIEWERS = ("ann", "ann", "ann", "bob", "bob", "cat")
ACTIONS = 30


def _batch(n: int) -> ImportBatch:
    recs = tuple(Record(title=f"Trial {i}", year=2000 + i, doi=f"10.1/t{i}") for i in range(n))
    return ImportBatch(recs, "PubMed", kind="database", format="ris", filename="p.ris",
                       sha256=f"p{n}")


def _worker(path: str, reviewer: str, seed: int, start: mp.synchronize.Event,
            out: mp.Queue) -> None:
    """Vote (and now and then undo) on overlapping records; report every call that returned."""
    done: list[tuple] = []
    try:
        rng = random.Random(seed)
        with Project.open(path) as rv:
            start.wait(30)
            for i in range(ACTIONS):
                if i % 6 == 5:
                    done.append(("undo", rv.undo(TA, reviewer), reviewer))
                else:
                    rec = rng.randint(1, N_RECORDS)
                    value = rng.choice(("include", "exclude", "maybe"))
                    done.append(("vote", rv.decide(rec, TA, reviewer, value), reviewer, rec,
                                 value))
        out.put((done, None))
    except BaseException:  # the test counts tracebacks: report it rather than die
        out.put((done, traceback.format_exc()))


def _forks(rv: Project) -> list[tuple[str, int, int]]:
    """(kind, superseded row, count) for every row superseded twice by the same kind."""
    seen = Counter((h["kind"], h["supersedes"]) for h in rv.history()
                   if h["supersedes"] is not None)
    return [(k, s, n) for (k, s), n in seen.items() if n > 1]


@pytest.fixture
def project(tmp_path, db_url):
    with Project.create(tmp_path / "rv", "race", db_url=db_url) as rv:
        rv.add_import(_batch(N_RECORDS))
    return tmp_path / "rv"


def test_parallel_votes_lose_duplicate_and_fork_nothing(project):
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(project), who, i, start, out))
             for i, who in enumerate(REVIEWERS)]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert [err for _, err in results if err] == []            # 0 tracebacks
    calls = [c for done, _ in results for c in done]
    assert len(calls) == len(REVIEWERS) * ACTIONS
    votes = [c for c in calls if c[0] == "vote"]
    undos = [c for c in calls if c[0] == "undo" and c[1] is not None]

    with Project.open(project) as rv:
        hist = {h["id"]: h for h in rv.history()}
        # 0 lost: every vote that returned is stored as it was given
        for _, did, who, rec, value in votes:
            h = hist.get(did)
            assert h is not None, f"vote {did} returned but is not stored"
            assert (h["kind"], h["reviewer"], h["record"], h["value"]) == (
                "vote", who, rec, value)
        # 0 duplicated: exactly one row per call that returned, and one audit row each
        kinds = Counter(h["kind"] for h in hist.values())
        assert kinds == Counter({"vote": len(votes), "undo": len(undos)})
        assert len({did for _, did, *_ in votes}) == len(votes)
        actions = Counter(a["action"] for a in rv.audit_log())
        assert (actions["decide"], actions["undo"]) == (len(votes), len(undos))
        # 0 forked: no two votes (or two undos) supersede one row; each chain is linear
        assert _forks(rv) == []
        assert rv.check() == []
        assert len({h["reviewer"] for h in hist.values()}) == 3  # one row per reviewer name


def test_unique_index_refuses_a_fork_written_behind_the_store(project):
    with Project.open(project) as rv:
        first = rv.decide(1, TA, "ann", "include")
        second = rv.decide(1, TA, "ann", "exclude")
        rid = rv.history()[0]
        assert rv.history()[1]["supersedes"] == first
        cols = "record_id, stage, reviewer_id, kind, value, supersedes, created_at"
        sql = (f"INSERT INTO decision ({cols}) SELECT record_id, stage, reviewer_id, kind, "
               f"'maybe', supersedes, created_at FROM decision WHERE id = {second}")
        with pytest.raises(IntegrityError), rv.engine.begin() as c:
            c.execute(text(sql))
        # an undo of the changed vote shares its 'supersedes' with nothing of its own kind
        assert rv.undo(TA, "ann") == 1 and rv.undo(TA, "ann") == 1
        assert [h["supersedes"] for h in rv.history()] == [None, first, second, first]
        assert rid["value"] == "include" and rv.check() == []


def _cli(project: Path, reviewer: str, csv: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    return subprocess.Popen(
        [sys.executable, "-m", "metareview.cli", "screen", "--reviewer", reviewer,
         "--decisions", str(csv), "--review", str(project), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_parallel_cli_votes_as_one_new_reviewer(project, tmp_path):
    files = []
    for i in range(3):  # overlapping records, all by one reviewer new to the review
        f = tmp_path / f"d{i}.csv"
        rows = [f"{r},{'include' if (r + i) % 2 else 'exclude'}" for r in range(1 + i, 6 + i)]
        f.write_text("record,decision\n" + "\n".join(rows) + "\n", encoding="utf-8")
        files.append(f)
    procs = [_cli(project, "dan", f) for f in files]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [(p.returncode, err) for p, (_, err) in zip(procs, outs, strict=True)] == [
        (0, "")] * 3
    assert all('"stored": 5' in out for out, _ in outs)
    with Project.open(project) as rv:
        hist = rv.history()
        assert len(hist) == 15 and {h["reviewer"] for h in hist} == {"dan"}
        assert _forks(rv) == [] and rv.check() == []
        labels = rv.own_labels(TA, "dan")  # records 1-7 voted on; 1 and 7 by one file only
        assert set(labels) == set(range(1, 8)) and labels[1] == labels[7] == "include"


def test_sqlite_writer_kept_waiting_stops_cleanly(tmp_path, monkeypatch):
    from metareview.errors import InputError
    from metareview.store import db

    monkeypatch.setattr(db, "SQLITE_BUSY_MS", 300)
    with Project.create(tmp_path / "rv", "busy") as rv:
        rv.add_import(_batch(2))
    with Project.open(tmp_path / "rv") as holder, Project.open(tmp_path / "rv") as rv, \
            db.write_session(holder.engine) as s:
        s.execute(text("SELECT 1"))          # holds SQLite's write lock (BEGIN IMMEDIATE)
        with pytest.raises(InputError, match=r"database busy.*nothing of this change"):
            rv.decide(1, TA, "ann", "include")
    with Project.open(tmp_path / "rv") as rv:
        assert rv.history() == [] and rv.check() == []


def _open_and_vote(path: str, who: str, out: mp.Queue) -> None:
    try:
        with Project.open(path) as rv:
            out.put((rv.decide(1, TA, who, "include"), None))
    except BaseException:
        out.put((None, traceback.format_exc()))


def test_processes_opening_an_old_database_together_upgrade_it_once(project):
    from alembic import command

    from metareview.store import db

    with Project.open(project) as rv:
        cfg = db._config()
        with rv.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
        assert db.current_revision(rv.engine) == "0002"
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_open_and_vote, args=(str(project), who, out))
             for who in ("ann", "bob", "cat", "dan")]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert [err for _, err in results if err] == []
    with Project.open(project) as rv:
        assert db.current_revision(rv.engine) == db.head_revision()
        assert sorted(h["reviewer"] for h in rv.history()) == ["ann", "bob", "cat", "dan"]
        assert rv.check() == []


def test_a_screening_page_and_a_vote_hold_one_connection_at_a_time(project):
    """What the web app calls for a screening page and a vote never holds a pooled connection
    while asking for another: with 20 server threads and a pool of 15 that was a deadlock
    (every thread holding one connection, waiting for a second), seen in the load benchmark
    when the records list was first read by many threads at once."""
    from sqlalchemy import event

    held, most = [0], [0]

    def out(*_):
        held[0] += 1
        most[0] = max(most[0], held[0])

    def back(*_):
        held[0] -= 1

    with Project.open(project) as p:
        p.dedupe(actor="t")
        event.listen(p.engine, "checkout", out)
        event.listen(p.engine, "checkin", back)
        # a fresh Project reads the records list (cold), then keeps it (warm); a merge makes
        # a new run, so the next round reads it again
        for _ in range(2):
            waiting = p.queue(TA, "ann")
            p.records(waiting[:1])
            p.settings()
            p.decide(waiting[0], TA, "ann", "include")
            p.queue(TA, "ann")
            p.merge_records(waiting[1:3], actor="t")
    assert most[0] == 1 and held[0] == 0
