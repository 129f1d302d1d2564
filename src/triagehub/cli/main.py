"""The ``triagehub`` command line (Typer + Rich): the root command, its options and the wiring
of every command module.

Exit codes: 0 ok, 2 usage or input error, 1 internal error.
"""

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from triagehub import __version__
from triagehub.cli import demo as demo_command
from triagehub.cli import ingest as ingest_command
from triagehub.cli import monitor as monitor_command
from triagehub.cli import review as review_commands
from triagehub.cli import server as server_commands
from triagehub.cli.agents import agents_app
from triagehub.cli.common import err, out
from triagehub.cli.db import db_app
from triagehub.cli.investigate import register as register_investigate
from triagehub.cli.issues import issues_app
from triagehub.cli.outbox import outbox_app
from triagehub.cli.reports import register as register_reports
from triagehub.cli.rules import rules_app
from triagehub.cli.server import integrations_off
from triagehub.cli.specs import specs_app
from triagehub.cli.sync import sync_app
from triagehub.cli.tokens import token_app
from triagehub.errors import ConfigError, InputError, TriagehubError
from triagehub.locations import CONFIG_ENV, config_file, default_database_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from triagehub.config import Settings

app = typer.Typer(
    rich_markup_mode="markdown",
    name="triagehub",
    help="Turn red CI, dbt and test runs into a short list of deduplicated, classified issues.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(issues_app, name="issues")
app.add_typer(db_app, name="db")
app.add_typer(outbox_app, name="outbox")
app.add_typer(specs_app, name="specs")
app.add_typer(agents_app, name="agents")
app.add_typer(token_app, name="token")
app.add_typer(sync_app, name="sync")
app.add_typer(rules_app, name="rules")
# Typer lists the commands in the order they are registered (`--help` is part of the interface).
register_reports(app)
register_investigate(app)
ingest_command.register(app)
monitor_command.register(app)
review_commands.register(app)
server_commands.register(app)
demo_command.register(app)

log = logging.getLogger("triagehub.cli")


@dataclass
class State:
    db_url: str
    config_path: Path | None
    _settings: "Settings | None" = None

    @property
    def settings(self) -> "Settings":
        if self._settings is None:
            from triagehub.config import load_settings

            self._settings = load_settings(self.config_path)
        return self._settings

    def dbt_projects(self) -> dict[str, str]:
        """dbt project name -> repository (``Settings.dbt_project_repositories``); without a
        configuration file there are no repositories, and the configuration is not loaded."""
        if self._settings is None and config_file(self.config_path) is None:
            return {}
        return self.settings.dbt_project_repositories()

    def engine(self) -> "Engine":
        from triagehub.store import db

        return db.open_database(self.db_url)


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


__all__ = ["State", "app", "integrations_off", "main"]
