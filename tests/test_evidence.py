"""The evidence pack (no LLM) on SQLite and PostgreSQL: the diff against the last green run, the
check's history, suspect commits from the GitHub fake's compare API, similar issues, the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from fake_github import DEFAULT_TOKEN, FakeGitHub
from served import launch_chromium, need_chromium, serving
from triagehub.actions.github import GitHubClient
from triagehub.api.app import WebhookConfig, create_app
from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.greendiff import diff_against_green, files_in_text
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.store import tables as t

T0 = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
CLOCK = FixedClock(T0 + timedelta(days=2))
REPO = "acme/app"
CHECK = "CI / test"

PASS_LOG = """\
2026-11-10T06:00:01.1234567Z ##[group]Run pytest
2026-11-10T06:00:02.0000000Z ============ test session starts ============
2026-11-10T06:00:03.0000000Z DeprecationWarning: pkg_resources is deprecated as an API
2026-11-10T06:00:04.0000000Z ERROR: cannot reach telemetry host (ignored)
2026-11-10T06:00:05.0000000Z tests/test_orders.py ........ [100%]
2026-11-10T06:00:06.0000000Z ============ 8 passed in 1.23s ============
"""

FAIL_LOG = """\
2026-11-10T07:00:01.7654321Z ##[group]Run pytest
2026-11-10T07:00:02.0000000Z ============ test session starts ============
2026-11-10T07:00:03.0000000Z DeprecationWarning: pkg_resources is deprecated as an API
2026-11-10T07:00:04.0000000Z ERROR: cannot reach telemetry host (ignored)
2026-11-10T07:00:05.0000000Z tests/test_orders.py .......F [100%]
2026-11-10T07:00:06.0000000Z E   AssertionError: assert 41 == 42
2026-11-10T07:00:07.0000000Z src/shop/orders.py:42: AssertionError
2026-11-10T07:00:08.0000000Z ============ 1 failed, 7 passed in 1.31s ============
2026-11-10T07:00:09.0000000Z ##[error]Process completed with exit code 1.
"""


def report(run_id: str, status: str, log: str, *, at: datetime, commit: str) -> RunReport:
    message = "" if status == "pass" else "AssertionError: assert 41 == 42"
    return RunReport(
        source="github-actions",
        repository=REPO,
        run_id=run_id,
        commit=commit,
        branch="main",
        url=f"https://github.com/{REPO}/actions/runs/{run_id}",
        finished_at=at,
        results=(CheckResult(CHECK, Status(status), message, log),),
    )


def ingest(engine: Engine, reports: list[RunReport]) -> None:
    ingest_reports(engine, reports, Settings(), clock=CLOCK)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.now = CLOCK.now
        yield server


def client_for(engine: Engine, fake: FakeGitHub | None) -> Iterator[TestClient]:
    gh = GitHubClient(DEFAULT_TOKEN, base_url=fake.base_url) if fake is not None else None
    app = create_app(
        engine,
        Settings(),
        WebhookConfig(None, insecure=True),
        clock=CLOCK,
        run_worker=False,
        github=gh,
    )
    with TestClient(app) as client:
        yield client
    if gh is not None:
        gh.close()


def only_issue(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.execute(select(t.issues.c.id)).scalar_one())


# -- pure ----------------------------------------------------------------------------------------


def test_diff_keeps_only_lines_the_green_run_did_not_print() -> None:
    diff = diff_against_green(FAIL_LOG, PASS_LOG)
    assert diff.compared
    texts = list(diff.excerpt.lines)
    assert "E   AssertionError: assert 41 == 42" in texts
    assert not any("telemetry" in line for line in texts)  # printed by the green run too
    line = diff.excerpt.line_numbers[texts.index("E   AssertionError: assert 41 == 42")]
    assert FAIL_LOG.splitlines()[line].endswith("AssertionError: assert 41 == 42")


def test_without_a_passing_log_the_diff_is_the_plain_excerpt() -> None:
    diff = diff_against_green(FAIL_LOG, None)
    assert not diff.compared and diff.new_lines == 0
    assert any("telemetry" in line for line in diff.excerpt.lines)


def test_changed_files_are_found_in_error_lines() -> None:
    text = "src/shop/orders.py:42: in total\nE   AssertionError"
    files = ["src/shop/orders.py", "README.md", "src/shop/cart.py"]
    assert files_in_text(files, text) == ["src/shop/orders.py"]


# -- stored and served ---------------------------------------------------------------------------


def test_failure_after_a_green_run_is_diffed_against_its_log(engine: Engine) -> None:
    runs = [
        report("1", "pass", PASS_LOG, at=T0, commit="a1"),
        report("2", "fail", FAIL_LOG, at=T0 + timedelta(hours=1), commit="b2"),
    ]
    ingest(engine, runs)
    ingest(engine, runs)  # replayed: stored once
    with Session(engine) as session:
        assert session.execute(select(func.count()).select_from(t.green_diffs)).scalar() == 1
        kept = session.execute(select(t.check_pass_logs)).one()
    assert kept.commit_sha == "a1" and "8 passed" in kept.log


def test_evidence_pack_over_the_api(engine: Engine, github: FakeGitHub) -> None:
    github.add_commit(REPO, "a1", "Release 1.0", files=["src/shop/orders.py"])
    github.add_commit(REPO, "c3", "Tidy the README", author="alice", files=["README.md"])
    github.add_commit(
        REPO, "b2", "Round order totals\n\nLong body", author="bob", files=["src/shop/orders.py"]
    )
    ingest(
        engine,
        [
            report("1", "pass", PASS_LOG, at=T0, commit="a1"),
            report("2", "fail", FAIL_LOG, at=T0 + timedelta(hours=1), commit="b2"),
            report("3", "fail", FAIL_LOG, at=T0 + timedelta(hours=2), commit="d4"),
        ],
    )
    issue_id = only_issue(engine)
    for client in client_for(engine, github):
        answer = client.get(f"/api/v1/issues/{issue_id}/evidence")
        assert answer.status_code == 200, answer.text
        pack: dict[str, Any] = answer.json()
        missing = client.get("/api/v1/issues/999999/evidence")
        schema = client.get("/openapi.json").json()
    assert missing.status_code == 404
    assert "/api/v1/issues/{issue_id}/evidence" in schema["paths"]

    diff = pack["green_diff"]
    assert diff["against_run"] == "1"
    assert {"line": 6, "text": "E   AssertionError: assert 41 == 42"} in diff["lines"]
    assert not any("telemetry" in x["text"] for x in diff["lines"])

    history = pack["history"]
    assert history["check"] == CHECK
    assert history["last_pass"]["run"] == "1" and history["last_pass"]["commit"] == "a1"
    assert history["first_failure"]["run"] == "2" and history["first_failure"]["commit"] == "b2"
    assert history["recent"] == ["fail", "fail", "pass"]
    assert history["failure_rate"] == pytest.approx(2 / 3, abs=1e-3)

    suspects = pack["suspects"]
    assert suspects["status"] == "ok"
    assert (suspects["base"], suspects["head"]) == ("a1", "b2")
    assert [c["sha"] for c in suspects["commits"]] == ["b2", "c3"]  # newest first
    assert suspects["commits"][0]["author"] == "bob"
    assert suspects["commits"][0]["message"] == "Round order totals"
    assert suspects["files_in_errors"] == ["src/shop/orders.py"]
    assert any(r.path.endswith("/compare/a1...b2") for r in github.requests)
    assert pack["affected_checks"] == [CHECK]
    assert len(pack["digest"]) == 64


def test_suspects_say_why_they_are_missing_without_github(engine: Engine) -> None:
    ingest(
        engine,
        [
            report("1", "pass", PASS_LOG, at=T0, commit="a1"),
            report("2", "fail", FAIL_LOG, at=T0 + timedelta(hours=1), commit="a1"),
        ],
    )
    issue_id = only_issue(engine)
    for client in client_for(engine, None):
        pack = client.get(f"/api/v1/issues/{issue_id}/evidence").json()
    assert pack["suspects"]["status"] == "same_commit"
    assert pack["suspects"]["commits"] == []


# -- the issue page (a real browser) -------------------------------------------------------------


def page_text(engine: Engine, issue_id: int, selector: str) -> str:
    """The text of ``selector`` on the issue page, as Chromium renders it from a real server."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    app = create_app(
        engine, Settings(), WebhookConfig(None, insecure=True), clock=CLOCK, run_worker=False
    )
    with serving(app) as base, sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page()
            page.goto(f"{base}/issues/{issue_id}")
            return str(page.locator(selector).inner_text())
        finally:
            browser.close()


@pytest.mark.browser
def test_issue_page_shows_the_evidence_pack(engine: Engine) -> None:
    ingest(
        engine,
        [
            report("1", "pass", PASS_LOG, at=T0, commit="a1"),
            report("2", "fail", FAIL_LOG, at=T0 + timedelta(hours=1), commit="b2"),
        ],
    )
    text = page_text(engine, only_issue(engine), "#evidence-pack")
    assert "Diff against the last green run" in text
    assert "6  E   AssertionError: assert 41 == 42" in text
    assert "telemetry" not in text
    assert "Last pass: run 1 · commit a1" in text
    assert "no GitHub client" in text
