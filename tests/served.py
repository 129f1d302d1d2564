"""Helpers for tests that start a real triagehub server process: a free port on loopback and the
first answer of a URL (failing with the server's output when it died or did not answer)."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def first_answer(
    url: str, server: subprocess.Popen[str] | subprocess.Popen[bytes] | None, seconds: float = 60
) -> httpx.Response:
    """GET ``url`` until the server answers (any status), at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.HTTPError:
            if server is not None and server.poll() is not None:
                raise AssertionError(f"the server exited: {server.communicate()[0]!r}") from None
            if time.monotonic() >= deadline:
                raise AssertionError(f"{url} did not answer in {seconds} s") from None
            time.sleep(0.2)
