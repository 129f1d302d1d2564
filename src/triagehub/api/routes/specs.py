"""``/api/v1/specs``: OpenSpec projects, their changes (with validation) and main specs; create
and archive a change.

- ``GET /api/v1/specs``: the projects found under ``openspec.roots`` with their counts.
- ``GET /api/v1/specs/changes[?project=&archived=true]``: changes (task progress, deltas).
- ``GET /api/v1/specs/changes/{change_id}[?project=]``: one change with its validation.
- ``GET /api/v1/specs/changes/{change_id}/validation[?strict=false]``: ``openspec validate``.
- ``GET /api/v1/specs/specs``, ``GET /api/v1/specs/specs/{capability}``: the main specs.
- ``GET /api/v1/specs/events[?project=&limit=]``: spec events, newest first (changes created,
  task progress, archived, removed).
- ``POST /api/v1/specs/changes``: create a change (``{"change_id"}`` with an optional ``why``
  and ``capability``, or ``{"issue_id"}``); a ``created`` spec event.
- ``POST /api/v1/specs/changes/{change_id}/archive``: archive a change (as ``openspec archive
  -y`` does); an ``archived`` spec event.

Authentication is the REST API's (:mod:`triagehub.api.auth`): the POST endpoints need a ``write``
token, reads need one only with ``api.require_token_for_reads``. Errors are problem documents
that also carry ``{"error": ..., "reason": ...}``: 400 malformed JSON, 401/403 token, 404 unknown,
409 conflicting, 413 too large, 415 not JSON, 422 invalid.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.api.common import PREFIX
from triagehub.api.deps import ClockDep, EngineDep, ReaderDep
from triagehub.api.problems import reason_problem
from triagehub.api.routes.specs_common import (
    ROUTER_OPTIONS,
    call,
    caller_or_problem,
    json_body,
)
from triagehub.clock import Clock
from triagehub.engine.remediation import evidence_url
from triagehub.errors import InputError
from triagehub.store import spec_events
from triagehub.work.evidence import build_pack
from triagehub.work.specs import (
    OpenSpecReader,
    archive_change,
    create_change,
    create_change_from_issue,
)
from triagehub.work.specs.activity import record_archived, record_created
from triagehub.work.specs.compose import create_proposal

router = APIRouter(prefix=PREFIX, **ROUTER_OPTIONS)


class CreateChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(default=None, max_length=4096)
    change_id: str | None = Field(default=None, max_length=200)
    issue_id: int | None = Field(default=None, ge=1)
    capability: str | None = Field(default=None, max_length=300)
    description: str | None = Field(default=None, max_length=10_000)
    why: str | None = Field(default=None, max_length=10_000)


class ArchiveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(default=None, max_length=4096)


@router.get("/specs")
async def projects(reader: ReaderDep) -> Any:
    def run() -> dict[str, Any]:
        out = []
        for project in reader.projects():
            changes = reader.changes(project, archived=True)
            out.append(
                {
                    **project.to_json(),
                    "active_changes": sum(1 for c in changes if not c.archived),
                    "archived_changes": sum(1 for c in changes if c.archived),
                    "specs": len(reader.specs(project)),
                    "problems": reader.symlinked_changes(project),
                }
            )
        return {
            "roots": [str(r) for r in reader.roots],
            "projects": out,
            "problems": reader.root_problems(),
        }

    return await call(run)


@router.get("/specs/changes")
async def list_changes(
    reader: ReaderDep,
    project: str | None = Query(default=None, max_length=4096),
    archived: bool = False,
) -> Any:
    def run() -> dict[str, Any]:
        p = reader.project(project)
        changes = reader.changes(p, archived=archived)
        return {"project": p.id, "changes": [c.summary_json() for c in changes]}

    return await call(run)


@router.get("/specs/changes/{change_id}")
async def show_change(
    change_id: str, reader: ReaderDep, project: str | None = Query(default=None, max_length=4096)
) -> Any:
    def run() -> dict[str, Any]:
        p = reader.project(project)
        change = reader.change(p, change_id)
        report = reader.validate_change(p, change.folder)
        return {**change.to_json(), "validation": report.to_json()}

    return await call(run)


@router.get("/specs/changes/{change_id}/validation")
async def validate_change(
    change_id: str,
    reader: ReaderDep,
    project: str | None = Query(default=None, max_length=4096),
    strict: bool = True,
) -> Any:
    def run() -> dict[str, Any]:
        p = reader.project(project)
        return reader.validate_change(p, change_id, strict=strict).to_json()

    return await call(run)


@router.get("/specs/specs")
async def list_specs(
    reader: ReaderDep, project: str | None = Query(default=None, max_length=4096)
) -> Any:
    def run() -> dict[str, Any]:
        p = reader.project(project)
        return {"project": p.id, "specs": [s.summary_json() for s in reader.specs(p)]}

    return await call(run)


@router.get("/specs/specs/{capability:path}")
async def show_spec(
    capability: str, reader: ReaderDep, project: str | None = Query(default=None, max_length=4096)
) -> Any:
    def run() -> dict[str, Any]:
        p = reader.project(project)
        spec = reader.spec(p, capability)
        report = reader.validate_spec(p, capability)
        return {**spec.to_json(), "validation": report.to_json()}

    return await call(run)


@router.get("/specs/events")
async def events(
    engine: EngineDep,
    project: str | None = Query(default=None, max_length=4096),
    limit: int = Query(default=50, ge=1, le=spec_events.MAX_LISTED),
) -> Any:
    def run() -> dict[str, Any]:
        with Session(engine) as session:
            found = spec_events.recent_events(
                session=session, limit=limit, projects=None if project is None else [project]
            )
        return {"events": [e.to_json() for e in found]}

    return await call(run)


@router.post("/specs/changes", status_code=201)
async def create(request: Request, engine: EngineDep, clock: ClockDep, reader: ReaderDep) -> Any:
    caller = await caller_or_problem(request)
    if isinstance(caller, JSONResponse):
        return caller
    data = await json_body(request, 100_000)
    if isinstance(data, JSONResponse):
        return data
    try:
        body = CreateChangeBody.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "body"
        return reason_problem(422, "invalid", f"request body: {where}: {first['msg']}")
    return await call(lambda: _create_change(engine, clock, reader, body, caller.actor))


def _create_change(
    engine: Engine, clock: Clock, reader: OpenSpecReader, body: CreateChangeBody, actor: str
) -> JSONResponse:
    """Create the change (from an issue when ``issue_id`` is given), record the spec event
    and answer it."""
    p = reader.project(body.project)
    if body.issue_id is not None:
        linked = create_change_from_issue(
            engine,
            p,
            body.issue_id,
            clock=clock,
            change_id=body.change_id,
            capability=body.capability,
            actor=actor,
            evidence_url=evidence_url(body.issue_id),
            evidence=build_pack,
        )
        reader.invalidate(p.changes_dir)
        change = reader.change(p, linked.change_id)
        if linked.created:
            record_created(
                engine,
                p,
                change.id,
                actor=actor,
                clock=clock,
                change=change,
                issue_id=body.issue_id,
            )
        return JSONResponse(
            {**linked.to_json(), "change": change.summary_json()},
            status_code=201 if linked.created else 200,
        )
    if not body.change_id:
        raise InputError("request body", "change_id", "give change_id or issue_id")
    if body.why is not None:
        path = create_proposal(p, body.change_id, body.why, clock=clock, capability=body.capability)
    elif body.capability:
        raise InputError("request body", "capability", "a capability needs a why (or issue_id)")
    else:
        path = create_change(p, body.change_id, clock=clock, description=body.description)
    reader.invalidate(p.changes_dir)
    change = reader.change(p, body.change_id)
    record_created(engine, p, change.id, actor=actor, clock=clock, change=change)
    return JSONResponse(
        {
            "change_id": body.change_id,
            "project": p.id,
            "path": str(path),
            "change": change.summary_json(),
        },
        status_code=201,
    )


@router.post("/specs/changes/{change_id}/archive")
async def archive(
    change_id: str, request: Request, engine: EngineDep, clock: ClockDep, reader: ReaderDep
) -> Any:
    caller = await caller_or_problem(request)
    if isinstance(caller, JSONResponse):
        return caller
    body = ArchiveBody()
    if request.headers.get("content-length") not in (None, "0"):
        data = await json_body(request, 10_000)
        if isinstance(data, JSONResponse):
            return data
        try:
            body = ArchiveBody.model_validate(data)
        except ValidationError as exc:
            return reason_problem(422, "invalid", f"request body: {exc.errors()[0]['msg']}")

    def run() -> dict[str, Any]:
        p = reader.project(body.project)
        before = reader.change(p, change_id)
        result = archive_change(p, change_id, clock=clock)
        reader.invalidate(p.changes_dir)
        reader.invalidate(p.specs_dir)
        event = record_archived(
            engine,
            p,
            result,
            actor=caller.actor,
            clock=clock,
            change=None if before.archived else before,
        )
        return {**result.to_json(), "project": p.id, "event_id": event}

    return await call(run)
