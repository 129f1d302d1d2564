"""``triagehub accuracy`` and ``patterns``: how the automatic triage fares, and what recurs."""

import json
import sys
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from triagehub.cli.common import OutputFormat, out, session_of
from triagehub.clock import SystemClock


def accuracy(
    ctx: typer.Context,
    repo: Annotated[str | None, typer.Option("--repo", help="Only this OWNER/NAME.")] = None,
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="Only overrides of the last N days.")
    ] = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table or json.")
    ] = OutputFormat.table,
) -> None:
    """How often humans agreed with the automatic triage, per field (from their overrides)."""
    from triagehub.store.triage import override_accuracy

    since = SystemClock().now() - timedelta(days=days) if days else None
    with session_of(ctx) as session:
        rows = override_accuracy(session=session, repository=repo, since=since)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps([r.to_json() for r in rows], indent=2) + "\n")
        return
    table = Table(title="Agreement of the automatic triage with humans", title_justify="left")
    for col in ("field", "reviewed", "changed by a human", "agreement", "override rate"):
        table.add_column(col, justify="left" if col == "field" else "right")
    for r in rows:
        agreement = "-" if r.agreement is None else f"{r.agreement:.0%}"
        rate = "-" if r.agreement is None else f"{1 - r.agreement:.0%}"
        table.add_row(r.field, str(r.reviewed), str(r.changed), agreement, rate)
    out.print(table)


def patterns(
    ctx: typer.Context,
    days: Annotated[
        int, typer.Option("--days", min=1, help="Count occurrences of the last N days.")
    ] = 30,
    repo: Annotated[str | None, typer.Option("--repo", help="Only this OWNER/NAME.")] = None,
    min_repos: Annotated[
        int,
        typer.Option("--min-repos", min=1, help="Only patterns seen in at least N repositories."),
    ] = 1,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 100,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table or json.")
    ] = OutputFormat.table,
) -> None:
    """Template families seen across checks and repositories, most frequent first."""
    from triagehub.store.queries import list_patterns

    since = SystemClock().now() - timedelta(days=days)
    with session_of(ctx) as session:
        found = list_patterns(
            session=session, since=since, repository=repo, min_repositories=min_repos, limit=limit
        )
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps([p.to_json() for p in found], indent=2) + "\n")
        return
    table = Table(title=f"{len(found)} pattern(s), last {days} days", title_justify="left")
    for name, kw in (
        ("id", {"justify": "right"}),
        ("template", {"max_width": 70, "overflow": "ellipsis"}),
        (f"{days}d", {"justify": "right"}),
        ("total", {"justify": "right"}),
        ("issues", {"justify": "right"}),
        ("checks", {"justify": "right"}),
        ("repositories", {}),
        ("last seen", {}),
    ):
        table.add_column(name, **kw)
    for p in found:
        table.add_row(
            str(p.id),
            p.template.splitlines()[0] if p.template else "",
            str(p.occurrences_in_range),
            str(p.occurrences),
            str(p.issues),
            str(p.checks),
            ", ".join(p.repositories),
            p.last_seen.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``accuracy`` and ``patterns`` to the root command."""
    app.command()(accuracy)
    app.command()(patterns)
