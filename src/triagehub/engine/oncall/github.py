"""The GitHub side of on-call: the assignee and the expert's mention on the GitHub issue."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from triagehub.engine.issue_rows import WORKING
from triagehub.engine.jobs import Deferred, Job, JobContext, Outcome, job_handler
from triagehub.engine.oncall.common import GITHUB_ONCALL, issue_rows
from triagehub.engine.sync.github_links import FORBIDDEN, GONE, sync_config, target_of, wants
from triagehub.errors import ExternalServiceError
from triagehub.store import tables as t


@job_handler(GITHUB_ONCALL)
def github_oncall(job: Job, ctx: JobContext) -> Outcome:
    """Set the assignee of, or mention the expert on, an issue's GitHub issue; waits for the
    GitHub issue while the sync is going to create it."""
    issue_id = int(job.data["issue_id"])
    queued = _queued_at(job, ctx.clock.now())
    with Session(ctx.engine) as session:
        rows = issue_rows(session, t.issues.c.id == issue_id)
    if not rows:
        return Outcome(result={"issue": issue_id, "skipped": "no such issue"})
    row = rows[0]
    if row["github_status"] in (GONE, FORBIDDEN):
        return Outcome(
            result={"issue": issue_id, "skipped": f"GitHub issue {row['github_status']}"}
        )
    if row["github_number"] is None:
        config = sync_config(ctx.settings, row["repository"])
        fresh = ctx.clock.now() - queued < timedelta(days=1)
        if (
            config is not None
            and fresh
            and row["state"] in WORKING
            and wants(config, row["category"], row["priority"])
        ):
            raise Deferred(60, f"issue {issue_id} has no GitHub issue yet")
        return Outcome(result={"issue": issue_id, "skipped": "no GitHub issue"})
    if ctx.github is None:
        raise ExternalServiceError("github", None, "no GITHUB_TOKEN: cannot set the assignee")
    target = str(row["github_repo"] or target_of(row["repository"], _cfg_or_raise(ctx, row)))
    number = int(row["github_number"])
    done: list[str] = []
    assignees = [a for a in job.data.get("assignees") or [] if isinstance(a, str)]
    if assignees:
        ctx.github.add_assignees(target, number, assignees)
        done.append("assigned")
    mention = job.data.get("mention")
    if isinstance(mention, str) and mention:
        marker = f"<!-- triagehub:comment {job.data.get('marker', 'oncall')} -->"
        posted = any(
            marker in str(c.get("body") or "")
            for c in ctx.github.list_comments(target, number, since=queued)
        )
        if not posted:
            ctx.github.create_comment(target, number, f"{marker}\n{mention}")
            done.append("mentioned")
    return Outcome(result={"issue": issue_id, "target": target, "done": done})


def _queued_at(job: Job, now: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(job.data.get("queued_at")))
    except ValueError:
        return now


def _cfg_or_raise(ctx: JobContext, row: Mapping[str, Any]) -> Any:
    config = sync_config(ctx.settings, row["repository"])
    if config is None:
        raise ExternalServiceError("github", None, "github_issues is not configured")
    return config
