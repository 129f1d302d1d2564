"""The ``brief_slack`` job: an issue's investigation brief as ONE reply in its Slack thread.

The thread is the one the issue's notifications keep (``notify_thread:{issue_id}``, see
:mod:`triagehub.actions.slack`). The first brief posts a reply there (``chat.postMessage`` with
``thread_ts``); later ones edit it (``chat.update``); a reply Slack no longer has (deleted) is
posted again. The reply's ``ts`` is kept in the ``brief_reply:{issue_id}`` state row of the jobs
table, written as soon as Slack answers, in a transaction of its own.

- No Slack bot (``SLACK_BOT_TOKEN`` + ``SLACK_CHANNEL``; an incoming webhook has no threads):
  nothing is sent, the job is done with the reason.
- No thread yet: the job waits while a notification of the issue is still to be sent (it starts
  the thread), else it is done without a reply (the issue was never announced in Slack).
- Exactly once: the reply carries message metadata naming the issue (``triagehub_brief``); before
  posting a reply when none is stored, the thread is read (``conversations.replies``, the bot's
  ``channels:history`` scope) for one posted by an attempt that died before storing it, which is
  then edited. Without that scope the reply is posted anyway (and the ``Idempotency-Key``, the
  job's key, lets a receiver that honours it drop a repeat). Jobs of one issue never run at the
  same time; one that a later one replaces is skipped.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triagehub.actions.slack import SlackApiError, SlackSender
from triagehub.engine.brief_text import (
    BRIEF_REPLY,
    BRIEF_SLACK,
    SLACK_EVENT,
    issue_page_url,
    slack_brief,
    state_key,
    take_turn,
)
from triagehub.engine.jobs import (
    Deferred,
    Job,
    JobContext,
    Outcome,
    job_handler,
    recall,
    remember_now,
)
from triagehub.engine.slack_delivery import (
    issue_thread,
    notification_waiting,
    slack_config,
    slack_sender,
)
from triagehub.store import tables as t

log = logging.getLogger(__name__)


def _posted_before(
    sender: SlackSender, channel_id: str, thread_ts: str, issue_id: int
) -> str | None:
    """The ``ts`` of this issue's brief reply already in the thread, if Slack lets us read it."""
    try:
        return sender.find_in_thread(channel_id, thread_ts, SLACK_EVENT, issue_id=issue_id)
    except SlackApiError as exc:
        if exc.status is None:  # a transient error: the job is tried again
            raise
        log.warning(
            "cannot read the Slack thread of issue %s to find an earlier brief reply (%s): "
            "posting one",
            issue_id,
            exc.error,
            extra={"issue_id": issue_id},
        )
        return None


def write_reply(
    sender: SlackSender,
    key: str,
    issue_id: int,
    channel_id: str,
    thread_ts: str,
    message: dict[str, Any],
    known: str | None,
) -> tuple[str, str]:
    """Edit the brief's reply (``known``, else the one found in the thread by its metadata) or
    post it; return what was done (``updated``, ``found``, ``posted``, ``reposted``) and its
    ``ts``. ``key``: the idempotency key of the requests."""
    if known is not None:
        if sender.update_message(key, channel_id, known, message):
            return "updated", known
    else:
        found = _posted_before(sender, channel_id, thread_ts, issue_id)
        if found is not None and sender.update_message(key, channel_id, found, message):
            return "found", found
    _, ts = sender.post_message(key, message, thread_ts=thread_ts, channel=channel_id)
    return ("reposted" if known is not None else "posted"), ts


@job_handler(BRIEF_SLACK)
def post_brief_reply(job: Job, ctx: JobContext) -> Outcome:
    """One ``brief_slack`` job (see the module docstring)."""
    issue_id = int(job.data["issue_id"])
    fields = job.data["fields"]
    if not isinstance(fields, dict):
        raise ValueError(f"brief_slack job {job.id}: fields must be an object")
    config = slack_config(ctx)
    if config.mode != "bot":
        why = "no Slack bot (SLACK_BOT_TOKEN and SLACK_CHANNEL): briefs go only in a thread"
        return Outcome(result={"issue": issue_id, "skipped": why})
    skipped = take_turn(job, ctx, issue_id)
    if skipped is not None:
        return skipped
    now = ctx.clock.now()
    with Session(ctx.engine) as session:
        thread = issue_thread(session, issue_id)
        stored = recall(session, state_key(BRIEF_REPLY, issue_id))
        github = session.execute(select(t.issues.c.github_url).where(t.issues.c.id == issue_id))
        github_url = github.scalar()
    if thread is None:
        wait = notification_waiting(ctx.engine, issue_id, now)
        if wait is not None:
            raise Deferred(wait, f"the Slack thread of issue {issue_id} is not started yet")
        return Outcome(result={"issue": issue_id, "skipped": "the issue has no Slack thread"})
    channel_id, thread_ts = str(thread["channel_id"]), str(thread["ts"])
    message = slack_brief(
        issue_id,
        fields,
        page=issue_page_url(issue_id),
        github=github_url if isinstance(github_url, str) else None,
    )
    known = None
    if stored is not None and (stored.get("channel_id"), stored.get("thread_ts")) == (
        channel_id,
        thread_ts,
    ):
        known = str(stored["ts"])
    sender = slack_sender(ctx, config)
    action, ts = write_reply(sender, job.key, issue_id, channel_id, thread_ts, message, known)
    if action != "updated":  # a new reply: remembered at once
        data = {"issue_id": issue_id, "channel_id": channel_id, "thread_ts": thread_ts, "ts": ts}
        remember_now(
            ctx.engine, kind=BRIEF_REPLY, key=state_key(BRIEF_REPLY, issue_id), data=data, now=now
        )
    result = {"issue": issue_id, "channel": channel_id, "thread_ts": thread_ts}
    return Outcome(result={**result, "action": action, "ts": ts})
