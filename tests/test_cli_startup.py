"""Start-up: a command imports only what it uses (no timing here: `benchmarks/startup.py` times
them). Each command runs in a subprocess as a user runs it, and reports the modules it loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

# Loaded by the commands that serve, call out or migrate, never by `--help` or a read.
WEB = ("fastapi", "starlette", "uvicorn", "jinja2")
OUTSIDE = ("anthropic", "httpx", "githubkit")
NOT_AT_IMPORT = (
    *WEB,
    *OUTSIDE,
    "alembic",
    "sqlalchemy",
    "numpy",
    "triagehub.config",
    "triagehub.store",
    "triagehub.engine",
    "triagehub.actions",
    "triagehub.work",
    "triagehub.api",
    "triagehub.web",
    "triagehub.demo",
)

# Runs the command line, then writes the names of the loaded modules to the file it is given.
DRIVER = """
import atexit, json, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["triagehub", *sys.argv[2:]]
from triagehub.cli.main import main
main()
"""

TINY = {
    "repository": "acme/api",
    "check": "tests / test_login",
    "message": "AssertionError: expected 200, got 500",
    "at": "2026-11-20T06:30:00Z",
}


def loaded(tmp_path: Path, db_url: str, *args: str) -> set[str]:
    """The modules ``triagehub ARGS`` loaded (it must succeed)."""
    report = tmp_path / "modules.json"
    env = {**os.environ, "TRIAGEHUB_DATABASE_URL": db_url, "COLUMNS": "200"}
    env.pop("TRIAGEHUB_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(report), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(report.read_text()))


def among(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` (packages: any of their modules) are in ``modules``."""
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def test_importing_the_command_line_loads_no_heavy_library() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, triagehub.cli.main; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert among(set(proc.stdout.split()), NOT_AT_IMPORT) == []


def test_help_loads_neither_the_database_nor_the_web_stack(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert among(loaded(tmp_path, url, "--help"), NOT_AT_IMPORT) == []
    assert among(loaded(tmp_path, url, "issues", "list", "--help"), NOT_AT_IMPORT) == []
    assert not (tmp_path / "h.db").exists()  # nothing opened


def test_reading_a_current_database_loads_no_alembic(tmp_path: Path, db_url: str) -> None:
    first = loaded(tmp_path, db_url, "issues", "list")  # a new database: migrated by Alembic
    assert "alembic" in first
    again = loaded(tmp_path, db_url, "issues", "list")
    assert among(again, ("alembic", *WEB, *OUTSIDE, "triagehub.engine", "triagehub.config")) == []


# What a list of issues does not read with: SQLAlchemy's ORM (a Core connection runs the query)
# and the other read-side query modules (with what they import).
NOT_LISTING = (
    "sqlalchemy.orm",
    "sqlalchemy.ext",
    "triagehub.store.queries.overview",
    "triagehub.store.queries.runs",
    "triagehub.store.queries.search",
    "triagehub.store.queries.stream",
    "triagehub.store.queries.tokens",
    "triagehub.store.spec_events",
    "triagehub.core.sanitize",
)


@pytest.mark.parametrize("args", [[], ["--search", "login", "--format", "json"]])
def test_listing_issues_loads_no_orm_nor_other_queries(
    tmp_path: Path, db_url: str, args: list[str]
) -> None:
    loaded(tmp_path, db_url, "issues", "list")  # a new database: migrated by Alembic
    again = loaded(tmp_path, db_url, "issues", "list", *args)
    assert "triagehub.store.queries.issues" in again  # (the names are right)
    assert among(again, NOT_LISTING) == []


# What only a batch with a new run needs: the ingest stages, the classifier's rule tables, the
# excerpt and template miners, the LLM step and its job queue.
STAGES = (
    "triagehub.engine.ingest.prepare",
    "triagehub.engine.ingest.group",
    "triagehub.engine.ingest.classify",
    "triagehub.engine.ingest.write",
    "triagehub.engine.oncall",
    "triagehub.engine.refine",
    "triagehub.engine.jobs",
    "triagehub.core.classify",
    "triagehub.core.excerpt",
    "triagehub.core.templates",
    "triagehub.core.patterns",
    "rapidfuzz",
)


def test_ingesting_a_file_again_loads_no_alembic_llm_or_web(tmp_path: Path, db_url: str) -> None:
    events = tmp_path / "tiny.json"
    events.write_text(json.dumps(TINY))
    first = loaded(tmp_path, db_url, "ingest", str(events))
    assert among(first, STAGES[:4]) == sorted(STAGES[:4])  # (the names are right)
    again = loaded(tmp_path, db_url, "ingest", str(events))  # every run a duplicate
    assert among(again, ("alembic", *WEB, *OUTSIDE, "numpy", *STAGES)) == []
    # The format is told by the sniffers alone: no other format's parser is loaded.
    assert among(again, ("triagehub.sources.junit", "triagehub.sources.playwright", "xml")) == []


def test_a_no_op_ingest_on_sqlite_loads_no_sqlalchemy_or_configuration(tmp_path: Path) -> None:
    """A SQLite file whose runs are all stored is asked with ``sqlite3`` alone
    (``engine/ingest/quick.py``), and without a configuration file none is loaded."""
    url = f"sqlite:///{tmp_path / 'q.db'}"
    events = tmp_path / "tiny.json"
    events.write_text(json.dumps([TINY, {**TINY, "check": "tests / test_logout"}]))
    loaded(tmp_path, url, "ingest", str(events))
    again = loaded(tmp_path, url, "ingest", str(events))
    assert among(again, ("sqlalchemy", "triagehub.config", "triagehub.store.tables", "yaml")) == []
    # A run not stored yet takes the ordinary path (SQLAlchemy, the stages).
    events.write_text(json.dumps([TINY, {**TINY, "check": "tests / test_signup"}]))
    new = loaded(tmp_path, url, "ingest", str(events))
    assert among(new, ("sqlalchemy", "triagehub.engine.ingest.prepare")) == [
        "sqlalchemy",
        "triagehub.engine.ingest.prepare",
    ]


def _callbacks(app: typer.Typer) -> Iterator[Callable[..., Any]]:
    """Every function Typer reads the signature of: the commands and the groups' callbacks."""
    for info in (app.registered_callback, *app.registered_groups, *app.registered_commands):
        if info is not None and callable(info.callback):  # (a default is a placeholder)
            yield info.callback
    for group in app.registered_groups:
        if group.typer_instance is not None:
            yield from _callbacks(group.typer_instance)


def test_no_command_annotation_is_a_string() -> None:
    """Typer reads the signature of every command at every start, whatever command runs; a
    string annotation (``from __future__ import annotations``) is compiled and evaluated there,
    twice: the command modules' annotations are objects."""
    from triagehub.cli.main import app

    found = list(_callbacks(app))
    assert len(found) > 30  # (every command is there)
    strings = [
        f"{f.__module__}.{f.__qualname__}: {name}"
        for f in found
        for name, annotation in f.__annotations__.items()
        if isinstance(annotation, str)
    ]
    assert strings == []


def test_the_configuration_loads_no_classifier_rule_tables() -> None:
    """``triagehub.yaml``'s rule models live in ``core/user_rules.py``, outside the classifier
    package whose import compiles the kind-rule tables."""
    code = "import sys, triagehub.config; print('\\n'.join(sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert among(set(proc.stdout.split()), ("triagehub.core.classify", "sqlalchemy")) == []


@pytest.mark.parametrize("command", [["db", "upgrade"], ["serve", "--help"]])
def test_a_command_that_needs_more_still_runs(tmp_path: Path, command: list[str]) -> None:
    """The lazy imports are where the commands use them: ``db upgrade`` loads Alembic."""
    modules = loaded(tmp_path, f"sqlite:///{tmp_path / 'u.db'}", *command)
    assert ("alembic" in modules) == (command[0] == "db")
