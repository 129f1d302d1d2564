"""The outbox: durable jobs (side effects and deferred work), written in the same transaction as
what caused them and delivered by a worker that survives restarts.

Kinds (a registry maps each kind to one handler function, see :func:`job_handler`):

- ``ingest_webhook``: a GitHub delivery acknowledged at once. The worker fetches the failed job's
  log when it can (``GITHUB_TOKEN``) so that the failure is grouped on its real error; when the
  log cannot be had (no token, API down, log expired) the failure is recorded from the payload.
- ``enrich_log``: the log of such a failure, fetched later and added to its occurrences.
- ``rerun``: the self-healing action: re-run the failed jobs of a run whose failure is transient,
  for repositories with ``self_heal: true``; the job key makes it once per run, ever.
- ``notify`` (:mod:`triagehub.actions.notify`): a Slack message about an issue event.
- ``github_sync`` and ``github_issue_event`` (:mod:`triagehub.actions.sync.github_issues`): an issue
  mirrored to its GitHub issue, and a person's change on that GitHub issue applied back.

Delivery semantics (the same for every kind):

- **Claim with a lease.** A worker takes due rows (``pending``, or ``running`` whose lease ran
  out) and marks them ``running`` until ``now + lease``; on PostgreSQL with
  ``FOR UPDATE SKIP LOCKED`` so that several workers never take the same row, on SQLite in one
  ``UPDATE ... RETURNING`` statement. ``attempts`` counts claims and doubles as the claim's
  fencing token: an outcome is recorded only while the row is still ``running`` with the same
  ``attempts``, so a worker that lost its lease never overwrites the next worker's outcome.
- **Work outside any transaction** (the network), then **record** the outcomes in one
  transaction, every ``record_every_s`` seconds and at the end of the batch, extending the lease
  of the rows not worked yet. A worker that dies loses at most the outcomes of the last
  ``record_every_s``: those rows are delivered again when their lease ends (at least once), and
  every delivery carries the job key as its idempotency key, so that the receiver can make the
  effect exactly once.
- **Retries**: a retryable failure (network, 5xx, 403/408/429, an unknown kind, an unexpected
  exception) is tried again after an exponential backoff with jitter
  (``backoff_s * 2^(attempt-1)``, at most ``max_backoff_s``, times a random factor in
  [0.5, 1] from an injectable ``random.Random``), and never before the ``retry_after`` the
  service asked for. A rate limit (an error with ``retry_after``) also defers the rest of the
  batch's jobs of that kind, without spending their attempts. A permanent failure (another 4xx,
  malformed job data) goes to the dead letter at once.
- **Dead letter**: after ``max_attempts`` attempts the row becomes ``dead`` and keeps its last
  error (``triagehub outbox list --status dead``; ``triagehub outbox retry`` puts it back).
  Rows written as ``failed`` by older versions read as ``dead``. A row whose worker lost the lease
  on its last allowed attempt (a job that kills its worker) is dead-lettered at the next claim.

Settings (:class:`RetryPolicy`, from the environment by default): ``TRIAGEHUB_JOB_MAX_ATTEMPTS``
(10), ``TRIAGEHUB_JOB_BACKOFF_S`` (10), ``TRIAGEHUB_JOB_MAX_BACKOFF_S`` (3600),
``TRIAGEHUB_JOB_LEASE_S`` (300), ``TRIAGEHUB_JOB_BATCH`` (100).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, cast

from sqlalchemy import CursorResult, Engine, func, insert, or_, select, tuple_, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.models import RunReport
from triagehub.core.redact import redact
from triagehub.engine.ingest import Ingestor
from triagehub.errors import ConfigError, ExternalServiceError, InputError, TriagehubError
from triagehub.sources.github_actions import (
    JobLog,
    parse_job_log,
    report_from_check_run,
    report_from_workflow_job,
    report_from_workflow_run,
)
from triagehub.store import tables as t
from triagehub.store.dialect import insert_ignoring, is_transient

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient

log = logging.getLogger(__name__)

INGEST_WEBHOOK: Final = "ingest_webhook"
RERUN: Final = "rerun"
ENRICH_LOG: Final = "enrich_log"

# Statuses of a row.
PENDING: Final = "pending"
RUNNING: Final = "running"
DONE: Final = "done"
DEAD: Final = "dead"
STATUSES: Final = (PENDING, RUNNING, DONE, DEAD)
LEGACY_FAILED: Final = "failed"  # written by older versions: reads as ``dead``
DEAD_STATUSES: Final = (DEAD, LEGACY_FAILED)

MAX_ATTEMPTS = 10
LEASE = timedelta(minutes=5)
BACKOFF_S = 10.0
MAX_BACKOFF_S = 3600.0
BATCH = 100
RECORD_EVERY_S = 0.5
MAX_ERROR_CHARS = 2000
MAX_LOG_LINES = 2_000_000
GITHUB_EVENTS: dict[str, Callable[[Mapping[str, Any]], RunReport | None]] = {
    "workflow_run": report_from_workflow_run,
    "workflow_job": report_from_workflow_job,
    "check_run": report_from_check_run,
}


# -- policy -------------------------------------------------------------------------------------


def _env_number(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, "", f"expected a number, got {raw!r}") from None
    if not value >= minimum:  # also refuses NaN
        raise ConfigError(name, "", f"expected a number >= {minimum:g}, got {raw!r}")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """How many times, how often and for how long a job is tried (see the module docstring)."""

    max_attempts: int = MAX_ATTEMPTS
    backoff_s: float = BACKOFF_S
    max_backoff_s: float = MAX_BACKOFF_S
    lease: timedelta = LEASE
    batch: int = BATCH
    record_every_s: float = RECORD_EVERY_S

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.batch < 1:
            raise ValueError("max_attempts and batch must be >= 1")
        if self.backoff_s < 0 or self.max_backoff_s < 0 or self.record_every_s < 0:
            raise ValueError("backoff_s, max_backoff_s and record_every_s must be >= 0")
        if self.lease <= timedelta(0):
            raise ValueError("lease must be positive")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        env = os.environ if environ is None else environ
        return cls(
            max_attempts=int(_env_number(env, "TRIAGEHUB_JOB_MAX_ATTEMPTS", MAX_ATTEMPTS, 1)),
            backoff_s=_env_number(env, "TRIAGEHUB_JOB_BACKOFF_S", BACKOFF_S, 0),
            max_backoff_s=_env_number(env, "TRIAGEHUB_JOB_MAX_BACKOFF_S", MAX_BACKOFF_S, 0),
            lease=timedelta(
                seconds=_env_number(env, "TRIAGEHUB_JOB_LEASE_S", LEASE.total_seconds(), 0.1)
            ),
            batch=int(_env_number(env, "TRIAGEHUB_JOB_BATCH", BATCH, 1)),
        )

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Seconds before the next try after failed attempt ``attempt`` (from 1), with jitter."""
        ceiling = min(self.max_backoff_s, self.backoff_s * 2.0 ** max(attempt - 1, 0))
        return ceiling * rng.uniform(0.5, 1.0)

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None) -> float:
        """The backoff, but never less than what the service asked for."""
        wait = self.backoff(attempt, rng)
        return max(wait, retry_after) if retry_after is not None else wait


# -- the registry -------------------------------------------------------------------------------


@dataclass
class Job:
    """A claimed row. ``attempts`` is this attempt's number (from 1), also the claim's fence."""

    id: int
    kind: str
    key: str
    data: dict[str, Any]
    attempts: int


@dataclass
class JobContext:
    """What handlers may use while working (outside any transaction). ``resources`` is closed at
    the end of the batch (an HTTP client a handler opened); ``cache`` lives as long."""

    engine: Engine
    settings: Settings
    clock: Clock
    github: GitHubClient | None = None
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    cache: dict[str, Any] = field(default_factory=dict)
    paused: dict[str, datetime] = field(default_factory=dict)  # kind -> rate limited until


@dataclass
class Recording:
    """What a handler's ``record`` step may use: the transaction that records the outcomes."""

    session: Session
    settings: Settings
    now: datetime
    clock: Clock | None = None
    _ingestor: Ingestor | None = None

    @property
    def ingestor(self) -> Ingestor:
        """One ``Ingestor`` per recording transaction (flushed, and re-runs queued, at its end)."""
        if self._ingestor is None:
            self._ingestor = Ingestor(self.session, self.settings, clock=self.clock)
        return self._ingestor

    def finish(self) -> None:
        if self._ingestor is not None:
            self._ingestor.flush()
            queue_reruns(self.session, self.settings, self._ingestor, self.now)


@dataclass(frozen=True)
class Outcome:
    """A job done. ``result`` (small, no secrets) is kept in the row's data and shown by
    ``triagehub outbox list``; ``record`` runs in the transaction that marks the job done."""

    result: Mapping[str, Any] | None = None
    record: Callable[[Recording], None] | None = None


class Deferred(Exception):
    """Raised by a handler: not now, try again in ``seconds`` (the attempt is not counted)."""

    def __init__(self, seconds: float, reason: str) -> None:
        self.seconds = seconds
        self.reason = reason
        super().__init__(reason)


JobHandler = Callable[[Job, JobContext], Outcome | None]
"""Does one job (network allowed, no transaction open); raises to fail it (see the module
docstring for which errors are retried)."""

HANDLERS: dict[str, JobHandler] = {}
# Modules that register more kinds with @job_handler (imported on first use: no import cycle).
HANDLER_MODULES: Final = (
    "triagehub.actions.notify",
    "triagehub.actions.sync.github_issues",
    "triagehub.engine.investigate",
)


def job_handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Register ``fn`` as the handler of ``kind``: adding a kind is one decorated function."""

    def register(fn: JobHandler) -> JobHandler:
        HANDLERS[kind] = fn
        return fn

    return register


def handlers() -> Mapping[str, JobHandler]:
    """Every registered kind and its handler."""
    for name in HANDLER_MODULES:
        importlib.import_module(name)
    return HANDLERS


def enqueue(
    session: Session,
    *,
    kind: str,
    key: str,
    data: dict[str, Any],
    now: datetime,
    not_before: datetime | None = None,
) -> bool:
    """Write a job in the caller's transaction, unless one with this key exists already (also
    one written at the same moment by another transaction: ``ON CONFLICT DO NOTHING``)."""
    created = session.execute(
        insert_ignoring(session, t.jobs, "key")
        .values(
            kind=kind,
            key=key,
            data=data,
            status=PENDING,
            attempts=0,
            next_try_at=not_before or now,
            created_at=now,
            updated_at=now,
        )
        .returning(t.jobs.c.id)
    ).first()
    return created is not None


# -- built-in kinds -----------------------------------------------------------------------------


def _retryable(exc: ExternalServiceError) -> bool:
    return exc.status is None or exc.status >= 500 or exc.status in (403, 408, 429)


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
            if report is not None and _retryable(exc):
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


# -- the worker ---------------------------------------------------------------------------------


def _claim(
    engine: Engine, now: datetime, limit: int, *, policy: RetryPolicy | None = None
) -> list[Job]:
    """Take up to ``limit`` due jobs under a lease (see the module docstring)."""
    policy = policy or RetryPolicy.from_env()
    jobs = t.jobs
    with Session(engine) as session, session.begin():
        # The worker of the last allowed attempt died without an outcome: dead-letter the row.
        abandoned = select(jobs.c.id).where(
            jobs.c.status == RUNNING,
            jobs.c.next_try_at <= now,
            jobs.c.attempts >= policy.max_attempts,
        )
        postgres = engine.dialect.name == "postgresql"
        if postgres:  # rows another worker is claiming or dead-lettering are left to it
            abandoned = abandoned.with_for_update(skip_locked=True)
        session.execute(
            update(jobs)
            .where(jobs.c.id.in_(abandoned))
            .values(
                status=DEAD,
                last_error=(
                    f"gave up after {policy.max_attempts} attempts: the worker of the last one "
                    "stopped before recording an outcome (crashed or killed?)"
                ),
                updated_at=now,
            )
        )
        due = (
            select(jobs.c.id)
            .where(
                or_(jobs.c.status == PENDING, jobs.c.status == RUNNING), jobs.c.next_try_at <= now
            )
            .order_by(jobs.c.id)
            .limit(limit)
        )
        if postgres:
            ids = session.execute(due.with_for_update(skip_locked=True)).scalars().all()
            if not ids:
                return []
            target = jobs.c.id.in_(ids)
        else:  # one statement: atomic under SQLite's write lock
            target = jobs.c.id.in_(due)
        rows = session.execute(
            update(jobs)
            .where(target)
            .values(
                status=RUNNING,
                next_try_at=now + policy.lease,
                attempts=jobs.c.attempts + 1,
                updated_at=now,
            )
            .returning(jobs.c.id, jobs.c.kind, jobs.c.key, jobs.c.data, jobs.c.attempts)
        ).all()
    claimed = [Job(r.id, r.kind, r.key, dict(r.data), r.attempts) for r in rows]
    return sorted(claimed, key=lambda j: j.id)


@dataclass
class _Finished:
    job: Job
    outcome: Outcome | None = None
    error: str | None = None
    retry: bool = True
    retry_after: float | None = None
    deferred_until: datetime | None = None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TriagehubError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _run_one(job: Job, registry: Mapping[str, JobHandler], ctx: JobContext) -> _Finished:
    now = ctx.clock.now()
    paused = ctx.paused.get(job.kind)
    if paused is not None and paused > now:
        return _Finished(job, deferred_until=paused)
    handler = registry.get(job.kind)
    if handler is None:  # a newer worker may know it: retried, then dead-lettered
        return _Finished(job, error=f"unknown job kind {job.kind!r} (no handler registered)")
    try:
        return _Finished(job, outcome=handler(job, ctx) or Outcome())
    except Deferred as exc:
        log.info("job %s (%s) deferred %.1f s: %s", job.id, job.kind, exc.seconds, exc.reason)
        return _Finished(job, deferred_until=now + timedelta(seconds=exc.seconds))
    except ExternalServiceError as exc:
        if exc.retry_after is not None:  # a rate limit: the kind's other jobs wait too
            ctx.paused[job.kind] = now + timedelta(seconds=exc.retry_after)
        return _Finished(
            job, error=_describe(exc), retry=_retryable(exc), retry_after=exc.retry_after
        )
    except (InputError, KeyError, ValueError, TypeError) as exc:  # bad job data: permanent
        return _Finished(job, error=_describe(exc), retry=False)
    except Exception as exc:
        # One poisoned job must not stop the others: logged with its context, recorded on its
        # row, retried, and dead-lettered after max_attempts.
        log.exception(
            "job %s (%s) raised an unexpected error", job.id, job.kind, extra={"job": job.key}
        )
        return _Finished(job, error=_describe(exc))


def _fenced(job: Job) -> Any:
    return (
        (t.jobs.c.id == job.id) & (t.jobs.c.attempts == job.attempts) & (t.jobs.c.status == RUNNING)
    )


def _settle(
    session: Session, f: _Finished, now: datetime, policy: RetryPolicy, rng: random.Random
) -> bool:
    """Write one outcome on its row if this worker still holds it; say whether it did."""
    job = f.job
    values: dict[str, Any] = {"updated_at": now}
    if f.outcome is not None:
        values.update(status=DONE, last_error=None)
        if f.outcome.result is not None:
            values["data"] = {**job.data, "result": dict(f.outcome.result)}
    elif f.deferred_until is not None:  # not tried: the attempt is given back
        values.update(status=PENDING, attempts=job.attempts - 1, next_try_at=f.deferred_until)
    else:
        error = redact(f.error or "failed")[:MAX_ERROR_CHARS]
        values["last_error"] = error
        if f.retry and job.attempts < policy.max_attempts:
            wait = policy.delay(job.attempts, rng, f.retry_after)
            values.update(status=PENDING, next_try_at=now + timedelta(seconds=wait))
            log.warning(
                "job %s (%s) attempt %d failed, next try in %.0f s: %s",
                job.id,
                job.kind,
                job.attempts,
                wait,
                error,
                extra={"job": job.key, "attempt": job.attempts, "wait_s": wait},
            )
        else:
            values["status"] = DEAD
            why = "permanent error" if not f.retry else f"{job.attempts} attempts"
            log.error(
                "job %s (%s) is dead (%s): %s",
                job.id,
                job.kind,
                why,
                error,
                extra={"job": job.key, "attempt": job.attempts},
            )
    result = cast(
        CursorResult[Any], session.execute(update(t.jobs).where(_fenced(job)).values(values))
    )
    if result.rowcount != 1:
        log.warning(
            "job %s (%s): lease lost before its outcome was recorded; another worker has it",
            job.id,
            job.kind,
            extra={"job": job.key},
        )
        return False
    return True


def _record(
    engine: Engine,
    settings: Settings,
    finished: list[_Finished],
    *,
    clock: Clock,
    policy: RetryPolicy,
    rng: random.Random,
    extend: Iterable[Job] = (),
    release: Iterable[Job] = (),
) -> tuple[int, datetime]:
    """Record outcomes in one transaction; extend the lease of the jobs still to work (and give
    back the ``release`` ones). Return how many were done and the new lease end.

    Poison isolation: when that transaction fails (one outcome the database refuses rolls back
    all of them), each outcome is recorded again in a transaction of its own; one that still
    fails is settled as failed with the database's reason (dead at once, or retried later when
    the failure was a deadlock or a lock wait), so the good ones are stored and the worker goes
    on."""
    extend, release = list(extend), list(release)
    try:
        return _record_together(
            engine,
            settings,
            finished,
            clock=clock,
            policy=policy,
            rng=rng,
            extend=extend,
            release=release,
        )
    except Exception as exc:
        if not finished:
            raise
        log.warning(
            "recording %d job outcomes together failed (%s); recording them one by one",
            len(finished),
            _db_reason(exc),
        )
    done = 0
    for f in finished:
        try:
            n, _ = _record_together(engine, settings, [f], clock=clock, policy=policy, rng=rng)
            done += n
        except Exception as exc:
            reason = f"its outcome could not be stored: {_db_reason(exc)}"
            log.error("job %s (%s): %s", f.job.id, f.job.kind, reason, extra={"job": f.job.key})
            failed = _Finished(f.job, error=reason, retry=is_transient(exc))
            _record_together(engine, settings, [failed], clock=clock, policy=policy, rng=rng)
    _, lease_until = _record_together(
        engine, settings, [], clock=clock, policy=policy, rng=rng, extend=extend, release=release
    )
    return done, lease_until


def _db_reason(exc: BaseException) -> str:
    """What the database said (the first line of the driver's message, not the statement and
    its parameters, which hold the payload)."""
    if isinstance(exc, DBAPIError):
        first = (str(exc.orig).strip().splitlines() or [""])[0]
        return f"{type(exc.orig).__name__}: {first}"
    return _describe(exc)


def _record_together(
    engine: Engine,
    settings: Settings,
    finished: list[_Finished],
    *,
    clock: Clock,
    policy: RetryPolicy,
    rng: random.Random,
    extend: Iterable[Job] = (),
    release: Iterable[Job] = (),
) -> tuple[int, datetime]:
    now = clock.now()
    done = 0
    with Session(engine) as session, session.begin():
        rec = Recording(session, settings, now, clock)
        for f in finished:
            if not _settle(session, f, now, policy, rng):
                continue
            if f.outcome is not None:
                done += 1
                if f.outcome.record is not None:
                    f.outcome.record(rec)
        rec.finish()
        fences = [(j.id, j.attempts) for j in extend]
        if fences:
            session.execute(
                update(t.jobs)
                .where(
                    tuple_(t.jobs.c.id, t.jobs.c.attempts).in_(fences),
                    t.jobs.c.status == RUNNING,
                )
                .values(next_try_at=now + policy.lease, updated_at=now)
            )
        for job in release:
            session.execute(
                update(t.jobs)
                .where(_fenced(job))
                .values(status=PENDING, attempts=job.attempts - 1, next_try_at=now, updated_at=now)
            )
    return done, now + policy.lease


def process_jobs(
    engine: Engine,
    settings: Settings,
    *,
    github: GitHubClient | None = None,
    clock: Clock | None = None,
    limit: int | None = None,
    policy: RetryPolicy | None = None,
    rng: random.Random | None = None,
) -> int:
    """Claim up to ``limit`` (default: the policy's batch) due jobs, do them, and record the
    outcomes; return how many were done."""
    policy = policy or RetryPolicy.from_env()
    clock_ = clock or SystemClock()
    rng_ = rng or random.Random()
    claimed_at = clock_.now()
    todo = deque(_claim(engine, claimed_at, limit or policy.batch, policy=policy))
    if not todo:
        return 0
    registry = handlers()
    ctx = JobContext(engine, settings, clock_, github)
    lease_until = claimed_at + policy.lease
    margin = min(policy.lease / 4, timedelta(seconds=30))
    finished: list[_Finished] = []
    done = 0
    last = time.monotonic()

    def flush(*, release: Iterable[Job] = ()) -> None:
        nonlocal done, lease_until, last, finished
        n, lease_until = _record(
            engine,
            settings,
            finished,
            clock=clock_,
            policy=policy,
            rng=rng_,
            extend=todo,
            release=release,
        )
        done += n
        finished = []
        last = time.monotonic()

    with ctx.resources:
        try:
            while todo:
                if clock_.now() >= lease_until - margin:
                    break  # not enough lease left to start another: give the rest back
                finished.append(_run_one(todo.popleft(), registry, ctx))
                if todo and time.monotonic() - last >= policy.record_every_s:
                    flush()
        except BaseException:
            with contextlib.suppress(Exception):  # the lease makes the rest safe anyway
                flush(release=list(todo))
            raise
    rest = list(todo)
    todo.clear()
    flush(release=rest)
    return done


def pending(engine: Engine) -> int:
    """Jobs not yet done (pending, or running under a lease)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(t.jobs)
                .where(or_(t.jobs.c.status == PENDING, t.jobs.c.status == RUNNING))
            ).scalar_one()
        )


# -- the outbox, read and repaired (``triagehub outbox``) ----------------------------------------


def public_status(status: str) -> str:
    """The status as shown: ``failed`` rows of older versions are dead letters."""
    return DEAD if status == LEGACY_FAILED else status


@dataclass(frozen=True)
class JobView:
    id: int
    kind: str
    key: str
    status: str
    attempts: int
    next_try_at: datetime
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    result: Mapping[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "key": self.key,
            "status": self.status,
            "attempts": self.attempts,
            "next_try_at": self.next_try_at.isoformat(),
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "result": dict(self.result) if self.result is not None else None,
        }


def _statuses(status: str) -> tuple[str, ...]:
    if status not in STATUSES:
        raise InputError("--status", status, f"expected one of {', '.join(STATUSES)}")
    return DEAD_STATUSES if status == DEAD else (status,)


def list_jobs(
    *, session: Session, status: str | None = None, kind: str | None = None, limit: int = 1000
) -> list[JobView]:
    """Outbox rows, oldest first, optionally of one status (``dead`` includes ``failed``)."""
    jobs = t.jobs
    query = select(
        jobs.c.id,
        jobs.c.kind,
        jobs.c.key,
        jobs.c.status,
        jobs.c.attempts,
        jobs.c.next_try_at,
        jobs.c.last_error,
        jobs.c.created_at,
        jobs.c.updated_at,
        jobs.c.data,
    )
    if status is not None:
        query = query.where(jobs.c.status.in_(_statuses(status)))
    if kind is not None:
        query = query.where(jobs.c.kind == kind)
    rows = session.execute(query.order_by(jobs.c.id).limit(limit)).all()
    views = []
    for r in rows:
        result = r.data.get("result") if isinstance(r.data, dict) else None
        views.append(
            JobView(
                id=r.id,
                kind=r.kind,
                key=r.key,
                status=public_status(r.status),
                attempts=r.attempts,
                next_try_at=r.next_try_at,
                last_error=r.last_error,
                created_at=r.created_at,
                updated_at=r.updated_at,
                result=result if isinstance(result, dict) else None,
            )
        )
    return views


def retry_dead(*, session: Session, now: datetime, ids: Iterable[int] | None = None) -> list[int]:
    """Put dead rows (all of them, or those of ``ids``) back to pending with fresh attempts;
    return the ids put back. The last error is kept until the next attempt."""
    jobs = t.jobs
    query = select(jobs.c.id).where(jobs.c.status.in_(DEAD_STATUSES))
    if ids is not None:
        query = query.where(jobs.c.id.in_(list(ids)))
    found = list(session.execute(query.order_by(jobs.c.id)).scalars())
    if found:
        session.execute(
            update(jobs)
            .where(jobs.c.id.in_(found), jobs.c.status.in_(DEAD_STATUSES))
            .values(status=PENDING, attempts=0, next_try_at=now, updated_at=now)
        )
    return found


@dataclass(frozen=True)
class OutboxStats:
    """Rows per kind and status, the oldest due row, and notifications that reached no channel."""

    counts: Mapping[str, Mapping[str, int]]
    oldest_due: datetime | None
    log_only: int

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": {k: dict(v) for k, v in self.counts.items()},
            "oldest_due": self.oldest_due.isoformat() if self.oldest_due else None,
            "log_only": self.log_only,
        }


def outbox_stats(*, session: Session, now: datetime) -> OutboxStats:
    jobs = t.jobs
    counts: dict[str, dict[str, int]] = {}
    rows = session.execute(
        select(jobs.c.kind, jobs.c.status, func.count()).group_by(jobs.c.kind, jobs.c.status)
    ).all()
    for kind, status, n in rows:
        per = counts.setdefault(kind, dict.fromkeys(STATUSES, 0))
        per[public_status(status)] = per.get(public_status(status), 0) + int(n)
    oldest = session.execute(
        select(func.min(jobs.c.next_try_at)).where(
            or_(jobs.c.status == PENDING, jobs.c.status == RUNNING), jobs.c.next_try_at <= now
        )
    ).scalar()
    log_only = session.execute(
        select(func.count())
        .select_from(jobs)
        .where(
            jobs.c.kind == "notify",
            jobs.c.status == DONE,
            jobs.c.data[("result", "via")].as_string() == "log",
        )
    ).scalar_one()
    return OutboxStats(counts=counts, oldest_due=oldest, log_only=int(log_only))


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
        policy: RetryPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.github = github
        self.interval = interval
        self.policy = policy
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
                while process_jobs(
                    self.engine, self.settings, github=self.github, policy=self.policy
                ):
                    if self._stop.is_set():
                        return
            except Exception:
                log.exception("job worker tick failed; retrying")
            self._stop.wait(self.interval)
