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
