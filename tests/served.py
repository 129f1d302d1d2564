"""Helpers for tests that start a real triagehub server: a free port on loopback, the first
answer of a URL (failing with the server's output when it died or did not answer), an app served
by uvicorn in a thread, and Debian's Chromium for the browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


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


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free loopback port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(15)


def need_chromium() -> None:
    """Skip (fail in CI) when Debian's Chromium is missing."""
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium; never `playwright install`)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless, driven by the Python ``playwright`` package."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
