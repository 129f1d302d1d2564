"""The command line, run as a user runs it (a subprocess), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from triagehub.store import db

EVENTS = [
    {
        "source": "generic",
        "repository": "acme/dbt_cloud",
        "run": {
            "id": "8812",
            "commit": "3f2c1e9",
            "branch": "main",
            "finished_at": "2026-11-20T06:41:00Z",
            "status": "failure",
        },
        "results": [
            {
                "check": "dbt build / test.unique_id",
                "status": "fail",
                "message": "Got 5 results, configured to fail if != 0",
            },
            {"check": "dbt build / model.orders", "status": "pass"},
        ],
    },
    {
        "repository": "acme/roy_kent",
        "check": "CI / lint / ruff",
        "message": "src/a.py:1:1: F401 `os` imported but unused",
        "at": "2026-11-20T07:00:00Z",
    },
]

ISSUE_FIELDS = {
    "id",
    "repository",
    "title",
    "state",
    "category",
    "kind",
    "severity",
    "priority",
    "history_class",
    "decision",
    "confidence",
    "rationale",
    "fingerprint",
    "template",
    "occurrences",
    "checks",
    "first_seen",
    "last_seen",
    "assignee",
    "sla_due_at",
}


def cli(db_url: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRIAGEHUB_DATABASE_URL": db_url, "COLUMNS": "200"}
    env.pop("TRIAGEHUB_CONFIG", None)
    env.pop("TRIAGEHUB_WEBHOOK_SECRET", None)
    return subprocess.run(
        [sys.executable, "-m", "triagehub", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def issues_json(db_url: str) -> list[dict[str, Any]]:
    data = json.loads(ok(cli(db_url, "issues", "list", "--format", "json")))
    assert isinstance(data, list)
    return data


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    return path


def test_ingesting_the_same_file_twice_changes_nothing(db_url: str, events_file: Path) -> None:
    first = json.loads(ok(cli(db_url, "ingest", str(events_file), "--output", "json")))
    assert first["runs"] == 2 and first["new_issues"] == 2 and first["failures"] == 2
    before = issues_json(db_url)
    second = json.loads(ok(cli(db_url, "ingest", str(events_file), "--output", "json")))
    assert second["runs"] == 0 and second["duplicate_runs"] == 2 and second["new_issues"] == 0
    assert issues_json(db_url) == before
    shows = [
        json.loads(ok(cli(db_url, "issues", "show", str(i["id"]), "--format", "json")))
        for i in before
    ]
    assert all(len([e for e in s["timeline"] if e["kind"] == "occurred"]) == 1 for s in shows)


def test_issue_json_has_the_documented_fields(tmp_path: Path, events_file: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    ok(cli(url, "ingest", str(events_file)))
    data = issues_json(url)
    assert len(data) == 2
    for issue in data:
        assert issue.keys() >= ISSUE_FIELDS
    assert data[0]["last_seen"] >= data[1]["last_seen"]  # newest activity first
    [lint] = [i for i in data if i["repository"] == "acme/roy_kent"]
    assert lint["kind"] == "lint" and lint["checks"] == ["CI / lint / ruff"]


def test_list_filters_and_limit(tmp_path: Path, events_file: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    ok(cli(url, "ingest", str(events_file)))
    one = json.loads(ok(cli(url, "issues", "list", "--repo", "acme/dbt_cloud", "--format", "json")))
    assert [i["kind"] for i in one] == ["data_test"]
    cat = json.loads(
        ok(cli(url, "issues", "list", "--category", "data_quality_issue", "--format", "json"))
    )
    assert len(cat) == 1
    limited = json.loads(ok(cli(url, "issues", "list", "--limit", "1", "--format", "json")))
    assert len(limited) == 1
    table = ok(cli(url, "issues", "list"))
    assert "acme/roy_kent" in table and "2 issue(s)" in table


def test_list_says_when_more_issues_match_than_shown(tmp_path: Path, events_file: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    ok(cli(url, "ingest", str(events_file)))
    page = cli(url, "issues", "list", "--limit", "1", "--format", "json")
    assert len(json.loads(ok(page))) == 1  # stdout stays the JSON list
    assert "the first 1 shown; more match: --limit 4 shows more" in page.stderr
    whole = cli(url, "issues", "list", "--limit", "2")
    assert "2 issue(s)" in ok(whole) and "more match" not in whole.stderr


def test_list_searches_titles_and_messages(db_url: str, events_file: Path) -> None:
    ok(cli(db_url, "ingest", str(events_file)))

    def titles(text: str) -> list[str]:
        found = ok(cli(db_url, "issues", "list", "--search", text, "--format", "json"))
        return [i["title"] for i in json.loads(found)]

    assert len(titles("IMPORTED but")) == 1  # a title, any case
    assert len(titles("configured to FAIL")) == 1  # the message, any case
    assert titles('NEAR(x) -y "*') == []  # plain text, not FTS5 syntax
    too_long = cli(db_url, "issues", "list", "--search", "x" * 201)
    assert too_long.returncode == 2 and "at most 200 characters" in too_long.stderr


def test_show_prints_the_timeline(tmp_path: Path, events_file: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    ok(cli(url, "ingest", str(events_file)))
    text = ok(cli(url, "issues", "show", "1"))
    assert "Timeline" in text and "created" in text and "rationale" in text
    missing = cli(url, "issues", "show", "999")
    assert missing.returncode == 2 and "no such issue" in missing.stderr


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b'{"repository": "acme/x", "check": "c", "message": ', "malformed JSON"),
        (b'{"repository": "acme/x", "check": 5}', "check"),
        (b'{"repository": "acme/x", "message": "no check"}', "not an event"),
        (b'{"repository": "acme/x", "check": "c", "status": "meh"}', "status"),
        (b'{"repository": "acme/x", "check": "c", "message": "caf\xe9"}', "UTF-8"),
    ],
)
def test_bad_input_exits_2_naming_file_and_field_and_stores_nothing_of_it(
    tmp_path: Path, events_file: Path, content: bytes, field: str
) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    proc = cli(url, "ingest", str(bad), str(events_file))
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and field in proc.stderr
    assert "1 file(s) not ingested" in proc.stderr
    data = issues_json(url)
    assert {i["repository"] for i in data} == {"acme/dbt_cloud", "acme/roy_kent"}


def test_huge_message_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'huge.db'}"
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"repository": "acme/x", "check": "c", "message": "y" * 50_000_000}))
    proc = cli(url, "ingest", str(big))
    assert proc.returncode == 2
    assert "message" in proc.stderr and "limit is 1 MiB" in proc.stderr
    assert issues_json(url) == []


def test_missing_file_and_unknown_format_exit_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    proc = cli(url, "ingest", str(tmp_path / "nope.json"))
    assert proc.returncode == 2 and "nope.json" in proc.stderr
    proc = cli(url, "ingest", "--format", "xml", str(tmp_path / "nope.json"))
    assert proc.returncode == 2 and "unknown format" in proc.stderr


def test_bad_config_exits_2_naming_the_key(tmp_path: Path, events_file: Path) -> None:
    cfg = tmp_path / "triagehub.yaml"
    cfg.write_text("repositories:\n  acme/a: {priority_level: 7}\n")
    proc = cli(f"sqlite:///{tmp_path / 'x.db'}", "--config", str(cfg), "ingest", str(events_file))
    assert proc.returncode == 2
    assert "triagehub.yaml" in proc.stderr and "repositories.acme/a.priority_level" in proc.stderr


def test_db_upgrade_reports_the_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'u.db'}"
    head = db.head_revision()
    assert f"revision {head} (was empty)" in ok(cli(url, "db", "upgrade"))
    assert f"revision {head} (was {head})" in ok(cli(url, "db", "upgrade"))


def test_help_explains_every_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    for args in (
        ["--help"],
        ["ingest", "--help"],
        ["issues", "list", "--help"],
        ["demo", "--help"],
    ):
        text = ok(cli(url, *args))
        assert "Usage" in text


def test_demo_shows_the_triaged_result(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    text = ok(cli(url, "--db", url, "demo"))
    assert "noise reduction" in text and "persistent" in text and "flaky" in text
    data = json.loads(ok(cli(url, "--db", url, "demo", "--format", "json")))
    assert data["noise_reduction"] >= 4
    assert data["scenarios"]["storm"]["scope"] == "storm"


def test_patterns_command_lists_families_across_repositories(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    msg = "curl: (7) Failed to connect to registry.npmjs.org port 443: Connection refused"
    events = [
        {"repository": repo, "check": "install", "message": msg, "at": "2099-01-01T00:00:00Z"}
        for repo in ("acme/a", "acme/b")
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    ok(cli(url, "ingest", str(path)))
    data = json.loads(ok(cli(url, "patterns", "--format", "json", "--min-repos", "2")))
    assert [p["repositories"] for p in data] == [["acme/a", "acme/b"]]
    assert data[0]["issues"] == 2
    assert "acme/a, acme/b" in ok(cli(url, "patterns"))


def test_serve_without_secrets_says_once_what_is_off(tmp_path: Path) -> None:
    from triagehub.cli.main import integrations_off
    from triagehub.config import Secrets

    assert integrations_off(Secrets()) == [
        "GitHub webhooks (TRIAGEHUB_WEBHOOK_SECRET is not set: they answer 503)",
        "GitHub issue sync and re-runs (GITHUB_TOKEN is not set)",
        "Slack notifications (SLACK_WEBHOOK_URL or SLACK_BOT_TOKEN is not set: logged)",
        "LLM classification (ANTHROPIC_API_KEY is not set: the rules decide)",
    ]
    assert integrations_off(Secrets(webhook_secret=SecretStr("s"), github_token=SecretStr("t")))[
        0
    ].startswith("Slack")


def test_worker_once_runs_queued_deliveries(tmp_path: Path) -> None:
    from triagehub.engine.ingest_jobs import INGEST_WEBHOOK
    from triagehub.engine.jobs import enqueue
    from triagehub.store.db import open_database

    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = open_database(url)
    body = json.loads(
        (
            Path(__file__).parent / "data" / "github" / "workflow_job.completed_failure.1.json"
        ).read_text()
    )
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    with Session(engine) as session, session.begin():
        enqueue(
            session,
            kind=INGEST_WEBHOOK,
            key="github:x",
            data={"event": "workflow_job", "delivery": "x", "payload": body},
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
    engine.dispose()
    out = ok(cli(url, "worker", "--once"))
    assert "1 job(s) done" in out
    assert len(issues_json(url)) == 1
