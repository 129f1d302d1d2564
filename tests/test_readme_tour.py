"""The README's five-minute tour, run literally, line by line, in bash, on a copy of its files:
every command exits 0 and says what the tour promises."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from conftest import REPO_ROOT
from served import first_answer, free_port

# One fact each command's output must show (a regular expression, or a check of the JSON).
FACTS: dict[str, str] = {
    "demo --no-serve": r"Demo: \d+ issues",
    "ingest failures.jsonl#1": r"new issues\s*│\s*4\b",
    "ingest failures.jsonl#2": r"runs already ingested \(skipped\)\s*│\s*4\b",
    "--category transient_failure": r"ECONNRESET",
    "issues show 14": r"^#14 ",
    "patterns --days 30 --min-repos 2": r"acme/da-agent-hub,\s+(?:│\s+)*acme/roy_kent",
    "issues triage 14": r"#14 decision: \w+ -> needs_spec",
    "accuracy": r"decision\s*│\s*\d+\s*│\s*[1-9]",
    "issues state 14 in_progress": r"#14 state: \w+ -> in_progress",
    "issues snooze 5": r"#5 snoozed until \d{4}-",
    "monitor": r"Monitor tick",
    "dashboard --time-range 7d": r"health [\d.]+",
    "ingest junit": r"new issues\s*│\s*[1-9]",
    "db upgrade": r"database at revision \w+",
}


def tour_lines() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A five-minute tour", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def _fact_for(line: str, seen: dict[str, int]) -> str | None:
    """The fact of the first key naming this line (``#N``: its N-th occurrence in the tour)."""
    names = {key.partition("#")[0] for key in FACTS if key.partition("#")[0] in line}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    for key, fact in FACTS.items():
        name, _, nth = key.partition("#")
        if name in line and (not nth or int(nth) == seen[name]):
            return fact
    return None


def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    lines = tour_lines()
    assert lines[0] == ". .venv/bin/activate" and lines[1] == "cd examples/tour"
    work = tmp_path / "examples" / "tour"
    shutil.copytree(REPO_ROOT / "examples" / "tour", work)
    env = {**os.environ, "COLUMNS": "200", "XDG_DATA_HOME": str(tmp_path / "data")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for name in ("TRIAGEHUB_DATABASE_URL", "TRIAGEHUB_CONFIG", "TRIAGEHUB_WEBHOOK_SECRET"):
        env.pop(name, None)
    seen: dict[str, int] = {}
    ran = 0
    for line in lines[2:]:
        command = line.split("  #", 1)[0].strip()
        if command.startswith("export "):
            name, _, value = command.removeprefix("export ").partition("=")
            env[name] = value
            continue
        if command.startswith("triagehub serve"):
            _serve_answers(command, work, env)
            ran += 1
            continue
        answer = subprocess.run(
            ["bash", "-c", command],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert answer.returncode == 0, f"{command}\n{answer.stdout}\n{answer.stderr}"
        ran += 1
        if "--format json" in command:
            listed = json.loads(answer.stdout)
            assert listed and {i["repository"] for i in listed} == {"acme/dbt_cloud"}, command
            continue
        fact = _fact_for(command, seen)
        assert fact is not None, f"no fact to check for the tour line {command!r}"
        assert re.search(fact, answer.stdout, re.MULTILINE), f"{command}\n{answer.stdout}"
    assert ran == len([x for x in lines[2:] if not x.startswith("export ")])
    assert (work / "tour.db").is_file()


def _serve_answers(command: str, cwd: Path, env: dict[str, str]) -> None:
    port = free_port()
    server = subprocess.Popen(
        ["bash", "-c", f"exec {command} --port {port} --no-monitor"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        page = first_answer(f"http://127.0.0.1:{port}/", server)
        assert page.status_code == 200 and "triagehub" in page.text.lower()
        issues = httpx.get(f"http://127.0.0.1:{port}/api/v1/issues", timeout=5).json()
        assert issues["items"], issues
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
