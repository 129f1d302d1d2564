"""``triagehub issues``: list and inspect issues, override their triage, move and snooze them."""

import json
import os
import sys
from typing import Annotated

import typer
from rich.table import Table

from triagehub.cli.common import OutputFormat, connection_of, duration, err, out, session_of
from triagehub.cli.tables import (
    COLUMNS,
    ListFormat,
    issues_markdown,
    issues_table,
    parse_columns,
    timeline_summary,
)
from triagehub.clock import SystemClock
from triagehub.core.models import Category, Decision, IssueState, Kind, Level
from triagehub.errors import InputError

# The arguments and options several commands take.
IssueId = Annotated[int, typer.Argument(help="The issue id.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (recorded on the timeline).")]
Who = Annotated[str, typer.Option("--actor", help="Who decided (default: $USER).")]
DEFAULT_ACTOR = os.environ.get("USER", "cli")
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table or json.")]

issues_app = typer.Typer(
    rich_markup_mode="markdown", help="List and inspect issues.", no_args_is_help=True
)


@issues_app.command("list")
def issues_list(
    ctx: typer.Context,
    repo: Annotated[str | None, typer.Option("--repo", help="Only this OWNER/NAME.")] = None,
    state: Annotated[IssueState | None, typer.Option("--state", help="Only this state.")] = None,
    category: Annotated[
        Category | None, typer.Option("--category", help="Only this category.")
    ] = None,
    kind: Annotated[Kind | None, typer.Option("--kind", help="Only this failure kind.")] = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            help="Only issues whose title, template or message holds this text (case-insensitive).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    wide: Annotated[
        bool, typer.Option("--wide", help="All columns (repository, category, kind, ...).")
    ] = False,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help=f"Comma-separated columns, the title last: {', '.join(COLUMNS)}.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        ListFormat,
        typer.Option("--format", help="table, json, or markdown (e.g. for $GITHUB_STEP_SUMMARY)."),
    ] = ListFormat.table,
) -> None:
    """The matching issues, newest activity first: a page of 50 (--limit for more).

    When more match than shown, a note on stderr says so (stdout keeps the table, JSON or
    Markdown)."""
    from triagehub.store.queries import list_issues

    chosen = parse_columns(columns, wide=wide)
    with connection_of(ctx) as connection:
        found = list_issues(
            session=connection,
            repository=repo,
            state=state and state.value,
            category=category and category.value,
            kind=kind and kind.value,
            text=search,
            limit=limit + 1,  # one more than shown tells whether there are more
        )
    shown = found[:limit]
    if fmt is ListFormat.json:
        sys.stdout.write(json.dumps([i.to_json() for i in shown], indent=2) + "\n")
    elif fmt is ListFormat.markdown:
        sys.stdout.write(issues_markdown(shown, f"{len(shown)} issue(s)", chosen))
    else:
        out.print(issues_table(shown, f"{len(shown)} issue(s)", chosen, width=out.width))
    if len(found) > limit:  # on stderr: what stdout holds stays a list, a table or Markdown
        err.print(
            f"the first {limit} shown; more match: --limit {limit * 4} shows more, or narrow "
            "with --repo, --state, --category, --kind",
            markup=False,
        )


@issues_app.command("show")
def issues_show(
    ctx: typer.Context,
    issue_id: IssueId,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """One issue with its classification, affected checks and timeline."""
    from triagehub.store.queries import get_issue

    with session_of(ctx) as session:
        detail = get_issue(session=session, issue_id=issue_id)
    if detail is None:
        raise InputError("issue id", str(issue_id), "no such issue")
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(detail.to_json(), indent=2) + "\n")
        return
    i = detail.issue
    out.print(f"[bold]#{i.id} {i.title}[/bold]", markup=True)
    fields = Table(show_header=False, box=None)
    fields.add_column(style="dim")
    fields.add_column()
    for name, value in (
        ("repository", i.repository),
        ("state", i.state),
        ("category", i.category),
        ("kind", i.kind),
        ("severity", i.severity),
        ("priority", i.priority),
        ("history", i.history_class),
        ("decision", i.decision),
        ("confidence", f"{i.confidence:.2f}"),
        ("expert", i.expert or "-"),
        ("assignee", i.assignee or "-"),
        ("sla due", i.sla_due_at.isoformat() if i.sla_due_at else "-"),
        ("occurrences", str(i.occurrences)),
        ("first seen", i.first_seen.isoformat()),
        ("last seen", i.last_seen.isoformat()),
        ("fingerprint", f"{i.fingerprint} (normalizer v{i.normalizer_version}, {i.scope})"),
        ("template", i.template),
        ("rationale", i.rationale),
    ):
        fields.add_row(name, value)
    out.print(fields, markup=False)
    out.print(f"\n[bold]Affected checks[/bold] ({i.checks_count})", markup=True)
    for check in i.checks:
        out.print(f"  {check}", markup=False)
    if i.affected_models:
        out.print(f"\n[bold]Affected models[/bold] ({len(i.affected_models)})", markup=True)
        for model in i.affected_models:
            out.print(f"  {model}", markup=False)
    links = list(dict.fromkeys(link for o in detail.recent_occurrences for link in o.links))
    if links:
        out.print("\n[bold]Evidence[/bold]", markup=True)
        for link in links:
            out.print(f"  {link}", markup=False)
    out.print("\n[bold]Timeline[/bold]", markup=True)
    for e in detail.timeline:
        said = timeline_summary(e.data)
        out.print(f"  {e.at:%Y-%m-%d %H:%M}  {e.kind:<14} {said}", markup=False)


@issues_app.command("triage")
def issues_triage(
    ctx: typer.Context,
    issue_id: IssueId,
    reason: Reason,
    category: Annotated[Category | None, typer.Option("--category", help="New category.")] = None,
    kind: Annotated[Kind | None, typer.Option("--kind", help="New failure kind.")] = None,
    severity: Annotated[Level | None, typer.Option("--severity", help="New severity.")] = None,
    priority: Annotated[Level | None, typer.Option("--priority", help="New priority.")] = None,
    decision: Annotated[
        Decision | None, typer.Option("--decision", help="New triage decision.")
    ] = None,
    expert: Annotated[str | None, typer.Option("--expert")] = None,
    assignee: Annotated[str | None, typer.Option("--assignee")] = None,
    state: Annotated[IssueState | None, typer.Option("--state", help="New state.")] = None,
    actor: Who = DEFAULT_ACTOR,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Override the automatic triage of an issue.

    The human's values are kept from then on, the change and its reason go on the timeline, and
    they count in `triagehub accuracy`."""
    from triagehub.store.triage import apply_override

    changes = {
        name: str(value)
        for name, value in (
            ("category", category),
            ("kind", kind),
            ("severity", severity),
            ("priority", priority),
            ("decision", decision),
            ("expert", expert),
            ("assignee", assignee),
            ("state", state),
        )
        if value is not None
    }
    with session_of(ctx) as session, session.begin():
        diff = apply_override(
            session=session,
            issue_id=issue_id,
            changes=changes,
            reason=reason,
            actor=actor,
            now=SystemClock().now(),
        )
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps({"id": issue_id, "changes": diff}, default=str) + "\n")
        return
    if not diff:
        out.print(f"#{issue_id}: nothing changed (the values were already so)")
    for name, change in diff.items():
        out.print(f"#{issue_id} {name}: {change['from']} -> {change['to']}", markup=False)


@issues_app.command("state")
def issues_state(
    ctx: typer.Context,
    issue_id: IssueId,
    target: Annotated[
        str,
        typer.Argument(
            help="open, triaged, assigned, in_progress, resolved, ignored or false_positive."
        ),
    ],
    reason: Reason,
    actor: Who = DEFAULT_ACTOR,
) -> None:
    """Move an issue through its lifecycle (an invalid move is refused with the allowed ones)."""
    from triagehub.core.lifecycle import Actor
    from triagehub.core.models import IssueState
    from triagehub.store.lifecycle import change_state

    try:
        state = IssueState(target)
    except ValueError:
        allowed = ", ".join(s.value for s in IssueState)
        raise InputError("state", target, f"not a state; expected one of {allowed}") from None
    with session_of(ctx) as session, session.begin():
        before = change_state(
            session,
            issue_id,
            state,
            actor=Actor.HUMAN,
            reason=reason,
            now=SystemClock().now(),
            who=actor,
        )
    out.print(f"#{issue_id} state: {before.value} -> {state.value}", markup=False)


@issues_app.command("snooze")
def issues_snooze(
    ctx: typer.Context,
    issue_id: IssueId,
    reason: Reason,
    until: Annotated[
        str | None,
        typer.Option("--until", help="A time (2026-12-01T09:00Z) or a duration from now (7d)."),
    ] = None,
    occurrences: Annotated[
        int | None, typer.Option("--occurrences", min=1, help="Until N more occurrences.")
    ] = None,
    forever: Annotated[
        bool, typer.Option("--forever", help="For good: the issue becomes ignored.")
    ] = False,
    actor: Who = DEFAULT_ACTOR,
) -> None:
    """Silence an issue: no alerts or escalation until a time, for N more occurrences, or
    forever (ignored). A snooze until a time ends at the first monitor tick after it."""
    from triagehub.core.timeparse import parse_time
    from triagehub.store.lifecycle import snooze

    now = SystemClock().now()
    until_at = None
    if until is not None:
        if until[:-1].isdigit() and until[-1:].lower() in "mhdw":
            until_at = now + duration(until, "--until")
        else:
            try:
                until_at = parse_time(until)
            except ValueError as exc:
                raise InputError("--until", until, str(exc)) from None
    with session_of(ctx) as session, session.begin():
        snooze(
            session,
            issue_id,
            until=until_at,
            occurrences=occurrences,
            forever=forever,
            reason=reason,
            now=now,
            who=actor,
        )
    what = (
        "ignored for good"
        if forever
        else f"snoozed until {until_at:%Y-%m-%d %H:%M} UTC"
        if until_at
        else f"snoozed for {occurrences} more occurrence(s)"
    )
    out.print(f"#{issue_id} {what}", markup=False)
