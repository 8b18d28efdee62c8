"""Connecting to a review's database and keeping its schema current (Alembic).

SQLite is opened in WAL mode with ``synchronous=FULL``: a transaction that returned is on disk,
and a process killed mid-write leaves the database as it was before the transaction it was in.
PostgreSQL gives the same guarantee on its own.

Every write goes through :func:`write_session`. On SQLite it starts with ``BEGIN IMMEDIATE``,
so concurrent writers queue on the database lock (up to the busy timeout) before they read
what they are about to build on; a deferred ``BEGIN`` would let two writers read the same
snapshot and the second fail with "database is locked" when it tries to write.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session

from metareview.errors import InputError

MIGRATIONS = Path(__file__).with_name("migrations")


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path).resolve()}"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs (SQLAlchemy's default driver is psycopg2)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class SchemaUpgradeWarning(UserWarning):
    """A schema upgrade found something in the data to report (e.g. a forked history)."""


#: How long a SQLite writer waits for another's write lock (a large import holds it for
#: seconds) before giving up with "database busy".
SQLITE_BUSY_MS = 30_000

#: Execution option marking a connection that will write (SQLite: ``BEGIN IMMEDIATE``).
_WRITE = "metareview_write"

#: Test-only fault injection (see :func:`write_session`): a file path; when set, a writer
#: creates the file just before committing and then sleeps, so a test can kill it there.
PAUSE_BEFORE_COMMIT = "METAREVIEW_TEST_PAUSE_BEFORE_COMMIT"


#: Environment variable with the database URL, password included, for a shared database.
URL_VARIABLE = "METAREVIEW_DATABASE_URL"


def has_password(url: str) -> bool:
    """Whether a database URL carries a password."""
    try:
        return bool(make_url(url).password)
    except ArgumentError:
        return False


def strip_password(url: str) -> str:
    """``url`` without its password (the password is never written to the project folder)."""
    if not has_password(url):
        return url
    u = make_url(url)
    # URL.set(password=None) means "leave as is"; build the URL anew without it
    return URL.create(u.drivername, u.username, None, u.host, u.port, u.database,
                      u.query).render_as_string(hide_password=False)


def _same_database(a: str, b: str) -> bool:
    ua, ub = make_url(normalise_url(a)), make_url(normalise_url(b))
    return (ua.drivername, ua.host, ua.port, ua.database, ua.username) == (
        ub.drivername, ub.host, ub.port, ub.database, ub.username)


def resolve_url(stored: str, credentials: Sequence[str] = ()) -> str:
    """The URL to connect with, given the one stored in ``metareview.yaml``.

    The password comes from ``METAREVIEW_DATABASE_URL``, else from one of ``credentials``
    (URLs the caller holds, e.g. the web app's own database), when that names the same
    database (driver, host, port, database and user); otherwise libpq finds it
    (``PGPASSWORD``, ``~/.pgpass``, a service file). Only the password is taken: the stored
    URL's options (a project's schema) stay. A URL naming another database is ignored, so one
    set for a team's review does not redirect a different project.
    """
    if "://" not in stored:
        return stored
    env = os.environ.get(URL_VARIABLE, "").strip()
    for i, candidate in enumerate([env, *credentials]):
        if not candidate:
            continue
        try:
            same = _same_database(candidate, stored)
        except ArgumentError:
            if i == 0:
                raise InputError(f"{URL_VARIABLE}: not a database URL") from None
            continue
        if same:
            password = make_url(normalise_url(candidate)).password
            if password is None:
                return stored
            return make_url(stored).set(password=password).render_as_string(
                hide_password=False)
    return stored


def schema_url(url: str, schema: str) -> str:
    """``url`` with PostgreSQL's ``search_path`` set to ``schema``: every table the
    connection creates or reads is in that schema (one project per schema in a shared
    database)."""
    if not _SCHEMA.fullmatch(schema):
        raise InputError(f"schema {schema!r}: use 1-63 lower-case letters, digits or '_'")
    return make_url(url).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def create_schema(engine: Engine, schema: str) -> None:
    """Create ``schema`` in the engine's PostgreSQL database unless it exists."""
    if not _SCHEMA.fullmatch(schema):
        raise InputError(f"schema {schema!r}: use 1-63 lower-case letters, digits or '_'")
    with engine.begin() as c:
        c.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


#: A schema name we create: safe to quote into SQL, within PostgreSQL's 63-byte limit.
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling would issue a deferred BEGIN behind our back;
    # switch it off and let _sqlite_begin start every transaction.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_MS)}")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_WRITE)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def connect(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode, foreign keys and a busy timeout.

    Raises
    ------
    InputError
        If the URL is malformed or the database cannot be reached.
    """
    url = normalise_url(url)
    try:
        engine = create_engine(url, future=True, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise InputError(f"database {url!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if "password" in first:
            first += (f"; the password comes from {URL_VARIABLE}, PGPASSWORD or ~/.pgpass, "
                      "never from metareview.yaml")
        raise InputError(f"database {engine.url.render_as_string()}: {first}") from None
    return engine


def _config(migrations: Path = MIGRATIONS) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    return cfg


def head_revision(migrations: Path = MIGRATIONS) -> str:
    """The newest migration shipped with this version of metareview."""
    head = ScriptDirectory.from_config(_config(migrations)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine, version_table: str = "alembic_version") -> str | None:
    """The migration the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(
            conn, opts={"version_table": version_table}).get_current_revision()


def upgrade(engine: Engine, migrations: Path = MIGRATIONS,
            version_table: str = "alembic_version", lock: int = 7231) -> None:
    """Bring the schema to the newest migration (a no-op when it is current).

    ``migrations``, ``version_table`` and the PostgreSQL advisory ``lock`` key name another
    schema's migrations (the web app's accounts, :mod:`metareview.web.accounts`).

    Raises
    ------
    InputError
        If the database was written by a newer metareview (its revision is unknown here).
    """
    current = current_revision(engine, version_table)
    script = ScriptDirectory.from_config(_config(migrations))
    if current is not None and script.get_revision(current) is None:  # pragma: no cover
        raise InputError(
            f"database is at schema revision {current}, newer than this metareview "
            f"({head_revision(migrations)}); upgrade metareview"
        )
    if current == script.get_current_head():
        return
    cfg = _config(migrations)
    # One process upgrades at a time (two opening an old database together): SQLite's write
    # lock, or an advisory lock on PostgreSQL; the second then finds the schema current.
    with engine.execution_options(**{_WRITE: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SELECT pg_advisory_xact_lock({int(lock)})"))
        context = MigrationContext.configure(conn, opts={"version_table": version_table})
        if context.get_current_revision() == script.get_current_head():
            return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def insert_new(s: Session, table: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``table`` in the session's dialect.

    The get-or-create of a named row (reviewer, study) that two processes may race to add:
    the loser's insert does nothing instead of failing, and it reads the winner's row.
    """
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session in a write transaction, committed when the block ends without an error.

    On SQLite the transaction takes the write lock at once (``BEGIN IMMEDIATE``); on
    PostgreSQL callers that read before they write lock what they build on (see
    :meth:`metareview.store.project.Project.decide_many`).

    Yields
    ------
    Session
        The session; everything added to it commits together, or nothing does.

    Raises
    ------
    InputError
        If SQLite's write lock stays taken by another process for :data:`SQLITE_BUSY_MS`
        (then nothing was written).
    """
    try:
        with Session(engine.execution_options(**{_WRITE: True})) as s, s.begin():
            yield s
            _pause_before_commit()
    except OperationalError as exc:
        if "database is locked" not in str(exc.orig):
            raise
        raise InputError(f"database busy: another process held the write lock for "
                         f"{SQLITE_BUSY_MS / 1000:g} s; nothing of this change was stored, "
                         "try again") from None


def _pause_before_commit() -> None:
    """Test-only: hold a finished write open so a crash test can kill the process there.

    Does nothing unless the environment variable :data:`PAUSE_BEFORE_COMMIT` names a file;
    one dictionary look-up per write otherwise.
    """
    flag = os.environ.get(PAUSE_BEFORE_COMMIT)
    if flag:
        # written aside, then renamed: the watching test never reads a created, empty file
        tmp = Path(f"{flag}.{os.getpid()}.tmp")
        tmp.write_text(str(os.getpid()), encoding="utf-8")
        os.replace(tmp, flag)
        time.sleep(120)
