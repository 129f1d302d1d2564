"""Test reports through `triagehub ingest`: detection by content, JUnit file sets as one run,
Playwright evidence links, and clear errors (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from test_cli import cli, ok
from triagehub.config import Settings
from triagehub.engine.ingest import ingest_files
from triagehub.sources import FORMATS, ParseOptions, detect_format
from triagehub.store import tables as t
from triagehub.store.queries import get_issue, list_issues

DATA = Path(__file__).parent / "data"
JUNIT = DATA / "junit"
PLAYWRIGHT = DATA / "playwright"


def test_formats_are_told_apart_by_content(tmp_path: Path) -> None:
    cases = {
        PLAYWRIGHT / "report.json": "playwright",
        PLAYWRIGHT / "report_load_error.json": "playwright",
        JUNIT / "junit.xml": "junit",
        JUNIT / "jest-junit.xml": "junit",
        JUNIT / "surefire_TEST-com.example.checkout.CartServiceTest.xml": "junit",
        DATA / "dbt" / "run_results.json": "dbt",
        DATA / "dbt" / "build_log.jsonl": "dbt-log",
    }
    for path, name in cases.items():
        # Renamed, so that only the content can tell.
        copy = tmp_path / f"report-{name}-{path.stem}.bin"
        shutil.copy(path, copy)
        assert detect_format(copy).name == name, path


def test_the_cli_says_which_format_it_chose_and_needs_a_repository(db_url: str) -> None:
    report = str(PLAYWRIGHT / "report.json")
    refused = cli(db_url, "ingest", report)
    assert refused.returncode == 2
    assert "report.json: a Playwright report does not name its repository" in refused.stderr
    assert "--repo OWNER/NAME" in refused.stderr
    proc = cli(db_url, "ingest", report, "--repo", "acme/web", "-o", "json")
    data = json.loads(ok(proc))
    assert data["formats"] == {report: "playwright"}
    assert data["runs"] == 1 and data["new_issues"] >= 1


def test_junit_files_named_together_are_one_run(engine: Engine) -> None:
    files = [JUNIT / "jest-junit.xml", JUNIT / "go-junit-report.xml"]
    options = ParseOptions(repository="acme/web")
    summary = ingest_files(engine, files, Settings(), fmt=FORMATS["junit"], options=options)
    assert not summary.errors, summary.errors
    assert (summary.files, summary.runs) == (2, 1)
    again = ingest_files(engine, files[::-1], Settings(), fmt=FORMATS["junit"], options=options)
    assert again.duplicate_runs == 1  # the same set in another order is the same run
    # Auto-detected, each file is a run of its own.
    alone = ingest_files(engine, files, Settings(), options=options)
    assert (alone.runs, alone.duplicate_runs) == (2, 0)


def test_a_bad_file_of_a_junit_set_stores_nothing(engine: Engine, tmp_path: Path) -> None:
    broken = tmp_path / "TEST-broken.xml"
    broken.write_text((JUNIT / "junit.xml").read_text()[:300])
    files = [JUNIT / "jest-junit.xml", broken]
    summary = ingest_files(
        engine,
        files,
        Settings(),
        fmt=FORMATS["junit"],
        options=ParseOptions(repository="acme/web"),
    )
    [error] = summary.errors
    assert str(broken) in str(error) and "line" in str(error)
    with Session(engine) as session:
        assert session.execute(select(t.runs.c.id)).first() is None


def test_surefire_reruns_make_the_check_flaky(engine: Engine) -> None:
    surefire = JUNIT / "surefire_TEST-com.example.checkout.CartServiceTest.xml"
    summary = ingest_files(
        engine, [surefire], Settings(), options=ParseOptions(repository="acme/shop")
    )
    assert not summary.errors, summary.errors
    with Session(engine) as session:
        flaky = session.execute(
            select(t.checks.c.key)
            .join(t.check_stats, t.check_stats.c.check_id == t.checks.c.id)
            .where(t.check_stats.c.flaky.is_(True))
        ).scalars()
        assert list(flaky), "a flakyFailure element is flaky evidence"


def test_playwright_attachments_are_kept_on_the_occurrence(engine: Engine) -> None:
    summary = ingest_files(
        engine,
        [PLAYWRIGHT / "report.json"],
        Settings(),
        options=ParseOptions(repository="acme/web"),
    )
    assert not summary.errors, summary.errors
    with Session(engine) as session:
        details = [get_issue(session=session, issue_id=i.id) for i in list_issues(session=session)]
    links = [link for d in details if d for o in d.recent_occurrences for link in o.links]
    assert links, "the fixture's failing tests carry screenshots or traces"
    assert all(isinstance(link, str) and link for link in links)
