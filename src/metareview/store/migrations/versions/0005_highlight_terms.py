"""Project settings: terms to highlight in records, as inclusion and exclusion signals.

Screeners in Covidence and Rayyan see the protocol's keywords marked in titles and abstracts
(green for inclusion terms, red for exclusion terms). Stored one term per line; existing
projects start with none.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review") as batch:
        batch.add_column(sa.Column("include_terms", sa.Text(), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("exclude_terms", sa.Text(), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("review") as batch:
        batch.drop_column("exclude_terms")
        batch.drop_column("include_terms")
