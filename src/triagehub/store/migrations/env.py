"""Alembic environment: runs on the connection that triagehub hands it (see ``store.db``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from triagehub.store.fulltext import owned_by_index
from triagehub.store.tables import metadata

config = context.config
target_metadata = metadata


def _declared(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate compares the declared schema only: not the search index's own tables and
    indexes (migration 0016, see ``store.fulltext``)."""
    return not owned_by_index(name, type_, parent_names)


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            include_name=_declared,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            render_as_batch=conn.dialect.name == "sqlite",
            include_name=_declared,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("triagehub migrations run online only: use `triagehub db upgrade`")
run_migrations()
