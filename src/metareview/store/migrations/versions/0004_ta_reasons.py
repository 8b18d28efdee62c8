"""A project setting: ask for an exclusion reason at title/abstract too.

At title/abstract no reason is asked by default (Covidence and Rayyan do not ask: it slows
screening); a project that wants one sets ``review.ta_reasons``, and the screener then offers
the reasons after each exclusion is stored. Existing projects keep the default (false).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review") as batch:
        batch.add_column(sa.Column("ta_reasons", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("review") as batch:
        batch.drop_column("ta_reasons")
