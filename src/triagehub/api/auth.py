"""Bearer-token auth: who is calling (a token, or nobody for open reads), the check against the
store, and the read and write dependencies of the routes."""

# No ``from __future__ import annotations``: FastAPI reads the dependencies' annotations.

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.api.deps import api_state
from triagehub.api.problems import ApiProblem
from triagehub.clock import Clock
from triagehub.config import ApiConfig
from triagehub.store import queries

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


_ANONYMOUS = Caller(None)


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


async def read_caller(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> Caller:
    """A reader: anyone, unless ``api.require_token_for_reads``; a token given must be valid.
    ``async``: an open read without a token is answered on the event loop; only a token's
    check (a query of the store) goes to the thread pool, a hop per request otherwise."""
    auth = api_state(request).auth
    if not auth.config.require_token_for_reads and "authorization" not in request.headers:
        return _ANONYMOUS
    return await run_in_threadpool(auth.caller, request, need="read")


def write_caller(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> Caller:
    """A writer: a valid ``write`` token (401 without one, 403 with a ``read`` one)."""
    return api_state(request).auth.caller(request, need="write")


ReadCaller = Annotated[Caller, Depends(read_caller)]
WriteCaller = Annotated[Caller, Depends(write_caller)]
