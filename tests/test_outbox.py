"""The outbox: retries with backoff and jitter, rate limits, the dead letter and its CLI, Slack
notifications (webhook and threaded bot messages), and delivery across worker crashes and
concurrent workers.

Slack is a real local HTTP server (tests/outbox_receiver.py) that records each delivery and
deduplicates by the Idempotency-Key the worker sends; nothing of ours is patched.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from outbox_receiver import CHANNEL_ID, Receiver, Reply
from triagehub.cli.main import app
from triagehub.clock import FixedClock, SystemClock
from triagehub.config import Settings
from triagehub.engine.jobs import (
    HANDLERS,
    Job,
    JobContext,
    Outcome,
    RetryPolicy,
    _claim,
    enqueue,
    process_jobs,
)
from triagehub.engine.notify import (
    NO_CHANNEL,
    AgentIssue,
    agent_notification_text,
    enqueue_agent_notification,
    enqueue_notification,
    notification_key,
)
from triagehub.errors import ConfigError
from triagehub.store import db as store_db
from triagehub.store import tables as t

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
TOKEN = "xoxb-2718281828-3141592653-TeStToKeNnOtReAl0123"
HOOK_SECRET = "T0000/B0000/SeCrEtWeBhOoKpAtH"
RECEIVER_SCRIPT = Path(__file__).with_name("outbox_receiver.py")
SLACK_ENV = ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL", "TRIAGEHUB_SLACK_API_URL")
JOB_ENV = (
    "TRIAGEHUB_JOB_MAX_ATTEMPTS",
    "TRIAGEHUB_JOB_BACKOFF_S",
    "TRIAGEHUB_JOB_MAX_BACKOFF_S",
    "TRIAGEHUB_JOB_LEASE_S",
    "TRIAGEHUB_JOB_BATCH",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SLACK_ENV, *JOB_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(token=TOKEN) as server:
        yield server


@pytest.fixture
def webhook(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"{receiver.url}/services/{HOOK_SECRET}")
    return receiver


@pytest.fixture
def bot(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_CHANNEL", "#triage")
    monkeypatch.setenv("TRIAGEHUB_SLACK_API_URL", f"{receiver.url}/api")
    return receiver


def notify(session: Session, issue_id: int, event_id: int, *, now: datetime = NOW) -> bool:
    return enqueue_notification(
        session,
        issue_id=issue_id,
        event="created" if event_id == 1 else "occurred",
        event_id=event_id,
        text=f"Issue {issue_id}: `test_orders` failed: Got {event_id} results, expected 0",
        title=f"test_orders failed (issue {issue_id})",
        repository="acme/dbt_cloud",
        category="data_quality_issue",
        priority="high",
        occurrences=event_id,
        first_seen=now - timedelta(hours=2),
        last_seen=now,
        link=f"https://triage.example.com/issues/{issue_id}",
        now=now,
    )


def add(engine: Engine, *rows: tuple[int, int], now: datetime = NOW) -> None:
    with Session(engine) as session, session.begin():
        for issue_id, event_id in rows:
            notify(session, issue_id, event_id, now=now)


def rows(engine: Engine) -> list[Any]:
    with Session(engine) as session:
        return list(session.execute(select(t.jobs).order_by(t.jobs.c.id)).all())


def run(engine: Engine, at: datetime, **kw: Any) -> int:
    kw.setdefault("policy", RetryPolicy(backoff_s=10))
    return process_jobs(engine, Settings(), clock=FixedClock(at), **kw)


def cli(db_url: str, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--db", db_url, *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


# -- delivery semantics -------------------------------------------------------------------------


def test_a_failed_delivery_is_retried_after_a_jittered_backoff_and_delivered_once(
    engine: Engine, webhook: Receiver
) -> None:
    add(engine, (1, 1))
    webhook.script(Reply(500, "internal_error"))
    assert run(engine, NOW, rng=random.Random(7)) == 0
    [row] = rows(engine)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "500" in row.last_error and "internal_error" in row.last_error
    wait = (row.next_try_at - NOW).total_seconds()
    assert 5.0 <= wait <= 10.0  # backoff_s * 2^0 * a factor in [0.5, 1]
    assert wait == pytest.approx(10 * random.Random(7).uniform(0.5, 1.0), abs=1e-3)
    assert run(engine, NOW + timedelta(seconds=4)) == 0  # not due yet: nothing sent
    assert len(webhook.requests) == 1
    assert run(engine, NOW + timedelta(seconds=11)) == 1
    [row] = rows(engine)
    assert (row.status, row.attempts, row.last_error) == ("done", 2, None)
    assert webhook.stats()["raw"] == 1


def test_the_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(backoff_s=10, max_backoff_s=60)
    rng = random.Random(1)
    for attempt, ceiling in ((1, 10), (2, 20), (3, 40), (4, 60), (9, 60)):
        wait = policy.backoff(attempt, rng)
        assert ceiling / 2 <= wait <= ceiling
    assert policy.delay(1, rng, retry_after=120) == 120


def test_a_retry_after_from_the_service_is_honoured(engine: Engine, webhook: Receiver) -> None:
    add(engine, (1, 1))
    webhook.script(Reply(429, "rate_limited", headers={"Retry-After": "120"}))
    assert run(engine, NOW) == 0
    [row] = rows(engine)
    assert row.status == "pending" and row.attempts == 1
    assert row.next_try_at >= NOW + timedelta(seconds=120)
    assert run(engine, NOW + timedelta(seconds=119)) == 0
    assert run(engine, NOW + timedelta(seconds=121)) == 1


def test_a_rate_limit_defers_the_rest_of_the_batch_without_spending_attempts(
    engine: Engine, webhook: Receiver
) -> None:
    add(engine, (1, 1), (2, 1), (3, 1))
    webhook.script(Reply(429, "rate_limited", headers={"Retry-After": "30"}))
    assert run(engine, NOW) == 0
    assert len(webhook.requests) == 1  # the two others were not even tried
    first, *others = rows(engine)
    assert first.attempts == 1
    for row in others:
        assert (row.status, row.attempts) == ("pending", 0)
        assert row.next_try_at == NOW + timedelta(seconds=30)
    assert run(engine, NOW + timedelta(seconds=31)) == 3


def test_a_delivery_that_keeps_failing_goes_dead_and_the_cli_lists_and_retries_it(
    engine: Engine, db_url: str, webhook: Receiver
) -> None:
    add(engine, (1, 1))
    webhook.fail_with = Reply(503, "service unavailable")
    policy = RetryPolicy(max_attempts=3, backoff_s=1)
    at = NOW
    for _ in range(3):
        run(engine, at, policy=policy)
        at += timedelta(hours=1)
    [row] = rows(engine)
    assert (row.status, row.attempts) == ("dead", 3)
    assert "503" in row.last_error
    assert run(engine, at, policy=policy) == 0  # a dead letter is not tried again

    listed = json.loads(
        cli(db_url, "outbox", "list", "--status", "dead", "--format", "json").stdout
    )
    assert [(i["id"], i["status"], i["attempts"]) for i in listed] == [(row.id, "dead", 3)]
    assert "503" in listed[0]["last_error"]
    table = cli(db_url, "outbox", "list", "--status", "dead").stdout
    assert "dead" in table and "notify:1:1" in table and "503" in table
    assert (
        json.loads(cli(db_url, "outbox", "list", "--status", "pending", "--format", "json").stdout)
        == []
    )

    retried = cli(db_url, "outbox", "retry", str(row.id)).stdout
    assert "1 item(s) back to pending" in retried
    [row] = rows(engine)
    assert (row.status, row.attempts) == ("pending", 0)
    webhook.fail_with = None
    assert process_jobs(engine, Settings()) == 1  # due at once (the real clock)
    assert webhook.stats()["raw"] == 1
    stats = json.loads(cli(db_url, "outbox", "stats", "--format", "json").stdout)
    assert stats["counts"]["notify"]["done"] == 1


def test_retrying_an_item_that_is_not_dead_is_an_input_error(engine: Engine, db_url: str) -> None:
    add(engine, (1, 1))
    result = CliRunner().invoke(app, ["--db", db_url, "outbox", "retry", "1"])
    assert result.exit_code != 0 and "no such item with status dead" in str(result.exception)


def test_a_permanent_error_is_dead_at_once(engine: Engine, webhook: Receiver) -> None:
    add(engine, (1, 1))
    webhook.script(Reply(404, "no_service"))
    assert run(engine, NOW) == 0
    [row] = rows(engine)
    assert (row.status, row.attempts) == ("dead", 1)
    assert "no_service" in row.last_error


def test_rows_failed_by_older_versions_read_as_dead_and_can_be_retried(
    engine: Engine, db_url: str
) -> None:
    with Session(engine) as session, session.begin():
        session.execute(
            insert(t.jobs).values(
                kind="rerun",
                key="rerun:acme/app:1",
                data={"repository": "acme/app", "run_id": "1", "issues": []},
                status="failed",
                attempts=5,
                next_try_at=NOW,
                last_error="github answered 502: Server Error",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    listed = json.loads(
        cli(db_url, "outbox", "list", "--status", "dead", "--format", "json").stdout
    )
    assert [(i["key"], i["status"]) for i in listed] == [("rerun:acme/app:1", "dead")]
    assert "1 item(s) back to pending" in cli(db_url, "outbox", "retry", "--all-dead").stdout
    [row] = rows(engine)
    assert (row.status, row.attempts) == ("pending", 0)


def test_a_job_whose_worker_dies_on_its_last_attempt_is_dead_lettered(engine: Engine) -> None:
    add(engine, (1, 1))
    policy = RetryPolicy(max_attempts=1, lease=timedelta(minutes=1))
    assert len(_claim(engine, NOW, 10, policy=policy)) == 1  # the worker dies with it
    assert _claim(engine, NOW + timedelta(minutes=2), 10, policy=policy) == []
    [row] = rows(engine)
    assert row.status == "dead" and "crashed or killed" in row.last_error


def test_a_worker_that_lost_its_lease_does_not_overwrite_the_next_workers_outcome(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = RetryPolicy(lease=timedelta(minutes=1))

    def slow(job: Job, ctx: JobContext) -> Outcome:
        if job.attempts == 1:  # while this worker works, its lease ends and another takes over
            later = FixedClock(NOW + timedelta(minutes=2))
            assert process_jobs(ctx.engine, ctx.settings, clock=later, policy=policy) == 1
        return Outcome(result={"attempt": job.attempts})

    monkeypatch.setitem(HANDLERS, "test_slow", slow)
    with Session(engine) as session, session.begin():
        enqueue(session, kind="test_slow", key="slow:1", data={}, now=NOW)
    assert run(engine, NOW, policy=policy) == 0  # its outcome was refused: not its job anymore
    [row] = rows(engine)
    assert (row.status, row.attempts, row.data["result"]) == ("done", 2, {"attempt": 2})


def test_an_unexpected_error_fails_its_job_only_and_an_unknown_kind_ends_dead(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(job: Job, ctx: JobContext) -> Outcome:
        raise RuntimeError("bug in a handler")

    monkeypatch.setitem(HANDLERS, "test_broken", broken)
    with Session(engine) as session, session.begin():
        enqueue(session, kind="test_broken", key="broken:1", data={}, now=NOW)
        enqueue(session, kind="from_the_future", key="future:1", data={}, now=NOW)
        notify(session, 1, 1)
    policy = RetryPolicy(max_attempts=2, backoff_s=1)
    assert run(engine, NOW, policy=policy) == 1  # the notification went on regardless
    assert "bug in a handler" in caplog.text
    run(engine, NOW + timedelta(hours=1), policy=policy)
    broken_row, future, done = rows(engine)
    assert (broken_row.status, broken_row.last_error) == ("dead", "RuntimeError: bug in a handler")
    assert future.status == "dead" and "unknown job kind 'from_the_future'" in future.last_error
    assert done.status == "done"


def test_job_settings_come_from_the_environment() -> None:
    policy = RetryPolicy.from_env(
        {"TRIAGEHUB_JOB_LEASE_S": "2.5", "TRIAGEHUB_JOB_MAX_ATTEMPTS": "4"}
    )
    assert policy.lease == timedelta(seconds=2.5) and policy.max_attempts == 4
    with pytest.raises(ConfigError, match="TRIAGEHUB_JOB_BATCH"):
        RetryPolicy.from_env({"TRIAGEHUB_JOB_BATCH": "many"})


# -- notifications ------------------------------------------------------------------------------


def test_a_notification_is_written_once_per_event(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        assert notify(session, 7, 1)
        assert not notify(session, 7, 1)
        assert notify(session, 7, 2)
    assert [r.key for r in rows(engine)] == ["notify:7:1", "notify:7:2"]
    assert notification_key(7, reason="sla_breached") == "notify:7:sla_breached"
    with pytest.raises(ValueError, match="event_id or a reason"):
        notification_key(7)


def test_without_a_channel_notifications_go_to_the_log_and_the_listing_says_so(
    engine: Engine, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    add(engine, (1, 1))
    said = logging.handlers.BufferingHandler(100)
    notify_log = logging.getLogger("triagehub.engine.notify")
    notify_log.addHandler(said)  # on the logger itself: whatever other tests did to the root
    try:
        with caplog.at_level(logging.INFO, logger="triagehub.engine.notify"):
            assert run(engine, NOW) == 1
    finally:
        notify_log.removeHandler(said)
    text = "\n".join(record.getMessage() for record in said.buffer)
    assert NO_CHANNEL in text and "notify:1:1" in text
    [row] = rows(engine)
    assert row.status == "done" and row.data["result"] == {"via": "log", "note": NO_CHANNEL}
    assert NO_CHANNEL in cli(db_url, "outbox", "list").stdout
    stats = cli(db_url, "outbox", "stats")
    assert "1 notification(s) went to the log only" in stats.stdout


def test_the_webhook_message_is_block_kit_with_the_summary_fields(
    engine: Engine, webhook: Receiver
) -> None:
    add(engine, (1, 1))
    assert run(engine, NOW) == 1
    [delivery] = webhook.deliveries
    assert delivery.path == f"/services/{HOOK_SECRET}"
    assert delivery.key == "notify:1:1"
    body = delivery.body
    assert body["text"] == "New issue: test_orders failed (issue 1)"
    header, section = body["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "New issue: test_orders failed (issue 1)"},
    }
    assert section["type"] == "section"
    assert section["text"]["type"] == "mrkdwn" and "Got 1 results" in section["text"]["text"]
    fields = [f["text"] for f in section["fields"]]
    assert fields == [
        "*Repository*\nacme/dbt_cloud",
        "*Category*\ndata_quality_issue",
        "*Priority*\nhigh",
        "*Occurrences*\n1",
        "*First seen*\n2026-11-20 10:00 UTC",
        "*Last seen*\n2026-11-20 12:00 UTC",
        "*Link*\n<https://triage.example.com/issues/1|Issue #1>",
    ]
    assert all(f["type"] == "mrkdwn" for f in section["fields"])
    assert rows(engine)[0].data["result"] == {"via": "slack_webhook"}


def test_bot_messages_of_an_issue_are_threaded_under_its_first(
    engine: Engine, bot: Receiver
) -> None:
    add(engine, (1, 1), (1, 2), (2, 1))
    assert run(engine, NOW) == 3
    add(engine, (1, 3), (2, 2))  # later events, in a later batch: the parent comes from the store
    assert run(engine, NOW) == 2
    sent = {d.key: d.body for d in bot.deliveries}
    assert len(bot.deliveries) == 5
    parent_1, parent_2 = sent["notify:1:1"], sent["notify:2:1"]
    assert "thread_ts" not in parent_1 and "thread_ts" not in parent_2
    ts = {d.key: f"{1_800_000_000 + i}.000100" for i, d in enumerate(bot.deliveries)}
    assert sent["notify:1:2"]["thread_ts"] == ts["notify:1:1"]
    assert sent["notify:1:3"]["thread_ts"] == ts["notify:1:1"]
    assert sent["notify:2:2"]["thread_ts"] == ts["notify:2:1"]
    assert all(b["channel"] == "#triage" and b["blocks"] for b in sent.values())
    by_key = {r.key: r for r in rows(engine)}
    assert by_key["notify_thread:1"].data["ts"] == ts["notify:1:1"]
    assert by_key["notify_thread:1"].data["channel_id"] == CHANNEL_ID
    assert by_key["notify:1:2"].data["result"]["thread_ts"] == ts["notify:1:1"]


def test_a_reply_waits_while_the_first_message_of_its_issue_is_retried(
    engine: Engine, bot: Receiver
) -> None:
    add(engine, (1, 1), (1, 2))
    bot.script(Reply(500, "internal_error"))
    assert run(engine, NOW, rng=random.Random(3)) == 0
    first, second = rows(engine)
    assert (first.status, first.attempts) == ("pending", 1)
    assert (second.status, second.attempts) == ("pending", 0)  # waited, not sent as a parent
    assert len(bot.requests) == 1
    assert run(engine, NOW + timedelta(minutes=5)) == 2
    sent = {d.key: d.body for d in bot.deliveries}
    assert "thread_ts" not in sent["notify:1:1"] and "thread_ts" in sent["notify:1:2"]


def test_the_slack_secrets_are_never_stored_or_logged(
    engine: Engine, bot: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    add(engine, (1, 1), (2, 1))
    bot.script(Reply(500, f"upstream rejected the token {TOKEN}"))
    run(engine, NOW)
    errors = [r.last_error for r in rows(engine) if r.last_error]
    assert run(engine, NOW + timedelta(hours=1)) == 1
    deliveries = [d for d in bot.deliveries if d.headers.get("authorization") == f"Bearer {TOKEN}"]
    assert len(deliveries) == 2  # the token was used...
    # ... and the webhook URL too (the bot wins when both are set; then the webhook alone):
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"{bot.url}/services/{HOOK_SECRET}")
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    add(engine, (3, 1))
    bot.script(Reply(500, f"bad hook {bot.url}/services/{HOOK_SECRET}"))
    run(engine, NOW + timedelta(hours=2))
    errors += [r.last_error for r in rows(engine) if r.last_error]
    assert run(engine, NOW + timedelta(hours=3)) == 1
    assert bot.deliveries[-1].path == f"/services/{HOOK_SECRET}"
    stored = json.dumps([dict(r._mapping) for r in rows(engine)], default=str)
    assert len(errors) == 2 and all("[REDACTED]" in e for e in errors)  # kept, without secrets
    for secret in (TOKEN, HOOK_SECRET):
        assert secret not in stored and not any(secret in e for e in errors)
        assert secret not in caplog.text
    assert "HTTP Request: POST" in caplog.text  # httpx's request log is there, scrubbed


def test_agent_notification_names_the_handle_the_failure_the_fixes_and_where(
    engine: Engine,
) -> None:
    issue = AgentIssue(
        issue_id=12,
        title="not_null_orders_customer_id failed",
        repository="acme/dbt_cloud",
        category="data_quality_issue",
        kind="data_test",
        priority="critical",
        message="Got 42 results, configured to fail if != 0\npassword=hunter2",
        occurrences=5,
        first_seen=NOW - timedelta(days=1),
        last_seen=NOW,
        link="https://triage.example.com/issues/12",
        repositories=["acme/dbt_cloud", "acme/analytics"],
        commits=["acme/dbt_cloud@0123456789abcdef0123456789abcdef01234567"],
        checks=["model.acme.orders/not_null_orders_customer_id"],
        links=["https://github.com/acme/dbt_cloud/actions/runs/9"],
    )
    text = agent_notification_text(issue, "claude")
    assert text.startswith("@claude please take triagehub issue #12")
    assert "data quality failure" in text and "5 occurrence(s)" in text
    assert "*Suggested resolution*" in text and "--store-failures" in text
    assert "acme/dbt_cloud, acme/analytics" in text
    assert "acme/dbt_cloud@0123456789ab" in text
    assert "https://github.com/acme/dbt_cloud/actions/runs/9" in text
    assert "hunter2" not in text
    assert agent_notification_text(issue, "@copilot").startswith("@copilot ")
    with pytest.raises(ValueError):
        agent_notification_text(issue, "not a handle")
    with Session(engine) as session, session.begin():
        assert enqueue_agent_notification(session, issue=issue, handle="@claude", now=NOW)
        assert not enqueue_agent_notification(session, issue=issue, handle="@claude", now=NOW)
    [row] = rows(engine)
    assert row.key == "notify:12:agent:@claude" and row.data["event"] == "agent_mention"


# -- crashes and concurrency ----------------------------------------------------------------------


def start_receiver_process(delay_ms: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(RECEIVER_SCRIPT), "--delay-ms", str(delay_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def start_worker(db_url: str, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "triagehub", "--db", db_url, "worker", "--interval", "0.05"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def count_done(engine: Engine) -> int:
    with Session(engine) as session:
        return int(
            session.execute(
                select(func.count()).select_from(t.jobs).where(t.jobs.c.status == "done")
            ).scalar_one()
        )


def worker_env(hook: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (*SLACK_ENV, *JOB_ENV)}
    env.pop("TRIAGEHUB_CONFIG", None)
    env.pop("TRIAGEHUB_DATABASE_URL", None)
    return {**env, "SLACK_WEBHOOK_URL": hook, **extra}


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing_and_the_key_makes_it_exactly_once(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    engine = store_db.open_database(url)
    now = SystemClock().now()
    with Session(engine) as session, session.begin():
        for issue_id in range(1, 201):
            notify(session, issue_id, 1, now=now)
    receiver, base = start_receiver_process(delay_ms=20)

    def stats() -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{base}/_stats").json()
        return answer

    env = worker_env(f"{base}/services/{HOOK_SECRET}", TRIAGEHUB_JOB_LEASE_S="2")
    log_path = tmp_path / "worker.log"
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers.append(start_worker(url, env, log_path))
        wait_for(lambda: stats()["raw"] >= 60, 30, "the first worker to deliver 60 messages")
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        at_kill = stats()["raw"]
        done_at_kill = count_done(engine)
        assert 0 < done_at_kill < 200  # killed mid-batch, with outcomes recorded on the way
        workers.append(start_worker(url, env, log_path))
        wait_for(lambda: count_done(engine) == 200, 40, "the restarted worker to finish")
        final = stats()
    finally:
        for worker in workers:
            stop(worker)
        stop(receiver)
        engine.dispose()
    assert final["keys"] == sorted(f"notify:{i}:1" for i in range(1, 201))  # none lost
    assert final["unique"] == 200  # exactly once after the receiver's idempotency-key dedupe
    duplicates = final["duplicates"]
    print(
        f"\ncrash test: {at_kill} delivered before SIGKILL ({done_at_kill} recorded), "
        f"{final['raw']} raw deliveries in all, {duplicates} raw duplicate(s) deduplicated by "
        "Idempotency-Key"
    )
    assert duplicates == final["raw"] - 200
    assert duplicates <= at_kill - done_at_kill + 1  # only the unrecorded tail was sent again


@pytest.mark.slow
def test_two_workers_on_postgresql_deliver_every_item_exactly_once(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("two concurrent workers need PostgreSQL (FOR UPDATE SKIP LOCKED)")
    now = SystemClock().now()
    with Session(engine) as session, session.begin():
        for issue_id in range(1, 1001):
            notify(session, issue_id, 1, now=now)
    with Receiver(delay_s=0.002) as receiver:
        env = worker_env(f"{receiver.url}/services/{HOOK_SECRET}", TRIAGEHUB_JOB_BATCH="20")
        workers = [start_worker(db_url, env, tmp_path / f"worker{i}.log") for i in (1, 2)]
        try:
            wait_for(lambda: count_done(engine) == 1000, 60, "two workers to deliver 1,000 items")
        finally:
            for proc in workers:
                stop(proc)
        final = receiver.stats(keys=True)
    assert final["raw"] == 1000 and final["duplicates"] == 0  # none twice, even before dedupe
    assert final["keys"] == sorted(f"notify:{i}:1" for i in range(1, 1001))  # none lost
    assert len(final["workers"]) == 2  # both workers took part
