"""``triagehub agents``: AI agent sessions recorded from their hooks (``POST /api/v1/hooks``)."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from triagehub.cli.common import OutputFormat as Format
from triagehub.cli.common import engine_of as _engine
from triagehub.cli.common import out
from triagehub.clock import SystemClock
from triagehub.core.models import SessionStatus

agents_app = typer.Typer(
    rich_markup_mode="markdown",
    help="AI agent sessions (from their hooks): activity, work item, summary.",
    no_args_is_help=True,
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"


@agents_app.command("list")
def agents_list(
    ctx: typer.Context,
    status: Annotated[
        SessionStatus | None,
        typer.Option(
            "--status",
            help="pending (handed off, no hook event yet), active, idle, completed or cancelled.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 100,
    fmt: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Sessions, most recently active first (idle: nothing for 5 minutes or more)."""
    from sqlalchemy.orm import Session

    from triagehub.work.agents import list_sessions

    engine = _engine(ctx)
    try:
        with Session(engine) as session:
            views = list_sessions(session, now=SystemClock().now(), status=status, limit=limit)
    finally:
        engine.dispose()
    if fmt is Format.json:
        sys.stdout.write(json.dumps([v.to_json() for v in views], indent=2) + "\n")
        return
    table = Table(title=f"{len(views)} agent session(s)", title_justify="left")
    for name in (
        "session",
        "type",
        "status",
        "work item",
        "current tool",
        "tools",
        "ok",
        "avg",
        "last activity",
    ):
        table.add_column(name)
    for v in views:
        work = "-"
        if v.work_item is not None:
            work = f"#{v.work_item.id}" if v.work_item.kind == "issue" else v.work_item.id
        table.add_row(
            v.session_id[:36],
            v.session_type,
            v.status,
            work,
            v.current_tool or "-",
            str(v.tool_count),
            _pct(v.success_rate),
            _ms(v.avg_duration_ms),
            v.last_activity_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    out.print(table, markup=False)


@agents_app.command("show")
def agents_show(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The agent's session id.")],
    events: Annotated[int, typer.Option("--events", min=0, help="Recent events shown.")] = 20,
    fmt: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """One session: activity figures, work item, summary and recent events."""
    from sqlalchemy.orm import Session

    from triagehub.work.agents import get_session

    engine = _engine(ctx)
    try:
        with Session(engine) as session:
            detail = get_session(session, session_id, now=SystemClock().now(), events=events)
    finally:
        engine.dispose()
    if fmt is Format.json:
        sys.stdout.write(json.dumps(detail.to_json(), indent=2) + "\n")
        return
    v = detail.session
    work = "none"
    if v.work_item is not None:
        work = f"issue #{v.work_item.id}" if v.work_item.kind == "issue" else v.work_item.id
    lines = [
        f"session {v.session_id} ({v.agent}, {v.session_type}): {v.status}",
        f"work item: {work}",
        f"started {v.started_at:%Y-%m-%d %H:%M:%S}, last activity "
        f"{v.last_activity_at:%Y-%m-%d %H:%M:%S} ({v.idle_for_s:.0f} s ago)",
        f"current tool: {v.current_tool or '-'}; tools used: {v.tool_count}, succeeded "
        f"{_pct(v.success_rate)}, average {_ms(v.avg_duration_ms)}",
    ]
    if v.summary:
        lines.append(f"summary: {v.summary.get('text', '')}")
    for line in lines:
        out.print(line, markup=False)
    table = Table(title="recent events", title_justify="left")
    for name in ("at", "event", "tool", "ok", "duration", "excerpt"):
        table.add_column(name, max_width=80 if name == "excerpt" else None, overflow="ellipsis")
    for e in detail.events:
        ok = "-" if e.success is None else ("yes" if e.success else "no")
        table.add_row(
            e.at.strftime("%H:%M:%S"),
            e.kind,
            e.tool_name or "-",
            ok,
            _ms(e.duration_ms),
            (e.excerpt or "").splitlines()[0] if e.excerpt else "",
        )
    out.print(table, markup=False)


@agents_app.command("install-hook")
def agents_install_hook(
    settings: Annotated[
        Path,
        typer.Option(
            "--settings",
            help="Claude Code settings file to add the hook to (created if missing).",
        ),
    ] = Path(".claude/settings.json"),
    user: Annotated[
        bool,
        typer.Option("--user", help="Install for every project: ~/.claude/settings.json."),
    ] = False,
) -> None:
    """Install the triagehub hook for Claude Code: the hook script in `.claude/hooks/` and an
    entry for each event the hub reads (SessionStart, PreToolUse, PostToolUse,
    PostToolUseFailure, Stop, SessionEnd) in the settings. Other settings and hooks are kept;
    running it again changes nothing."""
    from triagehub.work.hook_install import install_hook

    target = Path.home() / ".claude" / "settings.json" if user else settings
    done = install_hook(target)
    out.print(f"hook script: {done.script}", markup=False)
    if done.added:
        out.print(f"{done.settings}: hook added to {', '.join(done.added)}", markup=False)
    else:
        out.print(f"{done.settings}: already installed, nothing changed", markup=False)
    out.print(
        "Then set, in the agent's environment: TRIAGEHUB_URL (this hub, e.g. "
        "http://127.0.0.1:8080), TRIAGEHUB_API_TOKEN (a write token: `triagehub token create "
        "--name agent --scope write`) and TRIAGEHUB_ISSUE=ID when the session fixes an issue.",
        markup=False,
    )
