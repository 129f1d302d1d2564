"""``triagehub db``: the database schema."""

from __future__ import annotations

import typer

from triagehub.cli.common import out, state_of

db_app = typer.Typer(
    rich_markup_mode="markdown", help="Manage the database schema.", no_args_is_help=True
)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply the database migrations (also done automatically on first use)."""
    from sqlalchemy.exc import DBAPIError

    from triagehub.store import db

    url = state_of(ctx).db_url
    engine = db.make_engine(url)
    try:
        before = db.current_revision(engine)
        db.upgrade(engine)
        after = db.current_revision(engine)
    except DBAPIError as exc:
        raise db.unreachable(engine, exc) from None
    out.print(f"database at revision {after} (was {before or 'empty'})")
