"""Data extraction: each extractor's values and the agreed ones, with their history.

``extraction_value`` holds every value entered on a study's extraction form: who entered it
(``extractor``), the form field (``field``), the value as typed, its unit, where in the report
it was read (page, table, figure), and for a converted value the numbers it came from and the
method (``converted_from``, ``method``). An agreed value (``kind`` ``consensus``) names the
choice it took (A, B or entered) and the reason. ``extraction_event`` records submissions,
re-openings and the writing of the agreed data into the study. Both are append-only: a change
is a new row, so every value's history stays.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: The tables this migration makes append-only (a migration keeps its own copy).
TABLES = ("extraction_value", "extraction_event")


def upgrade() -> None:
    op.create_table(
        "extraction_value",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.String(200), sa.ForeignKey("study.id"), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("extractor", sa.String(200), nullable=False),
        sa.Column("field", sa.String(300), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("unit", sa.String(100), nullable=True),
        sa.Column("page", sa.String(50), nullable=True),
        sa.Column("table_ref", sa.String(100), nullable=True),
        sa.Column("figure", sa.String(100), nullable=True),
        sa.Column("converted_from", sa.JSON(), nullable=True),
        sa.Column("method", sa.Text(), nullable=True),
        sa.Column("choice", sa.String(10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_extraction_value_study", "extraction_value", ["study_id", "field"])
    op.create_table(
        "extraction_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.String(200), sa.ForeignKey("study.id"), nullable=False),
        sa.Column("who", sa.String(200), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_extraction_event_study", "extraction_event", ["study_id"])
    if op.get_bind().dialect.name == "postgresql":
        # metareview_append_only() is 0001's
        for table in TABLES:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION metareview_append_only()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION metareview_append_only()")
        return
    for table in TABLES:
        for what in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{what.lower()} BEFORE {what} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {what} refused'); "
                       "END")


def downgrade() -> None:
    # dropping the tables drops their triggers with them
    op.drop_index("ix_extraction_event_study", table_name="extraction_event")
    op.drop_table("extraction_event")
    op.drop_index("ix_extraction_value_study", table_name="extraction_value")
    op.drop_table("extraction_value")
