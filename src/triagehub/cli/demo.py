"""``triagehub demo``: the bundled demo loaded into a fresh database, then served."""

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from triagehub.cli.common import OutputFormat, err, out, state_of
from triagehub.cli.server import bind, run_server
from triagehub.cli.tables import DEFAULT_COLUMNS, issues_table
from triagehub.clock import SystemClock
from triagehub.locations import demo_database_url

if TYPE_CHECKING:
    import socket


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

    state = state_of(ctx)
    url = state.db_url if ctx.find_root().params.get("database") else demo_database_url()
    if serve is None:
        serve = sys.stdout.isatty() and fmt is OutputFormat.table
    listening = bind("127.0.0.1", port) if serve else None
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


def _serve_demo(url: str, listening: "socket.socket") -> None:
    """The dashboard and the API on the demo database, with a write token to triage with."""
    import yaml
    from sqlalchemy.orm import Session

    from triagehub.api.app import WebhookConfig, create_app
    from triagehub.config import parse_settings
    from triagehub.demo.scenario import DEMO_CONFIG_YAML
    from triagehub.store import db
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
    run_server(api, listening, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the root command."""
    app.command()(demo)
