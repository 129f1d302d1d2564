"""A Prism mock server on GitHub's OpenAPI description, as a pytest fixture.

Prism (npm ``@stoplight/prism-cli``, pinned in the repository's ``package.json``; ``npm ci``
installs it into ``node_modules/``) validates every request against the description and answers
422 to an invalid one, and answers a valid one from the description's examples. Use it from a test
module with ``pytest_plugins = ["prism"]`` and a ``prism_url`` argument; mark the tests ``node``.

Without ``node_modules/.bin/prism`` the tests are skipped with a message saying how to install it,
except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PRISM_BIN = REPO_ROOT / "node_modules" / ".bin" / "prism"
GITHUB_SPEC = (
    Path(__file__).resolve().parent
    / "data"
    / "github-openapi"
    / "github-triage-subset.prismfix.json"
)
STARTUP_TIMEOUT_S = 30.0
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_prism(spec: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``prism mock`` on a free port; return the process and its base URL once it listens."""
    if not PRISM_BIN.exists():
        _unavailable(
            f"Prism is not installed ({PRISM_BIN} is missing): run `npm ci` at the repository "
            "root to install it from package-lock.json"
        )
    port = _free_port()
    command = [str(PRISM_BIN), "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)]
    with log_path.open("wb") as log_file:
        try:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, stdout=log_file, stderr=subprocess.STDOUT
            )
        except OSError as exc:  # e.g. no `node` on PATH
            _unavailable(f"cannot start Prism ({exc}); install Node.js and run `npm ci`")
            raise
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not _listening(port):
        if process.poll() is not None:
            pytest.fail(f"Prism exited with {process.returncode}:\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            stop_prism(process)
            pytest.fail(f"Prism did not listen within {STARTUP_TIMEOUT_S} s:\n{_tail(log_path)}")
        time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}"


def stop_prism(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a Prism mock of GitHub's API (the triage subset), for the session."""
    log_path = tmp_path_factory.mktemp("prism") / "prism.log"
    process, url = start_prism(GITHUB_SPEC, log_path)
    try:
        yield url
    finally:
        stop_prism(process)
