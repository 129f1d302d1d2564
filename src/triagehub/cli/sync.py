"""``triagehub sync``: mirror issues to other trackers now (GitHub issues).

The database and the settings come from the root command's state (``--db``, ``--config``); this
module reads them through the context object so that it never imports :mod:`triagehub.cli.main`
(which imports this module to register it).
"""

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from triagehub.cli.common import OutputFormat as Format
from triagehub.cli.common import out
from triagehub.cli.common import state_of as _state
from triagehub.clock import SystemClock
from triagehub.errors import ConfigError

if TYPE_CHECKING:
    from triagehub.engine.sync.github_issues import SyncRun

sync_app = typer.Typer(
    rich_markup_mode="markdown",
    help="Mirror issues to GitHub issues now, and bring people's changes back.",
    no_args_is_help=True,
)


def _print(run: "SyncRun") -> None:
    for issue_id, target, number in run.adopted:
        out.print(f"adopted: issue #{issue_id} -> {target}#{number}", markup=False)
    if run.pulled is not None:
        out.print(
            f"pulled: {run.pulled.issues_seen} linked issue(s) updated on GitHub, "
            f"{run.pulled.changes} change(s)",
            markup=False,
        )
        for note in run.pulled.notes:
            out.print(f"  {note}", markup=False)
    out.print(
        f"queued {len(run.queued)} sync job(s); {run.jobs_done} outbox job(s) done "
        "(`triagehub outbox list` shows failures)",
        markup=False,
    )


@sync_app.command("github")
def sync_github(
    ctx: typer.Context,
    repo: Annotated[
        str | None,
        typer.Option("--repo", help="Only this repository (one with github_issues: configured)."),
    ] = None,
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt",
            help="First link unlinked issues to the GitHub issues triagehub wrote for them "
            "(found by their metadata block), e.g. after the database was lost.",
        ),
    ] = False,
    pull: Annotated[
        bool,
        typer.Option(
            "--pull",
            help="First bring back what people changed on GitHub since the last pull (the "
            "fallback when webhooks do not reach triagehub).",
        ),
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Sync the GitHub issues of the repositories with `github_issues:` in triagehub.yaml now:
    create, update, label, comment, close and reopen them (GITHUB_TOKEN; the API root is
    $TRIAGEHUB_GITHUB_API_URL, default https://api.github.com)."""
    from triagehub.actions.github import GitHubClient
    from triagehub.config import Secrets
    from triagehub.engine.sync.github_issues import run_github_sync

    state = _state(ctx)
    token = Secrets.from_env().github_token
    if token is None:
        raise ConfigError(
            "environment", "GITHUB_TOKEN", "not set: a token that can write issues is needed"
        )
    base_url = os.environ.get("TRIAGEHUB_GITHUB_API_URL", "https://api.github.com")
    engine = state.engine()
    try:
        with GitHubClient(token.get_secret_value(), base_url=base_url) as github:
            run = run_github_sync(
                engine,
                state.settings,
                github,
                clock=SystemClock(),
                repository=repo,
                adopt=adopt,
                pull=pull,
            )
    finally:
        engine.dispose()
    if fmt is Format.json:
        sys.stdout.write(json.dumps(run.to_json(), indent=2) + "\n")
        return
    _print(run)
