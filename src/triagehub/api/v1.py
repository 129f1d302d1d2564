"""The REST API, ``/api/v1``: issues, triage, patterns, runs, checks, repositories, metrics,
ingestion, export and the live event stream; plus what the app around it needs: one problem
shape for every error, bearer-token auth, Prometheus ``/metrics`` and an offline ``/docs`` page.

Thin by design: parameters are parsed and validated here, the reading is done by the query
functions of :mod:`triagehub.store.queries`, the writing by :mod:`triagehub.store.triage`,
:mod:`triagehub.store.lifecycle` and :mod:`triagehub.engine.ingest`.

**Errors** are RFC 9457 problem documents (``application/problem+json``): ``type``, ``title``,
``status``, ``detail``, ``instance``, and ``errors`` (``location``, ``message``) for invalid input.

**Auth**: ``Authorization: Bearer th_...`` with a token made by ``triagehub token create``. Write
endpoints need a ``write`` token (401 without a valid token, 403 with a ``read`` one); reads are
open unless ``api.require_token_for_reads`` is set. A token that is given must be valid.

**Live stream** (``GET /api/v1/stream``): server-sent events read from the database, so that
changes made by any process show up: every ``stream_poll_seconds`` the stream reads the timeline
(``issue_events``), the occurrences and the AI agents' hook events with ids above the last ones
sent. Each event's id is the cursor ``e<issue event>-o<occurrence>-a<agent event>`` of everything
sent so far: a client that reconnects with ``Last-Event-ID`` (browsers do it by themselves) gets
what it missed, in order. Ids left out of a batch (a transaction still committing on PostgreSQL,
whose sequence numbers can commit out of order) are looked for again for a minute. A comment line
every 15 s keeps proxies from closing an idle stream. A stream ends when the client goes away
and when the server shuts down (the app's lifespan, or SIGINT/SIGTERM under uvicorn).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations, which
# name dependencies made inside ``api_router`` (closures it could not resolve from strings).

import base64
import hashlib
import heapq
import logging
import re
import shutil
import signal
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, Literal
from urllib.parse import unquote_plus

import anyio
import orjson
from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    File,
    Query,
    Request,
    Security,
    UploadFile,
)
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triagehub.clock import Clock
from triagehub.config import ApiConfig, Settings
from triagehub.core.lifecycle import Actor
from triagehub.core.models import Category, Decision, HistoryClass, IssueState, Kind, Level
from triagehub.core.timeparse import as_utc
from triagehub.engine.ingest import IngestSummary, ingest_files, ingest_reports
from triagehub.errors import InputError
from triagehub.sources import FORMATS, ParseOptions
from triagehub.sources.events import parse_objects
from triagehub.store import lifecycle as store_lifecycle
from triagehub.store import queries
from triagehub.store.metrics import csv_chunks
from triagehub.store.triage import apply_override

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://triagehub.dev/problems/"
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
REPOSITORY_PATTERN = r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$"
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
MAX_UPLOAD_FILES = 50
STREAM_BATCH = 200
STREAM_HEARTBEAT_S = 15.0
STREAM_HOLE_TTL_S = 60.0
STREAM_MAX_HOLES = 50
EXPORT_PAGE = 500
PATCH_FIELDS = ("category", "kind", "severity", "priority", "decision", "assignee", "expert")
DEFAULT_WINDOW = timedelta(days=7)


# -- responses -----------------------------------------------------------------------------------


class JSONBody(Response):
    """JSON rendered with orjson (datetimes are already ISO strings)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class ApiProblem(Exception):
    """An error answered as a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    body.update(extra or {})
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {})
    )


def _input_problem(exc: InputError, status: int = 422) -> ApiProblem:
    where = f"{exc.source}: {exc.location}" if exc.location else exc.source
    return ApiProblem(
        status,
        "invalid-input" if status == 422 else "conflict",
        "Invalid input" if status == 422 else "Conflict",
        str(exc),
        errors=[{"location": where, "message": exc.reason}],
    )


_STATUS_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


def _location(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for item in loc:
        parts.append(f"[{item}]" if isinstance(item, int) else ("." if parts else "") + str(item))
    return "".join(parts)


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error with one problem shape: FastAPI's validation errors, HTTP errors
    (404, 405, ...), ``ApiProblem``, ``InputError`` (422) and unexpected errors (500, logged with
    a request id)."""

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"location": _location(e.get("loc", ())), "message": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"location": "", "message": "invalid request"}
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return problem_response(
            422,
            "Invalid request",
            f"{first['location']}: {first['message']}{more}",
            slug="validation-error",
            instance=request.url.path,
            errors=errors,
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        title = _STATUS_TITLES.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem_response(
            exc.status_code,
            title,
            detail,
            instance=request.url.path,
            headers=exc.headers,
        )

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiProblem)
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            slug=exc.slug,
            instance=request.url.path,
            errors=exc.errors,
            headers=exc.headers,
        )

    async def on_input(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InputError)
        return await on_problem(request, _input_problem(exc))

    async def on_error(request: Request, exc: Exception) -> Response:
        request_id = uuid.uuid4().hex
        log.error(
            "unexpected error answering %s %s",
            request.method,
            request.url.path,
            exc_info=exc,
            extra={"request_id": request_id},
        )
        return problem_response(
            500,
            "Internal Server Error",
            f"an unexpected error; it was logged with request id {request_id}",
            slug="internal-error",
            instance=request.url.path,
            headers={"X-Request-ID": request_id},
            extra={"request_id": request_id},
        )

    async def on_data_error(request: Request, exc: Exception) -> Response:
        # The database refused a value (NUL, a string over its column, a number out of range)
        # that got past the sanitiser: the client's input, so a 422 naming the reason.
        assert isinstance(exc, DBAPIError)
        reason = (str(exc.orig).strip().splitlines() or ["invalid value"])[0]
        log.warning("the database refused a request's value: %s", reason)
        return problem_response(
            422,
            "Invalid input",
            f"a value cannot be stored: {reason}",
            slug="invalid-input",
            instance=request.url.path,
        )

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(DataError, on_data_error)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(InputError, on_input)
    app.add_exception_handler(Exception, on_error)


# -- auth ----------------------------------------------------------------------------------------

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from `triagehub token create --name NAME --scope read|write`.",
)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: a token, or nobody (open reads)."""

    token: queries.TokenView | None

    @property
    def actor(self) -> str:
        return f"token:{self.token.name}" if self.token is not None else "anonymous"


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(
        401,
        "unauthorized",
        "Unauthorized",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="triagehub"'},
    )


class ApiAuth:
    """Bearer tokens checked against the store (``api_tokens``: SHA-256 of the token)."""

    def __init__(self, engine: Engine, config: ApiConfig, clock: Clock) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock

    def caller(self, request: Request, *, need: Literal["read", "write"]) -> Caller:
        header = request.headers.get("authorization")
        if not header:
            if need == "write":
                raise _unauthorized("this endpoint needs a write token: Authorization: Bearer th_…")
            if self.config.require_token_for_reads:
                raise _unauthorized("reads need a token here: Authorization: Bearer th_…")
            return Caller(None)
        scheme, _, raw = header.partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw:
            raise _unauthorized("expected Authorization: Bearer th_…")
        if len(raw) > 200 or not raw.isascii():
            raise _unauthorized("unknown or revoked token")
        with Session(self.engine) as session, session.begin():
            token = queries.authenticate_token(session=session, raw=raw, now=self.clock.now())
        if token is None:
            raise _unauthorized("unknown or revoked token")
        if need == "write" and token.scope != "write":
            raise ApiProblem(
                403,
                "forbidden",
                "Forbidden",
                f"token {token.name!r} has scope {token.scope!r}; this endpoint needs a "
                "write token",
            )
        return Caller(token)

    def reader(self) -> Callable[..., Caller]:
        def dependency(
            request: Request,
            _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
        ) -> Caller:
            return self.caller(request, need="read")

        return dependency

    def writer(self) -> Callable[..., Caller]:
        def dependency(
            request: Request,
            _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
        ) -> Caller:
            return self.caller(request, need="write")

        return dependency


# -- documented shapes (for the OpenAPI document; responses are rendered from the queries) -------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """An RFC 9457 problem document: every error of this API."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, str]] | None = None
    request_id: str | None = None


class IssueOut(_Out):
    id: int
    repository: str
    title: str
    state: IssueState
    category: Category
    kind: Kind
    severity: Level
    priority: Level
    history_class: HistoryClass
    decision: Decision
    confidence: float
    rationale: str
    fingerprint: str
    template: str
    occurrences: int
    checks: list[str]
    checks_count: int
    first_seen: datetime
    last_seen: datetime
    assignee: str | None
    expert: str | None
    sla_due_at: datetime | None
    scope: str
    source: str
    normalizer_version: int
    classification_source: str
    sample_message: str
    pattern_id: int | None
    labels: list[str]
    affected_models: list[str]
    resolved_at: datetime | None
    sla_breached_at: datetime | None
    escalation_level: int
    similar_issues: list[int]


class IssuePage(_Out):
    items: list[IssueOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done.")


class EventOut(_Out):
    id: int | None
    kind: str
    at: datetime
    actor: str
    data: dict[str, Any]


class OccurrenceOut(_Out):
    id: int
    check: str
    run: str
    attempt: int
    commit: str | None
    branch: str | None
    url: str | None
    status: str
    message: str
    log_excerpt: str
    occurred_at: datetime
    links: list[str]


class OccurrencePage(_Out):
    items: list[OccurrenceOut]
    next_cursor: str | None


class LifecycleOut(_Out):
    resolved_at: datetime | None
    snoozed_until: datetime | None
    snooze_occurrences: int | None
    escalation_level: int
    escalated_at: datetime | None
    sla_breached_at: datetime | None
    spec_change: str | None
    overrides: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class IssueDetailOut(IssueOut):
    timeline: list[EventOut]
    recent_occurrences: list[OccurrenceOut]
    lifecycle: LifecycleOut


class PatternOut(_Out):
    id: int
    template: str
    occurrences: int
    occurrences_in_range: int
    issues: int
    repositories: list[str]
    checks: int
    first_seen: datetime
    last_seen: datetime


class RunFailureOut(_Out):
    occurrence_id: int
    issue_id: int
    check: str
    status: str
    message: str
    occurred_at: datetime


class RunOut(_Out):
    id: int
    repository: str
    source: str
    external_id: str
    attempt: int
    commit_sha: str | None
    branch: str | None
    url: str | None
    status: str | None
    started_at: datetime | None
    finished_at: datetime | None
    occurred_at: datetime
    ingested_at: datetime
    results_total: int
    results_failed: int
    storm: bool


class RunDetailOut(RunOut):
    failures: list[RunFailureOut]


class RunPage(_Out):
    items: list[RunOut]
    next_cursor: str | None


class CheckIssueOut(_Out):
    id: int
    title: str
    state: str
    category: str
    priority: str
    occurrences: int
    last_seen: datetime


class CheckOut(_Out):
    id: int
    repository: str
    key: str
    runs: int
    failures: int
    consecutive_failures: int
    last_status: str | None
    last_run_at: datetime | None
    last_pass_at: datetime | None
    last_fail_at: datetime | None
    last_pass_commit: str | None
    last_fail_commit: str | None
    flaky: bool
    recent: list[Literal["pass", "fail"]]
    failure_rate: float | None


class CheckDetailOut(CheckOut):
    issues: list[CheckIssueOut]


class CheckPage(_Out):
    items: list[CheckOut]
    next_cursor: str | None


class IngestOut(_Out):
    files: int
    formats: dict[str, str]
    runs: int
    duplicate_runs: int
    results: int
    failures: int
    passes: int
    skipped: int
    occurrences: int
    storms: int
    new_issues: int
    updated_issues: int
    regressions: int
    llm_refined: int
    llm_fallbacks: int
    errors: list[str]
    warnings: list[str]


class SnoozeIn(BaseModel):
    """Exactly one of: until a time, for N more occurrences, or forever (ignores the issue)."""

    model_config = ConfigDict(extra="forbid")

    until: datetime | None = None
    occurrences: int | None = Field(default=None, ge=1, le=1_000_000)
    forever: bool = False


class IssuePatch(BaseModel):
    """A human triage decision. ``reason`` is required and goes on the timeline; every other
    field is optional. Fields set here are kept over the automatic classification."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, pattern=NO_NUL)
    state: IssueState | None = None
    category: Category | None = None
    kind: Kind | None = None
    severity: Level | None = None
    priority: Level | None = None
    decision: Decision | None = None
    assignee: str | None = Field(default=None, min_length=1, max_length=100, pattern=NO_NUL)
    expert: str | None = Field(default=None, min_length=1, max_length=100, pattern=NO_NUL)
    snooze: SnoozeIn | None = None


class IssueSort(StrEnum):
    last_seen_desc = "-last_seen"
    last_seen = "last_seen"
    first_seen_desc = "-first_seen"
    first_seen = "first_seen"
    occurrences_desc = "-occurrences"
    occurrences = "occurrences"
    priority = "priority"
    priority_desc = "-priority"
    severity = "severity"
    severity_desc = "-severity"
    id_desc = "-id"
    id = "id"


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "The body could not be parsed",
        401: "Missing, unknown or revoked token",
        403: "The token's scope does not allow this",
        404: "Not found",
        409: "Not possible in the issue's current state",
        413: "The body is over the size limit",
        415: "Unsupported content type",
        422: "Invalid parameters or body",
    }
    return {code: {"model": Problem, "description": descriptions[code]} for code in codes}


# -- helpers -------------------------------------------------------------------------------------

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


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _window(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    end = _utc(until) or now
    start = _utc(since) or end - DEFAULT_WINDOW
    if start >= end:
        raise InputError("since", start.isoformat(), "must be before until")
    return start, end


def _check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and as_utc(since) >= as_utc(until):
        raise InputError("since", since.isoformat(), "must be before until")


def _not_found(what: str, key: object) -> ApiProblem:
    return ApiProblem(404, "not-found", "Not Found", f"no {what} {key}")


def _page_json(page: queries.Page[Any]) -> dict[str, Any]:
    return {"items": [item.to_json() for item in page.items], "next_cursor": page.next_cursor}


# -- the router ----------------------------------------------------------------------------------


def api_router(engine: Engine, settings: Settings, clock: Clock, auth: ApiAuth) -> APIRouter:
    """The ``/api/v1`` routes. Streams end when the app shuts down (the router's lifespan)."""
    hub = StreamHub(settings.api.stream_poll_seconds)

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            hub.close()

    router = APIRouter(prefix=PREFIX, lifespan=lifespan)
    read = Depends(auth.reader())
    write = Depends(auth.writer())
    max_bytes = int(settings.api.max_upload_mb * 1024 * 1024)
    events_bytes = min(max_bytes, int(settings.api.max_events_mb * 1024 * 1024))

    # -- issues --

    @router.get(
        "/issues",
        tags=["issues"],
        response_model=None,
        responses={200: {"model": IssuePage}, **problem_responses(401, 422)},
    )
    def list_issues(
        caller: Annotated[Caller, read],
        repository: Annotated[list[RepoName] | None, Query(description="owner/name")] = None,
        state: Annotated[list[IssueState] | None, Query()] = None,
        category: Annotated[list[Category] | None, Query()] = None,
        kind: Annotated[list[Kind] | None, Query()] = None,
        severity: Annotated[list[Level] | None, Query()] = None,
        priority: Annotated[list[Level] | None, Query()] = None,
        history_class: Annotated[list[HistoryClass] | None, Query()] = None,
        decision: Annotated[list[Decision] | None, Query()] = None,
        assignee: Annotated[list[Person] | None, Query()] = None,
        since: Annotated[datetime | None, Query(description="last_seen ≥ since")] = None,
        until: Annotated[datetime | None, Query(description="last_seen < until")] = None,
        q: Annotated[
            str | None,
            Query(
                max_length=queries.MAX_TEXT_QUERY,
                pattern=NO_NUL,
                description="Case-insensitive text in the title, template or sample message.",
            ),
        ] = None,
        sort: IssueSort = IssueSort.last_seen_desc,
        cursor: CursorParam = None,
        limit: Limit = 50,
    ) -> Response:
        """Issues matching every given filter (repeat a filter for alternatives:
        `state=open&state=regressed`), one keyset page at a time. Sorts: `last_seen`,
        `first_seen`, `occurrences`, `id` (`-` first for descending), `priority` and `severity`
        (critical first; `-priority` low first)."""
        _check_range(since, until)
        query = queries.IssueQuery(
            repositories=tuple(repository or ()),
            states=tuple(s.value for s in state or ()),
            categories=tuple(c.value for c in category or ()),
            kinds=tuple(k.value for k in kind or ()),
            severities=tuple(v.value for v in severity or ()),
            priorities=tuple(v.value for v in priority or ()),
            history_classes=tuple(h.value for h in history_class or ()),
            decisions=tuple(d.value for d in decision or ()),
            assignees=tuple(assignee or ()),
            since=_utc(since),
            until=_utc(until),
            text=q or None,
            sort=sort.value,
        )
        with Session(engine) as session:
            page = queries.search_issues(session=session, query=query, limit=limit, cursor=cursor)
        return JSONBody(_page_json(page))

    def issue_detail(issue_id: int, occurrences: int) -> dict[str, Any]:
        with Session(engine) as session:
            detail = queries.get_issue(session=session, issue_id=issue_id, occurrences=occurrences)
            extra = queries.issue_lifecycle(session=session, issue_id=issue_id)
        if detail is None or extra is None:
            raise _not_found("issue", issue_id)
        data = detail.to_json()
        data["lifecycle"] = extra
        return data

    @router.get(
        "/issues/{issue_id}",
        tags=["issues"],
        response_model=None,
        responses={200: {"model": IssueDetailOut}, **problem_responses(401, 404, 422)},
    )
    def get_issue(
        caller: Annotated[Caller, read],
        issue_id: IdPath,
        occurrences: Annotated[int, Query(ge=0, le=200)] = 20,
    ) -> Response:
        """One issue with its timeline (every change, and one entry per run it failed in) and
        its most recent occurrences."""
        return JSONBody(issue_detail(issue_id, occurrences))

    @router.get(
        "/issues/{issue_id}/occurrences",
        tags=["issues"],
        response_model=None,
        responses={200: {"model": OccurrencePage}, **problem_responses(401, 404, 422)},
    )
    def list_issue_occurrences(
        caller: Annotated[Caller, read],
        issue_id: IdPath,
        cursor: CursorParam = None,
        limit: Limit = 50,
    ) -> Response:
        """Every occurrence of an issue, newest first."""
        with Session(engine) as session:
            if queries.issue_lifecycle(session=session, issue_id=issue_id) is None:
                raise _not_found("issue", issue_id)
            page = queries.issue_occurrences(
                session=session, issue_id=issue_id, limit=limit, cursor=cursor
            )
        return JSONBody(_page_json(page))

    @router.patch(
        "/issues/{issue_id}",
        tags=["issues"],
        response_model=None,
        responses={
            200: {"model": IssueDetailOut},
            **problem_responses(400, 401, 403, 404, 409, 422),
        },
    )
    def patch_issue(
        caller: Annotated[Caller, write], issue_id: IdPath, body: IssuePatch
    ) -> Response:
        """Triage an issue: set its classification, decision, assignee or expert, move its state
        (the state machine decides which moves exist: 409 otherwise), or snooze it. Everything
        is recorded on the timeline with the reason and the token's name, in one transaction."""
        changes = {
            name: value.value if isinstance(value, StrEnum) else value
            for name in PATCH_FIELDS
            if (value := getattr(body, name)) is not None
        }
        if not changes and body.state is None and body.snooze is None:
            raise InputError(
                "request body", "", "nothing to change: give a field, a state or a snooze"
            )
        now = clock.now()
        try:
            with Session(engine) as session, session.begin():
                if queries.issue_lifecycle(session=session, issue_id=issue_id) is None:
                    raise _not_found("issue", issue_id)
                if changes:
                    if body.state is not None:
                        changes["state"] = body.state.value
                    apply_override(
                        session=session,
                        issue_id=issue_id,
                        changes=changes,
                        reason=body.reason,
                        actor=caller.actor,
                        now=now,
                    )
                elif body.state is not None:
                    store_lifecycle.change_state(
                        session,
                        issue_id,
                        body.state,
                        actor=Actor.HUMAN,
                        reason=body.reason,
                        now=now,
                        who=caller.actor,
                    )
                if body.snooze is not None:
                    snooze = body.snooze
                    store_lifecycle.snooze(
                        session,
                        issue_id,
                        until=_utc(snooze.until),
                        occurrences=snooze.occurrences,
                        forever=snooze.forever,
                        reason=body.reason,
                        now=now,
                        who=caller.actor,
                    )
        except InputError as exc:
            conflict = exc.source == "state" or (
                exc.source == "snooze" and exc.location == str(issue_id)
            )
            raise _input_problem(exc, 409 if conflict else 422) from None
        return JSONBody(issue_detail(issue_id, 20))

    # -- patterns, runs, checks --

    @router.get(
        "/patterns",
        tags=["patterns"],
        response_model=None,
        responses={200: {"model": list[PatternOut]}, **problem_responses(401, 422)},
    )
    def list_patterns(
        caller: Annotated[Caller, read],
        since: datetime | None = None,
        repository: RepositoryParam = None,
        min_repositories: Annotated[int, Query(ge=1, le=1000)] = 1,
        limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = 100,
    ) -> Response:
        """Template families across checks and repositories, most frequent since `since`
        first (`min_repositories=2`: cross-repository patterns only)."""
        with Session(engine) as session:
            views = queries.list_patterns(
                session=session,
                since=_utc(since),
                repository=repository,
                min_repositories=min_repositories,
                limit=limit,
            )
        return JSONBody([v.to_json() for v in views])

    @router.get(
        "/runs",
        tags=["runs"],
        response_model=None,
        responses={200: {"model": RunPage}, **problem_responses(401, 422)},
    )
    def list_runs(
        caller: Annotated[Caller, read],
        repository: RepositoryParam = None,
        source: Annotated[str | None, Query(max_length=40, pattern=NO_NUL)] = None,
        status: Annotated[str | None, Query(max_length=40, pattern=NO_NUL)] = None,
        branch: Annotated[str | None, Query(max_length=255, pattern=NO_NUL)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: CursorParam = None,
        limit: Limit = 50,
    ) -> Response:
        """Runs, newest first."""
        _check_range(since, until)
        with Session(engine) as session:
            page = queries.list_runs(
                session=session,
                repository=repository,
                source=source,
                status=status,
                branch=branch,
                since=_utc(since),
                until=_utc(until),
                limit=limit,
                cursor=cursor,
            )
        return JSONBody(_page_json(page))

    @router.get(
        "/runs/{run_id}",
        tags=["runs"],
        response_model=None,
        responses={200: {"model": RunDetailOut}, **problem_responses(401, 404, 422)},
    )
    def get_run(caller: Annotated[Caller, read], run_id: IdPath) -> Response:
        """A run and its failures."""
        with Session(engine) as session:
            view = queries.get_run(session=session, run_id=run_id)
        if view is None:
            raise _not_found("run", run_id)
        return JSONBody(view.to_json())

    @router.get(
        "/checks",
        tags=["checks"],
        response_model=None,
        responses={200: {"model": CheckPage}, **problem_responses(401, 422)},
    )
    def list_checks(
        caller: Annotated[Caller, read],
        repository: RepositoryParam = None,
        flaky: bool | None = None,
        failing: Annotated[bool | None, Query(description="The last run failed.")] = None,
        q: Annotated[str | None, Query(max_length=queries.MAX_TEXT_QUERY, pattern=NO_NUL)] = None,
        cursor: CursorParam = None,
        limit: Limit = 50,
    ) -> Response:
        """Checks with their history: runs, failures, last pass and failure, flaky flag and the
        outcomes of the latest runs."""
        with Session(engine) as session:
            page = queries.list_checks(
                session=session,
                repository=repository,
                flaky=flaky,
                failing=failing,
                text=q or None,
                limit=limit,
                cursor=cursor,
            )
        return JSONBody(_page_json(page))

    @router.get(
        "/checks/{check_id}",
        tags=["checks"],
        response_model=None,
        responses={200: {"model": CheckDetailOut}, **problem_responses(401, 404, 422)},
    )
    def get_check(caller: Annotated[Caller, read], check_id: IdPath) -> Response:
        """A check with its history and the issues it failed in."""
        with Session(engine) as session:
            view = queries.get_check(session=session, check_id=check_id)
        if view is None:
            raise _not_found("check", check_id)
        return JSONBody(view.to_json())

    # -- repositories and metrics (computed by triagehub.store.metrics) --

    @router.get(
        "/repositories",
        tags=["metrics"],
        response_model=None,
        responses={200: {"model": list[dict[str, Any]]}, **problem_responses(401, 422)},
    )
    def list_repositories(
        caller: Annotated[Caller, read],
        repository: RepositoryParam = None,
        since: Annotated[datetime | None, Query(description="Default: until − 7 days.")] = None,
        until: Annotated[datetime | None, Query(description="Default: now.")] = None,
    ) -> Response:
        """Repositories with their health score and figures for the time range."""
        from triagehub.store.metrics import repository_health

        start, end = _window(since, until, clock.now())
        with Session(engine) as session:
            health = repository_health(session, since=start, until=end, repository=repository)
        return JSONBody([h.to_json() for h in health])

    @router.get(
        "/metrics",
        tags=["metrics"],
        response_model=None,
        responses={200: {"model": dict[str, Any]}, **problem_responses(401, 422)},
    )
    def get_metrics(
        caller: Annotated[Caller, read],
        repository: RepositoryParam = None,
        since: Annotated[datetime | None, Query(description="Default: until − 7 days.")] = None,
        until: Annotated[datetime | None, Query(description="Default: now.")] = None,
    ) -> Response:
        """The success metrics over a time range, overall or for one repository: noise
        reduction, time to first triage and to resolution, auto-resolution and override rates,
        escalations, SLA breaches, run success rate and the trend per day."""
        from triagehub.store.metrics import compute_metrics

        start, end = _window(since, until, clock.now())
        with Session(engine) as session:
            metrics = compute_metrics(session, repository=repository, since=start, until=end)
        return JSONBody(metrics.to_json())

    @router.get(
        "/metrics/brief",
        tags=["metrics"],
        response_model=None,
        responses={200: {"model": dict[str, Any]}, **problem_responses(401, 422)},
    )
    def get_brief_metrics(
        caller: Annotated[Caller, read],
        repository: RepositoryParam = None,
        since: Annotated[datetime | None, Query(description="Default: until − 7 days.")] = None,
        until: Annotated[datetime | None, Query(description="Default: now.")] = None,
    ) -> Response:
        """The brief's success metrics over a time range, each with its definition, target,
        verdict (``met``) and the previous range's value (``previous``, ``trend``)."""
        from triagehub.store.metrics import brief_metrics

        start, end = _window(since, until, clock.now())
        with Session(engine) as session:
            found = brief_metrics(session, repository=repository, since=start, until=end)
        return JSONBody(
            {
                "repository": repository,
                "since": start.isoformat().replace("+00:00", "Z"),
                "until": end.isoformat().replace("+00:00", "Z"),
                "metrics": [m.to_json() for m in found],
            }
        )

    # -- ingestion --

    def ingest_problem(summary: IngestSummary, names: Mapping[str, str]) -> ApiProblem:
        def clean(text: str) -> str:
            for temp, name in names.items():
                text = text.replace(temp, name)
            return text

        errors = [
            {
                "location": clean(f"{e.source}: {e.location}" if e.location else e.source),
                "message": clean(e.reason),
            }
            for e in summary.errors
        ]
        return ApiProblem(
            422,
            "invalid-input",
            "Invalid input",
            clean(str(summary.errors[0])) + (" (nothing was stored)" if not summary.runs else ""),
            errors=errors,
        )

    @router.post(
        "/events",
        tags=["ingestion"],
        response_model=None,
        responses={200: {"model": IngestOut}, **problem_responses(400, 401, 403, 413, 415, 422)},
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "One generic failure event, a JSON array of them, or JSON Lines "
                "(`application/x-ndjson`). See the README's generic events format.",
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"type": "object"},
                                {"type": "array", "items": {"type": "object"}},
                            ]
                        }
                    },
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def post_events(
        request: Request,
        caller: Annotated[Caller, write],
        repository: Annotated[
            str | None,
            Query(
                max_length=200,
                pattern=REPOSITORY_PATTERN,
                description="The repository of events that do not name one.",
            ),
        ] = None,
    ) -> Response:
        """Ingest generic failure events: all of them in one transaction, or none (422 names
        the event and field that was wrong). Ingesting the same events twice changes
        nothing."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/json", "application/x-ndjson", "application/jsonl"):
            raise ApiProblem(
                415,
                "unsupported-media-type",
                "Unsupported Media Type",
                f"content type {ctype or 'none'!r}: send application/json or application/x-ndjson",
            )
        body = await _read_body(request, events_bytes, "api.max_events_mb")
        objects = _decode_events(body, ndjson=ctype != "application/json")
        reports = parse_objects(objects, "request body", default_repository=repository)
        summary = await run_in_threadpool(
            lambda: ingest_reports(engine, reports, settings, clock=clock)
        )
        return JSONBody(summary.as_dict())

    async def ingest_uploads(
        fmt: str, uploads: list[tuple[str, UploadFile]], repository: str | None
    ) -> Response:
        folder = Path(tempfile.mkdtemp(prefix="triagehub-upload-"))
        try:
            paths: list[Path] = []
            names: dict[str, str] = {}
            for target, upload in uploads:
                path = folder / target
                size = 0
                with path.open("wb") as fh:
                    while chunk := await upload.read(1024 * 1024):
                        size += len(chunk)
                        if size > max_bytes:
                            raise _too_large(max_bytes)
                        fh.write(chunk)
                if size == 0:
                    raise InputError(upload.filename or target, "", "the uploaded file is empty")
                names[str(path)] = upload.filename or target
                paths.append(path)
            main = [p for p in paths if p.name != "manifest.json"]
            options = ParseOptions(
                repository=repository,
                project_repositories=settings.dbt_project_repositories(),
            )
            summary = await run_in_threadpool(
                lambda: ingest_files(
                    engine, main, settings, fmt=FORMATS[fmt], options=options, clock=clock
                )
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if summary.errors:
            raise ingest_problem(summary, names | {str(folder) + "/": ""})
        data = summary.as_dict()
        data["formats"] = {names.get(k, k): v for k, v in data["formats"].items()}
        return JSONBody(data)

    upload_repository = Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=REPOSITORY_PATTERN,
            description="owner/name (required for JUnit and Playwright reports)",
        ),
    ]

    @router.post(
        "/reports/junit",
        tags=["ingestion"],
        response_model=None,
        responses={200: {"model": IngestOut}, **problem_responses(400, 401, 403, 413, 422)},
    )
    async def post_junit(
        caller: Annotated[Caller, write],
        file: Annotated[
            list[UploadFile], File(description="JUnit XML file(s); several files are one run")
        ],
        repository: upload_repository = None,
    ) -> Response:
        """Upload JUnit/xUnit XML (pytest, Surefire, Gradle, jest-junit, ...)."""
        if not 1 <= len(file) <= MAX_UPLOAD_FILES:
            raise InputError("file", "", f"give 1 to {MAX_UPLOAD_FILES} files")
        return await ingest_uploads(
            "junit", [(f"report-{n}.xml", f) for n, f in enumerate(file, 1)], repository
        )

    @router.post(
        "/reports/playwright",
        tags=["ingestion"],
        response_model=None,
        responses={200: {"model": IngestOut}, **problem_responses(400, 401, 403, 413, 422)},
    )
    async def post_playwright(
        caller: Annotated[Caller, write],
        file: Annotated[UploadFile, File(description="A Playwright JSON report")],
        repository: upload_repository = None,
    ) -> Response:
        """Upload a Playwright JSON report (`--reporter=json`)."""
        return await ingest_uploads("playwright", [("report.json", file)], repository)

    @router.post(
        "/reports/dbt",
        tags=["ingestion"],
        response_model=None,
        responses={200: {"model": IngestOut}, **problem_responses(400, 401, 403, 413, 422)},
    )
    async def post_dbt(
        caller: Annotated[Caller, write],
        run_results: Annotated[UploadFile, File(description="target/run_results.json")],
        manifest: Annotated[
            UploadFile | None,
            File(description="target/manifest.json (optional: test types, lineage, owners)"),
        ] = None,
        repository: Annotated[
            str | None,
            Query(
                max_length=200,
                pattern=REPOSITORY_PATTERN,
                description="owner/name; default: the repository whose dbt_project matches",
            ),
        ] = None,
    ) -> Response:
        """Upload dbt Core artifacts: run_results.json, and the manifest beside it."""
        uploads = [("run_results.json", run_results)]
        if manifest is not None:
            uploads.append(("manifest.json", manifest))
        return await ingest_uploads("dbt", uploads, repository)

    # -- export --

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
        caller: Annotated[Caller, read],
        format: ExportFormat = ExportFormat.json,
        repository: RepositoryParam = None,
        state: Annotated[list[IssueState] | None, Query()] = None,
        since: Annotated[datetime | None, Query(description="last_seen ≥ since")] = None,
        until: Annotated[datetime | None, Query(description="last_seen < until")] = None,
    ) -> Response:
        """Every matching issue (with its lifecycle dates), streamed, newest activity first."""
        _check_range(since, until)
        query = queries.IssueQuery(
            repositories=(repository,) if repository else (),
            states=tuple(s.value for s in state or ()),
            since=_utc(since),
            until=_utc(until),
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

    # -- the live stream --

    @router.get(
        "/stream",
        tags=["stream"],
        response_model=None,
        responses={
            200: {
                "description": "Server-sent events: `issue` (timeline entries: created, "
                "classified, state_changed, escalated, ...), `occurrence` and `agent`.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **problem_responses(401, 422),
        },
    )
    async def stream(
        request: Request,
        caller: Annotated[Caller, read],
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

    return router


# -- ingestion helpers ---------------------------------------------------------------------------


class _TooLarge(Exception):
    pass


def _too_large(limit: int, setting: str = "api.max_upload_mb") -> ApiProblem:
    return ApiProblem(
        413,
        "content-too-large",
        "Content Too Large",
        f"the body is over the limit of {limit} bytes ({setting})",
    )


async def _read_body(request: Request, limit: int, setting: str = "api.max_upload_mb") -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(limit, setting)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise _too_large(limit, setting)
    return bytes(body)


def _decode_events(body: bytes, *, ndjson: bool) -> list[Any]:
    if not body.strip():
        raise InputError("request body", "", "empty; expected JSON events")
    if not ndjson:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InputError("request body", "", f"malformed JSON: {exc}") from None
        if isinstance(doc, list):
            return doc
        return [doc]
    objects: list[Any] = []
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        try:
            objects.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise InputError("request body", f"line {number}", f"malformed JSON: {exc}") from None
    return objects


class PlainUrl:
    """Refuse (422, like any invalid parameter) a request whose path or query string holds a
    control character (``%00``, ``%0A``, ...): no route, id or filter has one, and the database
    and the file system refuse them in ways that would otherwise surface as a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = str(scope.get("path", ""))
            query = unquote_plus(bytes(scope.get("query_string", b"")).decode("latin-1"))
            bad = _URL_CONTROL.search(path) or _URL_CONTROL.search(query)
            if bad is not None:
                where = "path" if _URL_CONTROL.search(path) else "query string"
                response = problem_response(
                    422,
                    "Invalid request",
                    f"the {where} holds a control character "
                    f"(U+{ord(bad.group()):04X}); none is valid in a path, id or filter",
                    slug="validation-error",
                    instance=_URL_CONTROL.sub("", path),
                )
                await response(scope, _no_receive, send)
                return
        await self.app(scope, receive, send)


_URL_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes on the API's POST routes (413), by their
    ``Content-Length`` or, without one, while they arrive (before a multipart body is spooled
    to disk)."""

    def __init__(self, app: ASGIApp, *, limit: int, prefix: str = PREFIX) -> None:
        self.app = app
        self.limit = limit
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("POST", "PUT", "PATCH")
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, send)
            return
        seen = 0
        tripped = False
        started = False

        async def counted() -> Message:
            nonlocal seen, tripped
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    tripped = True
                    raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if tripped:
                return  # the app's answer to the interrupted body is replaced by the 413
            started = True
            await send(message)

        with suppress(_TooLarge):
            await self.app(scope, counted, guarded)
        if tripped and not started:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = problem_response(
            413,
            "Content Too Large",
            f"the body is over the limit of {self.limit} bytes (api.max_upload_mb)",
            slug="content-too-large",
            instance=scope["path"],
        )
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


# -- export helpers ------------------------------------------------------------------------------


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


# -- the live stream -----------------------------------------------------------------------------

_CURSOR = re.compile(r"^e(\d{1,18})-o(\d{1,18})-a(\d{1,18})$")


@dataclass(frozen=True, slots=True)
class StreamCursor:
    """The ids of the last issue event, occurrence and agent event sent."""

    issue_event: int
    occurrence: int
    agent_event: int

    def __str__(self) -> str:
        return f"e{self.issue_event}-o{self.occurrence}-a{self.agent_event}"

    @classmethod
    def parse(cls, text: str) -> "StreamCursor":
        match = _CURSOR.match(text.strip())
        if match is None:
            raise InputError(
                "Last-Event-ID", text[:100], "expected an event id of this stream (e1-o2-a3)"
            )
        return cls(*(int(g) for g in match.groups()))

    @classmethod
    def head(cls, engine: Engine) -> "StreamCursor":
        with Session(engine) as session:
            return cls(*queries.stream_heads(session=session))


@dataclass(slots=True)
class _Hole:
    low: int
    high: int
    expires: float


@dataclass(slots=True)
class _Tail:
    """The ids of one table still to read: everything above ``last``, and the holes (ids
    skipped below it, which may belong to a transaction still committing) until they expire."""

    last: int
    holes: list[_Hole] = field(default_factory=list)

    def hole_ranges(self) -> list[tuple[int, int | None]]:
        return [(h.low, h.high) for h in self.holes]

    def found(self, in_holes: Sequence[int], above: Sequence[int], now: float) -> None:
        """Record the ids read in the holes and above ``last`` (both ascending)."""
        holes: list[_Hole] = []
        for hole in self.holes:
            inside = [pk for pk in in_holes if hole.low <= pk <= hole.high]
            holes.extend(
                _Hole(low, high, hole.expires) for low, high in _gaps(hole.low, hole.high, inside)
            )
        if above:
            expires = now + STREAM_HOLE_TTL_S
            holes.extend(
                _Hole(low, high, expires) for low, high in _gaps(self.last + 1, above[-1], above)
            )
            self.last = above[-1]
        live = sorted((h for h in holes if h.expires > now), key=lambda h: h.low)
        self.holes = live[-STREAM_MAX_HOLES:]


def _gaps(low: int, high: int, ids: Sequence[int]) -> list[tuple[int, int]]:
    """The ranges of ``[low, high]`` not in ``ids`` (ascending)."""
    gaps: list[tuple[int, int]] = []
    previous = low - 1
    for pk in ids:
        if pk > previous + 1:
            gaps.append((previous + 1, pk - 1))
        previous = max(previous, pk)
    if previous < high:
        gaps.append((previous + 1, high))
    return gaps


_HUBS: "weakref.WeakSet[StreamHub]" = weakref.WeakSet()
_SIGNALS_LOCK = threading.Lock()


def _close_all_streams(signum: int, frame: FrameType | None, previous: Any) -> None:
    for hub in list(_HUBS):
        hub.close()
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


def _hook_signals() -> None:
    """End the streams on SIGINT/SIGTERM before the server's own handler runs (uvicorn waits
    for open responses to finish before it shuts the app down)."""
    if threading.current_thread() is not threading.main_thread():
        return
    with _SIGNALS_LOCK:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            if getattr(previous, "triagehub_streams", False):
                continue

            def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
                _close_all_streams(signum, frame, previous)

            handler.triagehub_streams = True  # type: ignore[attr-defined]
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError):
                return


class StreamHub:
    """The live streams of one app; ``close`` ends them all (on shutdown)."""

    def __init__(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self.closed = threading.Event()
        _HUBS.add(self)

    def close(self) -> None:
        self.closed.set()

    async def events(
        self, engine: Engine, request: Request, start: StreamCursor
    ) -> AsyncIterator[str]:
        _hook_signals()
        tails = {
            "issue": _Tail(start.issue_event),
            "occurrence": _Tail(start.occurrence),
            "agent": _Tail(start.agent_event),
        }
        yield f"retry: 2000\nid: {start}\n: connected\n\n"
        beat = time.monotonic()
        while not self.closed.is_set():
            if await request.is_disconnected():
                return
            sent = {kind: tail.last for kind, tail in tails.items()}
            batches, full = await run_in_threadpool(_poll, engine, tails)
            merged = heapq.merge(
                *([(kind, row) for row in rows] for kind, rows in batches.items()),
                key=_event_time,
            )
            for kind, row in merged:
                # The cursor moves past a row once it is sent (rows found in holes are below
                # it already).
                sent[kind] = max(sent[kind], int(row["id"]))
                cursor = StreamCursor(sent["issue"], sent["occurrence"], sent["agent"])
                yield f"id: {cursor}\nevent: {kind}\ndata: {orjson.dumps(row).decode()}\n\n"
                beat = time.monotonic()
            if full:
                continue
            if time.monotonic() - beat >= STREAM_HEARTBEAT_S:
                yield ": keepalive\n\n"
                beat = time.monotonic()
            if await self._wait(request):
                return

    async def _wait(self, request: Request) -> bool:
        """Sleep until the next poll; True when the stream should end."""
        deadline = time.monotonic() + self.poll_seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.closed.is_set():
                return True
            await anyio.sleep(min(0.25, left))
        return self.closed.is_set() or await request.is_disconnected()


_READERS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "issue": queries.issue_events_since,
    "occurrence": queries.occurrences_since,
    "agent": queries.agent_events_since,
}


def _event_time(item: tuple[str, Mapping[str, Any]]) -> str:
    row = item[1]
    return str(row.get("at") or row.get("occurred_at") or "")


def _poll(engine: Engine, tails: dict[str, _Tail]) -> tuple[dict[str, list[dict[str, Any]]], bool]:
    """Read each table's new rows (and the rows that appeared in its holes); returns them per
    kind, in id order, and whether a batch was full (more to read at once)."""
    found: dict[str, list[dict[str, Any]]] = {}
    full = False
    now = time.monotonic()
    with Session(engine) as session:
        for kind, tail in tails.items():
            read = _READERS[kind]
            in_holes: list[dict[str, Any]] = []
            if tail.holes:
                in_holes = read(session=session, ranges=tail.hole_ranges(), limit=STREAM_BATCH)
            above = read(session=session, ranges=[(tail.last + 1, None)], limit=STREAM_BATCH)
            full = full or len(above) == STREAM_BATCH or len(in_holes) == STREAM_BATCH
            tail.found([r["id"] for r in in_holes], [r["id"] for r in above], now)
            found[kind] = in_holes + above
    return found, full


# -- Prometheus ----------------------------------------------------------------------------------


class StoreCollector(Collector):
    """Gauges read from the store at scrape time (cheap aggregate queries, cached briefly so
    that several scrapers do not multiply the load)."""

    def __init__(self, engine: Engine, cache_seconds: float = 5.0) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, queries.StoreGauges] | None = None
        self._lock = threading.Lock()

    def _gauges(self) -> queries.StoreGauges:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            with Session(self.engine) as session:
                gauges = queries.store_gauges(session=session)
            self._cached = (time.monotonic(), gauges)
            return gauges

    def describe(self) -> Iterator[Metric]:
        return iter(())  # registering must not read the store (nor fill the cache)

    def collect(self) -> Iterator[Metric]:
        try:
            gauges = self._gauges()
        except Exception:
            log.exception("reading the store for /metrics failed")
            up = GaugeMetricFamily("triagehub_store_up", "1 when the store could be read")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("triagehub_store_up", "1 when the store could be read")
        up.add_metric([], 1)
        yield up
        issues = GaugeMetricFamily(
            "triagehub_issues", "Issues by state and category", labels=["state", "category"]
        )
        for (state, category), n in sorted(gauges.issues.items()):
            issues.add_metric([state, category], n)
        yield issues
        runs = CounterMetricFamily(
            "triagehub_ingested_runs", "Runs ingested, by source", labels=["source"]
        )
        for source, n in sorted(gauges.runs.items()):
            runs.add_metric([source], n)
        yield runs
        occurrences = CounterMetricFamily(
            "triagehub_ingested_failures", "Failures (occurrences) ingested"
        )
        occurrences.add_metric([], gauges.occurrences)
        yield occurrences
        outbox = GaugeMetricFamily(
            "triagehub_outbox_depth",
            "Outbox rows not done (pending, running, dead), by kind and status",
            labels=["kind", "status"],
        )
        for (kind, status), n in sorted(gauges.outbox.items()):
            outbox.add_metric([kind, status], n)
        yield outbox
        failing = GaugeMetricFamily(
            "triagehub_outbox_delivery_failures",
            "Outbox rows whose last delivery attempt failed (retrying or dead), by kind and status",
            labels=["kind", "status"],
        )
        for (kind, status), n in sorted(gauges.outbox_failing.items()):
            failing.add_metric([kind, status], n)
        yield failing


class RequestMetrics:
    """ASGI middleware: request counts and latency per route template."""

    def __init__(self, app: ASGIApp, *, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        streaming = False

        async def observe(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type" and value.startswith(b"text/event-stream"):
                        streaming = True
                        self._record(scope, status, started)
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            if not streaming:
                self._record(scope, status, started)

    def _record(self, scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if not path:
            # Routes added outside FastAPI's router (/openapi.json) are named by their path;
            # anything else unmatched shares one label (no label per scanned URL).
            path = scope.get("path", "") if status < 400 else "unmatched"
        method = scope.get("method", "")
        self.requests.labels(method, path, str(status)).inc()
        self.latency.labels(method, path).observe(time.perf_counter() - started)


def install_metrics(app: FastAPI, engine: Engine, auth: ApiAuth) -> CollectorRegistry:
    """``GET /metrics`` (Prometheus text format) and the request-latency middleware; one
    registry per app."""
    disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
    registry = CollectorRegistry(auto_describe=True)
    requests = Counter(
        "triagehub_http_requests",
        "HTTP requests answered, by method, route and status",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "triagehub_http_request_duration_seconds",
        "HTTP request latency (to the last byte; to the first for event streams)",
        ["method", "route"],
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        registry=registry,
    )
    registry.register(StoreCollector(engine))
    app.add_middleware(RequestMetrics, requests=requests, latency=latency)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        auth.caller(request, need="read")
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry


# -- the docs page and the OpenAPI document --------------------------------------------------------

DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>triagehub API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 1.5rem;
color:#1d1d1f}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
.op{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.2rem .8rem}
.op summary{cursor:pointer;padding:.35rem 0}
.m{display:inline-block;min-width:4.2rem;font:600 12px monospace;text-transform:uppercase}
.get{color:#0a7d33}.post{color:#0753a6}.patch{color:#9a5b00}.delete{color:#b00020}
code,pre{font:13px ui-monospace,monospace;background:#f5f5f7;border-radius:4px}
code{padding:0 .25rem}pre{padding:.5rem;overflow:auto;max-height:24rem}
table{border-collapse:collapse;margin:.4rem 0}
td,th{border-bottom:1px solid #eee;padding:.2rem .6rem;text-align:left;vertical-align:top}
.muted{color:#666}
</style></head><body>
<h1 id="title">triagehub API</h1>
<p class="muted">Generated from <a href="/openapi.json"><code>/openapi.json</code></a>.
Write endpoints need <code>Authorization: Bearer th_…</code> (<code>triagehub token create
--scope write</code>). Errors are <code>application/problem+json</code>.</p>
<div id="ops">Loading…</div>
<script>
function el(tag, attrs, text) {
  var e = document.createElement(tag);
  for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function typeOf(s) {
  if (!s) return "";
  if (s.$ref) return s.$ref.split("/").pop();
  if (s.anyOf) return s.anyOf.map(typeOf).join(" | ");
  if (s.type === "array") return typeOf(s.items) + "[]";
  if (s.enum) return s.enum.join(" | ");
  return s.type || "";
}
fetch("/openapi.json").then(function (r) { return r.json(); }).then(function (spec) {
  document.getElementById("title").textContent = spec.info.title + " " + spec.info.version;
  var root = document.getElementById("ops"); root.textContent = "";
  var groups = {};
  Object.keys(spec.paths).forEach(function (path) {
    Object.keys(spec.paths[path]).forEach(function (method) {
      var op = spec.paths[path][method], tag = (op.tags || ["other"])[0];
      (groups[tag] = groups[tag] || []).push([method, path, op]);
    });
  });
  Object.keys(groups).sort(function (a, b) {
    return (a === "other") - (b === "other");  // untagged routes last
  }).forEach(function (tag) {
    root.appendChild(el("h2", {}, tag));
    groups[tag].forEach(function (item) {
      var method = item[0], path = item[1], op = item[2];
      var d = el("details", {class: "op"}), s = el("summary");
      s.appendChild(el("span", {class: "m " + method}, method));
      s.appendChild(el("code", {}, path));
      s.appendChild(document.createTextNode(" " + (op.summary || "")));
      d.appendChild(s);
      if (op.description) d.appendChild(el("p", {}, op.description));
      var params = op.parameters || [];
      if (params.length) {
        var t = el("table"), h = el("tr");
        ["parameter", "in", "type", "description"].forEach(function (c) {
          h.appendChild(el("th", {}, c));
        });
        t.appendChild(h);
        params.forEach(function (p) {
          var tr = el("tr");
          tr.appendChild(el("td", {}, p.name + (p.required ? " *" : "")));
          tr.appendChild(el("td", {}, p.in));
          tr.appendChild(el("td", {}, typeOf(p.schema)));
          tr.appendChild(el("td", {}, p.description || (p.schema || {}).description || ""));
          t.appendChild(tr);
        });
        d.appendChild(t);
      }
      if (op.requestBody) {
        d.appendChild(el("p", {}, "Body: " + Object.keys(op.requestBody.content).join(", ")));
      }
      var codes = Object.keys(op.responses || {});
      d.appendChild(el("p", {class: "muted"}, "Responses: " + codes.map(function (c) {
        return c + " " + (op.responses[c].description || "");
      }).join("; ")));
      root.appendChild(d);
    });
  });
  var schemas = (spec.components || {}).schemas || {};
  root.appendChild(el("h2", {}, "schemas"));
  Object.keys(schemas).sort().forEach(function (name) {
    var d = el("details", {class: "op"});
    d.appendChild(el("summary", {}, name));
    d.appendChild(el("pre", {}, JSON.stringify(schemas[name], null, 2)));
    root.appendChild(d);
  });
}).catch(function (e) {
  document.getElementById("ops").textContent = "Could not load /openapi.json: " + e;
});
</script></body></html>
"""


def _inline_hash(tag: str) -> str:
    """The CSP source of the page's one inline ``<tag>`` block (its SHA-256)."""
    found = re.search(rf"<{tag}>(.*?)</{tag}>", DOCS_HTML, re.DOTALL)
    assert found is not None
    digest = hashlib.sha256(found.group(1).encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


# The docs page may run its own inline script and style (by hash) and fetch /openapi.json:
# nothing else, whatever the OpenAPI document holds.
DOCS_CSP = (
    f"default-src 'none'; script-src {_inline_hash('script')}; "
    f"style-src {_inline_hash('style')}; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"
)
DOCS_HEADERS = {
    "Content-Security-Policy": DOCS_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _problem_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document with every error response as ``application/problem+json``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        problem_ref = {"$ref": "#/components/schemas/Problem"}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if not isinstance(operation, dict):
                    continue
                for code, response in operation.get("responses", {}).items():
                    if code.isdigit() and int(code) >= 400:
                        response["content"] = {PROBLEM_JSON: {"schema": problem_ref}}
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema()
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    return openapi


def install_api_support(app: FastAPI, engine: Engine, settings: Settings, auth: ApiAuth) -> None:
    """What the app needs around the ``/api/v1`` router: the problem handlers, Prometheus
    ``/metrics`` with the latency middleware, the body size limit, the offline ``/docs``."""
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, limit=int(settings.api.max_upload_mb * 1024 * 1024))
    app.add_middleware(PlainUrl)
    install_metrics(app, engine, auth)  # added last: outermost, so it also times the 413s
    app.openapi = _problem_openapi(app)  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_HTML, headers=DOCS_HEADERS)
