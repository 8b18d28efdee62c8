"""Crash safety by fault injection: a writer killed inside its open transaction.

The writer is paused by the store's test-only hook (``METAREVIEW_TEST_PAUSE_BEFORE_COMMIT``,
see :func:`metareview.store.db.write_session`) after its rows are written and before the
commit; the test waits for the hook's file and sends SIGKILL. Each test runs on SQLite and,
when a server is reachable, on PostgreSQL (``db_url`` fixture in conftest.py).
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

from metareview.records.model import ImportBatch, Record
from metareview.store.db import PAUSE_BEFORE_COMMIT
from metareview.store.project import Project

TA = "title_abstract"

CHILD = textwrap.dedent("""
    import os, sys
    from metareview.records.model import ImportBatch, Record
    from metareview.store.project import Project
    path, what, flag, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with Project.open(path) as r:
        for rid in range(1, n + 1):              # committed: reported once stored
            print(r.decide(rid, "title_abstract", "ann", "include"), rid, flush=True)
        os.environ["{var}"] = flag               # the next write pauses before its commit
        if what == "vote":
            r.decide(n + 1, "title_abstract", "ann", "exclude")
        else:
            recs = tuple(Record(title=f"late {{i}}") for i in range(500))
            r.add_import(ImportBatch(recs, "Embase", filename="late.ris", sha256="late"))
        print("committed", flush=True)
""").format(var=PAUSE_BEFORE_COMMIT)


def _batch(n: int) -> ImportBatch:
    recs = tuple(Record(title=f"Trial {i}", doi=f"10.1/c{i}") for i in range(n))
    return ImportBatch(recs, "PubMed", kind="database", format="ris", filename="p.ris",
                       sha256="p")


@pytest.fixture
def project(tmp_path, db_url):
    with Project.create(tmp_path / "rv", "crash", db_url=db_url) as rv:
        rv.add_import(_batch(10))
    return tmp_path / "rv"


def _kill_in_transaction(project: Path, what: str, flag: Path, n: int) -> list[tuple[int, int]]:
    """Run the child until its write pauses inside the transaction, SIGKILL it, and return
    the (decision, record) pairs it reported committed."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    env.pop(PAUSE_BEFORE_COMMIT, None)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(project), what, str(flag),
                             str(n)], stdout=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert proc.poll() is None, "the writer ended before it paused"
        assert time.monotonic() < deadline, "the writer never reached its commit"
        time.sleep(0.02)
    assert int(flag.read_text()) == proc.pid
    os.kill(proc.pid, signal.SIGKILL)
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == -signal.SIGKILL and "committed" not in out
    return [tuple(int(x) for x in line.split()) for line in out.splitlines()]


@pytest.mark.parametrize("what", ["vote", "import"])
def test_writer_killed_inside_its_transaction(project, tmp_path, what):
    stored = _kill_in_transaction(project, what, tmp_path / "paused", 4)
    assert [rid for _, rid in stored] == [1, 2, 3, 4]
    with Project.open(project) as rv:
        assert rv.check() == []        # SQLite integrity_check, audit rows, chains, imports
        hist = rv.history()
        # every committed vote is there, the one in flight is not
        assert [(h["id"], h["record"], h["value"]) for h in hist] == [
            (did, rid, "include") for did, rid in stored]
        assert [i["filename"] for i in rv.imports()] == ["p.ris"]
        assert len(rv.records()) == 10
        actions = [a["action"] for a in rv.audit_log()]
        assert actions == ["init", "import"] + ["decide"] * 4
        # the killed transaction's locks are gone: the same reviewer votes again at once
        t0 = time.monotonic()
        rv.decide(5, TA, "ann", "maybe")
        assert time.monotonic() - t0 < 5
        assert rv.own_labels(TA, "ann")[5] == "maybe" and rv.check() == []

