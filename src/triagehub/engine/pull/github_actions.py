"""Pulling GitHub Actions runs from the REST API (the brief's daily monitor).

For each repository, the completed workflow runs created since the cursor (else since ``since``)
are listed, their jobs fetched, the logs of failed jobs downloaded and parsed, and every run
ingested as a report (one result per step). The cursor (the newest run's creation time) is stored
in the same transaction, so a daily run picks up exactly what is new; a failed log download
leaves the failure recorded from the job's steps. The pull requests of the repositories holding
their mirrored issues are polled first (:mod:`triagehub.engine.pull.github_prs`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.actions.github import GitHubClient
from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.timeparse import parse_time
from triagehub.engine.ingest import Ingestor, IngestSummary
from triagehub.engine.jobs import process_jobs
from triagehub.engine.pull.cursors import read_cursor, save_cursor
from triagehub.engine.pull.github_prs import PullPollSummary, poll_pull_requests
from triagehub.engine.refine import queue_refine
from triagehub.engine.reruns import queue_reruns
from triagehub.errors import ExternalServiceError
from triagehub.sources.github_actions import JobLog, parse_job_log, report_from_workflow_run

log = logging.getLogger(__name__)
FAILED = frozenset({"failure", "timed_out", "startup_failure"})
MAX_LOG_LINES = 2_000_000


@dataclass
class PollSummary:
    repositories: int = 0
    runs_seen: int = 0
    logs_fetched: int = 0
    log_errors: list[str] = field(default_factory=list)
    reruns: int = 0
    ingest: IngestSummary = field(default_factory=IngestSummary)
    pulls: PullPollSummary = field(default_factory=PullPollSummary)


def cursor_name(repository: str, workflow: str | None, branch: str | None) -> str:
    return f"github-actions:{repository}:{workflow or '*'}:{branch or '*'}"


def _logs(
    client: GitHubClient, repository: str, jobs: list[dict[str, Any]], summary: PollSummary
) -> dict[int, JobLog]:
    logs: dict[int, JobLog] = {}
    for job in jobs:
        if job.get("conclusion") not in FAILED or not isinstance(job.get("id"), int):
            continue
        try:
            lines = client.download_job_log(repository, job["id"])
            logs[job["id"]] = parse_job_log(
                line for i, line in enumerate(lines) if i < MAX_LOG_LINES
            )
            summary.logs_fetched += 1
        except ExternalServiceError as exc:
            # The failure is still recorded from the job's steps; only the excerpt is missing.
            summary.log_errors.append(f"{repository} job {job['id']}: {exc}")
    return logs


def poll_github_actions(
    engine: Engine,
    settings: Settings,
    client: GitHubClient,
    *,
    repositories: list[str],
    since: timedelta,
    workflow: str | None = None,
    branch: str | None = None,
    clock: Clock | None = None,
) -> PollSummary:
    """Ingest the runs created since each repository's cursor (or ``since`` ago), after
    recording the pull requests that fix their mirrored issues (:mod:`.github_prs`)."""
    now = (clock or SystemClock()).now()
    summary = PollSummary()
    # First the pull requests: a merged fix is known before the green runs that follow it.
    summary.pulls = poll_pull_requests(
        engine, settings, client, repositories=repositories, since=since, clock=clock
    )
    for repository in repositories:
        name = cursor_name(repository, workflow, branch)
        with Session(engine) as session:
            cursor = read_cursor(session, name)
        start = cursor or now - since
        reports = []
        newest = start
        for run in client.list_workflow_runs(
            repository, since=start, workflow=workflow, branch=branch
        ):
            created = parse_time(run["created_at"])
            if cursor is not None and created <= cursor:
                continue  # seen by the previous poll
            summary.runs_seen += 1
            newest = max(newest, created)
            run = {**run, "repository": run.get("repository") or {"full_name": repository}}
            jobs = client.list_jobs(repository, run["id"])
            logs = _logs(client, repository, jobs, summary)
            report = report_from_workflow_run(run, jobs, logs, origin=f"{repository} run")
            if report is not None:
                reports.append(report)
        with Session(engine) as session, session.begin():
            ingestor = Ingestor(session, settings, clock=clock)
            ingestor.add_all(reports)
            ingestor.flush()
            queue_reruns(session, settings, ingestor, now)
            queue_refine(session, settings, ingestor.touched_ids, now)
            save_cursor(session, name, newest, now)
        summary.ingest.add(ingestor.summary)
        summary.repositories += 1
    # The self-healing re-runs queued above (repositories with self_heal: true).
    summary.reruns = process_jobs(engine, settings, github=client, clock=clock)
    return summary
