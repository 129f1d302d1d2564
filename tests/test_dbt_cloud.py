"""dbt Cloud runs through the Administrative API v2, against a local fake dbt Cloud that serves
the real dbt artifacts and console logs of ``tests/data/dbt``, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fake_dbt_cloud import (
    ACCOUNT_ID,
    CANCELLED,
    DEFAULT_TOKEN,
    ERROR,
    RUNNING,
    SUCCESS,
    Disconnect,
    FakeDbtCloud,
    Reply,
    envelope_error,
    make_run,
    make_step,
)
from triagehub.clock import FixedClock
from triagehub.config import DbtCloudConfig, Settings
from triagehub.engine.pull.dbt_cloud import (
    DbtCloudClient,
    DbtCloudPollSummary,
    cursor_name,
    poll_dbt_cloud,
)
from triagehub.errors import ConfigError, ExternalServiceError, InputError
from triagehub.store import db
from triagehub.store import tables as t
from triagehub.store.queries import counts, list_issues

# Time-sensitive (ages, windows, expiry): make test runs this module again a year ahead.
pytestmark = pytest.mark.clock

DATA = Path(__file__).resolve().parent / "data" / "dbt"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
REPO = "acme/dbt_cloud"
JOB = 1001
ARTIFACTS = f"/api/v2/accounts/{ACCOUNT_ID}/runs/{{run}}/artifacts/{{path}}"

RUN_RESULTS = (DATA / "run_results.json").read_bytes()
MANIFEST = (DATA / "manifest.json").read_bytes()
COMPILE_ERROR_LOG = (DATA / "compile_error_console.txt").read_text()

MODEL_ERROR = "model.triage_demo.stg_orders"
TEST_FAILURES = (
    "test.triage_demo.not_null_stg_customers_email.d7cf761533",
    "test.triage_demo.unique_stg_customers_customer_id.c7614daada",
)
COMPILE_ERROR = "model.triage_demo.bad_ref"


def passing_run_results() -> bytes:
    """The real run_results.json edited so that every node passed (a green nightly run)."""
    doc = json.loads(RUN_RESULTS)
    for result in doc["results"]:
        is_test = result["unique_id"].startswith("test.")
        result["status"] = "pass" if is_test else "success"
        result["failures"] = 0 if is_test else None
        result["message"] = None if is_test else "OK"
    return json.dumps(doc).encode()


FAILING = {"run_results.json": RUN_RESULTS, "manifest.json": MANIFEST}
PASSING = {"run_results.json": passing_run_results(), "manifest.json": MANIFEST}


def compile_error_steps() -> list[dict[str, Any]]:
    return [
        make_step("Clone git repository", SUCCESS, "Cloning into '/tmp/jobs/repo'...", 1),
        make_step("Create profile from connection Snowflake", SUCCESS, "", 2),
        make_step("Invoke dbt with `dbt build`", ERROR, COMPILE_ERROR_LOG, 3),
    ]


def add_scenario(fake: FakeDbtCloud) -> None:
    """Seven runs: one too old, a green one, two with the same failures, a compilation error
    without artifacts, a cancelled one and one still running."""
    fake.add_run(make_run(100, status=SUCCESS, finished_at=NOW - timedelta(days=3)), PASSING)
    fake.add_run(make_run(101, status=SUCCESS, finished_at=NOW - timedelta(hours=6)), PASSING)
    fake.add_run(make_run(102, status=ERROR, finished_at=NOW - timedelta(hours=5)), FAILING)
    fake.add_run(
        make_run(
            103,
            status=ERROR,
            finished_at=NOW - timedelta(hours=4),
            branch="feature/bad-ref",
            steps=compile_error_steps(),
        )
    )
    fake.add_run(make_run(104, status=CANCELLED, finished_at=NOW - timedelta(hours=3)))
    fake.add_run(make_run(105, status=ERROR, finished_at=NOW - timedelta(hours=2)), FAILING)
    fake.add_run(make_run(106, status=RUNNING, finished_at=None))


@pytest.fixture
def fake() -> Iterator[FakeDbtCloud]:
    with FakeDbtCloud() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(
    fake: FakeDbtCloud,
    sleeps: list[float],
    *,
    token: str = DEFAULT_TOKEN,
    max_retries: int = 3,
    page_size: int = 2,
) -> DbtCloudClient:
    return DbtCloudClient(
        token,
        fake.account_id,
        host=fake.base_url,
        timeout_s=5,
        max_retries=max_retries,
        page_size=page_size,
        clock=FixedClock(NOW),
        sleep=sleeps.append,
        rng=random.Random(7),
    )


def poll(
    engine: Engine,
    fake: FakeDbtCloud,
    sleeps: list[float] | None = None,
    *,
    settings: Settings | None = None,
    repository: str | None = REPO,
    job_id: int | None = None,
) -> DbtCloudPollSummary:
    with make_client(fake, sleeps if sleeps is not None else []) as client:
        return poll_dbt_cloud(
            engine,
            settings or Settings(),
            client,
            job_id=job_id,
            since=timedelta(hours=24),
            repository=repository,
            clock=FixedClock(NOW),
        )


def stored_runs(engine: Engine) -> dict[str, dict[str, Any]]:
    with Session(engine) as session:
        rows = session.execute(select(t.runs).where(t.runs.c.source == "dbt_cloud")).mappings()
        return {row["external_id"]: dict(row) for row in rows}


def artifact_requests(fake: FakeDbtCloud) -> list[str]:
    return [r.path for r in fake.requests if "/artifacts/" in r.path]


# -- the poll -----------------------------------------------------------------------------------


def test_completed_runs_are_read_across_pages_and_cancelled_or_running_ones_skipped(
    engine: Engine, fake: FakeDbtCloud
) -> None:
    add_scenario(fake)

    summary = poll(engine, fake)

    assert (summary.runs_seen, summary.runs_ingested, summary.runs_skipped) == (5, 4, 1)
    assert summary.artifact_errors == [] and summary.ingest.runs == 4
    listed = [r for r in fake.requests if r.path.endswith("/runs/")]
    # Newest first, two per page, stopping at the page that reaches runs older than --since.
    assert [r.query["offset"] for r in listed] == ["0", "2", "4", "6"]
    assert {r.query["order_by"] for r in listed} == {"-finished_at"}
    assert {r.query["limit"] for r in listed} == {"2"}
    assert json.loads(listed[0].query["include_related"]) == ["job", "trigger"]
    assert not any("/runs/100/" in p or "/runs/104/" in p for p in artifact_requests(fake))
    assert sorted(stored_runs(engine)) == ["101", "102", "103", "105"]


def test_requests_carry_the_token_and_the_job_filter(engine: Engine, fake: FakeDbtCloud) -> None:
    add_scenario(fake)
    fake.add_run(make_run(107, status=ERROR, finished_at=NOW, job_id=2002), FAILING)

    summary = poll(engine, fake, job_id=2002)

    assert summary.runs_ingested == 1 and sorted(stored_runs(engine)) == ["107"]
    assert fake.requests[0].query["job_definition_id"] == "2002"
    assert {r.headers["authorization"] for r in fake.requests} == {f"Token {DEFAULT_TOKEN}"}


def test_runs_are_stored_under_the_cloud_run_id_with_commit_branch_url_and_times(
    engine: Engine, fake: FakeDbtCloud
) -> None:
    add_scenario(fake)

    poll(engine, fake)

    runs = stored_runs(engine)
    run = runs["102"]
    assert run["commit_sha"] == f"{102:040x}" and run["branch"] == "main"
    assert run["url"] == f"https://cloud.getdbt.com/deploy/{ACCOUNT_ID}/projects/270542/runs/102/"
    assert run["status"] == "failure" and runs["101"]["status"] == "success"
    finished = run["finished_at"].replace(tzinfo=UTC)
    assert finished == NOW - timedelta(hours=5)
    assert runs["103"]["branch"] == "feature/bad-ref"


def test_test_failures_and_the_model_error_become_issues(
    engine: Engine, fake: FakeDbtCloud
) -> None:
    add_scenario(fake)

    poll(engine, fake)

    with Session(engine) as session:
        issues = list_issues(session=session, repository=REPO)
    checks = {check for issue in issues for check in issue.checks}
    assert {MODEL_ERROR, *TEST_FAILURES} <= checks
    [model] = [i for i in issues if i.checks == [MODEL_ERROR]]
    assert "Binder Error" in model.template
    assert {i.source for i in issues} == {"dbt_cloud"}


def test_the_same_failure_in_two_cloud_runs_is_one_issue_with_two_occurrences(
    engine: Engine, fake: FakeDbtCloud
) -> None:
    add_scenario(fake)

    poll(engine, fake)

    with Session(engine) as session:
        issues = list_issues(session=session, repository=REPO)
    for check in (MODEL_ERROR, *TEST_FAILURES):
        [issue] = [i for i in issues if check in i.checks]
        assert issue.occurrences == 2, check


def test_a_compilation_error_without_artifacts_is_read_from_the_failed_step_log(
    engine: Engine, fake: FakeDbtCloud
) -> None:
    add_scenario(fake)

    poll(engine, fake)

    assert f"/api/v2/accounts/{ACCOUNT_ID}/runs/103/" in [r.path for r in fake.requests]
    step_request = next(r for r in fake.requests if r.path.endswith("/runs/103/"))
    assert "run_steps" in json.loads(step_request.query["include_related"])
    with Session(engine) as session:
        [issue] = [i for i in list_issues(session=session) if COMPILE_ERROR in i.checks]
    assert "does_not_exist" in issue.template and issue.occurrences == 1


def test_a_run_that_failed_before_dbt_started_is_recorded_against_its_step(
    engine: Engine, fake: FakeDbtCloud
) -> None:
    steps = [make_step("Clone git repository", ERROR, "fatal: could not read Username", 1)]
    fake.add_run(
        make_run(
            110,
            status=ERROR,
            finished_at=NOW - timedelta(hours=1),
            steps=steps,
            status_message="Failed to clone repository.",
        )
    )

    summary = poll(engine, fake)

    assert summary.runs_ingested == 1
    with Session(engine) as session:
        [issue] = list_issues(session=session)
    assert issue.checks == ["dbt Cloud / Nightly build / Clone git repository"]
    assert "Failed to clone repository" in issue.template


def test_a_failed_run_whose_artifacts_show_no_failure_adds_the_failed_step(
    engine: Engine, fake: FakeDbtCloud
) -> None:
    # A passing `dbt build` step wrote the artifacts; a later step failed to compile.
    run = make_run(120, status=ERROR, finished_at=NOW, steps=compile_error_steps())
    fake.add_run(run, PASSING)

    poll(engine, fake)

    with Session(engine) as session:
        [issue] = list_issues(session=session)
    assert issue.checks == [COMPILE_ERROR]
    assert stored_runs(engine)["120"]["results_total"] > 1


def test_corrupt_artifacts_of_a_failed_run_are_reported_and_its_log_is_read(
    engine: Engine, fake: FakeDbtCloud
) -> None:
    run = make_run(121, status=ERROR, finished_at=NOW, steps=compile_error_steps())
    fake.add_run(run, {"run_results.json": RUN_RESULTS[: len(RUN_RESULTS) // 2]})

    summary = poll(engine, fake)

    [error] = summary.artifact_errors
    assert error.startswith("dbt Cloud run 121: run_results.json") and "malformed JSON" in error
    assert "/tmp" not in error
    with Session(engine) as session:
        [issue] = list_issues(session=session)
    assert issue.checks == [COMPILE_ERROR]


# -- cursor and idempotence ---------------------------------------------------------------------


def test_a_second_poll_ingests_nothing_and_a_run_finished_later_is_ingested(
    engine: Engine, fake: FakeDbtCloud
) -> None:
    add_scenario(fake)
    poll(engine, fake)
    with Session(engine) as session:
        before = counts(session=session)

    again = poll(engine, fake)

    assert (again.runs_seen, again.runs_ingested) == (0, 0)
    with Session(engine) as session:
        assert counts(session=session) == before
    # The run that was still running has finished, and a new one failed.
    running = next(r for r in fake.runs if r["id"] == 106)
    running.update(make_run(106, status=SUCCESS, finished_at=NOW - timedelta(minutes=90)))
    fake.artifacts.update({(106, k): v for k, v in PASSING.items()})
    fake.add_run(make_run(107, status=ERROR, finished_at=NOW - timedelta(minutes=30)), FAILING)

    later = poll(engine, fake)

    assert (later.runs_seen, later.runs_ingested) == (2, 2)
    assert {"106", "107"} <= set(stored_runs(engine))
    with Session(engine) as session:
        [model] = [i for i in list_issues(session=session) if i.checks == [MODEL_ERROR]]
    assert model.occurrences == 3


def test_ingesting_the_same_runs_again_changes_nothing(engine: Engine, fake: FakeDbtCloud) -> None:
    add_scenario(fake)
    poll(engine, fake)
    with Session(engine) as session:
        before = counts(session=session)

    # The job's own cursor is new, so the same runs are listed and ingested again.
    again = poll(engine, fake, job_id=JOB)

    assert again.runs_ingested == 4
    assert again.ingest.duplicate_runs == 4 and again.ingest.new_issues == 0
    with Session(engine) as session:
        assert counts(session=session) == before


def test_the_cursor_is_the_finish_time_of_the_newest_run(
    engine: Engine, fake: FakeDbtCloud
) -> None:
    add_scenario(fake)

    poll(engine, fake)

    with Session(engine) as session:
        value = session.execute(
            select(t.cursors.c.value).where(t.cursors.c.name == cursor_name(ACCOUNT_ID, None))
        ).scalar_one()
    assert datetime.fromisoformat(value) == NOW - timedelta(hours=2)


# -- repositories -------------------------------------------------------------------------------


def test_the_dbt_project_named_in_the_config_gives_the_repository(
    engine: Engine, fake: FakeDbtCloud
) -> None:
    add_scenario(fake)
    settings = Settings.model_validate(
        {"repositories": {"acme/warehouse": {"dbt_project": "triage_demo"}}}
    )

    summary = poll(engine, fake, settings=settings, repository=None)

    assert summary.runs_ingested == 4
    with Session(engine) as session:
        assert {i.repository for i in list_issues(session=session)} == {"acme/warehouse"}


def test_without_repo_or_project_mapping_nothing_is_requested(
    engine: Engine, fake: FakeDbtCloud
) -> None:
    add_scenario(fake)

    with pytest.raises(InputError, match="--repo OWNER/NAME"):
        poll(engine, fake, repository=None)

    assert fake.requests == []


def test_a_project_the_config_does_not_map_stops_the_poll_before_storing(
    engine: Engine, fake: FakeDbtCloud
) -> None:
    add_scenario(fake)
    settings = Settings.model_validate({"repositories": {"acme/other": {"dbt_project": "other"}}})

    with pytest.raises(InputError, match="triage_demo"):
        poll(engine, fake, settings=settings, repository=None)

    assert stored_runs(engine) == {}


# -- retries and errors -------------------------------------------------------------------------


def test_rate_limit_429_waits_the_retry_after_it_was_given(
    engine: Engine, fake: FakeDbtCloud, sleeps: list[float]
) -> None:
    add_scenario(fake)
    fake.script(Reply(429, envelope_error(429, "Too many requests"), {"Retry-After": "7"}))

    summary = poll(engine, fake, sleeps)

    assert sleeps == [7.0]
    assert summary.runs_ingested == 4


def test_rate_limit_429_without_retry_after_backs_off(fake: FakeDbtCloud) -> None:
    fake.add_run(make_run(101, status=SUCCESS, finished_at=NOW))
    fake.script(Reply(429, envelope_error(429, "Too many requests")))
    sleeps: list[float] = []

    with make_client(fake, sleeps) as client:
        assert client.get_run(101)["id"] == 101

    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.0


def test_server_errors_a_few_times_then_success_are_retried_with_growing_backoff(
    engine: Engine, fake: FakeDbtCloud, sleeps: list[float]
) -> None:
    add_scenario(fake)
    fake.script(Reply(502, b"<html>Bad Gateway</html>"), Reply(503), Disconnect())

    summary = poll(engine, fake, sleeps)

    assert summary.runs_ingested == 4
    for wait, ceiling in zip(sleeps, (1.0, 2.0, 4.0), strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_server_errors_forever_give_up_keeping_the_runs_stored_and_the_cursor_before(
    engine: Engine, fake: FakeDbtCloud, sleeps: list[float]
) -> None:
    add_scenario(fake)
    broken = ARTIFACTS.format(run=105, path="run_results.json")
    fake.broken[broken] = Reply(503, envelope_error(503, "Service Unavailable"))

    with pytest.raises(ExternalServiceError) as caught:
        poll(engine, fake, sleeps)

    assert caught.value.status == 503
    assert "gave up after 4 attempts" in str(caught.value)
    assert "Service Unavailable" in str(caught.value) and "/runs/105/" in str(caught.value)
    assert len(sleeps) == 3
    assert sorted(stored_runs(engine)) == ["101", "102", "103"]
    # dbt Cloud is back: the next poll starts at the run that failed (and the cancelled one).
    del fake.broken[broken]
    resumed = poll(engine, fake)
    assert (resumed.runs_seen, resumed.runs_ingested, resumed.runs_skipped) == (2, 1, 1)
    assert sorted(stored_runs(engine)) == ["101", "102", "103", "105"]


def test_wrong_token_raises_401_at_once_naming_the_variable_and_the_account(
    fake: FakeDbtCloud, sleeps: list[float]
) -> None:
    wrong = "dbtc_WrongTokenWrongToken0123456789abcd"

    with (
        make_client(fake, sleeps, token=wrong) as client,
        pytest.raises(ExternalServiceError) as caught,
    ):
        list(client.list_runs())

    message = str(caught.value)
    assert caught.value.status == 401
    assert "DBT_CLOUD_API_TOKEN" in message and f"account {ACCOUNT_ID}" in message
    assert "Invalid token." in message
    assert wrong not in message
    assert (len(fake.requests), sleeps) == (1, [])


def test_a_missing_artifact_is_false_and_a_missing_run_is_404(
    fake: FakeDbtCloud, sleeps: list[float], tmp_path: Path
) -> None:
    fake.add_run(make_run(101, status=ERROR, finished_at=NOW))

    with make_client(fake, sleeps) as client:
        assert client.download_artifact(101, "run_results.json", tmp_path / "r.json") is False
        with pytest.raises(ExternalServiceError) as caught:
            client.get_run(999)

    assert caught.value.status == 404 and not (tmp_path / "r.json").exists()
    assert sleeps == []


# -- secrets ------------------------------------------------------------------------------------


def test_the_token_never_appears_in_errors_logs_or_repr(
    fake: FakeDbtCloud, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    token = "plain-opaque-credential-0123456789"  # nothing redact() would recognise
    fake.token = token
    fake.add_run(make_run(101, status=SUCCESS, finished_at=NOW))
    fake.script(
        Reply(503, envelope_error(503, f"upstream echoed {token}")),
        Reply(400, envelope_error(400, f"credential {token} is not valid for this call")),
    )
    caplog.set_level(logging.DEBUG)

    with (
        make_client(fake, sleeps, token=token) as client,
        pytest.raises(ExternalServiceError) as caught,
    ):
        client.get_run(101)

    assert "retrying" in caplog.text
    assert token not in caplog.text
    assert token not in str(caught.value) and "[REDACTED]" in str(caught.value)
    assert token not in repr(client)


# -- configuration ------------------------------------------------------------------------------


def test_environment_overrides_the_dbt_cloud_section(monkeypatch: pytest.MonkeyPatch) -> None:
    section = DbtCloudConfig.model_validate({"host": "emea.dbt.com", "account_id": 7})
    assert (section.host, section.account_id) == ("https://emea.dbt.com", 7)
    monkeypatch.setenv("DBT_CLOUD_HOST", "https://ab123.us1.dbt.com/")
    monkeypatch.setenv("DBT_CLOUD_ACCOUNT_ID", "43")

    resolved = section.with_env()

    assert (resolved.host, resolved.account_id) == ("https://ab123.us1.dbt.com", 43)


def test_a_non_numeric_account_id_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBT_CLOUD_ACCOUNT_ID", "acme")

    with pytest.raises(ConfigError, match="DBT_CLOUD_ACCOUNT_ID"):
        Settings().dbt_cloud.with_env()


# -- command line -------------------------------------------------------------------------------


def run_cli(
    tmp_path: Path, fake: FakeDbtCloud, *args: str, token: str | None = DEFAULT_TOKEN
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_CLOUD_", "TRIAGEHUB_"))}
    env.update(
        {"DBT_CLOUD_ACCOUNT_ID": str(ACCOUNT_ID), "DBT_CLOUD_HOST": fake.base_url, "COLUMNS": "200"}
    )
    if token is not None:
        env["DBT_CLOUD_API_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "triagehub", "--db", db_url(tmp_path), "ingest", "dbt-cloud", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_cli_polls_dbt_cloud_and_prints_the_summary_as_json(
    tmp_path: Path, fake: FakeDbtCloud
) -> None:
    add_scenario(fake)

    proc = run_cli(tmp_path, fake, "--repo", REPO, "--since", "5200w", "-o", "json")

    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    # --since reaches back to the old run too (100); cancelled 104 is seen but skipped.
    assert (data["runs_seen"], data["runs_ingested"], data["runs_skipped"]) == (6, 5, 1)
    assert data["account_id"] == ACCOUNT_ID and data["new_issues"] >= 4
    assert data["artifact_errors"] == []


def test_cli_with_a_wrong_token_fails_clearly_and_stores_nothing(
    tmp_path: Path, fake: FakeDbtCloud
) -> None:
    add_scenario(fake)
    wrong = "dbtc_WrongTokenWrongToken0123456789abcd"

    proc = run_cli(tmp_path, fake, "--repo", REPO, token=wrong)

    assert proc.returncode != 0
    assert "DBT_CLOUD_API_TOKEN" in proc.stderr and "401" in proc.stderr
    assert wrong not in proc.stderr + proc.stdout
    engine = db.open_database(db_url(tmp_path))
    try:
        with Session(engine) as session:
            assert counts(session=session).runs == 0
    finally:
        engine.dispose()


def test_cli_without_a_token_exits_2_naming_the_variable(
    tmp_path: Path, fake: FakeDbtCloud
) -> None:
    proc = run_cli(tmp_path, fake, "--repo", REPO, token=None)

    assert proc.returncode == 2
    assert "DBT_CLOUD_API_TOKEN" in proc.stderr
    assert fake.requests == []
