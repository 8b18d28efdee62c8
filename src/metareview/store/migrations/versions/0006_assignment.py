"""Project setting: who screens each record, everyone or as many as the votes required.

``everyone`` (the default, as before): every reviewer sees every record until it is resolved.
``pairs``: a record leaves the other reviewers' queues once it has the votes it needs (two
for dual screening), so a team of many screens each record twice, not once per member.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review") as batch:
        batch.add_column(sa.Column("assignment", sa.String(20), nullable=False,
                                   server_default="everyone"))


def downgrade() -> None:
    with op.batch_alter_table("review") as batch:
        batch.drop_column("assignment")
