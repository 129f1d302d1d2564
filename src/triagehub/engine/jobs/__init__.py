"""The outbox: durable jobs (side effects and deferred work), written in the same transaction as
what caused them and delivered by a worker that survives restarts.

Kinds (a registry maps each kind to one handler function, see :func:`job_handler`):

- ``ingest_webhook``: a GitHub delivery acknowledged at once. The worker fetches the failed job's
  log when it can (``GITHUB_TOKEN``) so that the failure is grouped on its real error; when the
  log cannot be had (no token, API down, log expired) the failure is recorded from the payload.
- ``enrich_log``: the log of such a failure, fetched later and added to its occurrences.
- ``rerun``: the self-healing action: re-run the failed jobs of a run whose failure is transient,
  for repositories with ``self_heal: true``; the job key makes it once per run, ever.
- ``notify`` (:mod:`triagehub.engine.notify`): a Slack message about an issue event.
- ``github_sync`` and ``github_issue_event`` (:mod:`triagehub.engine.sync.github_issues`): an issue
  mirrored to its GitHub issue, and a person's change on that GitHub issue applied back.
- ``brief_github`` (:mod:`triagehub.engine.sync.brief_comment`) and ``brief_slack``
  (:mod:`triagehub.engine.brief_slack`): an investigation brief in the one comment on the issue's
  GitHub issue and the one reply in its Slack thread (:mod:`triagehub.engine.brief_text`).

State rows: :func:`remember` keeps what the outbox must know later (an issue's Slack thread, the
comment and the reply that hold its brief) in a ``done`` row of its own kind, never claimed;
:func:`recall` reads it. Jobs that write the same place take turns (:func:`running_before`) and
skip when a later one replaces them (:func:`superseded_by`).

Delivery semantics (the same for every kind):

- **Claim with a lease.** A worker takes due rows (``pending``, or ``running`` whose lease ran
  out) and marks them ``running`` until ``now + lease``; on PostgreSQL with
  ``FOR UPDATE SKIP LOCKED`` so that several workers never take the same row, on SQLite in one
  ``UPDATE ... RETURNING`` statement. ``attempts`` counts claims and doubles as the claim's
  fencing token: an outcome is recorded only while the row is still ``running`` with the same
  ``attempts``, so a worker that lost its lease never overwrites the next worker's outcome.
- **Work outside any transaction** (the network), then **record** the outcomes in one
  transaction, every ``record_every_s`` seconds or ``record_max`` outcomes (the ingests of a
  recording hold SQLite's write lock, which webhook acknowledgements wait for) and at the end of
  the batch, extending the lease of the rows not worked yet. A worker that dies loses at most
  the outcomes of the last ``record_every_s``: those rows are delivered again when their lease
  ends (at least once), and every delivery carries the job key as its idempotency key, so that
  the receiver can make the effect exactly once.
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

Modules: :mod:`.policy` (retry policy, statuses), :mod:`.queue` (the SQL: enqueue, claim,
fenced updates), :mod:`.registry` (handlers and what they get), :mod:`.worker` (the loop that
claims, runs and records), :mod:`.outbox` (``triagehub outbox``). The kinds that ingest are in
:mod:`triagehub.engine.ingest_jobs` and :mod:`triagehub.engine.reruns`.
"""

from triagehub.engine.jobs.outbox import (
    JobView,
    OutboxStats,
    list_jobs,
    outbox_stats,
    public_status,
    retry_dead,
)
from triagehub.engine.jobs.policy import (
    BACKOFF_S,
    BATCH,
    DEAD,
    DEAD_STATUSES,
    DONE,
    LEASE,
    LEGACY_FAILED,
    MAX_ATTEMPTS,
    MAX_BACKOFF_S,
    MAX_ERROR_CHARS,
    PENDING,
    RECORD_EVERY_S,
    RUNNING,
    STATUSES,
    RetryPolicy,
)
from triagehub.engine.jobs.queue import (
    Job,
    enqueue,
    pending,
    recall,
    remember,
    remember_now,
    running_before,
    superseded_by,
)
from triagehub.engine.jobs.queue import claim as _claim
from triagehub.engine.jobs.registry import (
    HANDLER_MODULES,
    HANDLERS,
    Deferred,
    JobContext,
    JobHandler,
    Outcome,
    Recording,
    handlers,
    job_handler,
)
from triagehub.engine.jobs.worker import JobWorker, process_jobs

__all__ = [
    "BACKOFF_S",
    "BATCH",
    "DEAD",
    "DEAD_STATUSES",
    "DONE",
    "HANDLERS",
    "HANDLER_MODULES",
    "LEASE",
    "LEGACY_FAILED",
    "MAX_ATTEMPTS",
    "MAX_BACKOFF_S",
    "MAX_ERROR_CHARS",
    "PENDING",
    "RECORD_EVERY_S",
    "RUNNING",
    "STATUSES",
    "Deferred",
    "Job",
    "JobContext",
    "JobHandler",
    "JobView",
    "JobWorker",
    "OutboxStats",
    "Outcome",
    "Recording",
    "RetryPolicy",
    "_claim",
    "enqueue",
    "handlers",
    "job_handler",
    "list_jobs",
    "outbox_stats",
    "pending",
    "process_jobs",
    "public_status",
    "recall",
    "remember",
    "remember_now",
    "retry_dead",
    "running_before",
    "superseded_by",
]
