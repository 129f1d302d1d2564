"""What a new user meets in the first hour: ordinary mistakes get one clear line and exit 2, and
the issue table reads at 80 and 120 columns (also in a real terminal, under tmux)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import REPO_ROOT
from served import first_answer, free_port

PG = "postgresql://postgres@127.0.0.1:5432"


def run(
    *args: str, cwd: Path, columns: int = 200, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {**os.environ, "COLUMNS": str(columns), "XDG_DATA_HOME": str(cwd / "data")}
    for name in ("TRIAGEHUB_DATABASE_URL", "TRIAGEHUB_CONFIG", "TRIAGEHUB_WEBHOOK_SECRET"):
        base.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "triagehub", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{folder / 'demo.db'}"
    answer = run("--db", url, "demo", "--no-serve", cwd=folder)
    assert answer.returncode == 0, answer.stderr
    return url


NOT_SQLITE = "this file is not a database\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--db", "postgresql://postgres:hunter2@127.0.0.1:1/x", "issues", "list"],
            "postgresql+psycopg://postgres:***@127.0.0.1:1/x: cannot open the database: "
            "connection failed",
        ),
        (
            ["--db", f"{PG}/triagehub_no_such_database", "issues", "list"],
            'database "triagehub_no_such_database" does not exist',
        ),
        (
            ["--db", f"{PG}/postgres?sslmode=require", "issues", "list"],
            "server does not support SSL, but SSL was required",
        ),
        (["--db", "sqlite:///not-a-db.db", "issues", "list"], "file is not a database"),
        (["--db", "foo", "issues", "list"], "'foo' is not a database URL: use sqlite:///PATH"),
        (
            ["--db", "sqlite:////nonexistent/dir/x.db", "issues", "list"],
            "the folder /nonexistent/dir does not exist",
        ),
        (["--db", "mysql://root@localhost/x", "issues", "list"], "unsupported database 'mysql'"),
        (["--config", "missing.yaml", "issues", "list"], "missing.yaml: file not found"),
        (["issues", "list", "--state", "opne"], "'opne' is not one of 'open'"),
        (["issues", "list", "--category", "transient"], "'transient' is not one of"),
        (["issues", "list", "--kind", "tests"], "'tests' is not one of 'lint'"),
        (["issues", "list", "--columns", "id,titel"], "unknown column(s) 'titel'; choose from"),
        (
            ["issues", "triage", "1", "--reason", "x", "--priority", "urgent"],
            "'urgent' is not one of 'critical'",
        ),
    ],
    ids=[
        "wrong-port",
        "missing-database",
        "ssl-mismatch",
        "not-sqlite",
        "bare-name",
        "missing-folder",
        "other-backend",
        "missing-config",
        "state-typo",
        "category-typo",
        "kind-typo",
        "column-typo",
        "priority-typo",
    ],
)
def test_a_mistake_gets_one_clear_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path
) -> None:
    (tmp_path / "not-a-db.db").write_text(NOT_SQLITE)
    before = sorted(p.name for p in tmp_path.iterdir())
    answer = run(*args, cwd=tmp_path, env={"TRIAGEHUB_DATABASE_URL": "sqlite:///ok.db"})
    assert answer.returncode == 2, answer.stdout + answer.stderr
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", answer.stderr).split())
    assert message in flat, answer.stderr
    assert "Traceback" not in answer.stderr
    assert "hunter2" not in answer.stderr + answer.stdout
    if not args[-1].endswith("list") or args[0] == "--db":
        assert sorted(p.name for p in tmp_path.iterdir() if p.name != "data") == before
    assert not Path("/nonexistent").exists()
    assert (tmp_path / "not-a-db.db").read_text() == NOT_SQLITE


@pytest.mark.parametrize("columns", [80, 120])
def test_the_issue_table_fits_and_shows_each_title(demo_db: str, columns: int) -> None:
    listed = run("--db", demo_db, "issues", "list", "--format", "json", cwd=Path.cwd())
    titles = {i["id"]: i["title"] for i in json.loads(listed.stdout)}
    table = run("--db", demo_db, "issues", "list", cwd=Path.cwd(), columns=columns).stdout
    lines = table.rstrip("\n").splitlines()
    assert all(len(line.rstrip()) <= columns for line in lines)
    rows = [line for line in lines if re.match(r"\s*\d+\s+acme/", line)]
    assert len(rows) == len(titles)  # one line per issue
    header = next(line for line in lines if line.lstrip().startswith("id"))
    start = header.index("title")
    for row in rows:
        issue_id = int(row.split()[0])
        shown = row[start:].rstrip().rstrip("…")
        assert len(shown) >= min(20, len(titles[issue_id])), row
        assert titles[issue_id].startswith(shown), (row, titles[issue_id])


def test_wide_and_chosen_columns(demo_db: str) -> None:
    wide = run("--db", demo_db, "issues", "list", "--wide", cwd=Path.cwd(), columns=220).stdout
    header = next(line for line in wide.splitlines() if line.lstrip().startswith("id"))
    assert header.split() == [
        "id",
        "repository",
        "priority",
        "state",
        "category",
        "kind",
        "history",
        "decision",
        "occ",
        "checks",
        "last",
        "seen",
        "title",
    ]
    chosen = run(
        "--db", demo_db, "issues", "list", "--columns", "id,kind", cwd=Path.cwd(), columns=80
    ).stdout
    header = next(line for line in chosen.splitlines() if line.lstrip().startswith("id"))
    assert header.split() == ["id", "kind", "title"]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt install tmux)")
def test_make_run_in_an_80_column_terminal_shows_every_title(tmp_path: Path) -> None:
    """`make run` as a person runs it: in a real 80x60 terminal (tmux), where the demo then serves
    the dashboard; every issue row shows the start of its title."""
    session = f"th{os.getpid()}"
    port = free_port()
    env_args = [
        "-e", f"XDG_DATA_HOME={tmp_path}",
        "-e", "TRIAGEHUB_DATABASE_URL=",
    ]  # fmt: skip
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "60", *env_args,
         "-c", str(REPO_ROOT), f"make run PORT={port}; sleep 600"],
        check=True,
    )  # fmt: skip
    try:
        screen = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session, "-S", "-"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            if f"127.0.0.1:{port}" in screen:
                break
            time.sleep(0.5)
        assert f"127.0.0.1:{port}" in screen, screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    lines = screen.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("id "))
    start = header.index("title")
    rows = [line for line in lines if re.match(r"\s*\d+\s+acme/", line)]
    assert len(rows) >= 10, screen
    for row in rows:
        assert len(row.rstrip()) <= 80, row
        assert len(row[start:].strip()) >= 20, row  # the start of the title, not a sliver


def test_serve_without_a_secret_shows_the_dashboard_and_says_once_what_is_off(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    for name in (
        "TRIAGEHUB_WEBHOOK_SECRET",
        "GITHUB_TOKEN",
        "SLACK_WEBHOOK_URL",
        "ANTHROPIC_API_KEY",
    ):
        env.pop(name, None)
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "triagehub", "--db", f"sqlite:///{tmp_path / 's.db'}",
             "serve", "--port", str(port), "--no-monitor"],
            stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            first_answer(f"{base}/healthz", None)
            assert httpx.get(f"{base}/").status_code == 200
            assert httpx.get(f"{base}/api/v1/issues").status_code == 200
            hook = httpx.post(
                f"{base}/webhooks/github",
                content=b"{}",
                headers={
                    "content-type": "application/json",
                    "x-github-event": "ping",
                    "x-github-delivery": "d1",
                },
            )
            assert hook.status_code == 503
            assert "TRIAGEHUB_WEBHOOK_SECRET" in hook.json()["reason"]
            busy = run("--db", f"sqlite:///{tmp_path / 's.db'}", "serve", "--port", str(port),
                       cwd=tmp_path)  # fmt: skip
            assert busy.returncode == 2
            assert busy.stderr.strip().splitlines() == [
                f"error: --host 127.0.0.1 --port {port}: cannot listen: Address already in use"
            ]
            demo = run("demo", "--serve", "--port", str(port), cwd=tmp_path)
            assert demo.returncode == 2 and "cannot listen" in demo.stderr
            assert "token" not in demo.stdout + demo.stderr  # nothing printed before the failure
        finally:
            server.terminate()
            server.wait(timeout=30)
    said = log.read_text()
    assert said.count("off: GitHub webhooks (TRIAGEHUB_WEBHOOK_SECRET is not set") == 1
    assert said.count("off: Slack notifications") == 1
    assert f"triagehub on http://127.0.0.1:{port}/" in said
    assert "not sent" not in said


def test_install_hook_adds_the_hook_once_and_keeps_other_settings(tmp_path: Path) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    mine = {"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/bin/true"}]}
    settings.write_text(json.dumps({"model": "opus", "hooks": {"PreToolUse": [mine]}}))
    first = run("agents", "install-hook", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "hook added to SessionStart, PreToolUse" in first.stdout
    again = run("agents", "install-hook", cwd=tmp_path)
    assert again.returncode == 0 and "already installed, nothing changed" in again.stdout
    data = json.loads(settings.read_text())
    script = tmp_path / ".claude" / "hooks" / "triagehub-agent-hook"
    assert data["model"] == "opus" and data["hooks"]["PreToolUse"][0] == mine
    for event in ("SessionStart", "PreToolUse", "PostToolUse", "PostToolUseFailure", "Stop"):
        commands = [h["command"] for e in data["hooks"][event] for h in e["hooks"]]
        assert commands.count(str(script.resolve())) == 1, event
    assert os.access(script, os.X_OK)
    assert script.read_bytes() == (REPO_ROOT / "scripts" / "triagehub-agent-hook").read_bytes()
    # the installed hook runs on its own (no hub configured: it does nothing, quietly, exit 0)
    hook = subprocess.run(
        [str(script)], input='{"hook_event_name": "Stop"}', capture_output=True, text=True
    )
    assert (hook.returncode, hook.stdout) == (0, "")


def test_install_hook_refuses_settings_that_are_not_json(tmp_path: Path) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text("{not json")
    answer = run("agents", "install-hook", cwd=tmp_path)
    assert answer.returncode == 2
    assert ".claude/settings.json: cannot read the settings as JSON" in answer.stderr
    assert settings.read_text() == "{not json"


def test_markdown_list_for_a_step_summary(demo_db: str) -> None:
    text = run("--db", demo_db, "issues", "list", "--format", "markdown", cwd=Path.cwd()).stdout
    lines = text.splitlines()
    assert lines[0].startswith("### ") and lines[2].startswith("| id | repository |")
    assert set(lines[3]) <= set("|-: ")
    rows = [line for line in lines[4:] if line.startswith("| ")]
    assert rows and all(row.count(" | ") == lines[2].count(" | ") for row in rows)
    assert not any(ch in text for ch in "┏━│└")  # no box drawing in Markdown


def test_timelines_read_as_text_not_python(demo_db: str) -> None:
    shown = run("--db", demo_db, "issues", "show", "3", cwd=Path.cwd()).stdout
    timeline = shown.split("Timeline", 1)[1]
    assert "=None" not in timeline and "{'" not in timeline and "['" not in timeline


def test_help_has_no_flag_types_and_flowing_sentences() -> None:
    helped = run("ingest", "--help", cwd=Path.cwd(), columns=100).stdout
    assert "<bool>" not in helped
    # the docstring's hard line breaks are reflowed: a sentence is not cut after "of the same call"
    assert "other files of the same call are" in " ".join(helped.split())
    assert not re.search(r"of the same call\s*\n", helped)


def test_an_unreachable_service_says_so_not_none() -> None:
    from triagehub.errors import ExternalServiceError

    assert str(ExternalServiceError("github", None, "connection refused")) == (
        "github could not be reached: connection refused"
    )
    assert str(ExternalServiceError("github", 502, "Bad Gateway")) == (
        "github answered HTTP 502: Bad Gateway"
    )


def test_a_server_follows_the_demo_when_it_is_run_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert run("--db", url, "demo", "--no-serve", cwd=tmp_path).returncode == 0
    port = free_port()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    server = subprocess.Popen(
        [sys.executable, "-m", "triagehub", "--db", url, "serve", "--port", str(port),
         "--no-monitor", "--no-worker"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        first_answer(f"{base}/healthz", None)
        before = httpx.get(f"{base}/api/v1/issues?limit=200").json()["items"]
        first = before[0]
        changed = run("--db", url, "issues", "triage", str(first["id"]), "--expert", "zed",
                      "--reason", "mine", cwd=tmp_path)  # fmt: skip
        assert changed.returncode == 0, changed.stderr
        seen = httpx.get(f"{base}/api/v1/issues/{first['id']}").json()
        assert seen["expert"] == "zed"
        again = run("--db", url, "demo", "--no-serve", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        fresh = httpx.get(f"{base}/api/v1/issues/{first['id']}").json()
        assert fresh["expert"] == first["expert"] != "zed"  # the server reads the new demo
        after = httpx.get(f"{base}/api/v1/issues?limit=200").json()["items"]
        assert {i["title"] for i in after} == {i["title"] for i in before}
    finally:
        server.terminate()
        server.wait(timeout=30)
