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
  otherwise ``200 {"ok": true, "channel": "C0TRIAGE", "ts": "<n>.000100"}``, and the message is
  kept in ``receiver.messages`` (by ``ts``). A repeated ``Idempotency-Key`` gets the first
  delivery's ``ts`` (an idempotent receiver) unless ``honour_keys`` is false (as Slack itself,
  which ignores the header: every post is a new message).
* ``POST .../chat.update`` (``channel``, ``ts``, new ``text``/``blocks``/``metadata``): edits a
  kept message (``edits`` counts them), or ``{"ok": false, "error": "message_not_found"}`` for a
  ``ts`` it does not have (never posted, or ``receiver.delete(ts)``).
* ``GET .../conversations.replies?channel=&ts=``: the thread (its parent, then its replies by
  ``ts``), with each message's ``metadata`` when ``include_all_metadata=true``;
  ``missing_scope`` when ``history_scope`` is false, ``thread_not_found`` for an unknown parent.
* any other ``POST``: an incoming webhook: ``200 ok``.
* scripted answers (:meth:`Receiver.script`) or a standing failure (``fail_with``) come first:
  they are recorded as requests, not as deliveries; a scripted :class:`DoThenDrop` does what the
  request asks, then closes the connection without answering (the answer is lost). Every
  ``POST`` first waits ``delay_s``.

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
from urllib.parse import parse_qs, urlsplit

CHANNEL_ID = "C0TRIAGE"


@dataclass(frozen=True)
class Reply:
    """One scripted answer (``body`` is sent as JSON unless it is a str)."""

    status: int
    body: object = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DoThenDrop:
    """Do what the request asks, then close the connection without answering."""


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
        honour_keys: bool = True,
    ) -> None:
        self.delay_s = delay_s
        self.token = token
        self.honour_keys = honour_keys
        self.history_scope = True
        self.fail_with: Reply | None = None
        self.deliveries: list[Delivery] = []
        self.requests: list[Delivery] = []  # every POST, answered or refused
        self.reads: list[dict[str, str]] = []  # the query of every conversations.replies
        self.messages: dict[str, dict[str, Any]] = {}  # ts -> the message as Slack keeps it
        self._first: dict[str, Delivery] = {}
        self._ts: dict[str, str] = {}
        self._deleted = 0
        self._script: deque[Reply | DoThenDrop] = deque()
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

    def script(self, *replies: Reply | DoThenDrop) -> None:
        """Answer the next POSTs with these, in order."""
        with self._lock:
            self._script.extend(replies)

    def delete(self, ts: str) -> None:
        """Delete a message, as a person may (chat.update then answers message_not_found)."""
        with self._lock:
            del self.messages[ts]
            self._deleted += 1

    def thread(self, ts: str) -> list[dict[str, Any]]:
        """The replies kept under the parent ``ts``, oldest first."""
        with self._lock:
            return self._thread_of(ts)

    def _thread_of(self, ts: str) -> list[dict[str, Any]]:
        replies = (m for m in self.messages.values() if m.get("thread_ts") == ts)
        return sorted(replies, key=lambda m: float(m["ts"]))

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

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> Reply | DoThenDrop:
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
                scripted = self._script.popleft()
                if isinstance(scripted, Reply):
                    return scripted
                self._deliver(path, seen)
                return scripted
            if self.fail_with is not None:
                return self.fail_with
            return self._deliver(path, seen)

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        return self.token is None or headers.get("authorization") == f"Bearer {self.token}"

    def _deliver(self, path: str, seen: Delivery) -> Reply:
        """Do what a POST asks (under the lock)."""
        body = seen.body if isinstance(seen.body, dict) else {}
        if path.endswith(("/chat.postMessage", "/chat.update")) and not self._authorized(
            seen.headers
        ):
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        if path.endswith("/chat.update"):
            kept = self.messages.get(str(body.get("ts")))
            if kept is None or kept["channel"] != body.get("channel"):
                return Reply(200, {"ok": False, "error": "message_not_found"})
            for name in ("text", "blocks", "metadata"):
                if name in body:
                    kept[name] = body[name]
            kept["edits"] += 1
            answer = Reply(200, {"ok": True, "channel": kept["channel"], "ts": kept["ts"]})
        elif path.endswith("/chat.postMessage"):
            key = seen.key if self.honour_keys else None
            ts = self._ts.get(key) if key else None
            if ts is None:
                ts = f"{1_800_000_000 + len(self.messages) + self._deleted}.000100"
                if key:
                    self._ts[key] = ts
                self.messages[ts] = {
                    "ts": ts,
                    "channel": CHANNEL_ID,
                    "thread_ts": body.get("thread_ts"),
                    "text": body.get("text"),
                    "blocks": body.get("blocks"),
                    "metadata": body.get("metadata"),
                    "edits": 0,
                }
            answer = Reply(200, {"ok": True, "channel": CHANNEL_ID, "ts": ts})
        else:
            answer = Reply(200, "ok")
        self.deliveries.append(seen)
        if seen.key is not None and seen.key not in self._first:
            self._first[seen.key] = seen
        return answer

    def _replies(self, query: Mapping[str, str]) -> Reply:
        with self._lock:
            self.reads.append(dict(query))
            if not self.history_scope:
                return Reply(200, {"ok": False, "error": "missing_scope"})
            parent = self.messages.get(query.get("ts", ""))
            if parent is None or parent["channel"] != query.get("channel"):
                return Reply(200, {"ok": False, "error": "thread_not_found"})
            thread = [parent, *self._thread_of(parent["ts"])]
            meta = query.get("include_all_metadata") == "true"
            shown = [
                {
                    "type": "message",
                    "ts": m["ts"],
                    "thread_ts": m.get("thread_ts") or parent["ts"],
                    "text": m["text"],
                    **({"metadata": m["metadata"]} if meta and m.get("metadata") else {}),
                }
                for m in thread
            ]
            return Reply(200, {"ok": True, "messages": shown, "has_more": False})

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
                parts = urlsplit(self.path)
                if parts.path == "/_stats":
                    self._send(Reply(200, receiver.stats(keys=True)))
                elif parts.path.endswith("/conversations.replies"):
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    if not receiver._authorized(headers):
                        self._send(Reply(200, {"ok": False, "error": "invalid_auth"}))
                        return
                    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                    self._send(receiver._replies(query))
                else:
                    self._send(Reply(404, {"error": "not_found"}))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = receiver._answer(self.path, headers, raw)
                if isinstance(answer, DoThenDrop):
                    self.close_connection = True
                    return
                self._send(answer)

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
