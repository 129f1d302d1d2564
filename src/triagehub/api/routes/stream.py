"""``/api/v1/stream``: the live events (server-sent events read from the database; the machinery
is :mod:`triagehub.api.stream`)."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from triagehub.api.auth import ReadCaller
from triagehub.api.common import PREFIX
from triagehub.api.deps import EngineDep, HubDep
from triagehub.api.schemas.common import problem_responses
from triagehub.api.stream import StreamCursor

router = APIRouter(prefix=PREFIX)


@router.get(
    "/stream",
    tags=["stream"],
    response_model=None,
    responses={
        200: {
            "description": "Server-sent events: `issue` (timeline entries: created, "
            "classified, state_changed, escalated, ...), `occurrence`, `agent` and `spec` "
            "(OpenSpec changes: created, tasks, archived, removed).",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 422),
    },
)
async def stream(
    request: Request,
    caller: ReadCaller,
    engine: EngineDep,
    hub: HubDep,
    cursor: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Start after this event id (as `Last-Event-ID`); default: now.",
        ),
    ] = None,
) -> Response:
    """Live events. Each event's `id` is a cursor: reconnect with `Last-Event-ID` (or
    `?cursor=`) to get what was missed."""
    given = request.headers.get("last-event-id") or cursor
    if given:
        start = StreamCursor.parse(given)
    else:
        start = await run_in_threadpool(lambda: StreamCursor.head(engine))
    return StreamingResponse(
        hub.events(engine, request, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
