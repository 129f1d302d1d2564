"""``triagehub db prune``: old rows go in bounded batches, issue counters and timelines stay.

One history, ingested with a fixed clock on SQLite and PostgreSQL, 200 days long in one
repository:

- ``old_fixed`` failed ten days in a row 200 days ago, then passed (with a log): its issue was
  resolved long ago, so every occurrence goes and its last passing log stays;
- ``noisy`` failed 300 times over the 200 days, a green run between two failures: its issue is
  open, so it keeps its latest ``MAX_REPLAYED_FAILURES`` failures (what the monitor replays);
- ``one_off`` failed once, 150 days ago, and never ran again: the open issue keeps it;
- ``flaky_old`` failed and passed on one commit 150 days ago (flaky), then failed 10 days ago:
  the old failure is the evidence the event-time replay still reads, so it stays;
- ``green`` passed every day: its old runs go.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from triagehub.api.app import WebhookConfig, create_app
from triagehub.cli import db as db_command
from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.timeparse import parse_time
from triagehub.engine.ingest import ingest_reports
from triagehub.engine.monitor import run_tick
from triagehub.engine.monitor.eventtime import MAX_REPLAYED_FAILURES
from triagehub.engine.retention import SUMMARY_KIND, prune
from triagehub.errors import InputError
from triagehub.store import db as store_db
from triagehub.store import queries, retention
from triagehub.store import tables as t

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=90)
CUTOFF = NOW - RETENTION
REPO = "acme/app"
NOISY_FAILURES = 300


def day(n: float) -> datetime:
    """``n`` days before NOW."""
    return NOW - timedelta(days=n)


def _run(run_id: str, at: datetime, result: CheckResult, commit: str = "") -> RunReport:
    return RunReport(
        source="generic",
        repository=REPO,
        run_id=run_id,
        commit=commit or f"c-{run_id}",
        branch="main",
        finished_at=at,
        results=(result,),
    )


def _fail(check: str, n: int) -> CheckResult:
    message = f"AssertionError: expected {n} rows, got {n + 2}"
    return CheckResult(check, Status.FAIL, message, log=f"collected 4 items\n{message}\nFAILED")


def _pass(check: str) -> CheckResult:
    return CheckResult(check, Status.PASS, log="collected 4 items\n4 passed")


def history() -> list[RunReport]:
    reports = [_run(f"old-{n}", day(200 - n), _fail("old_fixed", n)) for n in range(10)]
    reports += [_run(f"old-pass-{n}", day(190 - n), _pass("old_fixed")) for n in range(6)]
    reports.append(_run("one-off", day(150), _fail("one_off", 1)))
    reports.append(_run("flaky-1", day(150), _fail("flaky_old", 1)))
    reports.append(_run("flaky-2", day(149), _pass("flaky_old"), commit="c-flaky-1"))
    reports.append(_run("flaky-3", day(10), _fail("flaky_old", 3)))
    reports += [_run(f"green-{n}", day(n) - timedelta(hours=3), _pass("green")) for n in range(200)]
    step = 200 / NOISY_FAILURES
    for n in range(NOISY_FAILURES):
        at = day(200 - n * step)
        reports.append(_run(f"noisy-{n}", at, _fail("noisy", n)))
        reports.append(_run(f"noisy-pass-{n}", at + timedelta(hours=1), _pass("noisy")))
    return reports


def build(engine: Engine) -> None:
    """The history (the newest row of each table is a recent one: a prune never deletes it), the
    monitor's view of it (a tick 30 days ago closes ``old_fixed``, one now
    settles the rest), and the records of the outbox and the webhooks."""
    ingest_reports(engine, history(), Settings(), clock=FixedClock(day(0.5)))
    run_tick(engine, Settings(), clock=FixedClock(day(30)))
    run_tick(engine, Settings(), clock=FixedClock(NOW))
    jobs = [
        ("ingest_webhook", "github:old", "done", day(100)),
        ("ingest_webhook", "github:dead", "dead", day(100)),
        ("notify", "notify:1:alert:1", "done", day(100)),
        ("notify_thread", "notify_thread:1", "done", day(100)),  # the outbox's state row
        ("github_sync", "github_sync:1:agent:@claude", "done", day(100)),
        ("github_sync", "github_sync:1:2026-01-01T00:00:00Z", "done", day(100)),
        ("ingest_webhook", "github:new", "done", day(1)),  # the newest row
    ]
    with engine.begin() as conn:
        conn.execute(
            t.jobs.insert(),
            [
                {
                    "kind": kind,
                    "key": key,
                    "data": {},
                    "status": status,
                    "attempts": 1,
                    "next_try_at": at,
                    "created_at": at,
                    "updated_at": at,
                }
                for kind, key, status, at in jobs
            ],
        )
        conn.execute(
            t.webhook_deliveries.insert(),
            [
                {"delivery_id": d, "event": "workflow_job", "status": "queued", "received_at": at}
                for d, at in (("d-old", day(100)), ("d-new", day(1)))
            ],
        )
        conn.execute(
            t.llm_usage.insert(),
            [{"day": f"{at:%Y-%m-%d}", "calls": 3} for at in (day(100), day(1))],
        )


def counters(engine: Engine) -> dict[str, Any]:
    """What a prune must never change: every issue's counters, per-check counts, patterns."""
    i, ic, p = t.issues.c, t.issue_checks.c, t.patterns.c
    with Session(engine) as session:
        return {
            "issues": session.execute(
                select(
                    i.fingerprint,
                    i.state,
                    i.history_class,
                    i.occurrences,
                    i.first_seen,
                    i.last_seen,
                    i.checks_count,
                    i.resolved_at,
                ).order_by(i.fingerprint)
            ).all(),
            "issue_checks": session.execute(
                select(
                    ic.issue_id, ic.check_id, ic.occurrences, ic.first_seen, ic.last_seen
                ).order_by(ic.issue_id, ic.check_id)
            ).all(),
            "patterns": session.execute(
                select(p.key, p.occurrences, p.issues_count, p.first_seen, p.last_seen).order_by(
                    p.key
                )
            ).all(),
            "check_stats": session.execute(
                select(t.check_stats).order_by(t.check_stats.c.check_id)
            ).all(),
            "pass_logs": session.execute(
                select(t.check_pass_logs).order_by(t.check_pass_logs.c.check_id)
            ).all(),
        }


def dump(engine: Engine) -> dict[str, list[Any]]:
    """Every row of every table, to show that nothing changed."""
    with Session(engine) as session:
        return {
            table.name: sorted(map(repr, session.execute(select(table)).all()))
            for table in t.metadata.sorted_tables
        }


def issue_of(session: Session, check: str) -> Any:
    return session.execute(
        select(t.issues)
        .join(t.checks, t.checks.c.id == t.issues.c.check_id)
        .where(t.checks.c.key == check)
    ).one()


def occurrences_of(session: Session, issue_id: int) -> list[datetime]:
    return list(
        session.scalars(
            select(t.occurrences.c.occurred_at)
            .where(t.occurrences.c.issue_id == issue_id)
            .order_by(t.occurrences.c.occurred_at)
        )
    )


def summary_of(session: Session, issue_id: int) -> list[dict[str, Any]]:
    e = t.issue_events.c
    return [
        dict(data)
        for data in session.scalars(
            select(e.data).where(e.issue_id == issue_id, e.kind == SUMMARY_KIND)
        )
    ]


@pytest.fixture
def built(engine: Engine) -> Engine:
    build(engine)
    return engine


def test_counts_first_and_last_seen_stay_exact(built: Engine) -> None:
    before = counters(built)
    report = prune(built, older_than=RETENTION, clock=FixedClock(NOW))
    assert report.rows["occurrences"] > 0 and report.rows["runs"] > 0
    assert counters(built) == before


def test_a_closed_issue_loses_its_old_occurrences_for_one_summary_event(built: Engine) -> None:
    prune(built, older_than=RETENTION, clock=FixedClock(NOW))
    with Session(built) as session:
        issue = issue_of(session, "old_fixed")
        assert issue.state == "resolved" and issue.occurrences == 10
        assert occurrences_of(session, issue.id) == []
        [summary] = summary_of(session, issue.id)
        assert summary["occurrences"] == 10
        assert summary["reason"] == f"10 occurrences before {CUTOFF:%Y-%m-%d} pruned"
        assert (summary["first"], summary["last"]) == (
            day(200).isoformat().replace("+00:00", "Z"),
            day(191).isoformat().replace("+00:00", "Z"),
        )
        detail = queries.get_issue(session=session, issue_id=issue.id)
        assert detail is not None
        pruned = [e for e in detail.timeline if e.kind == SUMMARY_KIND]
        assert [e.at for e in pruned] == [day(191)]
        assert [e.kind for e in detail.timeline].count("occurred") == 0


def test_an_open_issue_keeps_what_the_monitor_replays_and_its_latest(built: Engine) -> None:
    report = prune(built, older_than=RETENTION, clock=FixedClock(NOW))
    with Session(built) as session:
        noisy = issue_of(session, "noisy")
        assert noisy.state == "open" and noisy.occurrences == NOISY_FAILURES
        kept = occurrences_of(session, noisy.id)
        # more than the 90 days hold, because the event-time replay reads that many
        assert len(kept) == MAX_REPLAYED_FAILURES
        assert kept[0] < CUTOFF and kept[-1] == noisy.last_seen
        [summary] = summary_of(session, noisy.id)
        assert summary["occurrences"] == NOISY_FAILURES - MAX_REPLAYED_FAILURES
        one_off = issue_of(session, "one_off")
        assert one_off.state == "open"
        assert occurrences_of(session, one_off.id) == [day(150)] == [one_off.last_seen]
        assert summary_of(session, one_off.id) == []
        flaky = issue_of(session, "flaky_old")
        assert flaky.history_class == "flaky"
        assert occurrences_of(session, flaky.id) == [day(150), day(10)]
    assert report.kept["occurrences"] == sum(1 for at in kept if at < CUTOFF) + 2


def test_old_runs_go_unless_something_kept_refers_to_them(built: Engine) -> None:
    prune(built, older_than=RETENTION, clock=FixedClock(NOW))
    r = t.runs.c
    with Session(built) as session:
        old = set(session.scalars(select(r.external_id).where(r.occurred_at < CUTOFF)))
        pass_log = session.execute(
            select(r.external_id)
            .join(t.check_pass_logs, t.check_pass_logs.c.run_id == r.id)
            .join(t.checks, t.checks.c.id == t.check_pass_logs.c.check_id)
            .where(t.checks.c.key == "old_fixed")
        ).scalar_one()
        diffs = session.execute(select(func.count()).select_from(t.green_diffs)).scalar_one()
        dangling = session.execute(
            select(func.count())
            .select_from(t.green_diffs)
            .outerjoin(
                t.occurrences,
                (t.occurrences.c.run_id == t.green_diffs.c.run_id)
                & (t.occurrences.c.check_id == t.green_diffs.c.check_id),
            )
            .where(t.occurrences.c.id.is_(None))
        ).scalar_one()
    assert not any(x.startswith("green-") for x in old)
    # its last passing log, and the first failure of each issue (its ``created`` event)
    assert pass_log == "old-pass-5" and {"old-pass-5", "old-0", "one-off"} <= old
    assert "old-1" not in old and "noisy-0" in old
    assert diffs > 0 and dangling == 0


def test_done_work_items_and_old_records_go_ledgers_and_dead_jobs_stay(built: Engine) -> None:
    report = prune(built, older_than=RETENTION, clock=FixedClock(NOW))
    with Session(built) as session:
        jobs = set(session.scalars(select(t.jobs.c.key)))
        deliveries = set(session.scalars(select(t.webhook_deliveries.c.delivery_id)))
        days = set(session.scalars(select(t.llm_usage.c.day)))
    assert "github:old" not in jobs and "github_sync:1:2026-01-01T00:00:00Z" not in jobs
    kept = {"github:new", "github:dead", "notify:1:alert:1", "github_sync:1:agent:@claude"}
    assert kept | {"notify_thread:1"} <= jobs
    assert deliveries == {"d-new"} and days == {f"{day(1):%Y-%m-%d}"}
    assert (report.rows["jobs"], report.rows["webhook_deliveries"], report.rows["llm_usage"]) == (
        2,
        1,
        1,
    )


def test_a_second_prune_finds_nothing_and_leaves_the_summaries(built: Engine) -> None:
    prune(built, older_than=RETENTION, clock=FixedClock(NOW))
    before = dump(built)
    again = prune(built, older_than=RETENTION, clock=FixedClock(NOW), batch_size=7)
    assert set(again.rows.values()) == {0} and not again.issues
    assert dump(built) == before


def test_a_later_prune_adds_to_the_summary(built: Engine) -> None:
    prune(built, older_than=timedelta(days=195), clock=FixedClock(NOW))
    with Session(built) as session:
        issue_id = issue_of(session, "old_fixed").id
        assert summary_of(session, issue_id)[0]["occurrences"] == 5
    prune(built, older_than=RETENTION, clock=FixedClock(NOW))
    with Session(built) as session:
        [summary] = summary_of(session, issue_id)
    assert summary["occurrences"] == 10
    assert summary["first"] == day(200).isoformat().replace("+00:00", "Z")
    assert summary["before"] == CUTOFF.isoformat().replace("+00:00", "Z")


def test_a_dry_run_changes_nothing_and_counts_what_the_prune_deletes(built: Engine) -> None:
    before = dump(built)
    dry = prune(built, older_than=RETENTION, clock=FixedClock(NOW), dry_run=True, batch_size=50)
    assert dump(built) == before
    real = prune(built, older_than=RETENTION, clock=FixedClock(NOW), batch_size=50)
    assert dry.rows == real.rows and dry.kept == real.kept and dry.issues == real.issues


def test_the_monitor_decides_the_same_after_a_prune(built: Engine) -> None:
    before = counters(built)
    prune(built, older_than=RETENTION, clock=FixedClock(NOW))
    summary = run_tick(built, Settings(), clock=FixedClock(NOW + timedelta(minutes=5)))
    assert summary.ran and summary.changes == 0
    assert counters(built) == before


def test_a_pruned_run_sent_again_is_not_counted_twice(built: Engine) -> None:
    prune(built, older_than=RETENTION, clock=FixedClock(NOW))
    before = counters(built)
    again = [r for r in history() if r.run_id in ("old-3", "green-150", "noisy-1")]
    summary = ingest_reports(built, again, Settings(), clock=FixedClock(NOW))
    assert summary.duplicate_runs == 3 and summary.runs == 0
    assert any("retention horizon" in w for w in summary.warnings)
    assert counters(built) == before


def test_the_horizon_only_moves_forward_and_a_dry_run_leaves_it(built: Engine) -> None:
    def stored() -> datetime | None:
        with Session(built) as session:
            return retention.horizon(session)

    prune(built, older_than=RETENTION, clock=FixedClock(NOW), dry_run=True)
    assert stored() is None
    prune(built, older_than=RETENTION, clock=FixedClock(NOW))
    prune(built, older_than=timedelta(days=120), clock=FixedClock(NOW))
    assert stored() == CUTOFF
    prune(built, older_than=RETENTION, clock=FixedClock(NOW + timedelta(days=1)))
    assert stored() == CUTOFF + timedelta(days=1)


def test_a_retention_shorter_than_a_week_is_refused(built: Engine) -> None:
    with pytest.raises(InputError, match="at least 7 days"):
        prune(built, older_than=timedelta(days=6), clock=FixedClock(NOW))


# -- the command ---------------------------------------------------------------------------------


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``triagehub`` as a user runs it, its clock at NOW (whatever today is: the clock offset
    the project's clock honours)."""
    # real time: the offset the child's clock adds is relative to the wall clock
    shift = int((NOW - datetime.now(UTC)).total_seconds())
    env = {**os.environ, "TRIAGEHUB_DATABASE_URL": db_url, "COLUMNS": "200"}
    env["TRIAGEHUB_CLOCK_OFFSET"] = f"{shift}s"
    env.pop("TRIAGEHUB_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "triagehub", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "value",
    ["90", "-5d", "3d", "90y"],
)
def test_the_command_refuses_a_bad_duration(tmp_path: Path, value: str) -> None:
    proc = cli(f"sqlite:///{tmp_path / 'x.db'}", "db", "prune", "--older-than", value)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--older-than" in proc.stderr and "Traceback" not in proc.stderr


def test_the_command_deletes_as_many_ids_per_transaction_as_the_engine() -> None:
    assert db_command.DEFAULT_BATCH == retention.DEFAULT_BATCH


def test_the_command_prints_what_a_dry_run_would_delete_as_json(built: Engine) -> None:
    url = built.url.render_as_string(hide_password=False)
    before = dump(built)
    proc = cli(url, "db", "prune", "--older-than", "12w", "--dry-run", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["dry_run"] is True and data["older_than"] == "12w"
    cutoff = parse_time(data["cutoff"]) - (NOW - timedelta(weeks=12))
    assert timedelta() <= cutoff < timedelta(minutes=5)  # the seconds the test took so far
    assert data["rows"]["occurrences"] > 0 and data["issues_summarized"] == 2
    assert dump(built) == before
    proc = cli(url, "db", "prune", "--older-than", "2160h")
    assert proc.returncode == 0, proc.stderr
    assert "rows deleted" in proc.stdout and "2 issue(s) got a summary" in proc.stdout


# -- while others write --------------------------------------------------------------------------


def _new_reports(worker: int) -> list[RunReport]:
    """Fresh runs (the last day) of every check, one worker's share."""
    reports = []
    for n in range(30):
        at = day(1) + timedelta(minutes=worker * 100 + n)
        run = f"new-{worker}-{n}"
        reports.append(
            RunReport(
                source="generic",
                repository=REPO,
                run_id=run,
                commit=f"c-{run}",
                branch="main",
                finished_at=at,
                results=(_fail("noisy", n), _fail("old_fixed", n), _pass("green")),
            )
        )
    return reports


def _writer(url: str, role: str, barrier: Any, out: Any) -> None:
    engine = store_db.make_engine(url)
    try:
        barrier.wait(timeout=60)
        if role == "prune":
            pruned = prune(engine, older_than=RETENTION, clock=FixedClock(NOW), batch_size=10)
            out.put((role, pruned.rows["occurrences"]))
        else:
            for run in _new_reports(int(role)):  # one transaction per run
                ingest_reports(engine, [run], Settings(), clock=FixedClock(NOW))
            out.put((role, 0))
    except BaseException as exc:  # reported to the parent, which fails the test
        out.put((role, f"{type(exc).__name__}: {exc}"))
    finally:
        engine.dispose()


def test_a_prune_during_concurrent_ingests_loses_nothing_new(built: Engine, tmp_path: Path) -> None:
    reference = store_db.open_database(f"sqlite:///{tmp_path / 'reference.db'}")
    build(reference)
    for worker in range(2):
        for report in _new_reports(worker):
            ingest_reports(reference, [report], Settings(), clock=FixedClock(NOW))
    ctx = multiprocessing.get_context("fork")
    roles = ["prune", "0", "1"]
    barrier, out = ctx.Barrier(len(roles)), ctx.Queue()
    url = built.url.render_as_string(hide_password=False)
    procs = [ctx.Process(target=_writer, args=(url, role, barrier, out)) for role in roles]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert all(isinstance(v, int) for v in results.values()), results
    assert results["prune"] > 0
    got, want = counters(built), counters(reference)
    assert got["issues"] == want["issues"]
    assert got["patterns"] == want["patterns"]
    new = (
        select(func.count()).select_from(t.occurrences).where(t.occurrences.c.occurred_at >= CUTOFF)
    )
    with Session(built) as a, Session(reference) as b:
        assert a.execute(new).scalar_one() == b.execute(new).scalar_one() > 60
        runs = select(func.count()).select_from(t.runs).where(t.runs.c.external_id.like("new-%"))
        assert a.execute(runs).scalar_one() == 60
    reference.dispose()


def test_the_issue_page_and_the_api_show_the_summary(built: Engine) -> None:
    prune(built, older_than=RETENTION, clock=FixedClock(NOW))
    with Session(built) as session:
        issue_id = issue_of(session, "old_fixed").id
    app = create_app(
        built, Settings(), WebhookConfig(None, insecure=True), run_worker=False, run_monitor=False
    )
    with TestClient(app) as client:
        page = client.get(f"/issues/{issue_id}")
        detail = client.get(f"/api/v1/issues/{issue_id}").json()
    said = f"10 occurrences before {CUTOFF:%Y-%m-%d} pruned"
    assert page.status_code == 200 and said in page.text
    assert detail["occurrences"] == 10
    [event] = [e for e in detail["timeline"] if e["kind"] == SUMMARY_KIND]
    assert event["data"]["occurrences"] == 10 and event["data"]["reason"] == said
