"""Test configuration: Hypothesis explores new examples locally, and is repeatable in CI.

In CI (``CI`` set, as ``.ci/run`` runs) the examples are derandomised, so a submission's result
does not depend on the draw; local runs keep searching, which is how new edge cases are found.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


# -- databases for the store's tests -----------------------------------------------------------
# Every store test runs twice: on SQLite (always) and on PostgreSQL when one is reachable at
# METAREVIEW_TEST_PG (an admin URL; `.ci/run` starts a throwaway server and sets it). Without
# one, the PostgreSQL half is skipped with a message saying so, except in CI, where it fails:
# nothing else would run those tests. The run ends with a line counting the PostgreSQL tests.

import uuid  # noqa: E402

import pytest  # noqa: E402

PG_ADMIN = os.environ.get(
    "METAREVIEW_TEST_PG", "postgresql://metareview:metareview@127.0.0.1:5432/postgres"
)
_pg_state: dict[str, object] = {}
_pg_nodes: set[str] = set()
_pg_outcomes: dict[str, str] = {}


def _pg_engine():
    """An admin engine on the test server, or the reason there is none."""
    if "engine" not in _pg_state:
        try:
            from sqlalchemy import create_engine, text

            from metareview.store.db import normalise_url

            eng = create_engine(normalise_url(PG_ADMIN), isolation_level="AUTOCOMMIT",
                                connect_args={"connect_timeout": 3})
            with eng.connect() as c:
                c.execute(text("select 1"))
            _pg_state["engine"] = eng
        except Exception as exc:  # any failure means: no server to test against
            _pg_state["engine"] = None
            _pg_state["why"] = str(exc).strip().splitlines()[0][:160]
    return _pg_state["engine"]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, monkeypatch):
    """None (the default embedded SQLite) or the URL of a fresh, empty PostgreSQL database.

    The URL is also METAREVIEW_DATABASE_URL while the test runs: the project folder keeps the
    URL without its password, and reopening (here or in a child process) finds it there.
    """
    if request.param == "sqlite":
        yield None
        return
    _pg_nodes.add(request.node.nodeid)
    eng = _pg_engine()
    if eng is None:
        if os.environ.get("CI"):
            pytest.fail(f"no PostgreSQL server at {_safe_url(PG_ADMIN)} "
                        f"({_pg_state.get('why')}); in CI the PostgreSQL tests must run "
                        "(.ci/run starts a server)", pytrace=False)
        pytest.skip(f"PostgreSQL half skipped: no server at {_safe_url(PG_ADMIN)} "
                    f"({_pg_state.get('why')}); .ci/run starts one")
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = f"mr_test_{uuid.uuid4().hex[:12]}"
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("METAREVIEW_DATABASE_URL", url)
    yield url
    with eng.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _on_postgres(nodeid: str) -> bool:
    """A test parametrized onto PostgreSQL (its id says so; with pytest-xdist the reports
    reach the controller, whose fixtures never ran, so the id is what it can see)."""
    return nodeid in _pg_nodes or (nodeid.endswith("]") and "postgresql" in
                                   nodeid.rsplit("[", 1)[-1])


def pytest_runtest_logreport(report):
    """Remember how each PostgreSQL test ended (the worst of its phases)."""
    if not _on_postgres(report.nodeid):
        return
    if report.failed:
        _pg_outcomes[report.nodeid] = "failed"
    elif report.skipped:
        _pg_outcomes.setdefault(report.nodeid, "skipped")
    elif report.when == "call":
        _pg_outcomes.setdefault(report.nodeid, "passed")


def pytest_terminal_summary(terminalreporter):
    """One line saying how many tests ran on PostgreSQL, so CI's output shows they did."""
    if not _pg_outcomes:
        return
    counts = {k: sum(v == k for v in _pg_outcomes.values())
              for k in ("passed", "failed", "skipped")}
    where = _safe_url(PG_ADMIN)
    terminalreporter.write_line(
        f"PostgreSQL tests ({where}): {len(_pg_outcomes)} run, {counts['passed']} passed, "
        f"{counts['failed']} failed, {counts['skipped']} skipped")


def _safe_url(url: str) -> str:
    """The server URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
