"""Durable background jobs, written in the same transaction as what caused them and done by a
worker that survives restarts.

- ``ingest_webhook``: a GitHub delivery acknowledged at once. The worker fetches the failed job's
  log when it can (``GITHUB_TOKEN``) so that the failure is grouped on its real error; when the
  log cannot be had (no token, API down, log expired) the failure is recorded from the payload.
- ``rerun``: the self-healing action: re-run the failed jobs of a run whose failure is transient,
  for repositories with ``self_heal: true``; the job key makes it once per run, ever.

A job is claimed with a lease (``running`` until ``next_try_at``), worked on outside any
transaction (network), then finished in one transaction. A worker that dies leaves the lease to
expire and the job is done again. On PostgreSQL several workers share the table
(``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, insert, or_, select, update
from sqlalchemy.orm import Session

from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.models import RunReport
from triagehub.core.redact import redact
from triagehub.errors import ExternalServiceError, InputError
from triagehub.pipeline import Ingestor
from triagehub.sources.github_actions import (
    parse_job_log,
    report_from_check_run,
    report_from_workflow_job,
    report_from_workflow_run,
)
from triagehub.store import tables as t

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient

log = logging.getLogger(__name__)

INGEST_WEBHOOK = "ingest_webhook"
RERUN = "rerun"
ENRICH_LOG = "enrich_log"
MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=5)
MAX_LOG_LINES = 2_000_000
GITHUB_EVENTS: dict[str, Callable[[Mapping[str, Any]], RunReport | None]] = {
    "workflow_run": report_from_workflow_run,
    "workflow_job": report_from_workflow_job,
    "check_run": report_from_check_run,
}


def enqueue(
    session: Session,
    *,
    kind: str,
    key: str,
    data: dict[str, Any],
    now: datetime,
    not_before: datetime | None = None,
) -> bool:
    """Write a job in the caller's transaction, unless one with this key exists already."""
    exists = session.execute(select(t.jobs.c.id).where(t.jobs.c.key == key)).scalar()
    if exists is not None:
        return False
    session.execute(
        insert(t.jobs).values(
            kind=kind,
            key=key,
            data=data,
            status="pending",
            attempts=0,
            next_try_at=not_before or now,
            created_at=now,
            updated_at=now,
        )
    )
    return True


@dataclass
class _Work:
    id: int
    kind: str
    data: dict[str, Any]
    attempts: int
    report: RunReport | None = None
    error: str | None = None
    done_event: dict[str, Any] | None = None
    enrich_later: dict[str, Any] | None = None  # the log could not be had yet: try again
    excerpt: Any = None  # a fetched JobLog for an enrich_log job


def _claim(engine: Engine, now: datetime, limit: int) -> list[_Work]:
    with Session(engine) as session, session.begin():
        query = (
            select(t.jobs.c.id, t.jobs.c.kind, t.jobs.c.data, t.jobs.c.attempts)
            .where(
                or_(t.jobs.c.status == "pending", t.jobs.c.status == "running"),
                t.jobs.c.next_try_at <= now,
            )
            .order_by(t.jobs.c.id)
            .limit(limit)
        )
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = session.execute(query).all()
        if rows:
            session.execute(
                update(t.jobs)
                .where(t.jobs.c.id.in_([r.id for r in rows]))
                .values(
                    status="running",
                    next_try_at=now + LEASE,
                    attempts=t.jobs.c.attempts + 1,
                    updated_at=now,
                )
            )
    return [_Work(r.id, r.kind, dict(r.data), r.attempts + 1) for r in rows]


def _retryable(exc: ExternalServiceError) -> bool:
    return exc.status is None or exc.status >= 500 or exc.status in (403, 429)


def _with_log(item: _Work, github: GitHubClient | None) -> RunReport | None:
    """The report of a delivery, with the failed job's log when it can be fetched. When GitHub
    cannot give it now (down, rate limited) the failure is recorded from the payload at once and
    an ``enrich_log`` job adds the excerpt when the log can be had."""
    data = item.data
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
            return report_from_workflow_job(payload, parsed)
        except ExternalServiceError as exc:
            log.warning("job log not fetched; recording the failure from the payload: %s", exc)
            report = translate(payload)
            if report is not None and _retryable(exc):
                item.enrich_later = {
                    "repository": repo,
                    "job_id": job["id"],
                    "run_id": report.run_id,
                    "attempt": report.attempt,
                }
            return report
    return translate(payload)


def _work(item: _Work, github: GitHubClient | None) -> None:
    try:
        if item.kind == INGEST_WEBHOOK:
            item.report = _with_log(item, github)
        elif item.kind == ENRICH_LOG:
            if github is None:
                raise ExternalServiceError("github", None, "no GITHUB_TOKEN: cannot fetch logs")
            lines = github.download_job_log(item.data["repository"], int(item.data["job_id"]))
            item.excerpt = parse_job_log(x for i, x in enumerate(lines) if i < MAX_LOG_LINES)
        elif item.kind == RERUN:
            if github is None:
                raise ExternalServiceError("github", None, "no GITHUB_TOKEN: cannot re-run jobs")
            github.rerun_failed_jobs(item.data["repository"], int(item.data["run_id"]))
            item.done_event = {
                "kind": "rerun_requested",
                "data": {
                    "run": item.data["run_id"],
                    "reason": "transient failure: re-ran the failed jobs once (self_heal)",
                },
            }
        else:
            raise InputError("job", item.kind, "unknown job kind")
    except (InputError, ExternalServiceError, KeyError, ValueError) as exc:
        item.error = str(exc)


def queue_reruns(session: Session, settings: Settings, ingestor: Ingestor, now: datetime) -> None:
    """Queue one re-run per failed GitHub Actions run whose issue is transient (opt-in)."""
    for report, issue_ids in ingestor.failed_runs:
        if report.source != "github-actions" or report.attempt > 1:
            continue
        if not settings.repository(report.repository).self_heal:
            continue
        transient = (
            session.execute(
                select(t.issues.c.id).where(
                    t.issues.c.id.in_(sorted(issue_ids)),
                    t.issues.c.category == "transient_failure",
                )
            )
            .scalars()
            .all()
        )
        if not transient:
            continue
        run_id = report.run_id.split("/")[0]
        enqueue(
            session,
            kind=RERUN,
            key=f"rerun:{report.repository}:{run_id}",
            data={"repository": report.repository, "run_id": run_id, "issues": transient},
            now=now,
        )


def _enrich(session: Session, item: _Work, now: datetime) -> None:
    """Give the occurrences of a run the log excerpt that could not be had when they were
    recorded (their grouping stays as it was), and say so on their issues' timelines."""
    log_ = item.excerpt
    if log_ is None or not log_.excerpt:
        return
    data = item.data
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


def process_jobs(
    engine: Engine,
    settings: Settings,
    *,
    github: GitHubClient | None = None,
    clock: Clock | None = None,
    limit: int = 1000,
) -> int:
    """Claim up to ``limit`` due jobs, do them, and record the outcome; return how many were
    done."""
    now_of = (clock or SystemClock()).now
    items = _claim(engine, now_of(), limit)
    if not items:
        return 0
    for item in items:
        _work(item, github)
    now = now_of()
    with Session(engine) as session, session.begin():
        ingestor = Ingestor(session, settings, clock=clock)
        for item in items:
            if item.report is not None and item.error is None:
                ingestor.add(item.report)
        ingestor.flush()
        queue_reruns(session, settings, ingestor, now)
        for item in items:
            if item.enrich_later is not None and item.error is None:
                enqueue(
                    session,
                    kind=ENRICH_LOG,
                    key=f"enrich:{item.data.get('delivery', item.id)}",
                    data=item.enrich_later,
                    now=now,
                    not_before=now + timedelta(seconds=30),
                )
            if item.kind == ENRICH_LOG and item.error is None:
                _enrich(session, item, now)
        done = [i.id for i in items if i.error is None]
        if done:
            session.execute(
                update(t.jobs)
                .where(t.jobs.c.id.in_(done))
                .values(status="done", last_error=None, updated_at=now)
            )
        for item in items:
            if item.done_event is not None:
                for issue_id in item.data.get("issues", []):
                    session.execute(
                        insert(t.issue_events).values(
                            issue_id=issue_id,
                            kind=item.done_event["kind"],
                            at=now,
                            actor="triagehub",
                            run_id=None,
                            data=item.done_event["data"],
                        )
                    )
            if item.error is None:
                continue
            log.warning("job %s (%s) failed: %s", item.id, item.kind, item.error)
            session.execute(
                update(t.jobs)
                .where(t.jobs.c.id == item.id)
                .values(
                    status="failed" if item.attempts >= MAX_ATTEMPTS else "pending",
                    last_error=item.error[:2000],
                    next_try_at=now + timedelta(seconds=min(3600, 2**item.attempts)),
                    updated_at=now,
                )
            )
    return sum(1 for i in items if i.error is None)


def pending(engine: Engine) -> int:
    """Jobs not yet done (pending, or running under a lease)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(t.jobs)
                .where(or_(t.jobs.c.status == "pending", t.jobs.c.status == "running"))
            ).scalar_one()
        )


class JobWorker:
    """A background thread that runs due jobs every ``interval`` seconds (and at start, so rows
    left behind by a stopped process are done)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        github: GitHubClient | None = None,
        interval: float = 1.0,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.github = github
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="triagehub-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while process_jobs(self.engine, self.settings, github=self.github):
                    if self._stop.is_set():
                        return
            except Exception:
                log.exception("job worker tick failed; retrying")
            self._stop.wait(self.interval)
