"""Classify again: an issue's latest failure through the classification engine, with the rules
configured now, compared with what the issue holds.

The input is the one the ingest builds: the latest occurrence (by event time) with its run's
source, branch and attempt, the failure kind of its template, and the history class of its
check from the stored rolling history (a storm issue: new or recurring). The result is laid
over as at ingest: an LLM verdict the issue has and the fields a person set stay (``kept``).

A dry run (the default) writes nothing and shows the difference (category, kind, severity,
priority, history class, decision, expert, confidence, rationale: before -> after). Applying
writes the new classification and records a ``reclassified`` event with the changes, the
failure read and who asked, in one transaction (an ingest writing the issue meanwhile waits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.core.classify import (
    CLASSIFICATION_FIELDS,
    Classifier,
    ClassifyInput,
    detect_kind,
    exit_code_of,
)
from triagehub.core.history import CheckHistory
from triagehub.core.models import HistoryClass, Status
from triagehub.core.timeparse import iso_z
from triagehub.engine.ingest.classify import RECLASSIFIED_FIELDS, classify_row
from triagehub.engine.ingest.state import CLASSIFIED_FIELDS, STATS_FIELDS
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.lifecycle import record_event
from triagehub.work.specs import NotFoundError

EVENT: Final = "reclassified"
SHOWN: Final = (*CLASSIFIED_FIELDS, "rationale")  # the diff's fields


@dataclass(frozen=True, slots=True)
class Reclassification:
    issue_id: int
    applied: bool
    occurrence: dict[str, Any]  # the failure classified: id, check, run, at
    before: dict[str, Any]
    after: dict[str, Any]
    changes: dict[str, dict[str, Any]]  # field -> {"from", "to"} (only what differs)
    kept: tuple[str, ...]  # the fields a person set: kept whatever the rules say

    def to_json(self) -> dict[str, Any]:
        return {
            "issue_id": self.issue_id,
            "applied": self.applied,
            "occurrence": self.occurrence,
            "before": self.before,
            "after": self.after,
            "changes": self.changes,
            "kept_by_person": list(self.kept),
        }


def _issue(session: Session, issue_id: int, lock: bool) -> dict[str, Any]:
    query = (
        select(t.issues, t.repositories.c.name.label("repository"))
        .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
        .where(t.issues.c.id == issue_id)
    )
    if lock:
        query = query.with_for_update(of=t.issues)
    row = session.execute(query).mappings().first()
    if row is None:
        raise NotFoundError("issue", f"#{issue_id}", "no such issue")
    return dict(row)


def _latest(session: Session, issue_id: int) -> Mapping[str, Any]:
    o, r = t.occurrences.c, t.runs.c
    found = (
        session.execute(
            select(
                o.id,
                o.check_id,
                o.status,
                o.message,
                o.log_excerpt,
                o.template,
                o.duration_s,
                o.occurred_at,
                t.checks.c.key.label("check"),
                r.source,
                r.branch,
                r.attempt,
                r.storm,
                r.external_id,
            )
            .join(t.checks, t.checks.c.id == o.check_id)
            .join(t.runs, r.id == o.run_id)
            .where(o.issue_id == issue_id)
            .order_by(o.occurred_at.desc(), o.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if found is None:
        raise InputError("issue", f"#{issue_id}", "has no stored failure to classify")
    return dict(found)


def _history(
    session: Session, settings: Settings, row: Mapping[str, Any], occ: Mapping[str, Any]
) -> HistoryClass:
    """The check's history class as the ingest judges it (its stored rolling history)."""
    occurrences = int(row["occurrences"])
    if occ["storm"]:  # a storm counts once per run, not once per failed check
        return HistoryClass.NEW if occurrences <= 1 else HistoryClass.RECURRING
    cols = [t.check_stats.c[f] for f in STATS_FIELDS]
    stats = session.execute(
        select(*cols).where(t.check_stats.c.check_id == occ["check_id"])
    ).first()
    history = CheckHistory(*stats) if stats is not None else CheckHistory()
    h = settings.history
    return history.history_class(
        issue_occurrences=occurrences,
        recurring_threshold=h.recurring_threshold,
        persistent_threshold=h.persistent_threshold,
    )


def classify_input(
    session: Session, settings: Settings, row: Mapping[str, Any], occ: Mapping[str, Any]
) -> ClassifyInput:
    """What the ingest would give the classifier for the issue's failure ``occ``."""
    message, log = occ["message"], occ["log_excerpt"]
    exit_code = exit_code_of(message, log)
    return ClassifyInput(
        source=occ["source"],
        repository=row["repository"],
        check=occ["check"],
        text=occ["template"],
        status=Status(occ["status"]),
        branch=occ["branch"],
        history=_history(session, settings, row, occ),
        kind=detect_kind(occ["source"], occ["check"], occ["template"], exit_code),
        storm=bool(occ["storm"]),
        message=message,
        log=log,
        attempt=int(occ["attempt"]),
        exit_code=exit_code,
        duration_s=occ["duration_s"],
    )


def classify_again(
    engine: Engine,
    settings: Settings,
    issue_id: int,
    *,
    apply: bool,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> Reclassification:
    """Classify the issue's latest failure again (see the module docstring); with ``apply``,
    write it. Raises ``NotFoundError`` for an unknown issue, ``InputError`` for an issue
    without a stored failure."""
    with Session(engine) as session, session.begin():
        row = _issue(session, issue_id, lock=apply)
        occ = _latest(session, issue_id)
        work = dict(row)
        classify_row(Classifier(settings), work, classify_input(session, settings, row, occ))
        changes = {k: {"from": row[k], "to": work[k]} for k in SHOWN if row[k] != work[k]}
        failure = {
            "id": occ["id"],
            "check": occ["check"],
            "run": occ["external_id"],
            "at": iso_z(occ["occurred_at"]),
        }
        if apply:
            work["updated_at"] = now
            session.execute(
                update(t.issues)
                .where(t.issues.c.id == issue_id)
                .values({k: work[k] for k in (*RECLASSIFIED_FIELDS, "updated_at")})
            )
            data = {
                "changes": changes,
                "occurrence": failure,
                "reason": reason or "classified again with the current rules",
            }
            record_event(session, issue_id, EVENT, at=now, actor=actor, data=data)
    overrides = row.get("overrides") or {}
    return Reclassification(
        issue_id=issue_id,
        applied=apply,
        occurrence=failure,
        before={k: row[k] for k in SHOWN},
        after={k: work[k] for k in SHOWN},
        changes=changes,
        kept=tuple(k for k in CLASSIFICATION_FIELDS if k in overrides),
    )
