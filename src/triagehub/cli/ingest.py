"""``triagehub ingest``: failure reports from files, or polled from GitHub Actions or dbt Cloud."""

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from triagehub.cli.common import OutputFormat, duration, err, out, state_of
from triagehub.errors import ConfigError, InputError
from triagehub.sources import FORMATS, ParseOptions, get_format

if TYPE_CHECKING:
    from triagehub.engine.ingest import IngestSummary

# The options of `ingest`, named here so that the command reads as what it does.
Files = Annotated[
    list[Path],
    typer.Argument(
        help="Files to ingest (JSON, a JSON array or JSON Lines), or `github-actions` or "
        "`dbt-cloud` to poll an API."
    ),
]
FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="Input format: auto (detect from the content) or " + ", ".join(FORMATS) + ".",
    ),
]
RepoOption = Annotated[
    str | None,
    typer.Option(
        "--repo",
        help="OWNER/NAME for events that do not name a repository (dbt-cloud: every run).",
    ),
]
OutputOption = Annotated[
    OutputFormat, typer.Option("--output", "-o", help="Summary as a table or JSON.")
]
SinceOption = Annotated[
    str,
    typer.Option(
        "--since",
        help="github-actions, dbt-cloud: how far back without a cursor (24h, 7d).",
    ),
]
WorkflowOption = Annotated[
    str | None, typer.Option("--workflow", help="github-actions: a workflow name or file.")
]
BranchOption = Annotated[str | None, typer.Option("--branch", help="github-actions: a branch.")]
JobOption = Annotated[
    int | None,
    typer.Option("--job", min=1, help="dbt-cloud: only the runs of this job (its id)."),
]


def _print_summary(summary: "IngestSummary") -> None:
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


def ingest(
    ctx: typer.Context,
    files: Files,
    fmt: FormatOption = "auto",
    repo: RepoOption = None,
    output: OutputOption = OutputFormat.table,
    since: SinceOption = "24h",
    workflow: WorkflowOption = None,
    branch: BranchOption = None,
    job: JobOption = None,
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
    _ingest_files(ctx, files, fmt, repo, output)


def _ingest_files(
    ctx: typer.Context, files: list[Path], fmt: str, repo: str | None, output: OutputFormat
) -> None:
    """Ingest report files, each in its transaction, with a progress bar in a terminal."""
    from triagehub.engine.ingest.quick import already_ingested

    state = state_of(ctx)
    source = None if fmt == "auto" else get_format(fmt)
    options = ParseOptions(repository=repo, project_repositories=state.dbt_projects())
    # Runs all stored already (the same files again): told without SQLAlchemy or the stages.
    summary = already_ingested(state.db_url, files, fmt=source, options=options)
    if summary is not None:
        _print_result(summary, output)
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from triagehub.engine.ingest import ingest_files
    from triagehub.engine.llm_setup import llm_from_settings

    settings = state.settings
    engine = state.engine()
    llm = llm_from_settings(settings)
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
            options=options,
            progress=lambda n: progress.advance(task, n),
            llm=llm,
        )
    _print_result(summary, output)


def _print_result(summary: "IngestSummary", output: OutputFormat) -> None:
    """The summary as a table or JSON; exit status 2 when a file was not ingested."""
    if output is OutputFormat.json:
        out.print_json(json.dumps(summary.as_dict()))
        for error in summary.errors:
            err.print(f"error: {error}", markup=False)
    else:
        _print_summary(summary)
    if summary.errors:
        raise typer.Exit(2)


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

    state = state_of(ctx)
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
            since=duration(since),
            workflow=workflow,
            branch=branch,
        )
    data = {
        "repositories": result.repositories,
        "runs_seen": result.runs_seen,
        "logs_fetched": result.logs_fetched,
        "log_errors": result.log_errors,
        "pull_requests_seen": result.pulls.pulls_seen,
        "pull_requests_recorded": result.pulls.recorded,
        **result.ingest.as_dict(),
    }
    _print_poll(
        output,
        data,
        result.ingest,
        f"{result.runs_seen} run(s) of {result.repositories} repositor(ies); "
        f"{result.logs_fetched} job log(s) fetched",
    )
    for error in result.log_errors:
        err.print(f"warning: log not fetched: {error}", markup=False)
    for error in result.pulls.errors:
        err.print(f"warning: {error}", markup=False)


def _poll_dbt_cloud(
    ctx: typer.Context, repo: str | None, since: str, job: int | None, output: OutputFormat
) -> None:
    from triagehub.config import DBT_CLOUD_ACCOUNT_ENV, DBT_CLOUD_TOKEN_ENV, Secrets
    from triagehub.engine.pull.dbt_cloud import DbtCloudClient, poll_dbt_cloud

    state = state_of(ctx)
    window = duration(since)
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
    _print_poll(
        output,
        result.as_dict(),
        result.ingest,
        f"{result.runs_seen} dbt Cloud run(s) seen, {result.runs_ingested} ingested, "
        f"{result.runs_skipped} skipped; {result.artifacts_fetched} artifact(s) fetched",
    )
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False)
    for error in result.artifact_errors:
        err.print(f"warning: run not ingested: {error}", markup=False)


def _print_poll(output: OutputFormat, data: Any, summary: "IngestSummary", line: str) -> None:
    """A poll's result: JSON, or the ingest summary and a line on what was polled."""
    if output is OutputFormat.json:
        out.print_json(json.dumps(data))
    else:
        _print_summary(summary)
        out.print(line, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``ingest`` to the root command."""
    app.command()(ingest)
