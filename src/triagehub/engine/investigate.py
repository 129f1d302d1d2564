"""The investigation brief: Claude reads an issue's evidence pack and writes a brief.

:func:`investigate` builds the evidence pack (:mod:`triagehub.work.evidence`), then, in this order:

1. a brief cached for this issue and this pack's digest      -> ``cached`` (no request)
2. no API key (``ANTHROPIC_API_KEY``) or ``llm.enabled: false`` -> ``skipped_disabled``
3. the UTC day's LLM budget (``llm.daily_budget``, shared with classification through the
   ``llm_usage`` table) is spent                              -> ``skipped_budget``
4. one Messages API call, forced to the ``record_investigation`` tool (it counts against the
   budget whatever its result); a valid answer                -> ``ok``: stored (the cache),
   posted on the issue's timeline (``investigated``, actor ``llm``), and queued, in the same
   transaction, for its one GitHub comment and one Slack reply (:mod:`.brief_text`);
   an answer that fails validation                            -> ``invalid``;
   any API or network error                                   -> ``error`` / ``timeout`` /
                                                                 ``rate_limited``.

It never raises for what the API does: without a brief the result is the evidence pack alone
(``fallback``). A brief is validated strictly: known keys only; a summary; 1-5 hypotheses ranked
by likelihood, each citing evidence that exists in the pack (``line N`` of the key excerpt or of
the green diff, or ``commit SHA`` of a suspect commit, at least 7 hex digits); ``cause`` one of
``change``, ``environment``, ``flaky``, ``data``, ``unknown``; ``suggest_rerun`` true exactly
when the cause is environmental or flaky; a next step, a fix outline and a confidence in [0, 1].
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triagehub.actions.github import GitHubClient
from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.redact import REDACTED, redact
from triagehub.engine.brief_text import handoff_comment, handoff_marker, queue_brief_posts
from triagehub.engine.jobs import Job, JobContext, Outcome, Recording, enqueue, job_handler
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.llm_usage import budget_day, reserve_call
from triagehub.work.agents.handoff import CANCELLED, find_session
from triagehub.work.evidence import build_pack

if TYPE_CHECKING:  # the SDK costs ~1 s to import: loaded only when a brief is asked for
    from anthropic.types import ToolChoiceToolParam, ToolParam

log = logging.getLogger(__name__)

API_KEY_ENV: Final = "ANTHROPIC_API_KEY"
TOOL_NAME: Final = "record_investigation"
CAUSES: Final = ("change", "environment", "flaky", "data", "unknown")
RERUN_CAUSES: Final = frozenset({"environment", "flaky"})
MAX_TEXT: Final = 2000
MAX_HYPOTHESES: Final = 5
MAX_PROMPT_CHARS: Final = 24_000
MAX_OUTPUT_TOKENS: Final = 2048
_CITATION = re.compile(r"^(line|commit)\s+(\S+)$", re.IGNORECASE)

Status = Literal[
    "ok",
    "cached",
    "skipped_disabled",
    "skipped_budget",
    "invalid",
    "error",
    "timeout",
    "rate_limited",
]

_SYSTEM = (
    "You investigate failures of CI pipelines, data pipelines and test suites for an engineering "
    "team. You are given an evidence pack as JSON: the key error lines, the lines of the failing "
    "log that the last passing run did not print (numbered in the failing log), the check's "
    "history, the commits between the last pass and the first failure with the files they "
    "changed, lineage, owners and similar issues with how they were resolved. Reason only from "
    "this evidence. Call the record_investigation tool once. Cite evidence as 'line N' (a line "
    "number shown in key_excerpt or green_diff) or 'commit SHA' (a suspect commit). When the "
    "check passed and failed on the same commit, or the error is a network, runner or quota "
    "problem, the cause is environment or flaky and a rerun should be suggested."
)


# The fields of a brief: all required by the tool's schema, no other accepted.
BRIEF_FIELDS: Final = (
    "summary",
    "hypotheses",
    "cause",
    "suggest_rerun",
    "next_step",
    "fix_outline",
    "confidence",
)


def brief_tool() -> ToolParam:
    text = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
    return {
        "name": TOOL_NAME,
        "description": "Record the investigation brief of one failure.",
        "input_schema": {
            "type": "object",
            "additionalProperties": False,
            "required": list(BRIEF_FIELDS),
            "properties": {
                "summary": text,
                "hypotheses": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_HYPOTHESES,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["cause", "evidence", "likelihood"],
                        "properties": {
                            "cause": text,
                            "evidence": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "string", "pattern": "^(line|commit) \\S+$"},
                            },
                            "likelihood": {"type": "number", "minimum": 0, "maximum": 1},
                        },
                    },
                },
                "cause": {"type": "string", "enum": list(CAUSES)},
                "suggest_rerun": {"type": "boolean"},
                "next_step": text,
                "fix_outline": text,
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
    }


class InvalidBrief(ValueError):
    """The model's answer is not a valid brief (the message says which field and why)."""


def _text(answer: dict[str, Any], key: str, where: str = "") -> str:
    value = answer.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidBrief(f"{where}{key}: expected a non-empty string")
    if len(value) > MAX_TEXT:
        raise InvalidBrief(f"{where}{key}: at most {MAX_TEXT} characters, got {len(value)}")
    return value.strip()


def _unit(answer: dict[str, Any], key: str, where: str = "") -> float:
    value = answer.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidBrief(f"{where}{key}: expected a number in [0, 1], got {value!r}")
    return float(value)


def citable(pack: dict[str, Any]) -> tuple[set[int], list[str]]:
    """The line numbers and commit SHAs a brief may cite."""
    lines: set[int] = set()
    for part in (pack.get("key_excerpt") or {}, pack.get("green_diff") or {}):
        lines.update(int(x["line"]) for x in part.get("lines", []))
    shas = [str(c["sha"]) for c in (pack.get("suspects") or {}).get("commits", [])]
    return lines, shas


def parse_brief(answer: object, pack: dict[str, Any]) -> dict[str, Any]:
    """Validate a ``record_investigation`` input against the schema and the evidence pack."""
    if not isinstance(answer, dict):
        raise InvalidBrief(f"expected an object, got {type(answer).__name__}")
    allowed = set(BRIEF_FIELDS)
    unknown = sorted(set(answer) - allowed)
    if unknown:
        raise InvalidBrief(f"unknown keys {unknown}")
    lines, shas = citable(pack)
    raw = answer.get("hypotheses")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_HYPOTHESES:
        raise InvalidBrief(f"hypotheses: expected 1 to {MAX_HYPOTHESES} items")
    hypotheses: list[dict[str, Any]] = []
    for n, h in enumerate(raw):
        where = f"hypotheses[{n}]."
        if not isinstance(h, dict) or set(h) - {"cause", "evidence", "likelihood"}:
            raise InvalidBrief(
                f"hypotheses[{n}]: expected an object with cause, evidence, likelihood"
            )
        refs = h.get("evidence")
        if not isinstance(refs, list) or not refs:
            raise InvalidBrief(f"{where}evidence: expected at least one citation")
        cited: list[str] = []
        for ref in refs:
            match = _CITATION.match(ref.strip()) if isinstance(ref, str) else None
            if match is None:
                raise InvalidBrief(f"{where}evidence: {ref!r} is not 'line N' or 'commit SHA'")
            kind, value = match.group(1).lower(), match.group(2)
            if kind == "line":
                if not value.isdigit() or int(value) not in lines:
                    raise InvalidBrief(f"{where}evidence: line {value} is not in the evidence")
                cited.append(f"line {int(value)}")
            else:
                full = [s for s in shas if len(value) >= 7 and s.lower().startswith(value.lower())]
                if not full:
                    raise InvalidBrief(f"{where}evidence: commit {value} is not a suspect commit")
                cited.append(f"commit {full[0]}")
        hypotheses.append(
            {
                "cause": _text(h, "cause", where),
                "evidence": cited,
                "likelihood": _unit(h, "likelihood", where),
            }
        )
    hypotheses.sort(key=lambda h: -float(h["likelihood"]))
    cause = answer.get("cause")
    if cause not in CAUSES:
        raise InvalidBrief(f"cause: expected one of {list(CAUSES)}, got {cause!r}")
    rerun = answer.get("suggest_rerun")
    if not isinstance(rerun, bool):
        raise InvalidBrief("suggest_rerun: expected a boolean")
    if rerun != (cause in RERUN_CAUSES):
        raise InvalidBrief(
            f"suggest_rerun: must be {cause in RERUN_CAUSES} when the cause is {cause}"
        )
    return {
        "summary": _text(answer, "summary"),
        "hypotheses": hypotheses,
        "cause": cause,
        "suggest_rerun": rerun,
        "next_step": _text(answer, "next_step"),
        "fix_outline": _text(answer, "fix_outline"),
        "confidence": _unit(answer, "confidence"),
    }


@dataclass
class Investigation:
    issue_id: int
    status: Status
    detail: str
    evidence: dict[str, Any]
    brief: dict[str, Any] | None = None
    model: str | None = None
    calls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fallback(self) -> bool:
        return self.brief is None

    def to_json(self) -> dict[str, Any]:
        return {
            "issue_id": self.issue_id,
            "status": self.status,
            "detail": self.detail,
            "fallback": self.fallback,
            "model": self.model,
            "brief": self.brief,
            "evidence": self.evidence,
        }


def _reserve_call(engine: Engine, now: datetime, budget: int) -> bool:
    """Count one call against today's budget, atomically; False when it is spent."""
    with Session(engine) as session, session.begin():
        return reserve_call(session=session, at=now, budget=budget)


def _prompt(pack: dict[str, Any]) -> str:
    text = redact(json.dumps(pack, indent=1, sort_keys=True, default=str))
    if len(text) > MAX_PROMPT_CHARS:
        text = text[:MAX_PROMPT_CHARS] + "\n…(cut)"
    return f"Evidence pack of issue #{pack['issue_id']}:\n\n{text}"


def _cached(session: Session, issue_id: int, digest: str) -> tuple[str, dict[str, Any]] | None:
    c = t.investigations.c
    row = session.execute(
        select(c.model, c.brief).where(c.issue_id == issue_id, c.digest == digest)
    ).first()
    return (row.model, dict(row.brief)) if row is not None else None


def _brief_from(message: object, pack: dict[str, Any]) -> dict[str, Any]:
    from anthropic.types import Message

    if not isinstance(message, Message):
        raise InvalidBrief(f"expected a Messages API message, got {type(message).__name__}")
    for block in message.content:
        if getattr(block, "type", None) == "tool_use" and getattr(block, "name", "") == TOOL_NAME:
            return parse_brief(getattr(block, "input", None), pack)
    raise InvalidBrief(f"no {TOOL_NAME} tool_use block (stop_reason={message.stop_reason})")


def _store(engine: Engine, settings: Settings, result: Investigation, now: datetime) -> None:
    """The brief (the cache), its timeline entry and its posts on GitHub and Slack
    (:func:`~triagehub.engine.brief_text.queue_brief_posts`), in one transaction; stored once."""
    brief, issue_id, digest = result.brief, result.issue_id, str(result.evidence["digest"])
    assert brief is not None and result.model is not None
    try:
        with Session(engine) as session, session.begin():
            session.execute(
                t.investigations.insert().values(
                    issue_id=issue_id,
                    digest=digest,
                    model=result.model,
                    brief=brief,
                    created_at=now,
                )
            )
            session.execute(
                t.issue_events.insert().values(
                    issue_id=issue_id,
                    kind="investigated",
                    at=now,
                    actor="llm",
                    run_id=None,
                    data={
                        "model": result.model,
                        "digest": digest,
                        "summary": brief["summary"],
                        "cause": brief["cause"],
                        "suggest_rerun": brief["suggest_rerun"],
                        "next_step": brief["next_step"],
                        "confidence": brief["confidence"],
                    },
                )
            )
            queue_brief_posts(session, settings, result, now)
    except IntegrityError:  # the same brief stored by a concurrent call: keep that one
        log.info("investigation of issue %s (%s) was stored concurrently", issue_id, digest[:12])


def investigate(
    engine: Engine,
    settings: Settings,
    issue_id: int,
    *,
    clock: Clock | None = None,
    github: GitHubClient | None = None,
    api_key: str | None = None,
    timeout_s: float | None = None,
    max_retries: int = 2,
) -> Investigation:
    """Investigate one issue (see the module docstring). Raises :class:`InputError` for an
    unknown issue only."""
    now = (clock or SystemClock()).now()
    with Session(engine) as session:
        pack = build_pack(session=session, issue_id=issue_id, github=github)
        if pack is None:
            raise InputError("issue id", str(issue_id), "no such issue")
        digest = str(pack["digest"])
        cached = _cached(session, issue_id, digest)
    if cached is not None:
        model, brief = cached
        return Investigation(issue_id, "cached", f"brief of {model} cached", pack, brief, model)
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    c = settings.llm
    if not key or not c.enabled:
        why = "llm.enabled is false" if key else f"no Anthropic API key ({API_KEY_ENV})"
        return Investigation(issue_id, "skipped_disabled", f"{why}: the evidence pack alone", pack)
    if not _reserve_call(engine, now, c.daily_budget):
        return Investigation(
            issue_id,
            "skipped_budget",
            f"daily LLM budget of {c.daily_budget} calls spent for {budget_day(now)} (UTC)",
            pack,
        )
    import anthropic

    status: Status
    tool_choice: ToolChoiceToolParam = {"type": "tool", "name": TOOL_NAME}
    try:
        with anthropic.Anthropic(
            api_key=key,
            base_url=c.base_url,
            timeout=timeout_s or c.timeout_s,
            max_retries=max_retries,
        ) as client:
            message = client.messages.create(
                model=c.model,
                max_tokens=MAX_OUTPUT_TOKENS,
                system=_SYSTEM,
                messages=[{"role": "user", "content": _prompt(pack)}],
                tools=[brief_tool()],
                tool_choice=tool_choice,
            )
        brief = _brief_from(message, pack)
    except InvalidBrief as exc:
        return Investigation(issue_id, "invalid", _scrub(str(exc), key), pack, calls=1)
    except anthropic.APITimeoutError:
        return Investigation(issue_id, "timeout", "no answer in time", pack, calls=1)
    except (anthropic.RateLimitError, anthropic.OverloadedError) as exc:
        status = "rate_limited"
        return Investigation(issue_id, status, _scrub(str(exc), key), pack, calls=1)
    except (anthropic.APIError, json.JSONDecodeError) as exc:
        detail = f"{type(exc).__name__}: {exc}"
        return Investigation(issue_id, "error", _scrub(detail, key), pack, calls=1)
    model = message.model if isinstance(message.model, str) else c.model
    result = Investigation(issue_id, "ok", f"{model} wrote a brief", pack, brief, model, calls=1)
    _store(engine, settings, result, now)
    log.info("investigated issue %s with %s", issue_id, model, extra={"issue_id": issue_id})
    return result


def _scrub(text: str, key: str) -> str:
    return redact(text).replace(key, REDACTED)[:MAX_TEXT]


# -- from GitHub: `/triage investigate`, `/triage fix`, the claude:* labels -----------------------

JOB_KIND: Final = "investigate"
INVESTIGATE_LABEL: Final = "claude:investigate"
FIX_LABEL: Final = "claude:fix"


def queue_investigation(
    session: Session,
    issue_id: int,
    *,
    handoff: bool,
    repo: str | None,
    number: int | None,
    by: str,
    now: datetime,
    session_key: str | None = None,
    actor: str | None = None,
) -> bool:
    """Queue an investigation (and, with ``handoff``, the hand-off to the coding agent) in the
    caller's transaction; the job comments on the linked GitHub issue. A hand-off names the
    pending remediation session (``session_key``) its agent's hook events take over
    (:mod:`triagehub.engine.remediation`): the job is that session's. ``actor`` is who asked
    (default ``github:<by>``). False if queued already (at this instant, or for this
    session)."""
    what = "fix" if handoff else "brief"
    data: dict[str, Any] = {
        "issue_id": issue_id,
        "handoff": handoff,
        "repo": repo,
        "number": number,
        "by": by,
    }
    if session_key is not None:
        data["session_key"] = session_key
    if actor is not None:
        data["actor"] = actor
    return enqueue(
        session,
        kind=JOB_KIND,
        key=f"{JOB_KIND}:{issue_id}:{what}:{session_key or now.isoformat()}",
        data=data,
        now=now,
    )


def _cancelled(ctx: JobContext, session_key: object) -> bool:
    """Whether the hand-off's pending remediation session was cancelled (nothing to post)."""
    if not isinstance(session_key, str) or not session_key:
        return False
    with Session(ctx.engine) as session:
        row = find_session(session, session_key)
    return row is not None and row["status"] == CANCELLED


@job_handler(JOB_KIND)
def _investigate_job(job: Job, ctx: JobContext) -> Outcome:
    """Investigate; a hand-off comments on the GitHub issue mentioning the agent, a brief is
    posted through the outbox (``brief_github``, ``brief_slack``: one comment and one Slack reply
    per issue, kept current). A new brief queued its posts when it was stored; one asked for from
    GitHub that wrote none (cached, or the evidence alone) queues the comment here."""
    from triagehub.engine.notify import normalize_handle

    data = job.data
    issue_id = int(data["issue_id"])
    handoff = bool(data.get("handoff"))
    result = investigate(ctx.engine, ctx.settings, issue_id, clock=ctx.clock, github=ctx.github)
    handle_raw = ctx.settings.lifecycle.agent_handle
    handle = normalize_handle(handle_raw) if handle_raw else None
    repo, number = data.get("repo"), data.get("number")
    asked_on_github = isinstance(repo, str) and isinstance(number, int)
    posted = False
    note = ""
    cancelled = handoff and _cancelled(ctx, data.get("session_key"))
    if not handoff:
        note = "posted through the outbox (brief_github, brief_slack)"
    elif handle is None:
        note = "no agent to hand off to (lifecycle.agent_handle is not set)"
    elif cancelled:
        note = "the remediation session was cancelled before the hand-off: nothing posted"
    elif ctx.github is not None and isinstance(repo, str) and isinstance(number, int):
        key = data.get("session_key")
        handoff_id = str(key) if key else f"job-{job.id}"
        text = handoff_comment(result, handle, number, session_key=key, handoff=handoff_id)
        found = ctx.github.find_comment(repo, number, handoff_marker(issue_id, handoff_id))
        if found is None:  # not posted by an earlier try whose answer was lost
            ctx.github.create_comment(repo, number, text)
        else:
            note = f"handed to {handle} on GitHub (comment {found}, posted by an earlier try)"
        posted = True
    else:
        note = "no linked GitHub issue or no GitHub client: nothing posted"
    now = ctx.clock.now()

    def record(rec: Recording) -> None:
        if not handoff and asked_on_github and result.status != "ok":
            queue_brief_posts(rec.session, rec.settings, result, rec.now, request=job.id)
        if handoff and not cancelled:
            rec.session.execute(
                t.issue_events.insert().values(
                    issue_id=issue_id,
                    kind="handed_off",
                    at=now,
                    actor=str(data.get("actor") or f"github:{data.get('by')}"),
                    run_id=None,
                    data={
                        "agent": handle,
                        "posted": posted,
                        "brief": result.brief is not None,
                        "session": data.get("session_key"),
                        "reason": note or f"handed to {handle} on GitHub",
                    },
                )
            )

    return Outcome(
        result={"status": result.status, "posted": posted, "handoff": handoff, "note": note},
        record=record,
    )


def queue_auto_investigations(session: Session, settings: Settings, now: datetime) -> int:
    """Queue an investigation of each new issue of an ``llm.auto_investigate`` priority that has
    none yet (once per issue: the job key says so). Nothing without an API key."""
    c = settings.llm
    if not c.enabled or not c.auto_investigate or not os.environ.get(API_KEY_ENV):
        return 0
    i = t.issues.c
    since = now - timedelta(hours=c.auto_investigate_hours)
    done = select(t.investigations.c.issue_id).where(t.investigations.c.issue_id == i.id)
    rows = session.execute(
        select(i.id)
        .where(
            i.priority.in_([level.value for level in c.auto_investigate]),
            i.first_seen >= since,
            i.resolved_at.is_(None),
            ~done.exists(),
        )
        .order_by(i.id)
        .limit(50)
    ).all()
    queued = 0
    for (issue_id,) in rows:
        queued += enqueue(
            session,
            kind=JOB_KIND,
            key=f"{JOB_KIND}:{issue_id}:auto",
            data={
                "issue_id": issue_id,
                "handoff": False,
                "repo": None,
                "number": None,
                "by": "monitor",
            },
            now=now,
        )
    return queued
