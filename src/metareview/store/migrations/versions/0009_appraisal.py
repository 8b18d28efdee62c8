"""Risk-of-bias appraisal: each appraiser's answers, overrides and the agreed ones.

``appraisal_answer`` holds every answer given on a study's appraisal form for an instrument:
who gave it (``appraiser``), the field (a domain, component or item), the answer, the support
for it (free text) and where in the report it was read (``location``). An override of the
algorithm's overall rating (``kind`` ``override``) carries its reason; an agreed answer (``kind``
``consensus``) names the choice it took (A, B or entered) and the reason. ``appraisal_event``
records submissions, re-openings and the writing of the agreed rating into the study. Both are
append-only: a change is a new row, so every answer's history stays.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: The tables this migration makes append-only (a migration keeps its own copy).
TABLES = ("appraisal_answer", "appraisal_event")


def upgrade() -> None:
    op.create_table(
        "appraisal_answer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.String(200), sa.ForeignKey("study.id"), nullable=False),
        sa.Column("instrument", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("appraiser", sa.String(200), nullable=False),
        sa.Column("field", sa.String(100), nullable=False),
        sa.Column("value", sa.String(100), nullable=True),
        sa.Column("support", sa.Text(), nullable=True),
        sa.Column("location", sa.String(200), nullable=True),
        sa.Column("choice", sa.String(10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_appraisal_answer_study", "appraisal_answer", ["study_id", "instrument"])
    op.create_table(
        "appraisal_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.String(200), sa.ForeignKey("study.id"), nullable=False),
        sa.Column("instrument", sa.String(40), nullable=False),
        sa.Column("who", sa.String(200), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_appraisal_event_study", "appraisal_event", ["study_id", "instrument"])
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
    op.drop_index("ix_appraisal_event_study", table_name="appraisal_event")
    op.drop_table("appraisal_event")
    op.drop_index("ix_appraisal_answer_study", table_name="appraisal_answer")
    op.drop_table("appraisal_answer")
