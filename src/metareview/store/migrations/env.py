"""Alembic environment: run by :func:`metareview.store.db.upgrade` with an open connection."""

from __future__ import annotations

from alembic import context

from metareview.store.models import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic` command line (used to write new migrations)
    from sqlalchemy import create_engine

    connection = create_engine(config.get_main_option("sqlalchemy.url")).connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
