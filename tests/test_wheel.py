"""triagehub installed as users install tools: the built wheel in a clean venv outside the
checkout serves the demo's dashboard with its assets, templates and migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import httpx
import pytest

from conftest import REPO_ROOT
from served import first_answer, free_port


@pytest.mark.slow
def test_the_built_wheel_serves_the_demo_from_another_directory(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheels),
            str(REPO_ROOT),
        ],
        check=True,
        cwd=tmp_path,
    )
    [wheel] = wheels.glob("triagehub-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGEHUB_", "PYTHON"))}
    env["XDG_DATA_HOME"] = str(elsewhere / "data")
    server = subprocess.Popen(
        [str(env_dir / "bin" / "triagehub"), "demo", "--serve", "--port", str(port)],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        page = first_answer(f"{base}/", server, seconds=120)
        assert page.status_code == 200 and "All Work" in page.text
        assert httpx.get(f"{base}/static/app.css", timeout=5).status_code == 200
        assert httpx.get(f"{base}/static/app.js", timeout=5).status_code == 200
        issues = httpx.get(f"{base}/api/v1/issues", timeout=5).json()["items"]
        assert len(issues) >= 10  # the demo's runs, in a database migrated by the wheel's Alembic
    finally:
        server.terminate()
        server.wait(timeout=30)
    installed = subprocess.run(
        [str(python), "-c", "import triagehub, sys; print(triagehub.__file__)"],
        capture_output=True, text=True, check=True, cwd=elsewhere,
    ).stdout  # fmt: skip
    assert str(env_dir) in installed and str(REPO_ROOT) not in installed
