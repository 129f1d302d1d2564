"""What every command module shares: the consoles, the output format and the state the root
command leaves on the context (database and configuration).

Start-up: every command module is imported by ``triagehub --help``, so a module imports at its top
only Typer, Rich, the standard library and the light vocabulary its options name
(``core.models``' enums, ``cli.common``, ``errors``, ``clock``). The database, the configuration's
models, the engine, the web stack, the clients of the outside world and the specs are imported in
the command that uses them (``tests/test_cli_startup.py``).

The command modules evaluate their annotations (no ``from __future__ import annotations``; a
name imported for typing only is quoted): Typer reads the signature of every command at every
start, whatever command runs, and compiles and evaluates a string annotation twice there (20 ms
of every start)."""

from __future__ import annotations

import enum
import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

import typer
from rich.console import Console
from typer.core import TyperOption

from triagehub.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.orm import Session

    from triagehub.config import Settings

out = Console(highlight=False, soft_wrap=False)
if not out.is_terminal and not os.environ.get("COLUMNS"):
    # a pipe or a file with no COLUMNS: wide enough that tables are not cut
    out = Console(highlight=False, soft_wrap=False, width=200)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _flags_take_no_value() -> None:
    """Typer's help prints a type for every option, ``<bool>`` for a flag; a flag takes no value,
    so its type column stays empty (presentation only)."""
    original = TyperOption.display_type_rich
    if getattr(original, "_triagehub", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else original(self, ctx)

    display_type_rich._triagehub = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value()


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"


class CliState(Protocol):
    """The root command's state (``triagehub.cli.main.State``)."""

    @property
    def db_url(self) -> str: ...

    @property
    def settings(self) -> Settings: ...

    def dbt_projects(self) -> dict[str, str]: ...

    def engine(self) -> Engine: ...


def state_of(ctx: typer.Context) -> CliState:
    state = ctx.find_root().obj
    # `dir`, not `hasattr`: the settings are read (the configuration loaded) only when used
    if not callable(getattr(state, "engine", None)) or "settings" not in dir(state):
        raise RuntimeError(f"`{ctx.command_path}` runs under the triagehub command (no --db state)")
    return cast(CliState, state)


def engine_of(ctx: typer.Context) -> Engine:
    return state_of(ctx).engine()


def session_of(ctx: typer.Context) -> Session:
    """A session on the root command's database. SQLAlchemy's ORM is imported here, on first
    use, so that ``--help`` and the commands that need no database start without it."""
    from sqlalchemy.orm import Session

    return Session(engine_of(ctx))


def connection_of(ctx: typer.Context) -> Connection:
    """A connection on the root command's database, for a command whose query functions take
    one as well as a session (``issues list``): it starts without SQLAlchemy's ORM, whose import
    costs more than the rest of the command's database work (about 80 ms)."""
    return engine_of(ctx).connect()


def duration(text: str, option: str = "--since") -> timedelta:
    """A duration such as ``30m``, ``24h``, ``7d`` or ``2w`` given to ``option``."""
    units = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
    value, unit = text[:-1], text[-1:].lower()
    if unit not in units or not value.isdigit() or int(value) < 1:
        raise InputError(option, text, "expected a duration such as 30m, 24h, 7d or 2w")
    return timedelta(seconds=int(value) * units[unit])
