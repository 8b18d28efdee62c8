"""Alembic environment of the web app's accounts (run by ``Site.open``)."""

from __future__ import annotations

from alembic import context

from metareview.web.accounts import VERSION_TABLE, SiteBase

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SiteBase.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
