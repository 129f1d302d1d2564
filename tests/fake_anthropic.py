"""A fake of the Anthropic Messages API: a real HTTP server on 127.0.0.1, scriptable per test.

Usage::

    with FakeAnthropic() as fake:
        fake.enqueue(rate_limited(retry_after="0"), tool_answer())
        client = anthropic.Anthropic(api_key=fake.api_key, base_url=fake.base_url)
        ...
        assert len(fake.requests) == 2

Each ``POST /v1/messages`` takes the next behaviour from the queue (``fake.default`` when the
queue is empty, a good ``record_triage`` answer unless set). Requests are validated the way the
real API would reject them before any behaviour runs: an API key (``x-api-key``, or
``Authorization: Bearer`` which SDK 2.x sends) equal to ``fake.api_key``, an
``anthropic-version`` header, and a JSON body with ``model``, ``max_tokens``, ``messages``,
``tools`` and ``tool_choice``. Every request that reached the server, valid or not, is recorded.
Response shapes follow ``anthropic.types.Message`` and the API's error envelope.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

DEFAULT_API_KEY = "sk-ant-api03-fake-key-for-tests-0123456789abcdefghijklmnop"

GOOD_INPUT: dict[str, object] = {
    "category": "code_fix_required",
    "kind": "test",
    "severity": "medium",
    "decision": "one_off_fix",
    "confidence": 0.82,
    "rationale": "The assertion compares an expected count with the actual one; a code change.",
}


@dataclass(frozen=True)
class ToolAnswer:
    """200 with one ``tool_use`` block (``stop_reason`` ``tool_use``)."""

    input: object = field(default_factory=lambda: dict(GOOD_INPUT))
    name: str = "record_triage"


@dataclass(frozen=True)
class TextAnswer:
    """200 with a text block instead of a tool call (``stop_reason`` ``end_turn``)."""

    text: str = "I think this is a flaky test."


@dataclass(frozen=True)
class RawBody:
    """Any status with a literal body, e.g. invalid JSON with a JSON content type."""

    body: bytes = b'{"id": "msg_broken", "type": "mess'
    status: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True)
class ErrorStatus:
    """An API error in the real envelope, with extra headers (``retry-after``...)."""

    status: int
    error_type: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Slow:
    """Wait ``delay_s`` (less if the server stops) before behaving like ``then``."""

    delay_s: float
    then: Behaviour = field(default_factory=ToolAnswer)


Behaviour = ToolAnswer | TextAnswer | RawBody | ErrorStatus | Slow


def tool_answer(**overrides: object) -> ToolAnswer:
    """A good ``record_triage`` answer, with fields replaced by ``overrides``."""
    return ToolAnswer(input={**GOOD_INPUT, **overrides})


def rate_limited(retry_after: str = "0") -> ErrorStatus:
    return ErrorStatus(
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
        {"retry-after": retry_after},
    )


def overloaded(retry_after: str = "0") -> ErrorStatus:
    return ErrorStatus(529, "overloaded_error", "Overloaded", {"retry-after": retry_after})


def server_error(retry_after: str | None = None) -> ErrorStatus:
    headers = {} if retry_after is None else {"retry-after": retry_after}
    return ErrorStatus(500, "api_error", "Internal server error", headers)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    raw_body: bytes
    body: Any  # the decoded JSON, or None when it was not JSON

    @property
    def text(self) -> str:
        """The raw body as text, for "does the request contain X" assertions."""
        return self.raw_body.decode("utf-8", errors="replace")

    @property
    def retry_count(self) -> int:
        """The SDK's own ``x-stainless-retry-count`` header (0 on a first attempt)."""
        return int(self.headers.get("x-stainless-retry-count", "0"))


class FakeAnthropic:
    """The fake server; a context manager that starts and stops it."""

    def __init__(self, *, api_key: str = DEFAULT_API_KEY) -> None:
        self.api_key = api_key
        self.default: Behaviour = ToolAnswer()
        self._queue: deque[Behaviour] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def enqueue(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- used by the handler ----------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"


def _make_handler(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeAnthropic/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = None
            headers = {name.lower(): value for name, value in self.headers.items()}
            fake._record(RecordedRequest("POST", self.path, headers, raw, body))

            if self.path.split("?", 1)[0] != "/v1/messages":
                self._error(404, "not_found_error", f"no route for POST {self.path}")
                return
            problem = self._check(headers, body)
            if problem is not None:
                self._error(*problem)
                return
            self._behave(fake._next_behaviour(), body)

        def do_GET(self) -> None:
            fake._record(RecordedRequest("GET", self.path, dict(self.headers.items()), b"", None))
            self._error(404, "not_found_error", f"no route for GET {self.path}")

        def _check(self, headers: dict[str, str], body: Any) -> tuple[int, str, str] | None:
            key = headers.get("x-api-key")
            authorization = headers.get("authorization", "")
            if key is None and authorization.lower().startswith("bearer "):
                key = authorization[len("bearer ") :]
            if key is None:
                return 401, "authentication_error", "x-api-key header is required"
            if key != fake.api_key:
                return 401, "authentication_error", "invalid x-api-key"
            if not headers.get("anthropic-version"):
                return 400, "invalid_request_error", "anthropic-version header is required"
            if not isinstance(body, dict):
                return 400, "invalid_request_error", "the request body must be a JSON object"
            for name, kind in (
                ("model", str),
                ("max_tokens", int),
                ("messages", list),
                ("tools", list),
                ("tool_choice", dict),
            ):
                if not isinstance(body.get(name), kind):
                    return 400, "invalid_request_error", f"{name}: Field required ({kind.__name__})"
            if not body["messages"]:
                return 400, "invalid_request_error", "messages: at least one message is required"
            return None

        def _behave(self, behaviour: Behaviour, body: dict[str, Any]) -> None:
            if isinstance(behaviour, Slow):
                if fake._stopping.wait(behaviour.delay_s):
                    return
                self._behave(behaviour.then, body)
            elif isinstance(behaviour, ToolAnswer):
                block = {
                    "type": "tool_use",
                    "id": fake._next_id("toolu"),
                    "name": behaviour.name,
                    "input": behaviour.input,
                }
                self._message(body, [block], "tool_use")
            elif isinstance(behaviour, TextAnswer):
                self._message(body, [{"type": "text", "text": behaviour.text}], "end_turn")
            elif isinstance(behaviour, RawBody):
                self._send(behaviour.status, behaviour.body, behaviour.content_type)
            else:
                self._error(
                    behaviour.status, behaviour.error_type, behaviour.message, behaviour.headers
                )

        def _message(self, body: dict[str, Any], content: list[Any], stop_reason: str) -> None:
            message = {
                "id": fake._next_id("msg"),
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": max(1, len(json.dumps(body["messages"])) // 4),
                    "output_tokens": 60,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "service_tier": "standard",
                },
            }
            self._send(200, json.dumps(message).encode(), "application/json")

        def _error(
            self,
            status: int,
            error_type: str,
            message: str,
            headers: Mapping[str, str] | None = None,
        ) -> None:
            request_id = fake._next_id("req")
            envelope = {
                "type": "error",
                "error": {"type": error_type, "message": message},
                "request_id": request_id,
            }
            extra = {"request-id": request_id, **(headers or {})}
            self._send(status, json.dumps(envelope).encode(), "application/json", extra)

        def _send(
            self,
            status: int,
            payload: bytes,
            content_type: str,
            headers: Mapping[str, str] | None = None,
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a timeout test); nothing to answer.
                self.close_connection = True

    return Handler
