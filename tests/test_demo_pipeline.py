"""The bundled demo, ingested for real: every scenario comes out as what it is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from triagehub.demo.runner import DemoResult, run_demo
from triagehub.demo.scenario import EXPECTED
from triagehub.store import tables as t

END = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)


@pytest.fixture
def demo(db_url: str) -> DemoResult:
    return run_demo(db_url, end=END)


def _scenario(result: DemoResult, name: str) -> dict[str, Any]:
    issue = next(i for n, _, i in result.scenarios if n == name)
    assert issue is not None, name
    return {
        "category": issue.category,
        "history": issue.history_class,
        "decision": issue.decision,
        "occurrences": issue.occurrences,
        "scope": issue.scope,
        "kind": issue.kind,
    }


def test_raw_failures_collapse_into_far_fewer_issues(demo: DemoResult) -> None:
    assert demo.raw_failures >= 60
    assert demo.noise_reduction >= 4, demo.headline()


def test_transient_failure_is_transient(demo: DemoResult) -> None:
    s = _scenario(demo, "transient")
    assert s["category"] == "transient_failure"
    assert s["kind"] == "infrastructure"
    assert s["scope"] == "repository"


def test_flaky_check_is_flaky(demo: DemoResult) -> None:
    s = _scenario(demo, "flaky")
    assert s["history"] == "flaky"
    assert s["category"] == "transient_failure"
    assert s["decision"] == "pending"


def test_persistent_failure_is_persistent_and_needs_a_spec(demo: DemoResult) -> None:
    s = _scenario(demo, "persistent")
    assert s["history"] == "persistent"
    assert s["decision"] == "needs_spec"
    assert s["occurrences"] >= 6


def test_storm_rolls_up_into_one_infrastructure_issue(demo: DemoResult) -> None:
    s = _scenario(demo, "storm")
    assert s["scope"] == "storm"
    assert s["category"] == "infrastructure_issue"
    assert demo.summary.storms == 1
    assert len([i for i in demo.issues if i.scope == "storm"]) == 1


def test_repeated_failures_are_one_recurring_issue(demo: DemoResult) -> None:
    s = _scenario(demo, "repeated")
    assert s["occurrences"] == len(EXPECTED.repeated_days)
    assert s["history"] == "recurring"
    d = _scenario(demo, "data test")
    assert d["category"] == "data_quality_issue" and d["kind"] == "data_test"
    assert d["occurrences"] == len(EXPECTED.data_test_counts)


def test_demo_secrets_are_not_stored(demo: DemoResult, db_url: str) -> None:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with Session(engine) as session:
        texts = [
            m + e
            for m, e in session.execute(
                select(t.occurrences.c.message, t.occurrences.c.log_excerpt)
            )
        ]
    engine.dispose()
    joined = "\n".join(texts)
    for secret in EXPECTED.secrets:
        assert secret not in joined


def test_demo_has_real_dbt_core_runs_with_lineage(demo: DemoResult) -> None:
    dbt_issues = {i.checks[0]: i for i in demo.issues if i.source == "dbt"}
    model = dbt_issues["model.triage_demo.stg_orders"]
    assert model.repository == "acme/dbt_cloud"  # from the repository's dbt_project
    assert (model.kind, model.occurrences) == ("runtime", 2)  # two runs, one issue
    assert model.affected_models == ["model.triage_demo.customer_orders"]
    test = dbt_issues["test.triage_demo.not_null_stg_customers_email.d7cf761533"]
    assert (test.kind, test.category) == ("data_test", "data_quality_issue")
    assert "model.triage_demo.stg_customers" in test.affected_models


def test_two_monitor_ticks_over_the_demo_change_nothing_the_second_time(
    demo: DemoResult, db_url: str
) -> None:
    from datetime import timedelta

    import yaml

    from triagehub.clock import FixedClock
    from triagehub.config import parse_settings
    from triagehub.demo.scenario import DEMO_CONFIG_YAML
    from triagehub.engine.monitor import notify_change, run_tick
    from triagehub.store import db

    settings = parse_settings(yaml.safe_load(DEMO_CONFIG_YAML), "demo")
    engine = db.open_database(db_url)
    # The demo's own last tick, again: nothing left to do.
    assert run_tick(engine, settings, clock=FixedClock(END)).changes == 0
    # A new production data failure after the demo: critical, and nobody answers for 6 hours.
    from triagehub.core.models import CheckResult, RunReport, Status
    from triagehub.engine.ingest import ingest_reports

    clock = FixedClock(END + timedelta(hours=1))
    failure = CheckResult(
        "dbt build / model.jaffle.orders",
        Status.ERROR,
        "Runtime Error in model orders (models/orders.sql)\n  Binder Error: division by zero",
    )
    run = RunReport(
        source="generic",
        repository="acme/dbt_cloud",
        run_id="after-the-demo",
        branch="main",
        finished_at=clock.now(),
        results=(failure,),
    )
    ingest_reports(engine, [run], settings, clock=clock)
    clock.set(END + timedelta(hours=7))
    first = run_tick(engine, settings, clock=clock, on_change=notify_change)
    second = run_tick(engine, settings, clock=clock, on_change=notify_change)
    engine.dispose()
    assert first.changes > 0 and first.escalated
    assert second.changes == 0, second.as_dict()


def test_the_monitor_ticks_heal_the_transient_reopen_the_regression_and_keep_criticals_few(
    demo: DemoResult,
) -> None:
    """Daily ticks at event time: the healed transient is auto-resolved, the repeated failure
    regressed after its resolution, and only a few issues are critical, each with its reason."""
    assert len(demo.ticks) >= 14
    transient = next(i for n, _, i in demo.scenarios if n == "transient")
    repeated = next(i for n, _, i in demo.scenarios if n == "repeated")
    assert transient is not None and transient.state == "auto_resolved"
    assert repeated is not None and repeated.state == "regressed"
    highlights = {(what, issue): reason for what, issue, reason in demo.monitor}
    assert highlights[("healed", transient.id)].endswith(
        "auto-resolved after 3 green runs in a row of its 2 checks"
    )
    assert "failed again at commit" in highlights[("regressed", repeated.id)]
    open_states = ("open", "triaged", "assigned", "in_progress", "regressed")
    critical = [i for i in demo.issues if i.priority == "critical" and i.state in open_states]
    assert 1 <= len(critical) <= 3
    for issue in critical:
        assert "priority=critical" in highlights[("critical", issue.id)]
    # low-severity issues (warn-severity dbt tests) never above medium
    assert all(i.priority in ("low", "medium") for i in demo.issues if i.severity == "low")


def test_every_success_metric_has_a_value_on_the_demo(demo: DemoResult, db_url: str) -> None:
    """The demo's last week (its ticks at event time and its people's actions) gives every
    metric of the brief a value, as `triagehub metrics` and the Health page show it."""
    from datetime import timedelta

    from triagehub.store.metrics import brief_metrics

    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            until = END
            found = brief_metrics(session, since=until - timedelta(days=7), until=until)
    finally:
        engine.dispose()
    empty = [m.name for m in found if m.value is None]
    assert empty == [], f"no value for {empty}"
    assert {m.name for m in found} >= {"auto_resolution_rate", "override_agreement"}


@pytest.mark.parametrize("hour", [0, 6, 12, 18])
def test_the_demo_runs_whatever_the_hour_it_ends(tmp_path: Any, hour: int) -> None:
    """The demo's days end at UTC midnight and its people act at day ends, so the hour it runs at
    changes what has healed by then (it once refused a person's move on a healed issue)."""
    end = datetime(2026, 11, 22, hour, 20, tzinfo=UTC)
    result = run_demo(f"sqlite:///{tmp_path / 'demo.db'}", end=end)
    assert result.summary.failures > len(result.issues) > 0
    assert all(issue is not None for _, _, issue in result.scenarios)
