"""``triagehub outbox``: the outbox of side effects, listed, repaired and counted.

The database comes from the root command's state (``--db``); this module reads it through the
context object's ``engine()`` so that it never imports :mod:`triagehub.cli.main` (which imports
this module to register it).
"""

import enum
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.table import Table

from triagehub.cli.common import OutputFormat as Format
from triagehub.cli.common import out, session_of
from triagehub.clock import SystemClock
from triagehub.errors import InputError

if TYPE_CHECKING:
    from triagehub.engine.jobs import JobView

outbox_app = typer.Typer(
    rich_markup_mode="markdown",
    help="The outbox of side effects (Slack messages, re-runs, webhook ingestion): list the "
    "items, put dead ones back, count them.",
    no_args_is_help=True,
)


class Status(enum.StrEnum):
    pending = "pending"
    running = "running"
    done = "done"
    dead = "dead"


def _note(view: "JobView") -> str:
    """What a done row's delivery did (e.g. that a notification reached no channel)."""
    result = view.result or {}
    via = result.get("via")
    if via == "log":
        return f"log only: {result.get('note', 'no channel configured')}"
    if via == "slack_bot":
        thread = result.get("thread_ts")
        return f"slack {result.get('channel')}" + (f" (thread {thread})" if thread else "")
    if via is not None:
        return str(via)
    return ", ".join(f"{k}={v}" for k, v in result.items())


def _first_line(text: str | None, limit: int = 120) -> str:
    if not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    status: Annotated[
        Status | None,
        typer.Option("--status", help="Only this status (dead includes old 'failed' rows)."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only this kind (notify, rerun, ...).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 1000,
    fmt: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Outbox items, oldest first: status, attempts, next try and last error."""
    from triagehub.engine.jobs import list_jobs

    with session_of(ctx) as session:
        views = list_jobs(
            session=session, status=status.value if status else None, kind=kind, limit=limit
        )
    if fmt is Format.json:
        rows: list[dict[str, Any]] = [{**v.to_json(), "note": _note(v)} for v in views]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"{len(views)} outbox item(s)", title_justify="left")
    for name, kw in (
        ("id", {"justify": "right"}),
        ("kind", {}),
        ("key", {"max_width": 48, "overflow": "ellipsis"}),
        ("status", {}),
        ("attempts", {"justify": "right"}),
        ("next try", {}),
        ("last error", {"max_width": 60, "overflow": "ellipsis"}),
        ("note", {"max_width": 40, "overflow": "ellipsis"}),
    ):
        table.add_column(name, **kw)
    for v in views:
        waiting = v.status in ("pending", "running")
        table.add_row(
            str(v.id),
            v.kind,
            v.key,
            v.status,
            str(v.attempts),
            v.next_try_at.strftime("%Y-%m-%d %H:%M:%S") if waiting else "-",
            _first_line(v.last_error),
            _note(v),
        )
    out.print(table, markup=False)


@outbox_app.command("retry")
def outbox_retry(
    ctx: typer.Context,
    job_id: Annotated[int | None, typer.Argument(help="The id of a dead item.")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Put every dead item back.")] = False,
) -> None:
    """Put dead items back to pending, with fresh attempts (they are tried at once)."""
    from triagehub.engine.jobs import DEAD, retry_dead

    if (job_id is None) == (not all_dead):
        raise InputError("triagehub outbox retry", "", "give an item ID or --all-dead (not both)")
    with session_of(ctx) as session, session.begin():
        ids = retry_dead(
            session=session, now=SystemClock().now(), ids=None if all_dead else [cast(int, job_id)]
        )
    if job_id is not None and not ids:
        raise InputError("outbox item", str(job_id), f"no such item with status {DEAD}")
    out.print(f"{len(ids)} item(s) back to pending" + (f": {ids}" if ids else ""), markup=False)


@outbox_app.command("stats")
def outbox_stats_command(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Items per kind and status, the oldest item due, and notifications sent to no channel."""
    from triagehub.engine.jobs import outbox_stats

    with session_of(ctx) as session:
        stats = outbox_stats(session=session, now=SystemClock().now())
    if fmt is Format.json:
        sys.stdout.write(json.dumps(stats.to_json(), indent=2) + "\n")
        return
    table = Table(title="Outbox", title_justify="left")
    table.add_column("kind")
    statuses = ("pending", "running", "done", "dead")
    for name in statuses:
        table.add_column(name, justify="right")
    for kind, per in sorted(stats.counts.items()):
        table.add_row(kind, *(str(per.get(s, 0)) for s in statuses))
    out.print(table, markup=False)
    if stats.oldest_due is not None:
        out.print(f"oldest item due since {stats.oldest_due:%Y-%m-%d %H:%M:%S} UTC", markup=False)
    if stats.log_only:
        out.print(
            f"{stats.log_only} notification(s) went to the log only (no channel configured: "
            "set SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN and SLACK_CHANNEL)",
            markup=False,
        )
