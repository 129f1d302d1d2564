"""``/api/v1/events`` and ``/api/v1/reports/...``: ingest generic failure events and uploaded
JUnit, Playwright and dbt reports, each all in one transaction or not at all."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from triagehub.api.auth import WriteCaller
from triagehub.api.common import PREFIX, REPOSITORY_PATTERN, JSONBody
from triagehub.api.deps import ApiState, StateDep
from triagehub.api.problems import ApiProblem
from triagehub.api.schemas.common import problem_responses
from triagehub.api.schemas.ingest import IngestOut
from triagehub.engine.ingest import IngestSummary, ingest_files, ingest_reports
from triagehub.engine.refine import refine_later
from triagehub.errors import InputError
from triagehub.sources import FORMATS, ParseOptions
from triagehub.sources.events import parse_objects

MAX_UPLOAD_FILES = 50
EVENT_TYPES = ("application/json", "application/x-ndjson", "application/jsonl")

router = APIRouter(prefix=PREFIX)

UploadRepository = Annotated[
    str | None,
    Query(
        max_length=200,
        pattern=REPOSITORY_PATTERN,
        description="owner/name (required for JUnit and Playwright reports)",
    ),
]
EVENTS_BODY = {
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
}


@router.post(
    "/events",
    tags=["ingestion"],
    response_model=None,
    responses={200: {"model": IngestOut}, **problem_responses(400, 401, 403, 413, 415, 422)},
    openapi_extra=EVENTS_BODY,
)
async def post_events(
    request: Request,
    caller: WriteCaller,
    state: StateDep,
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
    if ctype not in EVENT_TYPES:
        raise ApiProblem(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            f"content type {ctype or 'none'!r}: send application/json or application/x-ndjson",
        )
    api = state.settings.api
    limit = min(int(api.max_upload_mb * 1024 * 1024), int(api.max_events_mb * 1024 * 1024))
    body = await _read_body(request, limit, "api.max_events_mb")
    objects = _decode_events(body, ndjson=ctype != "application/json")
    reports = parse_objects(objects, "request body", default_repository=repository)
    summary = await run_in_threadpool(
        lambda: ingest_reports(
            state.engine, reports, state.settings, clock=state.clock, then=refine_later
        )
    )
    return JSONBody(summary.as_dict())


@router.post(
    "/reports/junit",
    tags=["ingestion"],
    response_model=None,
    responses={200: {"model": IngestOut}, **problem_responses(400, 401, 403, 413, 422)},
)
async def post_junit(
    caller: WriteCaller,
    state: StateDep,
    file: Annotated[
        list[UploadFile], File(description="JUnit XML file(s); several files are one run")
    ],
    repository: UploadRepository = None,
) -> Response:
    """Upload JUnit/xUnit XML (pytest, Surefire, Gradle, jest-junit, ...)."""
    if not 1 <= len(file) <= MAX_UPLOAD_FILES:
        raise InputError("file", "", f"give 1 to {MAX_UPLOAD_FILES} files")
    uploads = [(f"report-{n}.xml", f) for n, f in enumerate(file, 1)]
    return await ingest_uploads(state, "junit", uploads, repository)


@router.post(
    "/reports/playwright",
    tags=["ingestion"],
    response_model=None,
    responses={200: {"model": IngestOut}, **problem_responses(400, 401, 403, 413, 422)},
)
async def post_playwright(
    caller: WriteCaller,
    state: StateDep,
    file: Annotated[UploadFile, File(description="A Playwright JSON report")],
    repository: UploadRepository = None,
) -> Response:
    """Upload a Playwright JSON report (`--reporter=json`)."""
    uploads = [("report.json", file)]
    return await ingest_uploads(state, "playwright", uploads, repository)


@router.post(
    "/reports/dbt",
    tags=["ingestion"],
    response_model=None,
    responses={200: {"model": IngestOut}, **problem_responses(400, 401, 403, 413, 422)},
)
async def post_dbt(
    caller: WriteCaller,
    state: StateDep,
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
    return await ingest_uploads(state, "dbt", uploads, repository)


# -- helpers -------------------------------------------------------------------------------------


def too_large(limit: int, setting: str = "api.max_upload_mb") -> ApiProblem:
    return ApiProblem(
        413,
        "content-too-large",
        "Content Too Large",
        f"the body is over the limit of {limit} bytes ({setting})",
    )


async def _read_body(request: Request, limit: int, setting: str = "api.max_upload_mb") -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large(limit, setting)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise too_large(limit, setting)
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


def ingest_problem(summary: IngestSummary, names: Mapping[str, str]) -> ApiProblem:
    """A 422 naming the uploads by their file names (not the temporary paths)."""

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


async def _save_uploads(
    folder: Path, uploads: list[tuple[str, UploadFile]], max_bytes: int
) -> tuple[list[Path], dict[str, str]]:
    """Write the uploads into ``folder`` (413 over ``max_bytes``, 422 when one is empty); their
    paths, and each path's uploaded file name."""
    paths: list[Path] = []
    names: dict[str, str] = {}
    for target, upload in uploads:
        path = folder / target
        size = 0
        with path.open("wb") as fh:
            while chunk := await upload.read(1024 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(max_bytes)
                fh.write(chunk)
        if size == 0:
            raise InputError(upload.filename or target, "", "the uploaded file is empty")
        names[str(path)] = upload.filename or target
        paths.append(path)
    return paths, names


async def ingest_uploads(
    state: ApiState, fmt: str, uploads: list[tuple[str, UploadFile]], repository: str | None
) -> Response:
    """Ingest uploaded report files of one format, as one run."""
    settings = state.settings
    folder = Path(tempfile.mkdtemp(prefix="triagehub-upload-"))
    try:
        paths, names = await _save_uploads(
            folder, uploads, int(settings.api.max_upload_mb * 1024 * 1024)
        )
        main = [p for p in paths if p.name != "manifest.json"]
        options = ParseOptions(
            repository=repository,
            project_repositories=settings.dbt_project_repositories(),
        )
        summary = await run_in_threadpool(
            lambda: ingest_files(
                state.engine,
                main,
                settings,
                fmt=FORMATS[fmt],
                options=options,
                clock=state.clock,
                then=refine_later,
            )
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if summary.errors:
        raise ingest_problem(summary, names | {str(folder) + "/": ""})
    data: dict[str, Any] = summary.as_dict()
    data["formats"] = {names.get(k, k): v for k, v in data["formats"].items()}
    return JSONBody(data)
