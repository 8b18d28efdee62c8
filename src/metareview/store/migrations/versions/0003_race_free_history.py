"""Race-free decision history and TRUNCATE refused.

A unique index on ``decision (kind, supersedes)``: no two votes supersede the same row and no
two undos undo the same vote, whatever processes race (the store also serialises one
reviewer's writes; the index is the database's own guarantee). On PostgreSQL, a statement-level
trigger refuses TRUNCATE on the append-only tables, as the row triggers refuse UPDATE and
DELETE (SQLite has no TRUNCATE; its DELETE triggers already cover ``DELETE FROM t``).

A database written by an earlier metareview may hold a history already forked by that race.
Its rows are history and stay as they are; the index then covers only rows added after the
upgrade, and the upgrade says so: an ``audit_log`` row (action ``schema-upgrade``) lists the
forked rows, and a :class:`~metareview.store.db.SchemaUpgradeWarning` is issued.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 18:00:00
"""

from __future__ import annotations

import datetime as dt
import warnings

import sqlalchemy as sa
from alembic import op

from metareview.store.db import SchemaUpgradeWarning

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: The append-only tables (as in 0001; a migration keeps its own copy of what it acts on).
APPEND_ONLY = ("record", "decision", "retrieval", "study_link", "audit_log")
INDEX = "ux_decision_supersedes"


def upgrade() -> None:
    bind = op.get_bind()
    forks = bind.execute(sa.text(
        "SELECT kind, supersedes, COUNT(*) AS n FROM decision WHERE supersedes IS NOT NULL "
        "GROUP BY kind, supersedes HAVING COUNT(*) > 1 ORDER BY supersedes, kind")).all()
    if not forks:
        op.create_index(INDEX, "decision", ["kind", "supersedes"], unique=True)
    else:
        last = bind.execute(sa.text("SELECT MAX(id) FROM decision")).scalar_one()
        where = sa.text(f"id > {int(last)}")
        op.create_index(INDEX, "decision", ["kind", "supersedes"], unique=True,
                        sqlite_where=where, postgresql_where=where)
        detail = {"revision": revision, "forked": [
            {"kind": k, "supersedes": s, "rows": n} for k, s, n in forks],
            "unique_after_decision": int(last)}
        audit = sa.table("audit_log", sa.column("at", sa.DateTime(timezone=True)),
                         sa.column("actor", sa.String), sa.column("action", sa.String),
                         sa.column("detail", sa.JSON))
        op.execute(audit.insert().values(at=dt.datetime.now(dt.UTC), actor="metareview",
                                         action="schema-upgrade", detail=detail))
        warnings.warn(
            f"decision history forked by concurrent writes before this upgrade: "
            f"{len(forks)} decision(s) superseded twice (see the audit log's schema-upgrade "
            f"entry); those rows are kept, and decisions after {last} are checked",
            SchemaUpgradeWarning, stacklevel=2)
    if bind.dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION metareview_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.drop_index(INDEX, table_name="decision")
