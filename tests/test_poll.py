"""Polling GitHub Actions through the REST client, against a local fake GitHub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from fake_github import DEFAULT_TOKEN, FakeGitHub, make_job
from triagehub.actions.github import GitHubClient
from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.engine.pull.github_actions import PollSummary, poll_github_actions
from triagehub.store.queries import counts, list_issues

# Time-sensitive (ages, windows, expiry): make test runs this module again a year ahead.
pytestmark = pytest.mark.clock

NOW = datetime(2026, 11, 2, tzinfo=UTC)
LOG = (
    "2026-11-01T00:01:00.0000000Z ##[group]Run pytest\n"
    "2026-11-01T00:01:00.0000000Z pytest -q\n"
    "2026-11-01T00:01:00.0000000Z ##[endgroup]\n"
    "2026-11-01T00:01:02.0000000Z E   AssertionError: assert 41 == 42\n"
    "2026-11-01T00:01:02.0000000Z FAILED tests/test_totals.py::test_sum - AssertionError\n"
    "2026-11-01T00:01:03.0000000Z ##[error]Process completed with exit code 1.\n"
)


def setup(fake: FakeGitHub, count: int, start: int = 0) -> None:
    runs = fake.add_runs(count)
    for i, run in enumerate(runs):
        job = make_job(1000 + start + i, run["id"])
        fake.jobs[run["id"]] = [job]
        fake.job_logs[job["id"]] = LOG.encode()


def poll(engine: Engine, fake: FakeGitHub) -> PollSummary:
    with GitHubClient(DEFAULT_TOKEN, base_url=fake.base_url) as client:
        return poll_github_actions(
            engine,
            Settings(),
            client,
            repositories=["octo-org/octo-repo"],
            since=timedelta(days=7),
            clock=FixedClock(NOW),
        )


def test_runs_are_ingested_with_their_log_excerpt_and_the_cursor_advances(
    engine: Engine,
) -> None:
    with FakeGitHub() as fake:
        setup(fake, 3)
        first = poll(engine, fake)
        assert first.runs_seen == 3 and first.logs_fetched == 3
        with Session(engine) as session:
            [issue] = list_issues(session=session)
            before = counts(session=session)
        assert issue.occurrences == 3
        assert "AssertionError" in issue.template and issue.kind == "test"
        # The next poll sees only what is new.
        again = poll(engine, fake)
        assert again.runs_seen == 0
        with Session(engine) as session:
            assert counts(session=session) == before
        setup(fake, 1, start=10)
        later = poll(engine, fake)
        assert later.runs_seen == 1


def test_a_log_that_cannot_be_fetched_still_records_the_failure(engine: Engine) -> None:
    with FakeGitHub() as fake:
        runs = fake.add_runs(1)
        fake.jobs[runs[0]["id"]] = [make_job(2000, runs[0]["id"])]  # no log stored: 404
        summary = poll(engine, fake)
        assert summary.log_errors
        with Session(engine) as session:
            [issue] = list_issues(session=session)
        assert issue.checks == ["CI / test / Run tests"]


def test_cli_polls_github_actions(tmp_path: Path) -> None:
    with FakeGitHub() as fake:
        setup(fake, 2)
        env = {
            **os.environ,
            "GITHUB_TOKEN": DEFAULT_TOKEN,
            "TRIAGEHUB_GITHUB_API_URL": fake.base_url,
            "TRIAGEHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        }
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "triagehub",
                "ingest",
                "github-actions",
                "--repo",
                "octo-org/octo-repo",
                "--since",
                "3650d",
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["runs_seen"] == 2 and data["logs_fetched"] == 2 and data["new_issues"] == 1
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "triagehub",
                "ingest",
                "github-actions",
                "--repo",
                "octo-org/octo-repo",
                "--since",
                "soon",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert bad.returncode == 2 and "--since" in bad.stderr


def test_polled_transient_failures_are_rerun_once_with_self_heal(engine: Engine) -> None:
    from triagehub.config import parse_settings

    settings = parse_settings({"repositories": {"octo-org/octo-repo": {"self_heal": True}}}, "t")
    transient = "2026-11-01T00:01:02.0000000Z curl: (6) Could not resolve host: pypi.org\n"
    with FakeGitHub() as fake:
        [run] = fake.add_runs(1)
        job = make_job(3000, run["id"])
        fake.jobs[run["id"]] = [job]
        fake.job_logs[job["id"]] = transient.encode()
        with GitHubClient(DEFAULT_TOKEN, base_url=fake.base_url) as client:
            for _ in range(2):
                summary = poll_github_actions(
                    engine,
                    settings,
                    client,
                    repositories=["octo-org/octo-repo"],
                    since=timedelta(days=7),
                    clock=FixedClock(NOW),
                )
        assert fake.reruns == [run["id"]]
    assert summary.runs_seen == 0
    with Session(engine) as session:
        [issue] = list_issues(session=session)
    assert issue.category == "transient_failure"
