"""The optional LLM step: after an ingest, issues the rules classified with low confidence are
shown to the LLM (Anthropic Claude through the official SDK), one call per fingerprint, within a
per-day budget shared by all processes. A valid answer refines the issue (a human's override still
wins); any error, timeout, invalid answer or spent budget leaves the rules' classification and is
recorded on the timeline."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.classify import CLASSIFICATION_FIELDS, LLM_FIELDS
from triagehub.core.models import IssueState
from triagehub.store import tables as t

if TYPE_CHECKING:  # the LLM client (and its SDK) is imported only when an LLM is configured
    from triagehub.actions.llm import LLMClassifier, LLMOutcome, LLMRequest

log = logging.getLogger(__name__)
API_KEY_ENV = "ANTHROPIC_API_KEY"
_RECORDED = ("error", "invalid", "timeout", "rate_limited", "skipped_budget")


@dataclass
class RefineSummary:
    considered: int = 0
    refined: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)


def llm_from_settings(settings: Settings, *, clock: Clock | None = None) -> LLMClassifier | None:
    """The LLM classifier, when enabled in the config and ``ANTHROPIC_API_KEY`` is set."""
    key = os.environ.get(API_KEY_ENV)
    if not settings.llm.enabled or not key:
        return None
    from triagehub.actions.llm import LLMClassifier

    c = settings.llm
    return LLMClassifier(
        api_key=key,
        model=c.model,
        base_url=c.base_url,
        timeout_s=c.timeout_s,
        daily_budget=max(c.daily_budget, 1),
        clock=(clock or SystemClock()).now,
    )


def _day(at: datetime) -> str:
    return at.date().isoformat()


def _calls_today(session: Session, now: datetime) -> int:
    found = session.execute(
        select(t.llm_usage.c.calls).where(t.llm_usage.c.day == _day(now))
    ).scalar()
    return int(found or 0)


def _count_call(engine: Engine, now: datetime) -> None:
    with Session(engine) as session, session.begin():
        updated = session.execute(
            update(t.llm_usage)
            .where(t.llm_usage.c.day == _day(now))
            .values(calls=t.llm_usage.c.calls + 1)
        )
        if not getattr(updated, "rowcount", 0):
            session.execute(t.llm_usage.insert().values(day=_day(now), calls=1))


def _request(session: Session, row: Any) -> LLMRequest:
    from triagehub.actions.llm import LLMRequest

    check = (
        session.execute(
            select(t.checks.c.key)
            .join(t.issue_checks, t.issue_checks.c.check_id == t.checks.c.id)
            .where(t.issue_checks.c.issue_id == row.id)
            .order_by(t.issue_checks.c.last_seen.desc())
            .limit(1)
        ).scalar()
        or ""
    )
    excerpt = session.execute(
        select(t.occurrences.c.log_excerpt, t.occurrences.c.message)
        .where(t.occurrences.c.issue_id == row.id)
        .order_by(t.occurrences.c.occurred_at.desc())
        .limit(1)
    ).first()
    repository = session.execute(
        select(t.repositories.c.name).where(t.repositories.c.id == row.repository_id)
    ).scalar_one()
    return LLMRequest(
        fingerprint=row.fingerprint,
        repository=repository,
        check=check,
        source=row.source,
        template=row.template,
        excerpt=(excerpt.log_excerpt or excerpt.message) if excerpt else row.sample_message,
        history_class=row.history_class,
        occurrences=row.occurrences,
        rules_verdict={k: getattr(row, k) for k in ("category", "kind", "severity", "decision")},
        rules_confidence=row.confidence,
    )


def _apply(session: Session, row: Any, outcome: LLMOutcome, now: datetime) -> None:
    verdict = outcome.verdict
    assert verdict is not None
    data = verdict.to_dict()
    overrides = row.overrides or {}
    values: dict[str, Any] = {
        k: v for k, v in data.items() if k in LLM_FIELDS and k not in overrides
    }
    human = any(k in CLASSIFICATION_FIELDS for k in overrides)
    values.update(
        llm_verdict=data,
        classification_source="human" if human else "llm",
        rationale=f"{row.rationale}; llm ({verdict.model}): {verdict.rationale}",
        updated_at=now,
    )
    session.execute(update(t.issues).where(t.issues.c.id == row.id).values(values))
    session.execute(
        t.issue_events.insert().values(
            issue_id=row.id,
            kind="classified",
            at=now,
            actor=f"llm:{verdict.model}",
            run_id=None,
            data={**{k: data[k] for k in LLM_FIELDS}, "source": "llm", "status": outcome.status},
        )
    )


def refine_with_llm(
    engine: Engine,
    settings: Settings,
    llm: LLMClassifier,
    *,
    issue_ids: Iterable[int] | None = None,
    clock: Clock | None = None,
) -> RefineSummary:
    """Ask the LLM about the low-confidence, rules-classified, open issues among ``issue_ids``."""
    from triagehub.actions.llm import LLMOutcome

    now_of = (clock or SystemClock()).now
    summary = RefineSummary()
    closed = [s.value for s in IssueState if s.is_closed]
    query = select(t.issues).where(
        t.issues.c.classification_source == "rules",
        t.issues.c.confidence < settings.llm.confidence_threshold,
        t.issues.c.llm_verdict.is_(None),
        t.issues.c.state.not_in(closed),
    )
    ids = sorted(set(issue_ids)) if issue_ids is not None else None
    if ids is not None:
        if not ids:
            return summary
        query = query.where(t.issues.c.id.in_(ids[:10_000]))
    with Session(engine) as session:
        rows = session.execute(query.order_by(t.issues.c.id)).all()
        requests = [(row, _request(session, row)) for row in rows]
    for row, request in requests:
        summary.considered += 1
        now = now_of()
        with Session(engine) as session:
            spent = _calls_today(session, now) >= settings.llm.daily_budget
        if spent:
            outcome = LLMOutcome(None, "skipped_budget", "the LLM's daily call budget is spent")
        else:
            outcome = llm.classify(request)
            if outcome.status not in ("cached", "skipped_disabled", "skipped_budget"):
                _count_call(engine, now)
        with Session(engine) as session, session.begin():
            if outcome.status in ("ok", "cached") and outcome.verdict is not None:
                _apply(session, row, outcome, now)
                summary.refined += 1
            elif outcome.status in _RECORDED:
                summary.fallbacks[outcome.status] = summary.fallbacks.get(outcome.status, 0) + 1
                session.execute(
                    t.issue_events.insert().values(
                        issue_id=row.id,
                        kind="llm_fallback",
                        at=now,
                        actor="triagehub",
                        run_id=None,
                        data={"status": outcome.status, "detail": outcome.detail},
                    )
                )
        if outcome.status == "skipped_budget":
            log.warning(
                "LLM budget spent; %d issue(s) keep the rules' classification",
                len(requests) - summary.considered + 1,
            )
            break
    return summary
