"""The demo's runs as generic events (``demo_events``), every repository's in one list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from triagehub.demo.scenario.da_agent_hub import da_agent_hub_runs
from triagehub.demo.scenario.data import CI_REPO, DAYS, DBT_REPO, WEB_REPO
from triagehub.demo.scenario.dbt_cloud import dbt_cloud_runs
from triagehub.demo.scenario.plan import Run, iso_seconds, seeded_rng, status_of
from triagehub.demo.scenario.roy_kent import roy_kent_runs


def _event(run: Run) -> dict[str, Any]:
    assert run.finished is not None
    url = f"https://github.com/{run.repo}/actions/runs/{run.run_id}"
    if run.attempt > 1:
        url += f"/attempts/{run.attempt}"
    return {
        "source": "generic",
        "repository": run.repo,
        "run": {
            "id": run.run_id,
            "attempt": run.attempt,
            "commit": run.commit,
            "branch": run.branch,
            "url": url,
            "started_at": iso_seconds(run.start),
            "finished_at": iso_seconds(run.finished),
            "status": status_of(run.results),
        },
        "results": [
            {
                "check": r.check,
                "status": r.status,
                "message": r.message,
                "log": r.log,
                "duration_s": r.duration_s,
            }
            for r in run.results
        ],
    }


def demo_events(end: datetime) -> list[dict[str, Any]]:
    """Generic events for every demo run in the 14 days ending at ``end``, by ``finished_at``.

    ``end`` must be timezone-aware; it is converted to UTC and truncated to whole seconds.
    Deterministic: the same ``end`` always gives the same list (fixed seeds, no clock).
    """
    if end.tzinfo is None or end.utcoffset() is None:
        raise ValueError("demo_events needs a timezone-aware end time (e.g. datetime.now(UTC))")
    end = end.astimezone(UTC).replace(microsecond=0)
    origin = end - timedelta(days=DAYS)
    runs = [
        *dbt_cloud_runs(seeded_rng(DBT_REPO), origin),
        *roy_kent_runs(seeded_rng(CI_REPO), origin),
        *da_agent_hub_runs(seeded_rng(WEB_REPO), origin),
    ]
    events = [_event(run) for run in runs]
    events.sort(
        key=lambda e: (
            e["run"]["finished_at"],
            e["repository"],
            int(e["run"]["id"]),
            e["run"]["attempt"],
        )
    )
    return events
