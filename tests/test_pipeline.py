"""The pipeline on a real database (SQLite and PostgreSQL): grouping, history, idempotency."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import IngestSummary, ingest_files, ingest_reports
from triagehub.store import tables as t
from triagehub.store.queries import IssueView, counts, get_issue, list_issues

T0 = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
CLOCK = FixedClock(T0 + timedelta(days=30))


def run(
    run_id: str,
    results: Sequence[tuple[str, str, str]],
    *,
    at: datetime,
    repo: str = "acme/app",
    commit: str = "c0ffee1",
    attempt: int = 1,
    branch: str = "main",
    source: str = "generic",
) -> RunReport:
    return RunReport(
        source=source,
        repository=repo,
        run_id=run_id,
        attempt=attempt,
        commit=commit,
        branch=branch,
        finished_at=at,
        results=tuple(CheckResult(c, Status(s), m) for c, s, m in results),
    )


def ingest(engine: Engine, reports: Sequence[RunReport], settings: Settings | None = None) -> Any:
    return ingest_reports(engine, reports, settings or Settings(), clock=CLOCK)


def issues(engine: Engine) -> list[IssueView]:
    with Session(engine) as session:
        return list_issues(session=session)


def test_same_error_with_different_numbers_is_one_issue(engine: Engine) -> None:
    msgs = [
        "Got 5 results, configured to fail if != 0",
        "Got 7 results, configured to fail if != 0",
        "Got 12 results, configured to fail if != 0",
    ]
    reports = [
        run(str(i), [("dbt build / test.unique_id", "fail", m)], at=T0 + timedelta(hours=i))
        for i, m in enumerate(msgs)
    ]
    ingest(engine, reports)
    [issue] = issues(engine)
    assert issue.occurrences == 3
    assert issue.kind == "data_test"
    assert issue.category == "data_quality_issue"
    assert issue.template == "Got <n> results, configured to fail if != <n>"
    assert issue.first_seen == T0 and issue.last_seen == T0 + timedelta(hours=2)
    assert issue.history_class == "recurring"


def test_different_errors_of_one_check_are_different_issues(engine: Engine) -> None:
    ingest(
        engine,
        [
            run("1", [("t", "fail", "AssertionError: assert 1 == 2")], at=T0),
            run("2", [("t", "fail", "KeyError: 'customer_id'")], at=T0 + timedelta(hours=1)),
        ],
    )
    assert len(issues(engine)) == 2


def test_environmental_failures_group_across_checks(engine: Engine) -> None:
    results = [
        (f"tests/test_{i}.py", "error", f"Error: connect ECONNREFUSED 10.0.0.{i}:5432")
        for i in range(6)
    ] + [(f"tests/test_ok_{i}.py", "pass", "") for i in range(10)]
    ingest(engine, [run("1", results, at=T0)])
    [issue] = issues(engine)
    assert issue.scope == "repository"
    assert issue.checks_count == 6
    assert issue.occurrences == 6
    assert issue.kind == "infrastructure"
    assert issue.category == "transient_failure"


def test_storm_rolls_up_into_one_infrastructure_issue(engine: Engine) -> None:
    failing = [
        (f"job {i}", "error", f"No space left on device: '/home/runner/_temp/{i}.sh'")
        for i in range(12)
    ]
    passing = [(f"job ok {i}", "pass", "") for i in range(3)]
    summary = ingest(engine, [run("1", failing + passing, at=T0)])
    assert summary.storms == 1
    [issue] = issues(engine)
    assert issue.scope == "storm"
    assert issue.category == "infrastructure_issue"
    assert issue.checks_count == 12
    with Session(engine) as session:
        flaky = session.execute(select(t.check_stats.c.flaky)).scalars().all()
    assert not any(flaky)


def test_small_run_with_all_failures_is_not_a_storm(engine: Engine) -> None:
    failing = [(f"job {i}", "fail", f"AssertionError: case {i} differs") for i in range(4)]
    summary = ingest(engine, [run("1", failing, at=T0)])
    assert summary.storms == 0
    assert len(issues(engine)) == 4


def test_pass_on_retry_of_the_same_run_makes_the_check_flaky(engine: Engine) -> None:
    check = "e2e › dashboard loads"
    ingest(
        engine,
        [
            run("7", [(check, "fail", "Test timeout of 30000ms exceeded.")], at=T0, attempt=1),
            run("7", [(check, "pass", "")], at=T0 + timedelta(minutes=5), attempt=2),
        ],
    )
    [issue] = issues(engine)
    assert issue.history_class == "flaky"
    assert issue.category == "transient_failure"
    assert issue.decision == "pending"


def test_pass_and_fail_on_the_same_commit_across_runs_is_flaky(engine: Engine) -> None:
    ingest(engine, [run("1", [("t", "pass", "")], at=T0, commit="abc1234")])
    ingest(
        engine,
        [run("2", [("t", "fail", "AssertionError: x")], at=T0 + timedelta(1), commit="abc1234")],
    )
    [issue] = issues(engine)
    assert issue.history_class == "flaky"


def test_five_consecutive_failures_are_persistent_and_need_a_spec(engine: Engine) -> None:
    reports = [
        run(
            str(i),
            [("model.orders", "error", 'relation "dim" does not exist')],
            at=T0 + timedelta(hours=i),
            commit=f"c{i}",
        )
        for i in range(5)
    ]
    ingest(engine, reports)
    [issue] = issues(engine)
    assert issue.history_class == "persistent"
    assert issue.decision == "needs_spec"
    assert issue.occurrences == 5


def test_passing_results_update_check_stats_only(engine: Engine) -> None:
    ingest(engine, [run(str(i), [("a", "pass", ""), ("b", "skip", "")], at=T0) for i in range(3)])
    assert issues(engine) == []
    with Session(engine) as session:
        c = counts(session=session)
    assert c.occurrences == 0 and c.runs == 3 and c.check_runs == 3


def test_reingesting_the_same_reports_changes_nothing(engine: Engine) -> None:
    reports = [
        run("1", [("a", "fail", "AssertionError: 1"), ("b", "pass", "")], at=T0),
        run("2", [("a", "fail", "AssertionError: 2"), ("b", "pass", "")], at=T0 + timedelta(1)),
    ]
    ingest(engine, reports)
    with Session(engine) as session:
        before = counts(session=session)
        issue_before = list_issues(session=session)
    summary = ingest(engine, reports)
    with Session(engine) as session:
        after = counts(session=session)
        issue_after = list_issues(session=session)
    assert summary.duplicate_runs == 2 and summary.runs == 0
    assert after == before
    assert issue_after == issue_before


def test_failure_after_resolution_regresses_but_a_late_one_does_not(engine: Engine) -> None:
    ingest(engine, [run("1", [("a", "fail", "AssertionError: boom")], at=T0)])
    resolved_at = T0 + timedelta(days=2)
    with Session(engine) as session, session.begin():
        session.execute(update(t.issues).values(state="resolved", resolved_at=resolved_at))
    late = ingest(engine, [run("0", [("a", "fail", "AssertionError: boom")], at=T0 + timedelta(1))])
    assert late.regressions == 0
    assert issues(engine)[0].state == "resolved"
    fresh = ingest(
        engine, [run("2", [("a", "fail", "AssertionError: boom")], at=T0 + timedelta(3))]
    )
    assert fresh.regressions == 1
    [issue] = issues(engine)
    assert issue.state == "regressed"
    with Session(engine) as session:
        detail = get_issue(session=session, issue_id=issue.id)
    assert detail is not None
    changes = [e for e in detail.timeline if e.kind == "state_changed"]
    assert [e.data["to"] for e in changes] == ["regressed"]


def test_secrets_are_redacted_before_they_are_stored(engine: Engine) -> None:
    token = "ghp_" + "A1b2C3d4" * 5
    report = RunReport(
        source="generic",
        repository="acme/app",
        run_id="1",
        finished_at=T0,
        results=(
            CheckResult(
                "deploy",
                Status.FAIL,
                f"curl -H 'Authorization: Bearer {token}' failed: password=hunter2",
                f"connecting to postgresql://roy:hunter2@db:5432/x\nkey {token}\n",
            ),
        ),
    )
    ingest(engine, [report])
    with Session(engine) as session:
        stored = json.dumps(
            [dict(r) for r in session.execute(select(t.occurrences)).mappings()], default=str
        ) + json.dumps([dict(r) for r in session.execute(select(t.issues)).mappings()], default=str)
    assert token not in stored
    assert "hunter2" not in stored
    assert "[REDACTED]" in stored


def test_timeline_records_creation_occurrences_and_classification(engine: Engine) -> None:
    ingest(engine, [run("1", [("a", "fail", "AssertionError: boom")], at=T0)])
    ingest(engine, [run("2", [("a", "fail", "AssertionError: boom")], at=T0 + timedelta(1))])
    [issue] = issues(engine)
    with Session(engine) as session:
        detail = get_issue(session=session, issue_id=issue.id)
    assert detail is not None
    kinds = [e.kind for e in detail.timeline]
    assert kinds.count("created") == 1
    assert kinds.count("occurred") == 2
    assert "classified" in kinds
    assert len(detail.recent_occurrences) == 2


def test_every_vocabulary_field_is_filled_with_a_rationale(engine: Engine) -> None:
    ingest(engine, [run("1", [("CI / lint / ruff", "fail", "src/a.py:3:1: F401 unused")], at=T0)])
    [issue] = issues(engine)
    assert issue.kind == "lint"
    assert issue.category == "code_fix_required"
    assert issue.severity in ("medium", "high")
    assert issue.priority in ("low", "medium", "high", "critical")
    assert issue.decision == "one_off_fix"
    assert 0 < issue.confidence <= 1
    assert "kind=lint" in issue.rationale and "decision=one_off_fix" in issue.rationale


def test_repository_rules_route_to_an_expert_with_an_sla(engine: Engine) -> None:
    from triagehub.config import parse_settings

    settings = parse_settings(
        {
            "repositories": {
                "acme/app": {
                    "priority_level": "critical",
                    "automation_rules": {
                        "schema_errors": {
                            "priority": "critical",
                            "auto_assign": "dbt-expert",
                            "sla_hours": 4,
                        }
                    },
                }
            }
        },
        "test.yaml",
    )
    ingest(
        engine,
        [
            run(
                "1",
                [("model.x", "error", "Runtime Error: Binder Error: column y not found")],
                at=T0,
            )
        ],
        settings,
    )
    [issue] = issues(engine)
    assert issue.expert == "dbt-expert"
    assert issue.priority == "critical"
    assert issue.sla_due_at == T0 + timedelta(hours=4)


def test_bad_file_stores_nothing_and_other_files_are_still_ingested(
    engine: Engine, tmp_path: Path
) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"repository": "acme/a", "check": "c", "message": "boom"}) + "\n")
    bad = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"repository": "acme/b", "check": f"c{i}", "message": "x"}) for i in range(3)
    ]
    bad.write_text("\n".join([*lines, '{"repository": "acme/b", "check": 5}']) + "\n")
    summary: IngestSummary = ingest_files(engine, [bad, good], Settings(), clock=CLOCK)
    assert len(summary.errors) == 1
    assert summary.errors[0].source == str(bad)
    assert "line 4" in str(summary.errors[0]) and "check" in str(summary.errors[0])
    with Session(engine) as session:
        repos = session.execute(select(t.repositories.c.name)).scalars().all()
        c = counts(session=session)
    assert repos == ["acme/a"]
    assert c.runs == 1 and c.issues == 1


@pytest.mark.parametrize("batch", [1, 3, 1000])
def test_batch_size_does_not_change_the_outcome(engine: Engine, batch: int) -> None:
    from triagehub.engine.ingest import Ingestor

    reports = [
        run(
            str(i),
            [("a", "fail", f"AssertionError: {i}"), ("b", "pass", "")],
            at=T0 + timedelta(hours=i),
            commit=f"c{i}",
        )
        for i in range(7)
    ]
    with Session(engine) as session, session.begin():
        ingestor = Ingestor(session, Settings(), clock=CLOCK, batch_results=batch)
        ingestor.add_all(reports)
        ingestor.flush()
    [issue] = issues(engine)
    assert issue.occurrences == 7
    assert issue.history_class == "persistent"


def test_user_rules_and_ownership_reach_the_stored_issue(engine: Engine) -> None:
    from triagehub.config import parse_settings

    settings = parse_settings(
        {
            "classification_rules": [
                {
                    "name": "killed-is-infra",
                    "match": {"exit_code": [137]},
                    "set": {"category": "infrastructure_issue", "labels": ["oom"]},
                }
            ],
            "ownership": [{"pattern": "tests/payments/*", "owner": "@payments"}],
        },
        "triagehub.yaml",
    )
    report = RunReport(
        source="generic",
        repository="acme/app",
        run_id="1",
        finished_at=T0,
        results=(
            CheckResult(
                "tests/payments/test_refund.py",
                Status.FAIL,
                "AssertionError: refund",
                exit_code=137,
            ),
        ),
    )
    ingest(engine, [report], settings)
    [issue] = issues(engine)
    assert issue.category == "infrastructure_issue" and issue.labels == ["oom"]
    assert issue.expert == "@payments"
    assert "rule 'killed-is-infra' set" in issue.rationale
