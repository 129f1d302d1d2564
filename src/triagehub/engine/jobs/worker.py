"""The worker: claim due jobs, run their handlers, record the outcomes; its thread."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.redact import redact
from triagehub.engine.background import BackgroundLoop
from triagehub.engine.jobs.policy import (
    DEAD,
    DONE,
    MAX_ERROR_CHARS,
    PENDING,
    RetryPolicy,
    retryable,
)
from triagehub.engine.jobs.queue import Job, ack, claim, extend_leases, give_back
from triagehub.engine.jobs.registry import (
    Deferred,
    JobContext,
    JobHandler,
    Outcome,
    Recording,
    handlers,
)
from triagehub.errors import ExternalServiceError, InputError, TriagehubError
from triagehub.store.dialect import is_transient

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient

log = logging.getLogger("triagehub.engine.jobs")  # the name it logged under as one module


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
            job, error=_describe(exc), retry=retryable(exc), retry_after=exc.retry_after
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
    return ack(session, job, values)


@dataclass
class _Recorder:
    """Records a batch's outcomes: its engine, settings, clock, retry policy and randomness."""

    engine: Engine
    settings: Settings
    clock: Clock
    policy: RetryPolicy
    rng: random.Random

    def record(
        self, finished: list[_Finished], *, extend: Iterable[Job] = (), release: Iterable[Job] = ()
    ) -> tuple[int, datetime]:
        """Record outcomes in one transaction; extend the lease of the jobs still to work (and
        give back the ``release`` ones). Return how many were done and the new lease end.

        Poison isolation: when that transaction fails (one outcome the database refuses rolls
        back all of them), each outcome is recorded again in a transaction of its own; one that
        still fails is settled as failed with the database's reason (dead at once, or retried
        later when the failure was a deadlock or a lock wait), so the good ones are stored and
        the worker goes on."""
        extend, release = list(extend), list(release)
        try:
            return self.together(finished, extend=extend, release=release)
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
                n, _ = self.together([f])
                done += n
            except Exception as exc:
                reason = f"its outcome could not be stored: {_db_reason(exc)}"
                log.error("job %s (%s): %s", f.job.id, f.job.kind, reason, extra={"job": f.job.key})
                failed = _Finished(f.job, error=reason, retry=is_transient(exc))
                self.together([failed])
        _, lease_until = self.together([], extend=extend, release=release)
        return done, lease_until

    def together(
        self, finished: list[_Finished], *, extend: Iterable[Job] = (), release: Iterable[Job] = ()
    ) -> tuple[int, datetime]:
        """Record ``finished`` and the lease changes in one transaction."""
        now = self.clock.now()
        done = 0
        with Session(self.engine) as session, session.begin():
            rec = Recording(session, self.settings, now, self.clock)
            for f in finished:
                if not _settle(session, f, now, self.policy, self.rng):
                    continue
                if f.outcome is not None:
                    done += 1
                    if f.outcome.record is not None:
                        f.outcome.record(rec)
            rec.finish()
            extend_leases(session, extend, now + self.policy.lease, now)
            give_back(session, release, now)
        return done, now + self.policy.lease


def _db_reason(exc: BaseException) -> str:
    """What the database said (the first line of the driver's message, not the statement and
    its parameters, which hold the payload)."""
    if isinstance(exc, DBAPIError):
        first = (str(exc.orig).strip().splitlines() or [""])[0]
        return f"{type(exc.orig).__name__}: {first}"
    return _describe(exc)


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
    todo = deque(claim(engine, claimed_at, limit or policy.batch, policy=policy))
    if not todo:
        return 0
    registry = handlers()
    ctx = JobContext(engine, settings, clock_, github)
    recorder = _Recorder(engine, settings, clock_, policy, rng_)
    lease_until = claimed_at + policy.lease
    margin = min(policy.lease / 4, timedelta(seconds=30))
    finished: list[_Finished] = []
    done = 0
    last = time.monotonic()

    def flush(*, release: Iterable[Job] = ()) -> None:
        nonlocal done, lease_until, last, finished
        n, lease_until = recorder.record(finished, extend=todo, release=release)
        done += n
        finished = []
        last = time.monotonic()

    with ctx.resources:
        try:
            while todo:
                if clock_.now() >= lease_until - margin:
                    break  # not enough lease left to start another: give the rest back
                finished.append(_run_one(todo.popleft(), registry, ctx))
                if todo and (
                    len(finished) >= policy.record_max
                    or time.monotonic() - last >= policy.record_every_s
                ):
                    flush()
        except BaseException:
            with contextlib.suppress(Exception):  # the lease makes the rest safe anyway
                flush(release=list(todo))
            raise
    rest = list(todo)
    todo.clear()
    flush(release=rest)
    return done


class JobWorker(BackgroundLoop):
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
        super().__init__("triagehub-jobs")

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
