"""Stage 3: classify the touched issues with the deterministic rules (the LLM's verdict and the
humans' overrides laid over them), and the hook that refines them with an LLM afterwards."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from triagehub.clock import Clock
from triagehub.config import Settings
from triagehub.core.classify import (
    CLASSIFICATION_FIELDS,
    LLM_FIELDS,
    Classifier,
    ClassifyInput,
    detect_kind,
)
from triagehub.core.history import CheckHistory
from triagehub.core.lifecycle import escalated_priority
from triagehub.core.models import HistoryClass, IssueState, Level, Status
from triagehub.engine.ingest.state import (
    CLASSIFIED_FIELDS,
    Failure,
    IngestSummary,
    IssueWork,
    stored_work,
)
from triagehub.store import grouping
from triagehub.store import tables as t

if TYPE_CHECKING:
    from triagehub.actions.llm import LLMClassifier

# The issue columns a classification writes.
RECLASSIFIED_FIELDS = (
    *CLASSIFIED_FIELDS,
    "rationale",
    "labels",
    "escalate_after_hours",
    "classification_source",
    "sla_due_at",
)


def _history(
    settings: Settings, work: IssueWork, f: Failure, stats: dict[int, CheckHistory]
) -> HistoryClass:
    h = settings.history
    occurrences = int(work.row["occurrences"])
    if f.storm:  # a storm counts once per run, not once per failed check
        return HistoryClass.NEW if work.is_new else HistoryClass.RECURRING
    return stats[f.check_pk].history_class(
        issue_occurrences=occurrences,
        recurring_threshold=h.recurring_threshold,
        persistent_threshold=h.persistent_threshold,
    )


def _input_of(
    settings: Settings, f: Failure, work: IssueWork, stats: dict[int, CheckHistory]
) -> ClassifyInput:
    return ClassifyInput(
        source=f.report.source,
        repository=f.report.repository,
        check=f.result.check,
        text=f.template,
        status=f.result.status,
        branch=f.report.branch,
        history=_history(settings, work, f, stats),
        kind=f.kind,
        storm=f.storm,
        message=f.message,
        log=f.excerpt,
        attempt=f.report.attempt,
        exit_code=f.exit_code,
        duration_s=f.result.duration_s,
        owner=f.result.owner,
    )


def classify_latest(
    classifier: Classifier,
    settings: Settings,
    works: dict[str, IssueWork],
    stats: dict[int, CheckHistory],
) -> None:
    """Classify each touched issue once per batch, from its latest failure and the history
    as it stands after the batch."""
    for work in works.values():
        f = work.latest
        if f is None:
            continue
        classify_row(classifier, work.row, _input_of(settings, f, work, stats))


def reclassify_flaky(
    session: Session,
    classifier: Classifier,
    check_pks: set[int],
    stats: dict[int, CheckHistory],
    works: dict[str, IssueWork],
    now: datetime,
) -> None:
    """A pass that proves a check flaky reclassifies that check's open issues."""
    if not check_pks:
        return
    closed = [s.value for s in IssueState if s.is_closed]
    for chunk in grouping.chunks(sorted(check_pks)):
        rows = session.execute(
            select(t.issues, t.repositories.c.name.label("repository_name"), t.checks.c.key)
            .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
            .join(t.checks, t.checks.c.id == t.issues.c.check_id)
            .where(t.issues.c.check_id.in_(chunk), t.issues.c.state.not_in(closed))
            .order_by(t.issues.c.id)
            .with_for_update(of=t.issues)
        ).mappings()
        for row in rows:
            data = dict(row)
            repository = data.pop("repository_name")
            check = data.pop("key")
            work = works.get(data["fingerprint"])
            if work is None:
                work = stored_work(data)
                works[data["fingerprint"]] = work
            if not stats[data["check_id"]].flaky:
                continue
            work.touched = True
            work.row["updated_at"] = now
            classify_row(
                classifier,
                work.row,
                ClassifyInput(
                    source=data["source"],
                    repository=repository,
                    check=check,
                    text=data["template"],
                    status=Status.FAIL,
                    branch=None,
                    history=HistoryClass.FLAKY,
                    kind=detect_kind(data["source"], check, data["template"]),
                    message=data["sample_message"],
                ),
            )


def classify_row(classifier: Classifier, row: dict[str, Any], inp: ClassifyInput) -> None:
    """Classify with the rules, then lay the LLM's verdict and the humans' overrides over the
    result (a human's word is never overwritten by a machine)."""
    c = classifier.classify(inp)
    # ``str()`` of a member of these ``StrEnum``s is its value (a plain ``str``), and a third of
    # the cost of reading ``.value`` (once per touched issue of every batch).
    fields: dict[str, Any] = {
        "category": str(c.category),
        "kind": str(c.kind),
        "severity": str(c.severity),
        "priority": str(c.priority),
        "history_class": str(c.history_class),
        "decision": str(c.decision),
        "rationale": c.rationale,
        "confidence": c.confidence,
        "expert": c.expert,
        "labels": list(c.labels),
        "escalate_after_hours": c.escalate_after,
    }
    source = "rules"
    llm = row.get("llm_verdict")
    if llm:
        fields.update({k: v for k, v in llm.items() if k in LLM_FIELDS})
        fields["rationale"] = f"{c.rationale}; llm: {llm.get('rationale', '')}"
        source = "llm"
    level = int(row.get("escalation_level") or 0)
    if level:  # escalation raised the priority; a new classification keeps it raised
        fields["priority"] = escalated_priority(
            Level(fields["priority"]),
            severity=Level(fields["severity"]),
            kind=fields["kind"],
            level=level,
        ).value
    overrides = row.get("overrides") or {}
    if overrides:
        fields.update({k: v for k, v in overrides.items() if k in fields})
        if any(k in CLASSIFICATION_FIELDS for k in overrides):
            source = "human"
    fields["classification_source"] = source
    fields["sla_due_at"] = row["first_seen"] + timedelta(hours=c.sla_hours) if c.sla_hours else None
    if "sla_due_at" in overrides:
        fields["sla_due_at"] = row["sla_due_at"]
    row.update(fields)


def classified_data(row: dict[str, Any]) -> dict[str, Any]:
    """The data of a ``classified`` event: the classification as it now stands."""
    data: dict[str, Any] = {k: row[k] for k in CLASSIFIED_FIELDS}
    data["rationale"] = row["rationale"]
    data["source"] = row["classification_source"]
    return data


def reclassify_issue(
    session: Session,
    classifier: Classifier,
    row: dict[str, Any],
    inp: ClassifyInput,
    *,
    at: datetime,
    now: datetime,
) -> bool:
    """Classify a stored issue again (the monitor's event-time history) and, when anything
    changed, write it with a ``classified`` event stamped ``at``; ``row`` is updated in place."""
    before = tuple(row[k] for k in CLASSIFIED_FIELDS)
    classify_row(classifier, row, inp)
    after = tuple(row[k] for k in CLASSIFIED_FIELDS)
    if after == before:
        return False
    row["updated_at"] = now
    session.execute(
        update(t.issues)
        .where(t.issues.c.id == row["id"])
        .values({k: row[k] for k in (*RECLASSIFIED_FIELDS, "updated_at")})
    )
    session.execute(
        insert(t.issue_events).values(
            issue_id=row["id"],
            kind="classified",
            at=at,
            run_id=None,
            data=classified_data(row),
            actor="triagehub",
        )
    )
    return True


def refine(
    engine: Engine,
    settings: Settings,
    llm: LLMClassifier | None,
    touched_ids: set[int],
    summary: IngestSummary,
    clock: Clock | None,
) -> None:
    """The LLM hook, after the ingest's transaction: refine the issues it touched."""
    if llm is None or not touched_ids:
        return
    from triagehub.engine.refine import refine_with_llm

    result = refine_with_llm(engine, settings, llm, issue_ids=touched_ids, clock=clock)
    summary.llm_refined += result.refined
    summary.llm_fallbacks += sum(result.fallbacks.values())
