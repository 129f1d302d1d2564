"""Grouping and titles on a real database when messages are CI footers, when fuzzy joins meet
different identifiers, and when an environmental failure names its own check (issue #18)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.fingerprint import NORMALIZERS
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import Ingestor, ingest_reports
from triagehub.store import tables as t
from triagehub.store.queries import IssueView, list_issues

T0 = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
CLOCK = FixedClock(T0 + timedelta(days=30))
DATA = Path(__file__).resolve().parent / "data" / "informative"


def run(i: int, results: Sequence[CheckResult], repo: str = "acme/app") -> RunReport:
    return RunReport(
        source="generic",
        repository=repo,
        run_id=str(i),
        finished_at=T0 + timedelta(hours=i),
        commit=f"c{i}",
        results=tuple(results),
    )


def ingest(engine: Engine, reports: Sequence[RunReport]) -> list[IssueView]:
    ingest_reports(engine, reports, Settings(), clock=CLOCK)
    with Session(engine) as session:
        return list_issues(session=session)


LINK = (DATA / "make_link.log").read_text()
PYTEST = (DATA / "pytest_run.log").read_text()
FOOTER = "##[error]Process completed with exit code 2."
TRAVIS = "Done. Your build exited with 1."


def test_footer_messages_with_different_logs_are_different_issues(engine: Engine) -> None:
    issues = ingest(
        engine,
        [
            run(1, [CheckResult("CI / build", Status.FAIL, FOOTER, LINK)]),
            run(2, [CheckResult("CI / build", Status.FAIL, FOOTER, PYTEST)]),
            run(3, [CheckResult("CI / build", Status.FAIL, FOOTER, LINK.replace("ccoawfTy", "x"))]),
        ],
    )
    assert sorted(i.occurrences for i in issues) == [1, 2]
    templates = "\n".join(i.template for i in issues)
    assert "Process completed" not in templates
    assert "undefined reference" in templates and "assert" in templates


def test_footer_message_log_only_and_error_line_message_give_one_issue(engine: Engine) -> None:
    issues = ingest(
        engine,
        [
            run(1, [CheckResult("CI / build", Status.FAIL, "", LINK)]),
            run(2, [CheckResult("CI / build", Status.FAIL, TRAVIS, LINK)]),
            run(
                3,
                [
                    CheckResult(
                        "CI / build",
                        Status.FAIL,
                        "main.c:(.text+0xf): undefined reference to `compute_checksum'",
                    )
                ],
            ),
        ],
    )
    assert [i.occurrences for i in issues] == [3]


def test_title_is_check_and_key_error_line_with_real_values(engine: Engine) -> None:
    [issue] = ingest(engine, [run(1, [CheckResult("tests", Status.FAIL, FOOTER, PYTEST)])])
    assert issue.title == "tests — AssertionError: assert 8080 == 8081"
    assert issue.template != issue.title and "<n>" in issue.template


def test_title_is_never_a_traceback_header_or_clone_line(engine: Engine) -> None:
    message = (
        "Cloning into 'rk'...\nTraceback (most recent call last):\n"
        "  File \"run.py\", line 3, in <module>\nKeyError: 'customer_id'"
    )
    [issue] = ingest(engine, [run(1, [CheckResult("etl", Status.FAIL, message)])])
    assert issue.title == "etl — KeyError: 'customer_id'"


def test_title_follows_the_latest_occurrence(engine: Engine) -> None:
    issues = ingest(
        engine,
        [
            run(1, [CheckResult("api", Status.FAIL, "Timeout after 30s waiting for job 1181")]),
            run(2, [CheckResult("api", Status.FAIL, "Timeout after 45s waiting for job 1190")]),
        ],
    )
    [issue] = issues
    assert issue.title == "api — Timeout after 45s waiting for job 1190"


def test_fuzzy_join_never_merges_different_column_names(engine: Engine) -> None:
    issues = ingest(
        engine,
        [
            run(
                1,
                [
                    CheckResult(
                        "model.shop.customers",
                        Status.FAIL,
                        'Database Error in model customers: column "email" does not exist',
                    )
                ],
            ),
            run(
                2,
                [
                    CheckResult(
                        "model.shop.customers",
                        Status.FAIL,
                        'Database Error in model customers: column "phone" does not exist',
                    )
                ],
            ),
        ],
    )
    assert len(issues) == 2


def test_an_environmental_failure_naming_its_own_check_is_one_issue_across_checks(
    engine: Engine,
) -> None:
    models = ["stg_orders", "stg_customers", "stg_payments", "fct_orders", "dim_customers"]
    reports = [
        run(
            i,
            [
                CheckResult(
                    f"model.shop.{m}",
                    Status.FAIL,
                    f"Database Error in model {m} (models/{m}.sql)\n"
                    '  connection to server at "wh.acme.internal" (10.0.3.7), port 5432 failed: '
                    "Connection timed out",
                )
            ],
        )
        for i, m in enumerate(models)
    ]
    [issue] = ingest(engine, reports)
    assert issue.occurrences == len(models)
    assert issue.scope == "repository"
    assert issue.title.endswith("(across checks)")


def test_a_repository_scoped_issue_with_one_check_names_it(engine: Engine) -> None:
    message = "fatal: unable to access 'https://github.com/acme/app/': Could not resolve host"
    [issue] = ingest(engine, [run(1, [CheckResult("CI / checkout", Status.FAIL, message)])])
    assert issue.scope == "repository"
    assert issue.title.startswith("CI / checkout — ")
    assert "(across checks)" not in issue.title


def test_an_issue_of_normalizer_v1_is_joined_by_a_v2_failure(engine: Engine) -> None:
    message = "KeyError: 'customer_id'"
    with Session(engine) as session, session.begin():
        ingestor = Ingestor(session, Settings(), clock=CLOCK, normalizers={1: NORMALIZERS[1]})
        ingestor.add(run(1, [CheckResult("etl", Status.FAIL, message)]))
        ingestor.flush()
    [issue] = ingest(engine, [run(2, [CheckResult("etl", Status.FAIL, message)])])
    with Session(engine) as session:
        reasons = session.execute(select(t.issue_aliases.c.reason)).scalars().all()
    assert issue.occurrences == 2 and issue.normalizer_version == 1
    assert reasons == ["normalizer v1"]


def test_a_dbt_test_is_titled_by_its_test_type_column_model_and_rows(engine: Engine) -> None:
    message = (
        "Got 3 results, configured to fail if != 0\n"
        "accepted_values test on stg_orders.status: 3 failing rows"
    )
    report = RunReport(
        source="dbt",
        repository="acme/warehouse",
        run_id="1",
        finished_at=T0,
        results=(
            CheckResult(
                "test.jaffle.accepted_values_stg_orders_status__placed__shipped",
                Status.FAIL,
                message,
            ),
        ),
    )
    [issue] = ingest(engine, [report])
    assert issue.title == "accepted_values(status) on stg_orders: 3 rows"
