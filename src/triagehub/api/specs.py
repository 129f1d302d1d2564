"""REST endpoints for OpenSpec projects and AI agent sessions.

- ``GET /api/v1/specs``: the projects found under ``openspec.roots`` with their counts.
- ``GET /api/v1/specs/changes[?project=&archived=true]``: changes (task progress, deltas).
- ``GET /api/v1/specs/changes/{change_id}[?project=]``: one change with its validation.
- ``GET /api/v1/specs/changes/{change_id}/validation[?strict=false]``: ``openspec validate``.
- ``GET /api/v1/specs/specs``, ``GET /api/v1/specs/specs/{capability}``: the main specs.
- ``POST /api/v1/specs/changes``: create a change (``{"change_id"}`` or ``{"issue_id"}``).
- ``POST /api/v1/specs/changes/{change_id}/archive``: archive a change.
- ``POST /api/v1/hooks``: an agent hook event (Claude Code's hook JSON), at most 1 MB.
- ``GET /api/v1/agents[?status=&limit=]``, ``GET /api/v1/agents/{session_id}``: sessions.

Authentication is the REST API's (``triagehub.api.v1.ApiAuth``): the POST endpoints need a
``write`` token (``Authorization: Bearer th_...``; the hook script sends ``$TRIAGEHUB_API_TOKEN``),
reads need one only with ``api.require_token_for_reads``. Errors are problem documents that also
carry ``{"error": ..., "reason": ...}``: 400 malformed JSON, 401/403 token, 404 unknown, 409
conflicting, 413 too large, 415 not JSON, 422 invalid.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.api.v1 import ApiAuth, ApiProblem, problem_responses
from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.sanitize import clean_json
from triagehub.errors import InputError
from triagehub.work import agents
from triagehub.work.specs import (
    ConflictError,
    NotFoundError,
    OpenSpecReader,
    archive_change,
    create_change,
    create_change_from_issue,
)

log = logging.getLogger(__name__)

MAX_HOOK_BYTES = 1_000_000
T = TypeVar("T")


def _problem(status: int, error: str, reason: str) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": error.replace("_", " ").capitalize(),
        "status": status,
        "detail": reason,
        "error": error,
        "reason": reason,
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _input_problem(exc: InputError) -> JSONResponse:
    if isinstance(exc, NotFoundError):
        return _problem(404, "not_found", str(exc))
    if isinstance(exc, ConflictError):
        return _problem(409, "conflict", str(exc))
    return _problem(422, "invalid", str(exc))


class CreateChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(default=None, max_length=4096)
    change_id: str | None = Field(default=None, max_length=200)
    issue_id: int | None = Field(default=None, ge=1)
    capability: str | None = Field(default=None, max_length=300)
    description: str | None = Field(default=None, max_length=10_000)


class ArchiveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(default=None, max_length=4096)


def specs_router(
    engine: Engine,
    settings: Settings,
    clock: Clock | None = None,
    *,
    reader: OpenSpecReader | None = None,
) -> APIRouter:
    """The router; with roots configured, its lifespan watches them for file changes."""
    the_clock: Clock = clock or SystemClock()
    the_reader = reader or OpenSpecReader(
        settings.openspec.roots, scan_seconds=settings.openspec.scan_minutes * 60
    )
    auth = ApiAuth(engine, settings.api, the_clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if the_reader.roots:
            await run_in_threadpool(the_reader.start_watching)
        try:
            yield
        finally:
            the_reader.close()

    # Reads follow api.require_token_for_reads; the POST endpoints check for a write token.
    # Every route may answer with these problems (problem+json); documented so that the
    # OpenAPI says what the routes do.
    router = APIRouter(
        lifespan=lifespan,
        dependencies=[Depends(auth.reader())],
        responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
    )

    async def authorized(
        request: Request, need: Literal["read", "write"] = "write"
    ) -> JSONResponse | None:
        try:
            await run_in_threadpool(auth.caller, request, need=need)
        except ApiProblem as exc:
            return _problem(exc.status, exc.slug, exc.detail)
        return None

    async def call(fn: Callable[[], T]) -> T | JSONResponse:
        try:
            return await run_in_threadpool(fn)
        except InputError as exc:
            return _input_problem(exc)

    async def json_body(request: Request, limit: int) -> Any | JSONResponse:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return _problem(413, "payload_too_large", f"the limit is {limit} bytes")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return _problem(
                415, "unsupported_media_type", f"content type {ctype or 'none'!r}: send JSON"
            )
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                return _problem(413, "payload_too_large", f"the limit is {limit} bytes")
        try:
            return orjson.loads(bytes(body))
        except orjson.JSONDecodeError as exc:
            return _problem(400, "malformed_json", str(exc))

    # -- specs -------------------------------------------------------------------------------

    @router.get("/api/v1/specs")
    async def projects() -> Any:
        def run() -> dict[str, Any]:
            out = []
            for project in the_reader.projects():
                changes = the_reader.changes(project, archived=True)
                out.append(
                    {
                        **project.to_json(),
                        "active_changes": sum(1 for c in changes if not c.archived),
                        "archived_changes": sum(1 for c in changes if c.archived),
                        "specs": len(the_reader.specs(project)),
                        "problems": the_reader.symlinked_changes(project),
                    }
                )
            return {
                "roots": [str(r) for r in the_reader.roots],
                "projects": out,
                "problems": the_reader.root_problems(),
            }

        return await call(run)

    @router.get("/api/v1/specs/changes")
    async def list_changes(
        project: str | None = Query(default=None, max_length=4096),
        archived: bool = False,
    ) -> Any:
        def run() -> dict[str, Any]:
            p = the_reader.project(project)
            changes = the_reader.changes(p, archived=archived)
            return {"project": p.id, "changes": [c.summary_json() for c in changes]}

        return await call(run)

    @router.get("/api/v1/specs/changes/{change_id}")
    async def show_change(
        change_id: str, project: str | None = Query(default=None, max_length=4096)
    ) -> Any:
        def run() -> dict[str, Any]:
            p = the_reader.project(project)
            change = the_reader.change(p, change_id)
            report = the_reader.validate_change(p, change.folder)
            return {**change.to_json(), "validation": report.to_json()}

        return await call(run)

    @router.get("/api/v1/specs/changes/{change_id}/validation")
    async def validate_change(
        change_id: str,
        project: str | None = Query(default=None, max_length=4096),
        strict: bool = True,
    ) -> Any:
        def run() -> dict[str, Any]:
            p = the_reader.project(project)
            return the_reader.validate_change(p, change_id, strict=strict).to_json()

        return await call(run)

    @router.get("/api/v1/specs/specs")
    async def list_specs(project: str | None = Query(default=None, max_length=4096)) -> Any:
        def run() -> dict[str, Any]:
            p = the_reader.project(project)
            return {"project": p.id, "specs": [s.summary_json() for s in the_reader.specs(p)]}

        return await call(run)

    @router.get("/api/v1/specs/specs/{capability:path}")
    async def show_spec(
        capability: str, project: str | None = Query(default=None, max_length=4096)
    ) -> Any:
        def run() -> dict[str, Any]:
            p = the_reader.project(project)
            spec = the_reader.spec(p, capability)
            report = the_reader.validate_spec(p, capability)
            return {**spec.to_json(), "validation": report.to_json()}

        return await call(run)

    @router.post("/api/v1/specs/changes", status_code=201)
    async def create(request: Request) -> Any:
        denied = await authorized(request)
        if denied is not None:
            return denied
        data = await json_body(request, 100_000)
        if isinstance(data, JSONResponse):
            return data
        try:
            body = CreateChangeBody.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "body"
            return _problem(422, "invalid", f"request body: {where}: {first['msg']}")

        def run() -> JSONResponse:
            p = the_reader.project(body.project)
            if body.issue_id is not None:
                linked = create_change_from_issue(
                    engine,
                    p,
                    body.issue_id,
                    clock=the_clock,
                    change_id=body.change_id,
                    capability=body.capability,
                    actor="api",
                )
                the_reader.invalidate(p.changes_dir)
                change = the_reader.change(p, linked.change_id)
                return JSONResponse(
                    {**linked.to_json(), "change": change.summary_json()},
                    status_code=201 if linked.created else 200,
                )
            if not body.change_id:
                raise InputError("request body", "change_id", "give change_id or issue_id")
            path = create_change(p, body.change_id, clock=the_clock, description=body.description)
            the_reader.invalidate(p.changes_dir)
            change = the_reader.change(p, body.change_id)
            return JSONResponse(
                {"change_id": body.change_id, "path": str(path), "change": change.summary_json()},
                status_code=201,
            )

        return await call(run)

    @router.post("/api/v1/specs/changes/{change_id}/archive")
    async def archive(change_id: str, request: Request) -> Any:
        denied = await authorized(request)
        if denied is not None:
            return denied
        body = ArchiveBody()
        if request.headers.get("content-length") not in (None, "0"):
            data = await json_body(request, 10_000)
            if isinstance(data, JSONResponse):
                return data
            try:
                body = ArchiveBody.model_validate(data)
            except ValidationError as exc:
                return _problem(422, "invalid", f"request body: {exc.errors()[0]['msg']}")

        def run() -> dict[str, Any]:
            p = the_reader.project(body.project)
            result = archive_change(p, change_id, clock=the_clock)
            the_reader.invalidate(p.changes_dir)
            the_reader.invalidate(p.specs_dir)
            return result.to_json()

        return await call(run)

    # -- agents ------------------------------------------------------------------------------

    @router.post("/api/v1/hooks", status_code=202)
    async def hooks(request: Request) -> Any:
        denied = await authorized(request)
        if denied is not None:
            return denied
        raw = await json_body(request, MAX_HOOK_BYTES)
        if isinstance(raw, JSONResponse):
            return raw

        def run() -> JSONResponse:
            # Cleaned at the boundary: no control character, no secret reaches the store.
            payload = clean_json(raw)
            with Session(engine) as session, session.begin():
                result = agents.ingest_hook(session, payload, now=the_clock.now())
            code = 200 if result.status == "duplicate" else 202
            return JSONResponse(result.to_json(), status_code=code)

        return await call(run)

    @router.get("/api/v1/agents")
    async def list_agents(
        status: agents.SessionStatus | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> Any:
        def run() -> dict[str, Any]:
            with Session(engine) as session:
                views = agents.list_sessions(
                    session, now=the_clock.now(), status=status, limit=limit
                )
            return {"sessions": [v.to_json() for v in views]}

        return await call(run)

    @router.get("/api/v1/agents/{session_id}")
    async def show_agent(session_id: str, events: int = Query(default=50, ge=0, le=1000)) -> Any:
        def run() -> dict[str, Any]:
            with Session(engine) as session:
                return agents.get_session(
                    session, session_id, now=the_clock.now(), events=events
                ).to_json()

        return await call(run)

    return router
