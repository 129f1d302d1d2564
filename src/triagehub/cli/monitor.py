"""``triagehub monitor``: one tick of the lifecycle rules, for cron or a scheduled workflow."""

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from triagehub.cli.common import OutputFormat, err, out, state_of


def monitor(
    ctx: typer.Context,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table or json.")
    ] = OutputFormat.table,
) -> None:
    """Run one tick of the lifecycle rules, for cron or a scheduled workflow.

    Unsnoozes what is due, auto-resolves issues whose checks passed K runs in a row (transient
    ones as auto_resolved; flaky ones never), closes false positives, marks SLA breaches and
    escalates (untriaged too long, critical and untriaged, high volume, recurring regressions,
    cross-repository patterns, SLA breach). First it polls the sources `lifecycle.poll` names
    (GitHub Actions, dbt Cloud). Notifications go to the outbox (`triagehub worker`
    delivers them). Safe to run twice: the second tick changes nothing. `triagehub serve` runs
    ticks itself; on PostgreSQL only one instance runs a tick at a time."""
    from triagehub.engine.monitor import notify_change, poll_sources, run_tick

    state = state_of(ctx)
    polled = poll_sources(state.engine(), state.settings)
    summary = run_tick(state.engine(), state.settings, on_change=notify_change)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps({**summary.as_dict(), "poll": polled.as_dict()}) + "\n")
        return
    for source, outcome in polled.sources.items():
        shown = ", ".join(f"{k}={v}" for k, v in outcome.items())
        (err if "error" in outcome else out).print(f"poll {source}: {shown}", markup=False)
    if not summary.ran:
        out.print("another instance is running a tick; nothing done")
        return
    table = Table(title=f"Monitor tick ({summary.changes} change(s))", title_justify="left")
    table.add_column("rule")
    table.add_column("issues", justify="right")
    table.add_column("ids")
    triggers: dict[int, list[str]] = {}
    for issue_id, trigger in summary.escalated:
        triggers.setdefault(issue_id, []).append(str(trigger))
    rows: tuple[tuple[str, list[int], dict[int, list[str]]], ...] = (
        ("unsnoozed", summary.unsnoozed, {}),
        ("auto-resolved (transient)", summary.auto_resolved, {}),
        ("resolved (green again)", summary.resolved, {}),
        ("closed as false positive", summary.false_positives, {}),
        ("SLA breached", summary.sla_breached, {}),
        ("regressed (healed, then failed)", summary.regressed, {}),
        ("resolution taken back", summary.reopened, {}),
        ("escalated", list(triggers), triggers),
        (
            "repository escalations (volume)",
            [i for _, _, ids in summary.repository_escalations for i in ids],
            {},
        ),
        ("agent notified", summary.agent_notified, {}),
    )
    for name, ids, why in rows:
        unique = list(dict.fromkeys(ids))
        cells = [f"#{i} ({', '.join(why[i])})" if why.get(i) else f"#{i}" for i in unique[:20]]
        more = f" and {len(unique) - 20} more" if len(unique) > 20 else ""
        table.add_row(name, str(len(unique)), ", ".join(cells) + more)
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add ``monitor`` to the root command."""
    app.command()(monitor)
