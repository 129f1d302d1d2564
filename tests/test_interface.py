"""The product's outside: the REST API's OpenAPI document, every CLI command's ``--help`` and the
commands the README tells a user to run. Refactoring (issue #20 moved every module) must leave them
byte for byte as they were: this test compares them with the snapshot in ``tests/data/interface/``.

When a change to the interface is meant, regenerate the snapshot and review its diff:

    .venv/bin/python tests/test_interface.py --write
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from triagehub.api.app import WebhookConfig, create_app
from triagehub.cli.main import app as cli_app
from triagehub.config import Settings
from triagehub.store import db as store_db

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "tests" / "data" / "interface"
HELP_ENV = {"COLUMNS": "100", "TERMINAL_WIDTH": "100", "NO_COLOR": "1", "TERM": "dumb"}
# A shell line that runs the product: `triagehub ...`, `make ...`, `.venv/bin/triagehub ...`.
COMMAND = re.compile(r"^\s*(?:\$\s+)?((?:\S*/)?triagehub\b.*|make\b.*)$")


def openapi_document(folder: Path) -> str:
    engine = store_db.open_database(f"sqlite:///{folder / 'interface.db'}")
    try:
        app = create_app(engine, Settings(), WebhookConfig(None, insecure=True), run_worker=False)
        return json.dumps(app.openapi(), indent=1, sort_keys=True) + "\n"
    finally:
        engine.dispose()


def _command_paths(command: object, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every command's path, a group's sub-commands included (Typer's groups have ``commands``)."""
    paths = [path]
    commands: dict[str, object] = getattr(command, "commands", {})
    for name in sorted(commands):
        paths.extend(_command_paths(commands[name], (*path, name)))
    return paths


def cli_help() -> str:
    root = typer.main.get_command(cli_app)
    runner = CliRunner()
    sections = []
    for path in _command_paths(root, ()):
        result = runner.invoke(cli_app, [*path, "--help"], env=HELP_ENV, prog_name="triagehub")
        assert result.exit_code == 0, (path, result.output)
        title = " ".join(("triagehub", *path))
        sections.append(f"=== {title} ===\n{result.output}")
    return "".join(sections)


def readme_commands() -> str:
    lines: list[str] = []
    fenced = False
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = COMMAND.match(line) if fenced else None
        if match:
            lines.append(match.group(1).rstrip())
    return "\n".join(lines) + "\n"


def current(folder: Path) -> dict[str, str]:
    return {
        "openapi.json": openapi_document(folder),
        "cli-help.txt": cli_help(),
        "readme-commands.txt": readme_commands(),
    }


def test_openapi_cli_help_and_readme_commands_match_the_snapshot(tmp_path: Path) -> None:
    for name, text in current(tmp_path).items():
        expected = (SNAPSHOT / name).read_text(encoding="utf-8")
        assert text == expected, (
            f"{name} differs from tests/data/interface/{name}; if the change is meant, run "
            "`.venv/bin/python tests/test_interface.py --write` and review the diff"
        )


def test_the_snapshot_covers_every_command_and_route() -> None:
    helps = (SNAPSHOT / "cli-help.txt").read_text(encoding="utf-8")
    root = typer.main.get_command(cli_app)
    for path in _command_paths(root, ()):
        assert f"=== {' '.join(('triagehub', *path))} ===" in helps
    document = json.loads((SNAPSHOT / "openapi.json").read_text(encoding="utf-8"))
    assert any(route.startswith("/api/v1/issues") for route in document["paths"])
    assert "make test" in (SNAPSHOT / "readme-commands.txt").read_text(encoding="utf-8")


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_interface.py --write")
    os.environ.update(HELP_ENV)
    SNAPSHOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        for name, text in current(Path(folder)).items():
            (SNAPSHOT / name).write_text(text, encoding="utf-8")
            print(f"wrote tests/data/interface/{name}")
