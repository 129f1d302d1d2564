"""The built-in GitHub kinds: webhook deliveries, late job logs, self-healing re-runs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from triagehub.core.models import RunReport
from triagehub.core.redact import redact
from triagehub.engine.jobs.policy import retryable
from triagehub.engine.jobs.queue import Job, enqueue
from triagehub.engine.jobs.registry import JobContext, Outcome, Recording, job_handler
from triagehub.engine.jobs.reruns import RERUN
from triagehub.errors import ExternalServiceError
from triagehub.sources.github_actions import (
    JobLog,
    parse_job_log,
    report_from_check_run,
    report_from_workflow_job,
    report_from_workflow_run,
)
from triagehub.store import tables as t

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient

log = logging.getLogger("triagehub.engine.jobs")  # the name it logged under as one module

INGEST_WEBHOOK: Final = "ingest_webhook"
ENRICH_LOG: Final = "enrich_log"
MAX_LOG_LINES = 2_000_000
GITHUB_EVENTS: dict[str, Callable[[Mapping[str, Any]], RunReport | None]] = {
    "workflow_run": report_from_workflow_run,
    "workflow_job": report_from_workflow_job,
    "check_run": report_from_check_run,
}


def _with_log(
    data: Mapping[str, Any], github: GitHubClient | None
) -> tuple[RunReport | None, dict[str, Any] | None]:
    """The report of a delivery, with the failed job's log when it can be fetched. When GitHub
    cannot give it now (down, rate limited) the failure is recorded from the payload at once and
    an ``enrich_log`` job (the second value) adds the excerpt when the log can be had."""
    event, payload = data["event"], data["payload"]
    translate = GITHUB_EVENTS[event]
    job = payload.get("workflow_job") if event == "workflow_job" else None
    repo = (payload.get("repository") or {}).get("full_name")
    if (
        github is not None
        and isinstance(job, dict)
        and job.get("conclusion") in ("failure", "timed_out")
        and isinstance(job.get("id"), int)
        and isinstance(repo, str)
    ):
        try:
            lines = github.download_job_log(repo, job["id"])
            parsed = parse_job_log(line for i, line in enumerate(lines) if i < MAX_LOG_LINES)
            return report_from_workflow_job(payload, parsed), None
        except ExternalServiceError as exc:
            log.warning("job log not fetched; recording the failure from the payload: %s", exc)
            report = translate(payload)
            if report is not None and retryable(exc):
                later = {
                    "repository": repo,
                    "job_id": job["id"],
                    "run_id": report.run_id,
                    "attempt": report.attempt,
                }
                return report, later
            return report, None
    return translate(payload), None


@job_handler(INGEST_WEBHOOK)
def _ingest_webhook(job: Job, ctx: JobContext) -> Outcome:
    report, later = _with_log(job.data, ctx.github)

    def record(rec: Recording) -> None:
        if report is not None:
            rec.ingestor.add(report)
        if later is not None:
            enqueue(
                rec.session,
                kind=ENRICH_LOG,
                key=f"enrich:{job.data.get('delivery', job.id)}",
                data=later,
                now=rec.now,
                not_before=rec.now + timedelta(seconds=30),
            )

    return Outcome(record=record)


@job_handler(ENRICH_LOG)
def _enrich_log(job: Job, ctx: JobContext) -> Outcome:
    if ctx.github is None:
        raise ExternalServiceError("github", None, "no GITHUB_TOKEN: cannot fetch logs")
    lines = ctx.github.download_job_log(job.data["repository"], int(job.data["job_id"]))
    parsed = parse_job_log(x for i, x in enumerate(lines) if i < MAX_LOG_LINES)
    return Outcome(record=lambda rec: _enrich(rec.session, job.data, parsed, rec.now))


@job_handler(RERUN)
def _rerun(job: Job, ctx: JobContext) -> Outcome:
    if ctx.github is None:
        raise ExternalServiceError("github", None, "no GITHUB_TOKEN: cannot re-run jobs")
    ctx.github.rerun_failed_jobs(job.data["repository"], int(job.data["run_id"]))

    def record(rec: Recording) -> None:
        for issue_id in job.data.get("issues", []):
            rec.session.execute(
                insert(t.issue_events).values(
                    issue_id=issue_id,
                    kind="rerun_requested",
                    at=rec.now,
                    actor="triagehub",
                    run_id=None,
                    data={
                        "run": job.data["run_id"],
                        "reason": "transient failure: re-ran the failed jobs once (self_heal)",
                    },
                )
            )

    return Outcome(result={"rerun": job.data["run_id"]}, record=record)


def _enrich(session: Session, data: Mapping[str, Any], log_: JobLog, now: datetime) -> None:
    """Give the occurrences of a run the log excerpt that could not be had when they were
    recorded (their grouping stays as it was), and say so on their issues' timelines."""
    if not log_.excerpt:
        return
    repo_id = session.execute(
        select(t.repositories.c.id).where(t.repositories.c.name == data["repository"])
    ).scalar()
    run = session.execute(
        select(t.runs.c.id).where(
            t.runs.c.repository_id == repo_id,
            t.runs.c.source == "github-actions",
            t.runs.c.external_id == data["run_id"],
            t.runs.c.attempt == data["attempt"],
        )
    ).scalar()
    if run is None:
        return
    rows = session.execute(
        select(t.occurrences.c.id, t.occurrences.c.issue_id).where(t.occurrences.c.run_id == run)
    ).all()
    for occurrence_id, issue_id in rows:
        session.execute(
            update(t.occurrences)
            .where(t.occurrences.c.id == occurrence_id)
            .values(log_excerpt=redact(log_.excerpt))
        )
        session.execute(
            insert(t.issue_events).values(
                issue_id=issue_id,
                kind="enriched",
                at=now,
                actor="triagehub",
                run_id=run,
                data={"run": data["run_id"], "step": log_.failed_step, "source": "job log"},
            )
        )
