"""What the ``/api/v1`` routes share: the prefix, the orjson response, the path and query
parameter types, and the time-range and paging helpers."""

# No ``from __future__ import annotations``: the aliases below are read by FastAPI at runtime.

from datetime import datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import Path as PathParam
from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import Field

from triagehub.core.timeparse import as_utc
from triagehub.errors import InputError
from triagehub.store import queries

PREFIX = "/api/v1"
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
REPOSITORY_PATTERN = r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$"
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
DEFAULT_WINDOW = timedelta(days=7)


class JSONBody(Response):
    """JSON rendered with orjson (datetimes are already ISO strings)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


IdPath = Annotated[int, PathParam(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE, description="Page size (max 500).")]
CursorParam = Annotated[
    str | None,
    Query(max_length=1000, description="`next_cursor` of the previous page (opaque)."),
]
RepoName = Annotated[str, Field(max_length=200, pattern=REPOSITORY_PATTERN)]
Person = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]
RepositoryParam = Annotated[
    str | None, Query(max_length=200, pattern=REPOSITORY_PATTERN, description="owner/name")
]
SinceParam = Annotated[datetime | None, Query(description="Default: until − 7 days.")]
UntilParam = Annotated[datetime | None, Query(description="Default: now.")]


def utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def window(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    end = utc(until) or now
    start = utc(since) or end - DEFAULT_WINDOW
    if start >= end:
        raise InputError("since", start.isoformat(), "must be before until")
    return start, end


def check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and as_utc(since) >= as_utc(until):
        raise InputError("since", since.isoformat(), "must be before until")


def page_json(page: queries.Page[Any]) -> dict[str, Any]:
    return {"items": [item.to_json() for item in page.items], "next_cursor": page.next_cursor}


def issue_page_body(page: queries.Page[queries.IssueView]) -> Response:
    """``JSONBody(page_json(page))`` of a page of issues, rendered by orjson from the views
    themselves (dataclasses: their fields in order; datetimes as ``IssueView.to_json`` writes
    them, ``Z`` for UTC: the store reads every time in UTC): the same bytes without a dict and
    five ISO strings per issue made first (a tenth of a list request's CPU)."""
    body = {"items": page.items, "next_cursor": page.next_cursor}
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type=JSONBody.media_type)


def declared_too_large(request: Request, limit: int) -> bool:
    """The request's ``Content-Length`` is over ``limit`` bytes (or is not a number)."""
    length = request.headers.get("content-length")
    return length is not None and (not length.isdigit() or int(length) > limit)


async def capped_body(request: Request, limit: int) -> bytes | None:
    """The request's body, read as it arrives; None as soon as it is over ``limit`` bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            return None
    return bytes(body)
