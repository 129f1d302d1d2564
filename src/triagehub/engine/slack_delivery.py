"""The ``notify`` job kind: the worker delivers each notification row (written by
:mod:`triagehub.engine.notify`) to Slack with :func:`deliver_notification`, threading the
messages of one issue under its first (see :mod:`triagehub.actions.slack` for the channels
and the message)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from triagehub.actions.slack import (
    NO_CHANNEL,
    NOTIFY,
    NOTIFY_THREAD,
    SlackConfig,
    SlackSender,
    log,
    slack_message,
)
from triagehub.core.redact import redact
from triagehub.engine.jobs import (
    DONE,
    PENDING,
    RUNNING,
    Deferred,
    Job,
    JobContext,
    Outcome,
    Recording,
    job_handler,
)
from triagehub.store import tables as t


def _config(ctx: JobContext) -> SlackConfig:
    config = ctx.cache.get("slack_config")
    if not isinstance(config, SlackConfig):
        config = ctx.cache["slack_config"] = SlackConfig.from_env()
    return config


def _sender(ctx: JobContext, config: SlackConfig) -> SlackSender:
    sender = ctx.cache.get("slack_sender")
    if not isinstance(sender, SlackSender):
        sender = ctx.cache["slack_sender"] = SlackSender(config, clock=ctx.clock)
        ctx.resources.callback(sender.close)
    return sender


def _thread_key(issue_id: int) -> str:
    return f"{NOTIFY_THREAD}:{issue_id}"


def _stored_thread(engine: Engine, issue_id: int, channel: str | None) -> str | None:
    with Session(engine) as session:
        data = session.execute(
            select(t.jobs.c.data).where(t.jobs.c.key == _thread_key(issue_id))
        ).scalar()
    if isinstance(data, dict) and data.get("channel") == channel:
        ts = data.get("ts")
        return ts if isinstance(ts, str) else None
    return None


def _earlier_waiting(engine: Engine, job: Job, now: datetime) -> float | None:
    """Seconds to wait when an earlier message of the same issue is not sent yet (it must be
    the thread's parent), else ``None``."""
    jobs = t.jobs
    with Session(engine) as session:
        due = session.execute(
            select(jobs.c.next_try_at)
            .where(
                jobs.c.kind == NOTIFY,
                jobs.c.key.like(f"notify:{int(job.data['issue_id'])}:%"),
                jobs.c.id < job.id,
                jobs.c.status.in_((PENDING, RUNNING)),
            )
            .order_by(jobs.c.id)
            .limit(1)
        ).scalar()
    if not isinstance(due, datetime):
        return None
    return min(max((due - now).total_seconds(), 2.0), 60.0)


def _remember_thread(
    rec: Recording, issue_id: int, channel: str | None, channel_id: str, ts: str
) -> None:
    data = {"issue_id": issue_id, "channel": channel, "channel_id": channel_id, "ts": ts}
    key = _thread_key(issue_id)
    jobs = t.jobs
    exists = rec.session.execute(select(jobs.c.id).where(jobs.c.key == key)).scalar()
    if exists is not None:  # the channel changed: the new parent is the thread now
        rec.session.execute(
            update(jobs).where(jobs.c.id == exists).values(data=data, updated_at=rec.now)
        )
        return
    dialect = rec.session.get_bind().dialect.name
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    rec.session.execute(
        upsert(jobs)
        .values(
            kind=NOTIFY_THREAD,
            key=key,
            data=data,
            status=DONE,
            attempts=0,
            next_try_at=rec.now,
            created_at=rec.now,
            updated_at=rec.now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )


@job_handler(NOTIFY)
def deliver_notification(job: Job, ctx: JobContext) -> Outcome:
    """Send one ``notify`` row (see the module docstring)."""
    config = _config(ctx)
    message = slack_message(job.data)
    if config.mode == "log":
        log.info(  # said once at start-up (`serve`: "integrations off"); per message: info
            "notification %s not sent (%s: set SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN and "
            "SLACK_CHANNEL): %s",
            job.key,
            NO_CHANNEL,
            redact(str(job.data.get("text", ""))),
            extra={"job": job.key},
        )
        return Outcome(result={"via": "log", "note": NO_CHANNEL})
    sender = _sender(ctx, config)
    if config.mode == "webhook":
        sender.post_webhook(job.key, message)
        return Outcome(result={"via": "slack_webhook"})
    issue_id = int(job.data["issue_id"])
    routed = job.data.get("channel")
    channel = routed if isinstance(routed, str) and routed else config.channel
    threads: dict[tuple[int, str | None], str] = ctx.cache.setdefault("slack_threads", {})
    parent = threads.get((issue_id, channel)) or _stored_thread(ctx.engine, issue_id, channel)
    if parent is None:
        wait = _earlier_waiting(ctx.engine, job, ctx.clock.now())
        if wait is not None:
            raise Deferred(wait, f"an earlier message of issue {issue_id} (the thread) is not sent")
    channel_id, ts = sender.post_message(job.key, message, thread_ts=parent, channel=channel)
    result = {"via": "slack_bot", "channel": channel_id, "ts": ts, "thread_ts": parent}
    if parent is not None:
        return Outcome(result=result)
    threads[(issue_id, channel)] = ts
    return Outcome(
        result=result,
        record=lambda rec: _remember_thread(rec, issue_id, channel, channel_id, ts),
    )
