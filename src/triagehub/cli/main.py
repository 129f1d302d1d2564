"""The ``triagehub`` command line (Typer + Rich).

Exit codes: 0 ok, 2 usage or input error, 1 internal error.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub import __version__
from triagehub.cli.agents import agents_app
from triagehub.cli.common import OutputFormat, err, out
from triagehub.cli.investigate import register as register_investigate
from triagehub.cli.outbox import outbox_app
from triagehub.cli.reports import register as register_reports
from triagehub.cli.rules import rules_app
from triagehub.cli.specs import specs_app
from triagehub.cli.sync import sync_app
from triagehub.cli.tables import (
    COLUMNS,
    DEFAULT_COLUMNS,
    ListFormat,
    issues_markdown,
    issues_table,
    parse_columns,
    timeline_summary,
)
from triagehub.cli.tokens import token_app
from triagehub.clock import SystemClock
from triagehub.config import (
    CONFIG_ENV,
    Settings,
    default_database_url,
    demo_database_url,
    load_settings,
)
from triagehub.core.models import Category, Decision, IssueState, Kind, Level
from triagehub.errors import ConfigError, InputError, TriagehubError
from triagehub.sources import FORMATS, ParseOptions, get_format
from triagehub.store import db
from triagehub.store.queries import get_issue, list_issues, list_patterns
from triagehub.store.triage import apply_override, override_accuracy

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient
    from triagehub.config import Secrets
    from triagehub.engine.ingest import IngestSummary

app = typer.Typer(
    rich_markup_mode="markdown",
    name="triagehub",
    help="Turn red CI, dbt and test runs into a short list of deduplicated, classified issues.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
issues_app = typer.Typer(
    rich_markup_mode="markdown", help="List and inspect issues.", no_args_is_help=True
)
db_app = typer.Typer(
    rich_markup_mode="markdown", help="Manage the database schema.", no_args_is_help=True
)
app.add_typer(issues_app, name="issues")
app.add_typer(db_app, name="db")
app.add_typer(outbox_app, name="outbox")
app.add_typer(specs_app, name="specs")
app.add_typer(agents_app, name="agents")
app.add_typer(token_app, name="token")
app.add_typer(sync_app, name="sync")
app.add_typer(rules_app, name="rules")
register_reports(app)
register_investigate(app)

log = logging.getLogger("triagehub.cli")


@dataclass
class State:
    db_url: str
    config_path: Path | None
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    def engine(self) -> Engine:
        return db.open_database(self.db_url)


def _state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


def _version(value: bool) -> None:
    if value:
        out.print(f"triagehub {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    database: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL (sqlite:///PATH or postgresql+psycopg://USER@HOST/DB). "
            "Default: $TRIAGEHUB_DATABASE_URL, else a SQLite file in the user data dir.",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="triagehub.yaml to use. Default: $TRIAGEHUB_CONFIG, else ./triagehub.yaml if any.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    named = config or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    if named is not None and (not named.exists() or named.is_dir()):  # read-only commands too
        source = "--config" if config else f"${CONFIG_ENV}"
        raise ConfigError(str(named), "", f"file not found (given by {source})")
    ctx.obj = State(db_url=database or default_database_url(), config_path=config)


# -- ingest -------------------------------------------------------------------------------------


def _print_summary(summary: IngestSummary) -> None:
    for path, fmt in summary.formats.items():
        err.print(f"[dim]{path}: read as {fmt}[/dim]")
    table = Table(title="Ingested", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    read = summary.files - len(summary.errors)
    rows: list[tuple[str, int | str]] = [
        ("files", f"{read} of {summary.files}" if summary.errors else summary.files),
        ("runs", summary.runs),
        ("runs already ingested (skipped)", summary.duplicate_runs),
        ("results", summary.results),
        ("  failing", summary.failures),
        ("  passing", summary.passes),
        ("  skipped", summary.skipped),
        ("storm runs rolled up", summary.storms),
        ("new issues", summary.new_issues),
        ("updated issues", summary.updated_issues),
        ("regressions", summary.regressions),
    ]
    if summary.llm_refined or summary.llm_fallbacks:
        rows += [
            ("refined by the LLM", summary.llm_refined),
            ("LLM fallbacks to the rules", summary.llm_fallbacks),
        ]
    for name, value in rows:
        table.add_row(name, str(value))
    if summary.files > len(summary.errors):  # no table of zeros when nothing was read
        out.print(table)
    for warning in summary.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    for error in summary.errors:
        err.print(f"[red]error:[/red] {error}", markup=True)
    if summary.errors:
        ok = summary.files - len(summary.errors)
        err.print(
            f"[red]{len(summary.errors)} file(s) not ingested[/red] (nothing of them was stored); "
            f"{ok} other file(s) ingested."
        )


@app.command()
def ingest(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Files to ingest (JSON, a JSON array or JSON Lines), or `github-actions` or "
            "`dbt-cloud` to poll an API."
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="Input format: auto (detect from the content) or " + ", ".join(FORMATS) + ".",
        ),
    ] = "auto",
    repo: Annotated[
        str | None,
        typer.Option(
            "--repo",
            help="OWNER/NAME for events that do not name a repository (dbt-cloud: every run).",
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="Summary as a table or JSON.")
    ] = OutputFormat.table,
    since: Annotated[
        str,
        typer.Option(
            "--since",
            help="github-actions, dbt-cloud: how far back without a cursor (24h, 7d).",
        ),
    ] = "24h",
    workflow: Annotated[
        str | None, typer.Option("--workflow", help="github-actions: a workflow name or file.")
    ] = None,
    branch: Annotated[
        str | None, typer.Option("--branch", help="github-actions: a branch.")
    ] = None,
    job: Annotated[
        int | None,
        typer.Option("--job", min=1, help="dbt-cloud: only the runs of this job (its id)."),
    ] = None,
) -> None:
    """Ingest failure reports (files, or `github-actions` / `dbt-cloud` to poll an API).

    Each file is one transaction: a bad file stores nothing, and the other files of the same call
    are still ingested. Ingesting the same file twice is a no-op.

    `triagehub ingest dbt target/` (or `dbt-log FILE`, ...) names the format first.

    `triagehub ingest github-actions --repo OWNER/NAME [--since 24h] [--workflow] [--branch]`
    pulls completed workflow runs from the GitHub REST API instead (GITHUB_TOKEN), from where the
    previous poll stopped; without --repo, every repository of triagehub.yaml.

    `triagehub ingest dbt-cloud [--job ID] [--since 24h] [--repo OWNER/NAME]` pulls the completed
    runs of a dbt Cloud account (DBT_CLOUD_API_TOKEN, DBT_CLOUD_ACCOUNT_ID, DBT_CLOUD_HOST) and
    their artifacts, from where the previous poll stopped; without --repo, each run's dbt project
    is looked up in triagehub.yaml (`dbt_project:`)."""
    if [str(f) for f in files] == ["github-actions"]:
        _poll_github(ctx, repo, since, workflow, branch, output)
        return
    if [str(f) for f in files] == ["dbt-cloud"]:
        _poll_dbt_cloud(ctx, repo, since, job, output)
        return
    if len(files) > 1 and str(files[0]) in FORMATS and not files[0].exists():
        # `triagehub ingest dbt target/`: the format named first, as the brief spells it.
        fmt, files = str(files[0]), files[1:]
    from triagehub.engine.ingest import ingest_files
    from triagehub.engine.refine import llm_from_settings

    state = _state(ctx)
    source = None if fmt == "auto" else get_format(fmt)
    settings = state.settings
    engine = state.engine()
    show_progress = output is OutputFormat.table and err.is_terminal
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} results"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not show_progress,
    ) as progress:
        task = progress.add_task("ingesting", total=None)
        summary = ingest_files(
            engine,
            files,
            settings,
            fmt=source,
            options=ParseOptions(
                repository=repo, project_repositories=settings.dbt_project_repositories()
            ),
            progress=lambda n: progress.advance(task, n),
            llm=llm_from_settings(settings),
        )
    if output is OutputFormat.json:
        out.print_json(json.dumps(summary.as_dict()))
        for error in summary.errors:
            err.print(f"error: {error}", markup=False)
    else:
        _print_summary(summary)
    if summary.errors:
        raise typer.Exit(2)


def _duration(text: str, option: str = "--since") -> timedelta:
    units = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
    value, unit = text[:-1], text[-1:].lower()
    if unit not in units or not value.isdigit() or int(value) < 1:
        raise InputError(option, text, "expected a duration such as 30m, 24h, 7d or 2w")
    return timedelta(seconds=int(value) * units[unit])


def _poll_github(
    ctx: typer.Context,
    repo: str | None,
    since: str,
    workflow: str | None,
    branch: str | None,
    output: OutputFormat,
) -> None:
    from triagehub.actions.github import GitHubClient
    from triagehub.config import Secrets
    from triagehub.engine.pull.github_actions import poll_github_actions

    state = _state(ctx)
    repositories = [repo] if repo else list(state.settings.repositories)
    if not repositories:
        raise InputError(
            "--repo", "", "give --repo OWNER/NAME or list repositories in triagehub.yaml"
        )
    token = Secrets.from_env().github_token
    base_url = os.environ.get("TRIAGEHUB_GITHUB_API_URL", "https://api.github.com")
    with GitHubClient(token.get_secret_value() if token else None, base_url=base_url) as client:
        result = poll_github_actions(
            state.engine(),
            state.settings,
            client,
            repositories=repositories,
            since=_duration(since),
            workflow=workflow,
            branch=branch,
        )
    data = {
        "repositories": result.repositories,
        "runs_seen": result.runs_seen,
        "logs_fetched": result.logs_fetched,
        "log_errors": result.log_errors,
        **result.ingest.as_dict(),
    }
    if output is OutputFormat.json:
        out.print_json(json.dumps(data))
    else:
        _print_summary(result.ingest)
        out.print(
            f"{result.runs_seen} run(s) of {result.repositories} repositor(ies); "
            f"{result.logs_fetched} job log(s) fetched",
            markup=False,
        )
    for error in result.log_errors:
        err.print(f"warning: log not fetched: {error}", markup=False)


def _poll_dbt_cloud(
    ctx: typer.Context, repo: str | None, since: str, job: int | None, output: OutputFormat
) -> None:
    from triagehub.config import DBT_CLOUD_ACCOUNT_ENV, DBT_CLOUD_TOKEN_ENV, Secrets
    from triagehub.engine.pull.dbt_cloud import DbtCloudClient, poll_dbt_cloud

    state = _state(ctx)
    window = _duration(since)
    cloud = state.settings.dbt_cloud.with_env()
    token = Secrets.from_env().dbt_cloud_api_token
    if token is None:
        raise ConfigError(
            "environment",
            DBT_CLOUD_TOKEN_ENV,
            "not set: export a dbt Cloud service token (or personal access token) that can read "
            "the account's runs",
        )
    if cloud.account_id is None:
        raise ConfigError(
            "environment",
            DBT_CLOUD_ACCOUNT_ENV,
            "not set: export the numeric account id (or set dbt_cloud.account_id in "
            "triagehub.yaml)",
        )
    with DbtCloudClient(token.get_secret_value(), cloud.account_id, host=cloud.host) as client:
        result = poll_dbt_cloud(
            state.engine(), state.settings, client, job_id=job, since=window, repository=repo
        )
    if output is OutputFormat.json:
        out.print_json(json.dumps(result.as_dict()))
    else:
        _print_summary(result.ingest)
        out.print(
            f"{result.runs_seen} dbt Cloud run(s) seen, {result.runs_ingested} ingested, "
            f"{result.runs_skipped} skipped; {result.artifacts_fetched} artifact(s) fetched",
            markup=False,
        )
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False)
    for error in result.artifact_errors:
        err.print(f"warning: run not ingested: {error}", markup=False)


# -- issues -------------------------------------------------------------------------------------


@issues_app.command("list")
def issues_list(
    ctx: typer.Context,
    repo: Annotated[str | None, typer.Option("--repo", help="Only this OWNER/NAME.")] = None,
    state: Annotated[IssueState | None, typer.Option("--state", help="Only this state.")] = None,
    category: Annotated[
        Category | None, typer.Option("--category", help="Only this category.")
    ] = None,
    kind: Annotated[Kind | None, typer.Option("--kind", help="Only this failure kind.")] = None,
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
    """The matching issues, newest activity first (--limit, default 50)."""
    chosen = parse_columns(columns, wide=wide)
    engine = _state(ctx).engine()
    with Session(engine) as session:
        found = list_issues(
            session=session,
            repository=repo,
            state=state and state.value,
            category=category and category.value,
            kind=kind and kind.value,
            limit=limit,
        )
    if fmt is ListFormat.json:
        sys.stdout.write(json.dumps([i.to_json() for i in found], indent=2) + "\n")
        return
    if fmt is ListFormat.markdown:
        sys.stdout.write(issues_markdown(found, f"{len(found)} issue(s)", chosen))
        return
    out.print(issues_table(found, f"{len(found)} issue(s)", chosen, width=out.width))


@issues_app.command("show")
def issues_show(
    ctx: typer.Context,
    issue_id: Annotated[int, typer.Argument(help="The issue id.")],
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table or json.")
    ] = OutputFormat.table,
) -> None:
    """One issue with its classification, affected checks and timeline."""
    engine = _state(ctx).engine()
    with Session(engine) as session:
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
    issue_id: Annotated[int, typer.Argument(help="The issue id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded on the timeline).")],
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
    actor: Annotated[
        str, typer.Option("--actor", help="Who decided (default: $USER).")
    ] = os.environ.get("USER", "cli"),
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table or json.")
    ] = OutputFormat.table,
) -> None:
    """Override the automatic triage of an issue.

    The human's values are kept from then on, the change and its reason go on the timeline, and
    they count in `triagehub accuracy`."""
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
    engine = _state(ctx).engine()
    with Session(engine) as session, session.begin():
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
    issue_id: Annotated[int, typer.Argument(help="The issue id.")],
    target: Annotated[
        str,
        typer.Argument(
            help="open, triaged, assigned, in_progress, resolved, ignored or false_positive."
        ),
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded on the timeline).")],
    actor: Annotated[
        str, typer.Option("--actor", help="Who decided (default: $USER).")
    ] = os.environ.get("USER", "cli"),
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
    engine = _state(ctx).engine()
    with Session(engine) as session, session.begin():
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
    issue_id: Annotated[int, typer.Argument(help="The issue id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded on the timeline).")],
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
    actor: Annotated[
        str, typer.Option("--actor", help="Who decided (default: $USER).")
    ] = os.environ.get("USER", "cli"),
) -> None:
    """Silence an issue: no alerts or escalation until a time, for N more occurrences, or
    forever (ignored). A snooze until a time ends at the first monitor tick after it."""
    from triagehub.core.timeparse import parse_time
    from triagehub.store.lifecycle import snooze

    now = SystemClock().now()
    until_at = None
    if until is not None:
        if until[:-1].isdigit() and until[-1:].lower() in "mhdw":
            until_at = now + _duration(until, "--until")
        else:
            try:
                until_at = parse_time(until)
            except ValueError as exc:
                raise InputError("--until", until, str(exc)) from None
    engine = _state(ctx).engine()
    with Session(engine) as session, session.begin():
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


@app.command()
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

    state = _state(ctx)
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


@app.command()
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
    since = SystemClock().now() - timedelta(days=days) if days else None
    engine = _state(ctx).engine()
    with Session(engine) as session:
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


# -- patterns -----------------------------------------------------------------------------------


@app.command()
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
    engine = _state(ctx).engine()
    since = SystemClock().now() - timedelta(days=days)
    with Session(engine) as session:
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


# -- serve --------------------------------------------------------------------------------------


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8080,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure-no-webhook-secret",
            help="Accept unsigned GitHub webhooks when TRIAGEHUB_WEBHOOK_SECRET is not set.",
        ),
    ] = False,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="Do not run queued jobs in this process (run `triagehub worker` instead).",
        ),
    ] = False,
    no_monitor: Annotated[
        bool,
        typer.Option(
            "--no-monitor",
            help="Do not run the lifecycle ticks here (run `triagehub monitor` from cron).",
        ),
    ] = False,
) -> None:
    """Run the HTTP server: the dashboard at /, the REST API at /api/v1, GitHub webhooks at
    POST /webhooks/github, health at GET /healthz.

    Deliveries are verified with TRIAGEHUB_WEBHOOK_SECRET (HMAC-SHA256, X-Hub-Signature-256);
    without it the dashboard and the API still work and webhooks answer 503, unless
    --insecure-no-webhook-secret accepts unsigned ones. It says once, at start, which
    integrations are off."""

    from triagehub.api.app import WebhookConfig, create_app
    from triagehub.config import Secrets

    state = _state(ctx)
    engine = state.engine()
    listening = _bind(host, port)
    secret = Secrets.from_env().webhook_secret
    shown = f"[{host}]" if ":" in host else host
    err.print(
        f"triagehub on http://{shown}:{port}/ (dashboard /, API /api/v1, webhooks "
        "/webhooks/github); Ctrl+C to stop",
        markup=False,
    )
    for line in integrations_off(Secrets.from_env(), insecure=insecure):
        err.print(f"off: {line}", markup=False)
    github = _github_from_env()
    api = create_app(
        engine,
        state.settings,
        WebhookConfig(secret.get_secret_value().encode() if secret else None, insecure=insecure),
        github=github,
        run_worker=not no_worker,
        run_monitor=not no_monitor,
    )
    _run_server(api, listening, log_level="info")


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed or loaded: a port in use is one
    line and exit 2, not a log after the start-up messages."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"--host {host} --port {port}", "", f"cannot listen: {exc.strerror}"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _run_server(api: Any, sock: socket.socket, *, log_level: str) -> None:
    import uvicorn

    config = uvicorn.Config(api, log_level=log_level, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def integrations_off(secrets: Secrets, *, insecure: bool = False) -> list[str]:
    """What a server started with these secrets will not do, one line each."""
    off = []
    if secrets.webhook_secret is None:
        off.append(
            "GitHub webhooks accept unsigned deliveries (--insecure-no-webhook-secret)"
            if insecure
            else "GitHub webhooks (TRIAGEHUB_WEBHOOK_SECRET is not set: they answer 503)"
        )
    if secrets.github_token is None:
        off.append("GitHub issue sync and re-runs (GITHUB_TOKEN is not set)")
    if not (os.environ.get("SLACK_WEBHOOK_URL") or os.environ.get("SLACK_BOT_TOKEN")):
        off.append("Slack notifications (SLACK_WEBHOOK_URL or SLACK_BOT_TOKEN is not set: logged)")
    if secrets.anthropic_api_key is None:
        off.append("LLM classification (ANTHROPIC_API_KEY is not set: the rules decide)")
    return off


def _github_from_env() -> GitHubClient | None:
    from triagehub.actions.github import GitHubClient
    from triagehub.config import Secrets

    token = Secrets.from_env().github_token
    if token is None:
        return None
    base_url = os.environ.get("TRIAGEHUB_GITHUB_API_URL", "https://api.github.com")
    return GitHubClient(token.get_secret_value(), base_url=base_url)


@app.command()
def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run the due jobs, then exit.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.05, help="Seconds between polls.")
    ] = 1.0,
) -> None:
    """Run the outbox until stopped: webhook deliveries to ingest, self-healing re-runs and
    notifications (Slack), with retries, backoff and a dead-letter state (`triagehub outbox`).

    Several workers may share a PostgreSQL database; a job a dead worker had claimed is done again
    when its lease ends."""
    import time

    from triagehub.engine.jobs import process_jobs

    state = _state(ctx)
    engine = state.engine()
    github = _github_from_env()
    total = 0
    while True:
        try:
            done = process_jobs(engine, state.settings, github=github)
        except Exception:
            if once:
                raise
            # Bad data is isolated per job inside process_jobs; what is left (the database
            # restarting, a network blip) must not end a long-running worker: the leases make
            # the interrupted batch safe to take again.
            log.exception("worker batch failed; trying again in %.1f s", max(interval, 1.0))
            time.sleep(max(interval, 1.0))
            continue
        total += done
        if once and not done:
            break
        if not done:
            time.sleep(interval)
    out.print(f"{total} job(s) done")


# -- db -----------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply the database migrations (also done automatically on first use)."""
    from sqlalchemy.exc import DBAPIError

    url = _state(ctx).db_url
    engine = db.make_engine(url)
    try:
        before = db.current_revision(engine)
        db.upgrade(engine)
        after = db.current_revision(engine)
    except DBAPIError as exc:
        raise db.unreachable(engine, exc) from None
    out.print(f"database at revision {after} (was {before or 'empty'})")


# -- demo ---------------------------------------------------------------------------------------


@app.command()
def demo(
    ctx: typer.Context,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="table or json.")
    ] = OutputFormat.table,
    serve: Annotated[
        bool | None,
        typer.Option(
            "--serve/--no-serve",
            help="Then serve the dashboard on the demo database (default: when the output is a "
            "terminal).",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port of the dashboard (--serve).")
    ] = 8080,
) -> None:
    """Load the bundled demo into a fresh database, show the triaged result, and serve the
    dashboard on it.

    Three repositories, 14 days of runs. Without --db it uses a demo database of its own,
    recreated each time. In a terminal (or with --serve) the dashboard then runs at
    http://127.0.0.1:8080/ until Ctrl+C; elsewhere the command ends after the summary."""
    from triagehub.demo.runner import run_demo

    state = _state(ctx)
    url = state.db_url if ctx.find_root().params.get("database") else demo_database_url()
    if serve is None:
        serve = sys.stdout.isatty() and fmt is OutputFormat.table
    listening = _bind("127.0.0.1", port) if serve else None
    result = run_demo(url)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        out.print(
            issues_table(
                result.issues,
                f"Demo: {len(result.issues)} issues",
                DEFAULT_COLUMNS,
                width=out.width,
            )
        )
        out.print(result.headline(), markup=False)
        for line in result.scenario_lines():
            out.print(f"  {line}", markup=False)
        for line in result.monitor_lines():
            out.print(f"  {line}", markup=False)
        if result.issues:
            first = result.issues[0].id
            out.print(f"\nTry: triagehub --db {url} issues show {first}", markup=False)
        if not serve:
            out.print("See it in the dashboard: triagehub demo --serve", markup=False)
    if listening is not None:
        _serve_demo(url, listening)


def _serve_demo(url: str, listening: socket.socket) -> None:
    """The dashboard and the API on the demo database, with a write token to triage with."""
    import yaml

    from triagehub.api.app import WebhookConfig, create_app
    from triagehub.config import parse_settings
    from triagehub.demo.scenario import DEMO_CONFIG_YAML
    from triagehub.store.queries import create_api_token

    settings = parse_settings(yaml.safe_load(DEMO_CONFIG_YAML), "<bundled demo config>")
    engine = db.open_database(url)
    with Session(engine) as session, session.begin():
        _token, raw = create_api_token(
            session=session, name="demo", scope="write", now=SystemClock().now()
        )
    api = create_app(
        engine,
        settings,
        WebhookConfig(None, insecure=True),
        run_worker=True,
        run_monitor=False,
    )
    base = f"http://127.0.0.1:{listening.getsockname()[1]}"
    err.print(f"\nDashboard: {base}/  (Ctrl+C to stop)", markup=False, highlight=False)
    err.print(
        f"To triage, sign in with the demo's write token: {base}/login#token={raw}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    _run_server(api, listening, log_level="warning")


def main() -> None:
    """Console entry point: map errors to exit codes."""
    try:
        app()
    except (InputError, ConfigError) as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(2)
    except TriagehubError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(1)
    except Exception:
        log.exception("internal error")
        sys.exit(1)
