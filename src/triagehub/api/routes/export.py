"""``/api/v1/export``: every matching issue, streamed as a JSON array or CSV."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.api.auth import ReadCaller
from triagehub.api.common import PREFIX, RepositoryParam, check_range, utc
from triagehub.api.deps import ClockDep, EngineDep
from triagehub.api.schemas.common import problem_responses
from triagehub.api.schemas.issues import ExportFormat
from triagehub.core.models import IssueState
from triagehub.store import queries
from triagehub.store.metrics import csv_chunks

EXPORT_PAGE = 500

router = APIRouter(prefix=PREFIX)


@router.get(
    "/export",
    tags=["issues"],
    response_model=None,
    responses={
        200: {
            "description": "The issues, as a JSON array or CSV",
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **problem_responses(401, 422),
    },
)
def export(
    caller: ReadCaller,
    engine: EngineDep,
    clock: ClockDep,
    format: ExportFormat = ExportFormat.json,
    repository: RepositoryParam = None,
    state: Annotated[list[IssueState] | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="last_seen ≥ since")] = None,
    until: Annotated[datetime | None, Query(description="last_seen < until")] = None,
) -> Response:
    """Every matching issue (with its lifecycle dates), streamed, newest activity first."""
    check_range(since, until)
    query = queries.IssueQuery(
        repositories=(repository,) if repository else (),
        states=tuple(s.value for s in state or ()),
        since=utc(since),
        until=utc(until),
    )
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    rows = _export_rows(engine, query)
    if format is ExportFormat.csv:
        return StreamingResponse(
            _csv_lines(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="issues-{stamp}.csv"'},
        )
    return StreamingResponse(
        _json_array(rows),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="issues-{stamp}.json"'},
    )


def _export_rows(engine: Engine, query: queries.IssueQuery) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        with Session(engine) as session:
            page = queries.search_issues(
                session=session, query=query, limit=EXPORT_PAGE, cursor=cursor
            )
        for view in page.items:
            yield view.to_json()
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _json_array(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    yield b"["
    first = True
    for row in rows:
        yield (b"" if first else b",") + orjson.dumps(row)
        first = False
    yield b"]\n"


def _csv_lines(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for chunk in csv_chunks(rows):
        yield chunk.encode()
