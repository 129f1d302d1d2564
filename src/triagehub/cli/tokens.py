"""``triagehub token``: the bearer tokens of the REST API, made, listed and revoked.

A token is shown once, when it is made; the database keeps only its SHA-256. The database comes
from the root command's state (``--db``), read through the context object's ``engine()`` so
that this module never imports :mod:`triagehub.cli.main` (which imports it to register it).
"""

import enum
import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from triagehub.cli.common import OutputFormat as Format
from triagehub.cli.common import err, out, session_of
from triagehub.clock import SystemClock

token_app = typer.Typer(
    rich_markup_mode="markdown",
    help="Bearer tokens of the REST API: `read` tokens read, `write` tokens also triage and "
    "ingest.",
    no_args_is_help=True,
)


class Scope(enum.StrEnum):
    read = "read"
    write = "write"


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else "-"


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Who or what uses it (e.g. ci, grafana).")],
    scope: Annotated[Scope, typer.Option("--scope", help="read, or write (also read).")],
    fmt: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Make a token and print it, once: it cannot be shown again."""
    from triagehub.store.queries import create_api_token

    with session_of(ctx) as session, session.begin():
        view, raw = create_api_token(
            session=session, name=name, scope=scope.value, now=SystemClock().now()
        )
    if fmt is Format.json:
        sys.stdout.write(json.dumps({**view.to_json(), "token": raw}, indent=2) + "\n")
        return
    out.print(raw, markup=False)
    err.print(
        f"token {view.id} ({view.name}, {view.scope}) made. Copy it now: it is not shown again. "
        "Use it as: Authorization: Bearer <token>",
        markup=False,
    )


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    active: Annotated[bool, typer.Option("--active", help="Only tokens not revoked.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """The tokens (never their values: the prefix tells them apart)."""
    from triagehub.store.queries import list_api_tokens

    with session_of(ctx) as session:
        views = list_api_tokens(session=session, include_revoked=not active)
    if fmt is Format.json:
        sys.stdout.write(json.dumps([v.to_json() for v in views], indent=2) + "\n")
        return
    table = Table(title=f"{len(views)} token(s)", title_justify="left")
    for column in ("id", "name", "scope", "prefix", "created", "last used", "revoked"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for v in views:
        table.add_row(
            str(v.id),
            v.name,
            v.scope,
            v.prefix + "…",
            _when(v.created_at),
            _when(v.last_used_at),
            _when(v.revoked_at),
        )
    out.print(table, markup=False)


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The token's id, or a name (revokes all of it).")],
) -> None:
    """Revoke a token at once: requests with it are refused (401) from now on."""
    from triagehub.store.queries import revoke_api_token

    with session_of(ctx) as session, session.begin():
        views = revoke_api_token(session=session, ref=ref, now=SystemClock().now())
    for v in views:
        out.print(f"revoked token {v.id} ({v.name}, {v.scope}, {v.prefix}…)", markup=False)
