"""dbt Cloud: job runs pulled from the Administrative API v2, ingested as ``RunReport``\\ s.

The network side is :class:`~triagehub.actions.dbt_cloud.DbtCloudClient` (re-exported here, where
the CLI and the monitor have always imported it from).

:func:`poll_dbt_cloud` lists the completed runs (success and error; cancelled and unfinished runs
are skipped) that finished after the cursor (else after ``since`` ago), downloads each run's
artifacts into a temporary folder and parses them with the dbt Core parser
(:func:`triagehub.sources.dbt.parse_artifacts_full`, lineage and owners included). A failed run
without ``run_results.json`` (compilation and Jinja errors stop dbt before ``target/`` is written)
is read from its steps' console logs (:func:`triagehub.sources.dbt.parse_console_log`); a step
that is not dbt at all (``Clone git repository``...) becomes one failing check
``dbt Cloud / <job> / <step>``. The report names the dbt Cloud run (source ``dbt_cloud``, run id,
commit, branch, URL, times). Runs are ingested oldest first, one transaction per run together with
the cursor (the run's ``finished_at``), so a failure part-way leaves every stored run consistent
and the next poll resumes at the run that failed.

It lives beside :mod:`.github_actions` (the GitHub Actions poller), not in ``sources/``: it does
network and database work, while the translation of artifacts and logs stays in
``sources/dbt.py``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.actions.dbt_cloud import SERVICE, DbtCloudClient, JSONObject, RunStatus
from triagehub.actions.http import MAX_REASON_CHARS
from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.timeparse import parse_time
from triagehub.engine.ingest import Ingestor, IngestSummary
from triagehub.engine.pull.cursors import read_cursor, save_cursor
from triagehub.engine.refine import queue_refine
from triagehub.errors import ExternalServiceError, InputError
from triagehub.sources.dbt import parse_artifacts_full, parse_console_log, with_lineage
from triagehub.sources.events import REPOSITORY

__all__ = [
    "ARTIFACTS",
    "SOURCE",
    "DbtCloudClient",
    "DbtCloudPollSummary",
    "RunStatus",
    "cursor_name",
    "poll_dbt_cloud",
]

log = logging.getLogger(__name__)

SOURCE: Final = "dbt_cloud"
ARTIFACTS: Final = ("run_results.json", "sources.json", "manifest.json")
_FALLBACK_LOG_LINES: Final = 200


# -- polling -----------------------------------------------------------------------------------


@dataclass
class DbtCloudPollSummary:
    """What one :func:`poll_dbt_cloud` did."""

    account_id: int
    job_id: int | None = None
    runs_seen: int = 0  # completed runs finished since the cursor, cancelled ones included
    runs_ingested: int = 0  # runs whose report went to the store (an already stored one counts)
    runs_skipped: int = 0  # cancelled, or passed without artifacts, or unreadable
    artifacts_fetched: int = 0
    artifact_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ingest: IngestSummary = field(default_factory=IngestSummary)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "job_id": self.job_id,
            "runs_seen": self.runs_seen,
            "runs_ingested": self.runs_ingested,
            "runs_skipped": self.runs_skipped,
            "artifacts_fetched": self.artifacts_fetched,
            "artifact_errors": self.artifact_errors,
            "artifact_warnings": self.warnings,
            **self.ingest.as_dict(),
        }


def cursor_name(account_id: int, job_id: int | None) -> str:
    return f"dbt-cloud:{account_id}:{job_id or '*'}"


def poll_dbt_cloud(
    engine: Engine,
    settings: Settings,
    client: DbtCloudClient,
    *,
    job_id: int | None = None,
    since: timedelta,
    repository: str | None,
    clock: Clock | None = None,
) -> DbtCloudPollSummary:
    """Ingest the dbt Cloud runs finished since the cursor (or ``since`` ago); see the module.

    ``repository`` is ``OWNER/NAME`` for every run; without it, each run's dbt project is looked
    up in ``triagehub.yaml`` (a repository's ``dbt_project``). Raises
    :class:`~triagehub.errors.InputError` when a run's repository cannot be told, and
    :class:`~triagehub.errors.ExternalServiceError` when dbt Cloud fails for good; the runs
    stored before stay stored, and the cursor stops before the run that failed.
    """
    now = (clock or SystemClock()).now()
    projects = settings.dbt_project_repositories()
    if repository is not None and not REPOSITORY.match(repository):
        raise InputError("--repo", repository, "expected OWNER/NAME")
    if repository is None and not projects:
        raise InputError(
            "--repo",
            "",
            "cannot tell the repository of dbt Cloud runs: pass --repo OWNER/NAME, or name the "
            "dbt project of a repository in triagehub.yaml (`dbt_project: <name>`)",
        )
    summary = DbtCloudPollSummary(account_id=client.account_id, job_id=job_id)
    name = cursor_name(client.account_id, job_id)
    with Session(engine) as session:
        cursor = read_cursor(session, name)
    start = cursor or now - since

    pending: list[tuple[datetime, int, JSONObject]] = []
    for run in client.list_runs(job_id=job_id):
        finished = _run_time(run, "finished_at")
        if finished is None or not run.get("is_complete", True):
            continue  # queued or running: it is picked up once it has finished
        if finished <= start:
            break  # newest first: everything after this was seen by an earlier poll
        if not isinstance(run.get("id"), int):
            raise ExternalServiceError(SERVICE, 200, "a run without a numeric 'id' was listed")
        pending.append((finished, run["id"], run))
    pending.sort(key=lambda item: (item[0], item[1]))
    summary.runs_seen = len(pending)

    unsaved: datetime | None = None  # the cursor past runs skipped since the last stored one
    for finished, run_id, run in pending:
        report = _report(client, run, repository, projects, summary)
        if report is None:
            summary.runs_skipped += 1
            unsaved = finished
            continue
        with Session(engine) as session, session.begin():
            ingestor = Ingestor(session, settings, clock=clock)
            ingestor.add(report)
            ingestor.flush()
            queue_refine(session, settings, ingestor.touched_ids, now)
            save_cursor(session, name, finished, now)
        unsaved = None
        summary.ingest.add(ingestor.summary)
        summary.runs_ingested += 1
        log.info("ingested dbt Cloud run %s", run_id, extra={"run_id": run_id})
    if unsaved is not None:
        with Session(engine) as session, session.begin():
            save_cursor(session, name, unsaved, now)
    return summary


def _report(
    client: DbtCloudClient,
    run: JSONObject,
    repository: str | None,
    projects: Mapping[str, str],
    summary: DbtCloudPollSummary,
) -> RunReport | None:
    """The report of one completed run, or ``None`` when there is nothing to ingest."""
    run_id: int = run["id"]
    status = run.get("status")
    if status not in (RunStatus.SUCCESS, RunStatus.ERROR):
        return None  # cancelled (or a status this client does not know)
    failed = status == RunStatus.ERROR
    origin = f"dbt Cloud run {run_id}"
    report: RunReport | None = None
    with tempfile.TemporaryDirectory(prefix=f"triagehub-dbt-cloud-{run_id}-") as tmp:
        folder = Path(tmp)
        found: list[str] = []
        for artifact in ARTIFACTS:
            if artifact == "manifest.json" and not found:
                break  # nothing to read the manifest with
            if client.download_artifact(run_id, artifact, folder / artifact):
                found.append(artifact)
                summary.artifacts_fetched += 1
        if found:
            try:
                parsed = parse_artifacts_full(
                    folder, repository=repository, project_repositories=projects
                )
            except InputError as exc:
                if exc.location == "repository":
                    raise _with_origin(exc, origin) from None
                summary.artifact_errors.append(f"{origin}: {_relative(str(exc), tmp)}")
            else:
                summary.warnings.extend(f"{origin}: {_relative(w, tmp)}" for w in parsed.warnings)
                report = with_lineage(parsed)
    if failed and (report is None or not any(r.status.is_failure for r in report.results)):
        # No artifacts (dbt stopped before writing target/), unreadable ones, or ones of a step
        # that did not fail: the failing steps' console logs say what went wrong.
        known = report.repository if report is not None else None
        from_logs = _report_from_steps(client, run, repository, projects, summary, known)
        if from_logs is not None:
            report = from_logs if report is None else _merge(report, from_logs)
    if report is None:
        return None
    return replace(
        report,
        source=SOURCE,
        run_id=str(run_id),
        attempt=1,
        commit=_text(run.get("git_sha")) or report.commit,
        branch=_text(run.get("git_branch")) or report.branch,
        url=_text(run.get("href")) or report.url,
        started_at=_run_time(run, "started_at") or report.started_at,
        finished_at=_run_time(run, "finished_at") or report.finished_at,
        status="failure" if failed else "success",
    )


def _report_from_steps(
    client: DbtCloudClient,
    run: JSONObject,
    repository: str | None,
    projects: Mapping[str, str],
    summary: DbtCloudPollSummary,
    known_repository: str | None,
) -> RunReport | None:
    """The failure of a failed run as its failing steps' console logs tell it."""
    run_id: int = run["id"]
    origin = f"dbt Cloud run {run_id}"
    steps = run.get("run_steps")
    if not isinstance(steps, list) or not steps:
        run = client.get_run(run_id)
        steps = run.get("run_steps")
    steps = [s for s in steps or [] if isinstance(s, dict)]
    failed_steps = [s for s in steps if s.get("status") == RunStatus.ERROR] or steps[-1:]
    lines: list[str] = []
    for step in failed_steps:
        text = step.get("logs") or step.get("truncated_debug_logs") or ""
        if isinstance(text, str):
            lines.extend(text.splitlines())
    parsed: RunReport | None = None
    try:
        parsed = parse_console_log(
            lines, repository=repository, project_repositories=projects, origin=origin
        )
    except InputError as exc:
        if exc.location == "repository" and "dbt project" in exc.reason:
            raise  # a dbt project triagehub.yaml does not map: fix the config, poll again
    if parsed is not None and any(r.status.is_failure for r in parsed.results):
        return parsed
    # Not dbt output (the run failed cloning the repository, creating the profile...), or dbt
    # output without a failure: the failing step itself is the check.
    repository = repository or (parsed.repository if parsed else None) or known_repository
    if repository is None:
        summary.artifact_errors.append(
            f"{origin}: failed outside dbt and its repository cannot be told: pass --repo"
        )
        return None
    job = run.get("job")
    job_name = _text(job.get("name")) if isinstance(job, dict) else None
    step_name = _text(failed_steps[-1].get("name")) if failed_steps else None
    check = " / ".join(p for p in ("dbt Cloud", job_name, step_name or "run") if p)
    tail = "\n".join(lines[-_FALLBACK_LOG_LINES:])
    message = _text(run.get("status_message")) or _last_line(lines) or "the run failed"
    return RunReport(
        source=SOURCE,
        repository=repository,
        run_id=str(run_id),
        results=(CheckResult(check=check, status=Status.ERROR, message=message, log=tail),),
    )


def _merge(report: RunReport, extra: RunReport) -> RunReport:
    known = {r.check for r in report.results}
    added = tuple(r for r in extra.results if r.check not in known and r.status.is_failure)
    return replace(report, results=report.results + added)


def _with_origin(exc: InputError, origin: str) -> InputError:
    return InputError(origin, exc.location, exc.reason)


def _relative(text: str, tmp: str) -> str:
    """A message about a downloaded artifact without the temporary folder's path."""
    return text.replace(tmp + "/", "").replace(tmp, "artifacts")


def _run_time(run: Mapping[str, Any], key: str) -> datetime | None:
    value = run.get(key)
    if value in (None, ""):
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ExternalServiceError(
            SERVICE, 200, f"run {run.get('id')}: {key} is not a time ({exc})"
        ) from None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _last_line(lines: list[str]) -> str | None:
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:MAX_REASON_CHARS]
    return None
