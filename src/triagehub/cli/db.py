"""``triagehub db``: the database schema and its retention."""

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from triagehub.cli.common import OutputFormat, duration, engine_of, out, state_of
from triagehub.core.timeparse import iso_z

# ``store.retention.DEFAULT_BATCH`` (not imported here: ``--help`` loads no database module).
DEFAULT_BATCH = 2000

db_app = typer.Typer(
    rich_markup_mode="markdown",
    help="Manage the database: its schema and its retention.",
    no_args_is_help=True,
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


@db_app.command("prune")
def db_prune(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Delete what happened longer ago than this: 90d, 12w, 2160h (at least 7d).",
            show_default=False,
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go; change nothing.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Ids of one table per transaction.")
    ] = DEFAULT_BATCH,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table or json.")
    ] = OutputFormat.table,
) -> None:
    """Delete occurrences, runs, done jobs and webhook records older than `--older-than`
    (event time), in short transactions, while ingest and workers go on.

    Issues keep their counts (occurrences, first and last seen) and their timeline, where one
    event says how many occurrences before which date were pruned. Open issues keep their
    latest failure, the start of their current red streak and what the monitor replays; every
    check keeps its last passing log. Runs older than the cutoff are not ingested again."""
    from triagehub.engine.retention import prune

    report = prune(
        engine_of(ctx),
        older_than=duration(older_than, "--older-than"),
        dry_run=dry_run,
        batch_size=batch_size,
    )
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps({"older_than": older_than, **report.as_dict()}) + "\n")
        return
    verb = "would delete" if dry_run else "deleted"
    table = Table(
        title=f"Prune of what happened before {iso_z(report.cutoff)} (older than {older_than})",
        title_justify="left",
    )
    table.add_column("table")
    table.add_column(f"rows {verb}", justify="right")
    for name, n in report.rows.items():
        table.add_row(name, f"{n:,}")
    out.print(table)
    kept = report.kept
    out.print(
        f"{len(report.issues):,} issue(s) {'would get' if dry_run else 'got'} a summary on their "
        f"timeline; kept as evidence although older: {kept['occurrences']:,} occurrence(s), "
        f"{kept['runs']:,} run(s)",
        markup=False,
    )
