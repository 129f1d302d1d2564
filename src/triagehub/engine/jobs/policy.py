"""The retry policy of the outbox and the statuses of its rows."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from triagehub.errors import ConfigError, ExternalServiceError

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
# At most this many outcomes per recording transaction: recording runs their ingests, and on
# SQLite the write lock it holds meanwhile is what a webhook's acknowledgement waits for (25
# ingests hold it ~20-75 ms; 100 held it ~0.3 s, for no more throughput).
RECORD_MAX = 25
MAX_ERROR_CHARS = 2000


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
    record_max: int = RECORD_MAX

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.batch < 1 or self.record_max < 1:
            raise ValueError("max_attempts, batch and record_max must be >= 1")
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


def retryable(exc: ExternalServiceError) -> bool:
    """Whether a service's error is worth another try (network, 5xx, 403/408/429)."""
    return exc.status is None or exc.status >= 500 or exc.status in (403, 408, 429)
