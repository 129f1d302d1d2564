"""The shapes every route shares: the strict output base, the problem document and the error
responses a route documents."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    # A documented answer: no field beyond the ones named (no docstring: it would not show).
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
