"""One problem shape (RFC 9457, ``application/problem+json``) for every error of the app: the
exception routes raise, the response it becomes, and the app's exception handlers."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from triagehub.errors import InputError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://triagehub.dev/problems/"


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


def reason_problem(status: int, error: str, reason: str) -> JSONResponse:
    """A problem document that also carries ``{"error": ..., "reason": ...}`` (the specs and
    agents routes' shape)."""
    body = {
        "type": "about:blank",
        "title": error.replace("_", " ").capitalize(),
        "status": status,
        "detail": reason,
        "error": error,
        "reason": reason,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def input_problem(exc: InputError, status: int = 422) -> ApiProblem:
    where = f"{exc.source}: {exc.location}" if exc.location else exc.source
    return ApiProblem(
        status,
        "invalid-input" if status == 422 else "conflict",
        "Invalid input" if status == 422 else "Conflict",
        str(exc),
        errors=[{"location": where, "message": exc.reason}],
    )


def not_found(what: str, key: object) -> ApiProblem:
    return ApiProblem(404, "not-found", "Not Found", f"no {what} {key}")


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


async def on_validation(request: Request, exc: Exception) -> Response:
    """FastAPI's validation errors: 422, every error with its location."""
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
    """HTTP errors (404, 405, ...)."""
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
    return await on_problem(request, input_problem(exc))


async def on_error(request: Request, exc: Exception) -> Response:
    """Unexpected errors: 500, logged with a request id the answer names."""
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
    """The database refused a value (NUL, a string over its column, a number out of range)
    that got past the sanitiser: the client's input, so a 422 naming the reason."""
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


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error with one problem shape: FastAPI's validation errors, HTTP errors
    (404, 405, ...), ``ApiProblem``, ``InputError`` (422) and unexpected errors (500, logged with
    a request id)."""
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(DataError, on_data_error)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(InputError, on_input)
    app.add_exception_handler(Exception, on_error)
