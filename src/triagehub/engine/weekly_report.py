"""The weekly report: the brief's success metrics (:func:`triagehub.store.metrics.brief_metrics`) as
Markdown, with their targets and the trend against the week before; posted by the monitor each
week (``weekly_report:``) to Slack and as a GitHub issue, through the outbox, once per week."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import Final

from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.engine.jobs import Job, JobContext, Outcome, enqueue, job_handler
from triagehub.engine.oncall import DIGEST
from triagehub.errors import ExternalServiceError
from triagehub.store.metrics import BriefMetric, brief_metrics

WEEKLY_GITHUB: Final = "weekly_report_github"
_ARROW: Final = {"up": "↑", "down": "↓", "flat": "→", "-": ""}


def _shown(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "hours":
        return f"{value:.1f} h"
    if unit == "failures/issue":
        return f"{value:.1f}×"
    return f"{value:g}"


def report_markdown(
    metrics: Sequence[BriefMetric], since: datetime, until: datetime, repository: str | None
) -> str:
    """The report: a table (value, target, met, previous week, trend), then the definitions."""
    scope = repository or "all repositories"
    met = sum(1 for m in metrics if m.met)
    known = sum(1 for m in metrics if m.met is not None)
    lines = [
        f"# triagehub weekly report: {scope}",
        "",
        f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC. "
        f"{met} of {known} targets met ({len(metrics) - known} without data).",
        "",
        "| Metric | Value | Target | Met | Previous week | Trend |",
        "|---|---:|---:|:---:|---:|:---:|",
    ]
    for m in metrics:
        verdict = "—" if m.met is None else ("✅" if m.met else "❌")
        lines.append(
            f"| {m.label} | {_shown(m.value, m.unit)} | {m.direction} {_shown(m.target, m.unit)} "
            f"| {verdict} | {_shown(m.previous, m.unit)} | {_ARROW[m.trend]} |"
        )
    lines += ["", "## Definitions", ""]
    lines += [f"- **{m.label}**: {m.definition}." for m in metrics]
    return "\n".join(lines) + "\n"


def queue_weekly_report(session: Session, settings: Settings, now: datetime) -> list[str]:
    """Queue this week's report once it is due (in the caller's transaction); the keys queued."""
    config = settings.weekly_report
    if not config.enabled or now.weekday() != config.weekday or now.hour < config.hour:
        return []
    until = now.replace(hour=config.hour, minute=0, second=0, microsecond=0)
    since = until - timedelta(days=7)
    week = f"{until:%G-W%V}"
    metrics = brief_metrics(session, since=since, until=until)
    text = report_markdown(metrics, since, until, None)
    title = f"triagehub weekly report {week}"
    queued: list[str] = []
    if config.slack is not None:
        key = f"weekly:slack:{week}"
        data = {"channel": config.slack or None, "text": text, "week": week}
        if enqueue(session, kind=DIGEST, key=key, data=data, now=now):
            queued.append(key)
    if config.github:
        key = f"weekly:github:{week}"
        data = {"repository": config.github, "title": title, "body": text, "week": week}
        if enqueue(session, kind=WEEKLY_GITHUB, key=key, data=data, now=now):
            queued.append(key)
    return queued


@job_handler(WEEKLY_GITHUB)
def post_weekly_report(job: Job, ctx: JobContext) -> Outcome:
    """Open the week's report as a GitHub issue (once: an issue with the title is reused)."""
    if ctx.github is None:
        raise ExternalServiceError("github", None, "no GITHUB_TOKEN: cannot post the report")
    repo, title = str(job.data["repository"]), str(job.data["title"])
    for item in islice(ctx.github.list_issues(repo, state="all", sort="created"), 100):
        if item.get("title") == title and "pull_request" not in item:
            return Outcome(result={"issue": item.get("number"), "reused": True})
    created = ctx.github.create_issue(repo, title=title, body=str(job.data["body"]))
    return Outcome(result={"issue": created.get("number"), "url": created.get("html_url")})


__all__ = ["WEEKLY_GITHUB", "post_weekly_report", "queue_weekly_report", "report_markdown"]
