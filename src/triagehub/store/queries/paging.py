"""Keyset pages and their opaque cursors, shared by every paged listing of the read side."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import and_, or_, select

from triagehub.core.timeparse import parse_time
from triagehub.errors import InputError
from triagehub.store import tables as t

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

T = TypeVar("T")
R = TypeVar("R")

# -- the REST API: issue search (filters, sort, cursor pagination) -------------------------------
#
# Pages are keyset pages: the cursor holds the sort key of the last row given, so a page costs
# the same however deep it is and rows inserted meanwhile never shift the next page. The cursor
# also carries the sort and a digest of the filters: a cursor used with another query is refused.

MAX_PAGE_SIZE = 500
MAX_TEXT_QUERY = 200


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the cursor of the next one (None: this was the last)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(kind: str, digest: str, values: list[Any]) -> str:
    raw = json.dumps({"k": kind, "f": digest, "v": values}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, digest: str, shape: tuple[type, ...]) -> list[Any]:
    """The values of a cursor made by :func:`encode_cursor` for the same listing, sort and
    filters; an ``InputError`` for anything else (they are opaque: never built by hand)."""

    def bad(reason: str) -> InputError:
        return InputError("cursor", "", reason)

    if len(cursor) > 1000:
        raise bad("too long to be a cursor this API gave")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError):
        raise bad("not a cursor this API gave (pass next_cursor back as it is)") from None
    if not isinstance(data, dict) or not isinstance(data.get("v"), list):
        raise bad("not a cursor this API gave (pass next_cursor back as it is)")
    if data.get("k") != kind:
        raise bad(f"made for another listing or sort ({data.get('k')!r}, not {kind!r})")
    if data.get("f") != digest:
        raise bad("made for other filters: repeat the first request's filters with its cursor")
    values: list[Any] = data["v"]
    if len(values) != len(shape):
        raise bad("not a cursor this API gave (pass next_cursor back as it is)")
    out: list[Any] = []
    for value, want in zip(values, shape, strict=True):
        if want is datetime:
            try:
                out.append(parse_time(value))
            except ValueError:
                raise bad("not a cursor this API gave (pass next_cursor back as it is)") from None
        elif (want is int and type(value) is int and abs(value) < 2**62) or (
            want is str and isinstance(value, str)
        ):
            out.append(value)
        else:
            raise bad("not a cursor this API gave (pass next_cursor back as it is)")
    return out


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InputError("limit", str(limit), f"must be from 1 to {MAX_PAGE_SIZE}")


def _after(column: Any, id_column: Any, value: Any, last_id: Any, descending: bool) -> Any:
    """Rows after ``(value, last_id)`` in the order ``column, id`` (both ``descending`` or
    not), written so that an index on ``column`` bounds the scan."""
    if descending:
        return and_(column <= value, or_(column < value, id_column < last_id))
    return and_(column >= value, or_(column > value, id_column > last_id))


def _repository_ids(session: Session | Connection, names: tuple[str, ...]) -> list[int]:
    return list(
        session.execute(
            select(t.repositories.c.id).where(t.repositories.c.name.in_(sorted(set(names))))
        ).scalars()
    )


def _parse_sort(sort: str, allowed: tuple[str, ...]) -> tuple[str, bool]:
    descending = sort.startswith("-")
    name = sort[1:] if descending else sort
    if name not in allowed:
        options = ", ".join(f"{n}, -{n}" for n in allowed)
        raise InputError("sort", sort, f"expected one of {options}")
    return name, descending


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _cut(
    rows: Sequence[R], limit: int, cursor_of: Callable[[R], str]
) -> tuple[Sequence[R], str | None]:
    """The first ``limit`` of ``rows`` (read with ``limit + 1``) and the cursor of the next page
    (None: this was the last), made from the last row kept."""
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, cursor_of(rows[-1]) if more and rows else None
