"""Self-healing: one re-run per failed GitHub Actions run whose issue is transient (opt-in)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.engine.ingest import Ingestor
from triagehub.engine.jobs import enqueue
from triagehub.store import tables as t

RERUN: Final = "rerun"


def queue_reruns(session: Session, settings: Settings, ingestor: Ingestor, now: datetime) -> None:
    """Queue one re-run per failed GitHub Actions run whose issue is transient (opt-in)."""
    for run in ingestor.failed_runs:
        if run.source != "github-actions" or run.attempt > 1:
            continue
        if not settings.repository(run.repository).self_heal:
            continue
        transient = (
            session.execute(
                select(t.issues.c.id).where(
                    t.issues.c.id.in_(sorted(run.issue_ids)),
                    t.issues.c.category == "transient_failure",
                )
            )
            .scalars()
            .all()
        )
        if not transient:
            continue
        run_id = run.run_id.split("/")[0]
        enqueue(
            session,
            kind=RERUN,
            key=f"rerun:{run.repository}:{run_id}",
            data={"repository": run.repository, "run_id": run_id, "issues": transient},
            now=now,
        )
