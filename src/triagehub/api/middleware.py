"""The ASGI middleware in front of the API: control characters in the URL are refused (422) and
request bodies over the upload limit (413)."""

from __future__ import annotations

import re
from contextlib import suppress
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triagehub.api.common import PREFIX
from triagehub.api.problems import problem_response


class _TooLarge(Exception):
    pass


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
