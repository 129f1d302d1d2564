"""What the specs and agents routes share: their router settings (reads per
``api.require_token_for_reads``, the problems every route may answer), the write check, a capped
JSON body, and running their store and file work in a thread, errors as ``{error, reason}``
problems."""

# No ``from __future__ import annotations``: FastAPI reads the router's dependencies.

from collections.abc import Callable
from typing import Any, Literal, TypeVar

import orjson
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from triagehub.api.auth import Caller, read_caller
from triagehub.api.common import capped_body, declared_too_large
from triagehub.api.deps import api_state
from triagehub.api.problems import ApiProblem, reason_problem
from triagehub.api.schemas.common import problem_responses
from triagehub.errors import InputError
from triagehub.work.specs import ConflictError, NotFoundError

T = TypeVar("T")

# Reads follow api.require_token_for_reads; the POST endpoints check for a write token. Every
# route may answer with these problems (problem+json); documented so that the OpenAPI says what
# the routes do.
ROUTER_OPTIONS: dict[str, Any] = {
    "dependencies": [Depends(read_caller)],
    "responses": problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
}


def input_problem(exc: InputError) -> JSONResponse:
    if isinstance(exc, NotFoundError):
        return reason_problem(404, "not_found", str(exc))
    if isinstance(exc, ConflictError):
        return reason_problem(409, "conflict", str(exc))
    return reason_problem(422, "invalid", str(exc))


async def caller_or_problem(
    request: Request, need: Literal["read", "write"] = "write"
) -> Caller | JSONResponse:
    """The caller when they may go on; otherwise the problem to answer."""
    try:
        return await run_in_threadpool(api_state(request).auth.caller, request, need=need)
    except ApiProblem as exc:
        return reason_problem(exc.status, exc.slug, exc.detail)


async def authorized(
    request: Request, need: Literal["read", "write"] = "write"
) -> JSONResponse | None:
    """None when the caller may go on; otherwise the problem to answer."""
    found = await caller_or_problem(request, need)
    return found if isinstance(found, JSONResponse) else None


async def call(fn: Callable[[], T]) -> T | JSONResponse:
    """Run ``fn`` in a worker thread; an ``InputError`` is answered as its problem."""
    try:
        return await run_in_threadpool(fn)
    except InputError as exc:
        return input_problem(exc)


async def json_body(request: Request, limit: int) -> Any | JSONResponse:
    """The request's JSON (at most ``limit`` bytes), or the problem to answer."""
    if declared_too_large(request, limit):
        return reason_problem(413, "payload_too_large", f"the limit is {limit} bytes")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        return reason_problem(
            415, "unsupported_media_type", f"content type {ctype or 'none'!r}: send JSON"
        )
    body = await capped_body(request, limit)
    if body is None:
        return reason_problem(413, "payload_too_large", f"the limit is {limit} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return reason_problem(400, "malformed_json", str(exc))
