"""On-call digests: the daily summary per repository and Slack channel, queued and sent."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.core.models import IssueState, Level
from triagehub.engine.jobs import Job, JobContext, Outcome, enqueue, job_handler
from triagehub.engine.notify import SlackSender
from triagehub.engine.notify import slack_config as _slack_config
from triagehub.engine.notify import slack_sender as _slack_sender
from triagehub.engine.oncall.alerts import alert_channel, alert_mode
from triagehub.engine.oncall.common import OncallSummary, issue_rows
from triagehub.store import tables as t

log = logging.getLogger("triagehub.engine.oncall")  # the name it logged under as one module

DIGEST: Final = "notify_digest"
DEFAULT_DIGEST_HOUR: Final = 9


def digest_hour(settings: Settings, repository: str) -> int:
    repo = settings.repositories.get(repository)
    if repo is not None and repo.alerts is not None and repo.alerts.digest_hour is not None:
        return repo.alerts.digest_hour
    if settings.alerts.digest_hour is not None:
        return settings.alerts.digest_hour
    return DEFAULT_DIGEST_HOUR


@dataclass(frozen=True)
class DigestLine:
    issue_id: int
    priority: str
    category: str
    title: str
    what: str
    occurrences: int
    expert: str | None
    state: str


def _digest_window(now: datetime, hour: int) -> tuple[datetime, datetime] | None:
    """The 24 hours the digest due at or before ``now`` covers (None before the first hour)."""
    end = now.astimezone(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    if end > now:
        end -= timedelta(days=1)
    return end - timedelta(days=1), end


def digest_text(repository: str, channel: str, day: str, lines: Sequence[DigestLine]) -> str:
    where = f" ({channel})" if channel else ""
    head = f"Daily digest for {repository}{where}, {day}: {len(lines)} new or regressed issue(s)"
    body = [
        f"• #{x.issue_id} [{x.priority}] {x.title} ({x.category}, {x.what}, "
        f"{x.occurrences} occurrence(s), {x.state}, expert {x.expert or '-'})"
        for x in lines
    ]
    return "\n".join([head, *body])


def send_digests(
    session: Session, settings: Settings, now: datetime, *, summary: OncallSummary | None = None
) -> list[str]:
    """Queue each due daily digest (one per repository and channel, once); return their keys."""
    e, i = t.issue_events.c, t.issues.c
    earliest = now - timedelta(days=2)
    found = session.execute(
        select(e.id, e.issue_id, e.kind, e.at)
        .join(t.issues, i.id == e.issue_id)
        .where(
            e.at >= earliest,
            or_(
                e.kind == "created",
                and_(
                    e.kind == "state_changed",
                    e.data["to"].as_string() == IssueState.REGRESSED.value,
                ),
            ),
        )
        .order_by(e.id)
    ).all()
    if not found:
        return []
    rows = {r["id"]: r for r in issue_rows(session, i.id.in_(sorted({f[1] for f in found})))}
    groups: dict[tuple[str, str, str], dict[int, DigestLine]] = {}
    for _eid, issue_id, kind, at in found:
        row = rows[issue_id]
        if alert_mode(settings, row["repository"], row["category"], row["priority"]) != "digest":
            continue
        window = _digest_window(now, digest_hour(settings, row["repository"]))
        if window is None or not (window[0] <= at < window[1]):
            continue
        channel = alert_channel(settings, row["repository"], row["category"], row["expert"])
        day = window[1].date().isoformat()
        line = DigestLine(
            issue_id,
            row["priority"],
            row["category"],
            row["title"],
            "regressed" if kind == "state_changed" else "new",
            int(row["occurrences"]),
            row["expert"],
            row["state"],
        )
        groups.setdefault((row["repository"], channel, day), {})[issue_id] = line
    keys: list[str] = []
    for (repository, channel, day), lines in sorted(groups.items()):
        ordered = sorted(lines.values(), key=lambda x: (-Level(x.priority).rank, x.issue_id))
        key = f"digest:{repository}:{channel or '-'}:{day}"[:200]
        data = {
            "repository": repository,
            "channel": channel or None,
            "day": day,
            "issues": [x.issue_id for x in ordered],
            "text": digest_text(repository, channel, day, ordered),
        }
        if enqueue(session, kind=DIGEST, key=key, data=data, now=now):
            keys.append(key)
    if summary is not None:
        summary.digests.extend(keys)
    return keys


def digest_message(data: Mapping[str, Any]) -> dict[str, Any]:
    text = str(data.get("text") or "")
    title = text.splitlines()[0] if text else "Daily digest"
    return {
        "text": title[:3000],
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
        ],
    }


@job_handler(DIGEST)
def deliver_digest(job: Job, ctx: JobContext) -> Outcome:
    """Send one daily digest to Slack (the webhook's channel, or the routed channel)."""
    config = _slack_config(ctx)
    message = digest_message(job.data)
    if config.mode == "log":
        log.info("digest %s not sent (no Slack channel configured)", job.key)
        return Outcome(result={"via": "log", "note": "no channel configured"})
    sender: SlackSender = _slack_sender(ctx, config)
    if config.mode == "webhook":
        sender.post_webhook(job.key, message)
        return Outcome(result={"via": "slack_webhook"})
    channel = job.data.get("channel")
    channel_id, ts = sender.post_message(
        job.key, message, channel=channel if isinstance(channel, str) else None
    )
    return Outcome(result={"via": "slack_bot", "channel": channel_id, "ts": ts})
