"""The ``notify`` job kind: the worker delivers each notification row (written by
:mod:`triagehub.engine.notify`) to Slack with :func:`deliver_notification`, threading the
messages of one issue under its first (see :mod:`triagehub.actions.slack` for the channels
and the message)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
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
    PENDING,
    RUNNING,
    Deferred,
    Job,
    JobContext,
    Outcome,
    Recording,
    job_handler,
    recall,
    remember,
)
from triagehub.store import tables as t


def slack_config(ctx: JobContext) -> SlackConfig:
    """The worker's Slack settings (from the environment, read once per batch)."""
    config = ctx.cache.get("slack_config")
    if not isinstance(config, SlackConfig):
        config = ctx.cache["slack_config"] = SlackConfig.from_env()
    return config


def slack_sender(ctx: JobContext, config: SlackConfig) -> SlackSender:
    """The batch's Slack client (closed with the batch)."""
    sender = ctx.cache.get("slack_sender")
    if not isinstance(sender, SlackSender):
        sender = ctx.cache["slack_sender"] = SlackSender(config, clock=ctx.clock)
        ctx.resources.callback(sender.close)
    return sender


def _thread_key(issue_id: int) -> str:
    return f"{NOTIFY_THREAD}:{issue_id}"


def issue_thread(session: Session, issue_id: int) -> dict[str, Any] | None:
    """The issue's Slack thread: ``{"channel": the name it was sent to, "channel_id", "ts"}``
    of its parent message, or ``None`` before its first message was sent."""
    return recall(session, _thread_key(issue_id))


def _stored_thread(engine: Engine, issue_id: int, channel: str | None) -> str | None:
    with Session(engine) as session:
        data = issue_thread(session, issue_id)
    if data is not None and data.get("channel") == channel:
        ts = data.get("ts")
        return ts if isinstance(ts, str) else None
    return None


def notification_waiting(
    engine: Engine, issue_id: int, now: datetime, *, before: int | None = None
) -> float | None:
    """Seconds to wait when a message of the issue (before the job ``before``, if given) is not
    sent yet (it may be the thread's parent), else ``None``."""
    jobs = t.jobs
    query = select(jobs.c.next_try_at).where(
        jobs.c.kind == NOTIFY,
        jobs.c.key.like(f"notify:{issue_id}:%"),
        jobs.c.status.in_((PENDING, RUNNING)),
    )
    if before is not None:
        query = query.where(jobs.c.id < before)
    with Session(engine) as session:
        due = session.execute(query.order_by(jobs.c.id).limit(1)).scalar()
    if not isinstance(due, datetime):
        return None
    return min(max((due - now).total_seconds(), 2.0), 60.0)


def _remember_thread(
    rec: Recording, issue_id: int, channel: str | None, channel_id: str, ts: str
) -> None:
    """The issue's thread: its parent message (when the channel changed, the new parent)."""
    data = {"issue_id": issue_id, "channel": channel, "channel_id": channel_id, "ts": ts}
    remember(rec.session, kind=NOTIFY_THREAD, key=_thread_key(issue_id), data=data, now=rec.now)


@job_handler(NOTIFY)
def deliver_notification(job: Job, ctx: JobContext) -> Outcome:
    """Send one ``notify`` row (see the module docstring)."""
    config = slack_config(ctx)
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
    sender = slack_sender(ctx, config)
    if config.mode == "webhook":
        sender.post_webhook(job.key, message)
        return Outcome(result={"via": "slack_webhook"})
    issue_id = int(job.data["issue_id"])
    routed = job.data.get("channel")
    channel = routed if isinstance(routed, str) and routed else config.channel
    threads: dict[tuple[int, str | None], str] = ctx.cache.setdefault("slack_threads", {})
    parent = threads.get((issue_id, channel)) or _stored_thread(ctx.engine, issue_id, channel)
    if parent is None:
        wait = notification_waiting(ctx.engine, issue_id, ctx.clock.now(), before=job.id)
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
