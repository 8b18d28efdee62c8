"""Full texts: PDFs attached to records, and the project's list of exclusion reasons.

``fulltext`` holds one row per attachment (the record, the uploader's file name, the file's
SHA-256 and size, who uploaded it and when); the bytes live in the project folder as
``fulltext/<sha256>.pdf``. ``review.exclusion_reasons`` is the team's shared list of full-text
exclusion reasons, one per line; existing projects start with NULL, read as the defaults.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review") as batch:
        batch.add_column(sa.Column("exclusion_reasons", sa.Text(), nullable=True))
    op.create_table(
        "fulltext",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("record_id", sa.Integer(), sa.ForeignKey("record.id"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(200), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(200), nullable=True),
    )
    op.create_index("ix_fulltext_record_id", "fulltext", ["record_id"])
    op.create_index("ix_fulltext_sha256", "fulltext", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_fulltext_sha256", table_name="fulltext")
    op.drop_index("ix_fulltext_record_id", table_name="fulltext")
    op.drop_table("fulltext")
    with op.batch_alter_table("review") as batch:
        batch.drop_column("exclusion_reasons")
