"""The job kinds that ingest: GitHub webhook deliveries, late job logs, self-healing re-runs, and
adopting a person's GitHub issue. One ``Ingestor`` serves every job of a recording transaction;
it is flushed, and the re-runs it calls for and the LLM refinement of the issues it touched
(one ``refine`` job, :mod:`triagehub.engine.refine`) are queued, when the recording ends."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from triagehub.core.models import RunReport
from triagehub.core.redact import redact
from triagehub.engine.ingest import Ingestor, ingest_reports
from triagehub.engine.jobs.policy import retryable
from triagehub.engine.jobs.queue import Job, enqueue
from triagehub.engine.jobs.registry import JobContext, Outcome, Recording, job_handler
from triagehub.engine.refine import queue_refine, refine_later
from triagehub.engine.reruns import RERUN, queue_reruns
from triagehub.engine.sync.github_adopt import ADOPT, ADOPTED, report_of
from triagehub.engine.sync.github_links import LINKED
from triagehub.errors import ExternalServiceError
from triagehub.sources.github_actions import (
    JobLog,
    parse_job_log,
    report_from_check_run,
    report_from_workflow_job,
    report_from_workflow_run,
)
from triagehub.store import tables as t
from triagehub.store.lifecycle import record_event

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


def ingestor(rec: Recording) -> Ingestor:
    """The recording's one ``Ingestor``: flushed, then its re-runs and the refinement of the
    issues it touched queued, when it finishes."""
    found = rec.shared.get("ingestor")
    if isinstance(found, Ingestor):
        return found
    made = rec.shared["ingestor"] = Ingestor(rec.session, rec.settings, clock=rec.clock)

    def finish() -> None:
        made.flush()
        queue_reruns(rec.session, rec.settings, made, rec.now)
        queue_refine(rec.session, rec.settings, made.touched_ids, rec.now)

    rec.at_finish(finish)
    return made


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
            ingestor(rec).add(report)
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


@job_handler(ADOPT)
def adopt_github_issue(job: Job, ctx: JobContext) -> Outcome:
    """Ingest the person's GitHub issue and link the triagehub issue to it."""
    now = ctx.clock.now()
    report = report_of(job.data, now)
    ingest_reports(ctx.engine, [report], ctx.settings, clock=ctx.clock, then=refine_later)
    target, number = str(job.data["target"]), int(job.data["number"])
    check = report.results[0].check

    def record(rec: Recording) -> None:
        found = rec.session.execute(
            select(t.occurrences.c.issue_id)
            .join(t.checks, t.checks.c.id == t.occurrences.c.check_id)
            .join(t.repositories, t.repositories.c.id == t.checks.c.repository_id)
            .where(t.checks.c.key == check, t.repositories.c.name == report.repository)
            .order_by(t.occurrences.c.id.desc())
            .limit(1)
        ).scalar()
        if found is None:
            return
        row = rec.session.execute(select(t.issues).where(t.issues.c.id == found)).mappings().one()
        ref = f"{target}#{number}"
        if row["github_number"] is not None:
            if (str(row["github_repo"]).lower(), row["github_number"]) != (target.lower(), number):
                record_event(
                    rec.session,
                    found,
                    "github_duplicate",
                    at=rec.now,
                    actor=f"github:{job.data.get('login')}",
                    data={"reason": f"{ref} reports this issue again", "github": ref},
                )
            return
        rec.session.execute(
            update(t.issues)
            .where(t.issues.c.id == found)
            .values(
                github_repo=target.lower(),
                github_number=number,
                github_url=job.data.get("url"),
                github_node_id=job.data.get("node_id"),
                github_status=LINKED,
                github_state="open",
                github_labels=[],
                github_body_hash=ADOPTED,
                github_event_cursor=None,
                updated_at=rec.now,
            )
        )
        record_event(
            rec.session,
            found,
            "adopted",
            at=rec.now,
            actor=f"github:{job.data.get('login')}",
            data={
                "reason": f"opened on GitHub as {ref} with a watched label",
                "github": ref,
                "labels": list(job.data.get("labels") or []),
            },
        )

    return Outcome(result={"adopted": f"{target}#{number}"}, record=record)
