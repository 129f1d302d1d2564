"""The optional LLM step: after an ingest, issues the rules classified with low confidence are
shown to the LLM (Anthropic Claude through the official SDK), one call per fingerprint, within a
per-day budget shared by all processes. A valid answer refines the issue (a human's override still
wins); any error, timeout, invalid answer or spent budget leaves the rules' classification and is
recorded on the timeline.

Every ingest path goes through :func:`refine_with_llm`: ``triagehub ingest FILE`` calls it at once
(``llm=`` of the ingest entry points), and the other paths (webhook deliveries, polling, the REST
API) queue one ``refine`` job with the issues they touched (:func:`queue_refine`, in the ingest's
transaction, only when an LLM is configured), which the worker runs. A job never fails for what
the LLM does: the fallbacks are on the timeline and in the job's result.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Engine, Select, select, update
from sqlalchemy.orm import Session

from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.classify import CLASSIFICATION_FIELDS, LLM_FIELDS
from triagehub.core.models import IssueState
from triagehub.engine.jobs import Job, JobContext, Outcome, Recording, enqueue, job_handler
from triagehub.engine.llm_setup import API_KEY_ENV as API_KEY_ENV
from triagehub.engine.llm_setup import llm_configured as llm_configured
from triagehub.engine.llm_setup import llm_from_settings as llm_from_settings
from triagehub.store import tables as t
from triagehub.store.llm_usage import budget_day, release_call, reserve_call

if TYPE_CHECKING:  # the LLM client (and its SDK) is imported only when an LLM is configured
    from triagehub.actions.llm import LLMClassifier, LLMOutcome, LLMRequest
    from triagehub.engine.ingest import Ingestor

log = logging.getLogger(__name__)
REFINE: Final = "refine"
MAX_ISSUES: Final = 10_000  # issue ids one call (one job) considers
JOB_SECONDS: Final = 120.0  # a job's time with the LLM; the issues left go to a follow-up job
_RECORDED = ("error", "invalid", "timeout", "rate_limited", "skipped_budget")
_NOT_SENT = ("cached", "skipped_disabled", "skipped_budget")  # outcomes that made no request


@dataclass
class RefineSummary:
    considered: int = 0
    refined: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # not considered: the budget was spent
    remaining: list[int] = field(default_factory=list)  # not considered: out of time

    def as_result(self) -> dict[str, Any]:
        """What a ``refine`` job keeps as its result."""
        return {
            "considered": self.considered,
            "refined": self.refined,
            "fallback": bool(self.fallbacks),
            "fallbacks": dict(self.fallbacks),
            "skipped": self.skipped,
            "requeued": len(self.remaining),
        }


def _candidates(settings: Settings) -> Select[Any]:
    """The issues the LLM is asked about: open, classified by the rules alone (no human, no
    verdict yet), with a confidence under ``llm.confidence_threshold``."""
    closed = [s.value for s in IssueState if s.is_closed]
    return select(t.issues).where(
        t.issues.c.classification_source == "rules",
        t.issues.c.confidence < settings.llm.confidence_threshold,
        t.issues.c.llm_verdict.is_(None),
        t.issues.c.state.not_in(closed),
    )


def _consult(
    engine: Engine, settings: Settings, llm: LLMClassifier, request: LLMRequest, now: datetime
) -> LLMOutcome:
    """Ask the LLM about one issue, the call reserved first against the day's budget shared by
    every process (a verdict cached in this process costs nothing; a reservation whose call was
    not made is given back)."""
    from triagehub.actions.llm import LLMOutcome

    reserved = False
    if llm.cache_get(request.fingerprint) is None:
        with Session(engine) as session, session.begin():
            reserved = reserve_call(session=session, at=now, budget=settings.llm.daily_budget)
        if not reserved:
            budget = settings.llm.daily_budget
            detail = f"daily LLM budget of {budget} calls spent for {budget_day(now)} (UTC)"
            return LLMOutcome(None, "skipped_budget", detail)
    outcome = llm.classify(request)
    if reserved and outcome.status in _NOT_SENT:
        with Session(engine) as session, session.begin():
            release_call(session=session, at=now)
    return outcome


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


def _apply(session: Session, row: Any, outcome: LLMOutcome, now: datetime) -> bool:
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
    done = session.execute(
        update(t.issues)
        .where(t.issues.c.id == row.id, t.issues.c.llm_verdict.is_(None))
        .values(values)
    )
    if not getattr(done, "rowcount", 0):
        return False  # refined meanwhile by another worker: its verdict stands
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
    return True


def refine_with_llm(
    engine: Engine,
    settings: Settings,
    llm: LLMClassifier,
    *,
    issue_ids: Iterable[int] | None = None,
    clock: Clock | None = None,
    time_limit_s: float | None = None,
) -> RefineSummary:
    """Ask the LLM about the low-confidence, rules-classified, open issues among ``issue_ids``
    (the first :data:`MAX_ISSUES`). With ``time_limit_s``, the issues not reached in that time
    are left in the summary's ``remaining``."""
    now_of = (clock or SystemClock()).now
    summary = RefineSummary()
    query = _candidates(settings)
    ids = sorted(set(issue_ids)) if issue_ids is not None else None
    if ids is not None:
        if not ids:
            return summary
        query = query.where(t.issues.c.id.in_(ids[:MAX_ISSUES]))
    with Session(engine) as session:
        rows = session.execute(query.order_by(t.issues.c.id)).all()
        requests = [(row, _request(session, row)) for row in rows]
    started = time.monotonic()
    for n, (row, request) in enumerate(requests):
        if time_limit_s is not None and n and time.monotonic() - started >= time_limit_s:
            summary.remaining = [r.id for r, _ in requests[n:]]
            break
        summary.considered += 1
        now = now_of()
        outcome = _consult(engine, settings, llm, request, now)
        with Session(engine) as session, session.begin():
            if outcome.status in ("ok", "cached") and outcome.verdict is not None:
                summary.refined += _apply(session, row, outcome, now)
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
            summary.skipped = len(requests) - summary.considered
            log.warning(
                "LLM budget spent; %d issue(s) keep the rules' classification",
                summary.skipped + 1,
            )
            break
    return summary


# -- the other ingest paths: one `refine` job per ingest, run by the worker ---------------------


def queue_refine(
    session: Session, settings: Settings, issue_ids: Iterable[int], now: datetime, *, after: int = 0
) -> bool:
    """Queue one ``refine`` job with those of ``issue_ids`` the LLM would be asked about, in the
    caller's transaction (the ingest's). Nothing without a configured LLM or without such an
    issue. ``after``: the job this one continues (its key differs)."""
    if not llm_configured(settings):
        return False
    ids = sorted({int(i) for i in issue_ids})[:MAX_ISSUES]
    if not ids:
        return False
    query = _candidates(settings).with_only_columns(t.issues.c.id)
    wanted = session.execute(query.where(t.issues.c.id.in_(ids)).order_by(t.issues.c.id))
    found = [int(i) for i in wanted.scalars()]
    if not found:
        return False
    digest = hashlib.sha256(",".join(map(str, found)).encode()).hexdigest()[:16]
    return enqueue(
        session,
        kind=REFINE,
        key=f"{REFINE}:{now.isoformat()}:{digest}" + (f":after:{after}" if after else ""),
        data={"issues": found},
        now=now,
    )


def refine_later(session: Session, ingestor: Ingestor) -> None:
    """The ingest entry points' ``then`` hook: queue the refine job of what ``ingestor``
    touched, in its transaction."""
    queue_refine(session, ingestor.settings, ingestor.touched_ids, ingestor.clock.now())


def _job_llm(ctx: JobContext) -> LLMClassifier | None:
    """The worker's classifier, one per batch of jobs (its verdict cache is shared by them)."""
    from triagehub.actions.llm import LLMClassifier

    if "llm" not in ctx.cache:
        llm = llm_from_settings(ctx.settings, clock=ctx.clock)
        if llm is not None:
            ctx.resources.callback(llm.close)
        ctx.cache["llm"] = llm
    found = ctx.cache["llm"]
    return found if isinstance(found, LLMClassifier) else None


@job_handler(REFINE)
def _refine_job(job: Job, ctx: JobContext) -> Outcome:
    """Refine the job's issues with the LLM. It succeeds whatever the LLM does (the fallbacks are
    recorded); issues not reached in :data:`JOB_SECONDS` go to a follow-up job."""
    ids = [int(i) for i in job.data["issues"]]
    llm = _job_llm(ctx)
    if llm is None:
        detail = f"no LLM configured (llm.enabled, {API_KEY_ENV}): the rules' classification stays"
        return Outcome(result={"fallback": True, "status": "skipped_disabled", "detail": detail})
    summary = refine_with_llm(
        ctx.engine, ctx.settings, llm, issue_ids=ids, clock=ctx.clock, time_limit_s=JOB_SECONDS
    )

    def record(rec: Recording) -> None:
        if summary.remaining:
            queue_refine(rec.session, rec.settings, summary.remaining, rec.now, after=job.id)

    return Outcome(result=summary.as_result(), record=record)
