"""A local receiver of outbox deliveries: Slack's incoming webhook and ``chat.postMessage``, as a
real HTTP server (stdlib ``ThreadingHTTPServer``) that records every delivery and deduplicates
them by the ``Idempotency-Key`` header.

In a thread::

    with Receiver(delay_s=0.02, token="xoxb-...") as receiver:
        os.environ["SLACK_WEBHOOK_URL"] = receiver.url + "/services/T0/B0/secret"
        os.environ["TRIAGEHUB_SLACK_API_URL"] = receiver.url + "/api"
        receiver.script(Reply(429, headers={"Retry-After": "120"}))   # the next answers
        ...
        assert receiver.stats()["duplicates"] == 0

As a separate process (so that it keeps answering while a worker process is killed)::

    python tests/outbox_receiver.py [--port 0] [--delay-ms 20] [--token TOKEN]

prints ``PORT <n>`` once listening, then serves until killed; ``GET /_stats`` answers the
counts (and the keys seen) as JSON.

What it answers:

* ``POST .../chat.postMessage``: when a token is set, ``Authorization`` must be
  ``Bearer <token>`` (else ``200 {"ok": false, "error": "invalid_auth"}``, as Slack does);
  otherwise ``200 {"ok": true, "channel": "C0TRIAGE", "ts": "<n>.000100"}``. A repeated
  ``Idempotency-Key`` gets the first delivery's ``ts`` (an idempotent receiver).
* any other ``POST``: an incoming webhook: ``200 ok``.
* scripted answers (:meth:`Receiver.script`) or a standing failure (``fail_with``) come first:
  they are recorded as requests, not as deliveries. Every ``POST`` first waits ``delay_s``.

A *delivery* is a ``POST`` answered 2xx; ``raw`` counts them all, ``unique`` their distinct
idempotency keys (the effect after deduplication), ``duplicates`` the difference.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

CHANNEL_ID = "C0TRIAGE"


@dataclass(frozen=True)
class Reply:
    """One scripted answer (``body`` is sent as JSON unless it is a str)."""

    status: int
    body: object = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    path: str
    key: str | None
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or the raw text
    at: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A worker killed in the middle of a request resets its connection: expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Receiver:
    """The receiver, in a thread of this process (see the module docstring)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay_s: float = 0.0,
        token: str | None = None,
    ) -> None:
        self.delay_s = delay_s
        self.token = token
        self.fail_with: Reply | None = None
        self.deliveries: list[Delivery] = []
        self.requests: list[Delivery] = []  # every POST, answered or refused
        self._first: dict[str, Delivery] = {}
        self._ts: dict[str, str] = {}
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server = _Server((host, port), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- control and results ---------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Answer the next POSTs with these, in order."""
        with self._lock:
            self._script.extend(replies)

    def unique(self) -> dict[str, Delivery]:
        """The first delivery of each idempotency key."""
        with self._lock:
            return dict(self._first)

    def stats(self, *, keys: bool = False) -> dict[str, Any]:
        with self._lock:
            raw, unique = len(self.deliveries), len(self._first)
            counts: dict[str, Any] = {
                "requests": len(self.requests),
                "raw": raw,
                "unique": unique,
                "duplicates": raw - unique,
                "workers": sorted(
                    {d.headers.get("x-triagehub-worker", "") for d in self.deliveries}
                ),
            }
            if keys:
                counts["keys"] = sorted(self._first)
            return counts

    # -- the server --------------------------------------------------------------------------

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        text = raw.decode("utf-8", errors="replace")
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = text
        key = headers.get("idempotency-key")
        seen = Delivery(path, key, headers, body, time.monotonic())
        with self._lock:
            self.requests.append(seen)
            if self._script:
                return self._script.popleft()
            if self.fail_with is not None:
                return self.fail_with
            if path.endswith("/chat.postMessage"):
                if (
                    self.token is not None
                    and headers.get("authorization") != f"Bearer {self.token}"
                ):
                    return Reply(200, {"ok": False, "error": "invalid_auth"})
                ts = self._ts.get(key) if key else None
                if ts is None:
                    ts = f"{1_800_000_000 + len(self._ts)}.000100"
                    if key:
                        self._ts[key] = ts
                answer = Reply(200, {"ok": True, "channel": CHANNEL_ID, "ts": ts})
            else:
                answer = Reply(200, "ok")
            self.deliveries.append(seen)
            if key is not None and key not in self._first:
                self._first[key] = seen
            return answer

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stalls

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, reply: Reply) -> None:
                if isinstance(reply.body, str):
                    payload, ctype = reply.body.encode(), "text/plain; charset=utf-8"
                else:
                    payload, ctype = json.dumps(reply.body).encode(), "application/json"
                self.send_response(reply.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/_stats":
                    self._send(Reply(200, receiver.stats(keys=True)))
                else:
                    self._send(Reply(404, {"error": "not_found"}))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                headers = {k.lower(): v for k, v in self.headers.items()}
                self._send(receiver._answer(self.path, headers, raw))

        return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local receiver of outbox deliveries.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--token", default=None)
    args = parser.parse_args(argv)
    receiver = Receiver(port=args.port, delay_s=args.delay_ms / 1000, token=args.token)
    print(f"PORT {receiver.port}", flush=True)
    try:
        receiver._server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        receiver._server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
