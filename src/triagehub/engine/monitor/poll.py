"""Polling the sources ``lifecycle.poll`` names, one instance at a time (PostgreSQL)."""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, text

from triagehub.clock import Clock
from triagehub.config import Settings
from triagehub.errors import TriagehubError

log = logging.getLogger("triagehub.engine.monitor")  # the name it logged under as one module

POLL_LOCK_KEY = zlib.crc32(b"triagehub-monitor-poll")


@dataclass
class PollRound:
    """What the polling part of a tick did, per source."""

    ran: bool = True  # False: another instance is polling
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ran": self.ran, "sources": self.sources}


def poll_sources(engine: Engine, settings: Settings, *, clock: Clock | None = None) -> PollRound:
    """Poll the sources ``lifecycle.poll`` names (outside any transaction: network), each on its
    own so that one failing leaves the others; on PostgreSQL one instance polls at a time."""
    wanted = settings.lifecycle.poll
    result = PollRound()
    if not (wanted.github_actions or wanted.dbt_cloud):
        return result
    with engine.connect() as conn:
        postgres = engine.dialect.name == "postgresql"
        if (
            postgres
            and not conn.execute(
                text("select pg_try_advisory_lock(:k)"), {"k": POLL_LOCK_KEY}
            ).scalar()
        ):
            log.info("another instance is polling; skipped")
            return PollRound(ran=False)
        try:
            since = timedelta(hours=wanted.since_hours)
            if wanted.github_actions:
                result.sources["github_actions"] = _guarded(
                    lambda: _poll_github(engine, settings, since, clock)
                )
            if wanted.dbt_cloud:
                result.sources["dbt_cloud"] = _guarded(
                    lambda: _poll_dbt_cloud(engine, settings, since, clock)
                )
        finally:
            if postgres:
                conn.execute(text("select pg_advisory_unlock(:k)"), {"k": POLL_LOCK_KEY})
                conn.commit()
    return result


def _guarded(poll: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return poll()
    except TriagehubError as exc:
        log.warning("poll failed: %s", exc)
        return {"error": str(exc)}


def _poll_github(
    engine: Engine, settings: Settings, since: timedelta, clock: Clock | None
) -> dict[str, Any]:
    from triagehub.actions.github import GitHubClient
    from triagehub.config import Secrets
    from triagehub.engine.pull.github_actions import poll_github_actions

    token = Secrets.from_env().github_token
    if token is None:
        return {"error": "GITHUB_TOKEN is not set; not polled"}
    if not settings.repositories:
        return {"error": "no repositories in triagehub.yaml; not polled"}
    base_url = os.environ.get("TRIAGEHUB_GITHUB_API_URL", "https://api.github.com")
    with GitHubClient(token.get_secret_value(), base_url=base_url) as client:
        summary = poll_github_actions(
            engine,
            settings,
            client,
            repositories=list(settings.repositories),
            since=since,
            clock=clock,
        )
    return {
        "runs": summary.runs_seen,
        "new_issues": summary.ingest.new_issues,
        "pull_requests": summary.pulls.pulls_seen,
        "pull_requests_recorded": summary.pulls.recorded,
    }


def _poll_dbt_cloud(
    engine: Engine, settings: Settings, since: timedelta, clock: Clock | None
) -> dict[str, Any]:
    from triagehub.config import Secrets
    from triagehub.engine.pull.dbt_cloud import DbtCloudClient, poll_dbt_cloud

    cloud = settings.dbt_cloud.with_env()
    token = Secrets.from_env().dbt_cloud_api_token
    if token is None or cloud.account_id is None:
        return {"error": "DBT_CLOUD_API_TOKEN or DBT_CLOUD_ACCOUNT_ID is not set; not polled"}
    with DbtCloudClient(token.get_secret_value(), cloud.account_id, host=cloud.host) as client:
        summary = poll_dbt_cloud(
            engine, settings, client, since=since, repository=None, clock=clock
        )
    return {"runs": summary.runs_ingested, "new_issues": summary.ingest.new_issues}
