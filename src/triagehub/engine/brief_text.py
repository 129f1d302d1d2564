"""Where an investigation brief is posted besides the timeline, and its texts there.

A brief has one GitHub comment and one Slack reply per issue, kept current:

- ``brief_github`` jobs (handled by :mod:`triagehub.engine.sync.brief_comment`) write the brief
  (:func:`brief_comment`) in ONE comment on the issue's GitHub issue: the first creates it, later
  ones edit it (``PATCH .../issues/comments/{id}``), one deleted on GitHub is created again.
- ``brief_slack`` jobs (handled by :mod:`triagehub.engine.brief_slack`) write it
  (:func:`slack_brief`: summary, top hypothesis, next step, a link to the issue page) as ONE
  reply in the issue's Slack thread, edited by later briefs (``chat.update``).

:func:`queue_brief_posts` writes those jobs in the caller's transaction (the one that stores the
brief). Their key holds the issue and a digest of what they post, so the same text is queued
once; a job that a later one of the same issue replaces is skipped when it runs. Every text is
redacted here, before it is stored in a job.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from triagehub.actions.slack import SlackConfig, clip, escape, slack_link
from triagehub.config import Settings
from triagehub.core.redact import redact
from triagehub.engine.jobs import (
    Deferred,
    Job,
    JobContext,
    Outcome,
    enqueue,
    running_before,
    superseded_by,
)
from triagehub.store import tables as t

if TYPE_CHECKING:
    from triagehub.engine.investigate import Investigation

BRIEF_GITHUB: Final = "brief_github"
BRIEF_SLACK: Final = "brief_slack"
BRIEF_COMMENT: Final = "brief_comment"  # the state row: the comment that holds the brief
BRIEF_REPLY: Final = "brief_reply"  # the state row: the Slack reply that holds the brief
SLACK_EVENT: Final = "triagehub_brief"  # the Slack message metadata that finds a reply again
PUBLIC_URL_ENV: Final = "TRIAGEHUB_PUBLIC_URL"
# The hand-off comment's marker: its own comment, posted once per hand-off (the marker names the
# hand-off, :func:`handoff_marker`, so that a retry finds the comment it posted).
MARKER: Final = "<!-- triagehub:investigation"
# The brief comment's marker starts like every triagehub comment's (``COMMENT_MARKER_PREFIX`` of
# ``engine.sync.markdown``, which this module cannot import: the sync imports it), so that the
# sync reads it as triagehub's own text; a test keeps the two in step.
_BRIEF_MARKER: Final = "<!-- triagehub:comment brief issue={} -->"


def brief_marker(issue_id: int) -> str:
    """The first line of the comment that holds an issue's brief (found by it after a crash)."""
    return _BRIEF_MARKER.format(int(issue_id))


def handoff_marker(issue_id: int, handoff: str) -> str:
    """The first line of the comment handing issue ``issue_id`` to the coding agent, for the
    hand-off ``handoff`` (its remediation session's key): found by it when the job is retried
    after GitHub's answer was lost, so that the hand-off is posted once."""
    clean = "".join(ch for ch in handoff if ch.isalnum() or ch in "-_.:")[:80]
    return f"{MARKER} issue={int(issue_id)} handoff={clean} -->"


def state_key(kind: str, issue_id: int) -> str:
    """The key of an issue's ``brief_comment`` or ``brief_reply`` state row."""
    return f"{kind}:{issue_id}"


def job_prefix(kind: str, issue_id: int) -> str:
    """What the keys of an issue's ``brief_github`` or ``brief_slack`` jobs start with."""
    return f"{kind}:{issue_id}:"


def take_turn(job: Job, ctx: JobContext, issue_id: int) -> Outcome | None:
    """``None`` when ``job`` may write the issue's brief now; a skipped :class:`Outcome` when a
    later job of its kind and issue replaces it; :class:`Deferred` while an earlier one is being
    worked on by another worker."""
    prefix = job_prefix(job.kind, issue_id)
    later = superseded_by(ctx.engine, job, prefix)
    if later is not None:
        return Outcome(result={"issue": issue_id, "skipped": f"replaced by job {later}"})
    wait = running_before(ctx.engine, job, prefix, ctx.clock.now())
    if wait is not None:
        raise Deferred(wait, f"another worker is posting the brief of issue {issue_id}")
    return None


# -- the GitHub comment ---------------------------------------------------------------------


def _evidence_lines(pack: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    diff = pack.get("green_diff") or pack.get("key_excerpt") or {}
    shown = [f"{x['line']:>5}  {x['text']}" for x in diff.get("lines", [])][:20]
    if shown:
        lines += ["```", *(s.replace("```", "'''") for s in shown), "```"]
    for c in (pack.get("suspects") or {}).get("commits", [])[:5]:
        lines.append(f"- suspect commit `{c['sha'][:12]}` {c['message']} ({c['author']})")
    return lines


def brief_markdown(result: Investigation) -> list[str]:
    brief = result.brief
    if brief is None:
        return [
            f"No AI brief ({result.status}: {result.detail}). The evidence:",
            *_evidence_lines(result.evidence),
        ]
    lines = [
        f"**Summary**: {brief['summary']}",
        f"**Cause**: {brief['cause']}"
        + (" (environment or flaky: a rerun is suggested)" if brief["suggest_rerun"] else ""),
        "**Hypotheses**:",
    ]
    lines += [
        f"{n}. {h['cause']} ({h['likelihood']:.0%}; {', '.join(h['evidence'])})"
        for n, h in enumerate(brief["hypotheses"], start=1)
    ]
    lines += [
        f"**Next step**: {brief['next_step']}",
        f"**Fix outline**: {brief['fix_outline']}",
        f"Confidence {brief['confidence']:.2f}, by {result.model}.",
        *_evidence_lines(result.evidence),
    ]
    return lines


def session_env(issue_id: int, session_key: str) -> dict[str, str]:
    """What the agent's hook script needs in its environment so that its session takes over the
    pending remediation session ``session_key`` (see :mod:`triagehub.work.agents.handoff`)."""
    return {
        "TRIAGEHUB_ISSUE": str(issue_id),
        "TRIAGEHUB_REMEDIATION": session_key,
        "TRIAGEHUB_SESSION_TYPE": "error_remediation",
    }


def handoff_comment(
    result: Investigation,
    handle: str,
    number: int | None,
    *,
    session_key: str | None = None,
    handoff: str | None = None,
) -> str:
    """The GitHub comment handing the issue to the coding agent: its marker (the hand-off
    ``handoff``, default ``session_key``: :func:`handoff_marker`), its mention, the brief (or
    the evidence), a task statement asking for a pull request that references the issue, and
    the environment that reports the agent's session to triagehub."""
    pack = result.evidence
    ref = f"#{number}" if number is not None else f"triagehub issue {result.issue_id}"
    marker = handoff_marker(result.issue_id, handoff or session_key or "")
    lines = [
        f"{handle} please fix this failure: {pack['title']} ({pack['repository']})",
        "",
        *brief_markdown(result),
        "",
        f"**Task**: find the root cause from the evidence above, make the smallest change that "
        f"fixes it with a test, and open a pull request whose description says `Fixes {ref}` "
        "so that triagehub links it and resolves the issue once the checks pass again.",
    ]
    if session_key is not None:
        env = " ".join(f"{k}={v}" for k, v in session_env(result.issue_id, session_key).items())
        lines += [
            "",
            f"**Session**: run with the triagehub hook (`triagehub agents install-hook`) and "
            f"`{env}` in the environment, so that your session shows on the triagehub issue "
            f"(remediation session `{session_key}`).",
        ]
    return f"{marker}\n" + redact("\n".join(lines))


def brief_comment(result: Investigation) -> str:
    """The body of the comment that holds the issue's brief (its marker first)."""
    lines = [
        brief_marker(result.issue_id),
        f"### Investigation of triagehub issue {result.issue_id}",
        "",
    ]
    return redact("\n".join(lines + brief_markdown(result)))


# -- the Slack reply ------------------------------------------------------------------------


def slack_fields(result: Investigation) -> dict[str, Any]:
    """What the Slack reply shows of a brief (redacted), as stored in the ``brief_slack`` job."""
    brief = result.brief or {}
    top = (brief.get("hypotheses") or [None])[0]
    return {
        "title": redact(str(result.evidence.get("title") or f"issue #{result.issue_id}")),
        "summary": redact(str(brief.get("summary", ""))),
        "hypothesis": (
            {
                "cause": redact(str(top["cause"])),
                "likelihood": float(top["likelihood"]),
                "evidence": [redact(str(e)) for e in top["evidence"]],
            }
            if isinstance(top, Mapping)
            else None
        ),
        "cause": str(brief.get("cause", "")),
        "suggest_rerun": bool(brief.get("suggest_rerun")),
        "next_step": redact(str(brief.get("next_step", ""))),
        "confidence": float(brief.get("confidence", 0.0)),
        "model": str(result.model or ""),
    }


def issue_page_url(issue_id: int, environ: Mapping[str, str] | None = None) -> str | None:
    """The issue's page on the dashboard, from ``TRIAGEHUB_PUBLIC_URL`` (the hub's address as
    people reach it), or ``None`` when it is not set."""
    env = os.environ if environ is None else environ
    base = env.get(PUBLIC_URL_ENV, "").strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        return None
    return f"{base}/issues/{int(issue_id)}"


def slack_brief(
    issue_id: int, fields: Mapping[str, Any], *, page: str | None, github: str | None
) -> dict[str, Any]:
    """The Block Kit reply of a brief: the summary, the top hypothesis with its evidence, the
    next step, then the cause, confidence and links (the issue page, the GitHub issue); its
    metadata names the issue (how a reply posted before a crash is found again)."""
    title = str(fields.get("title") or f"issue #{issue_id}")
    summary = str(fields.get("summary") or "")
    lines = [f"*Summary*: {escape(summary)}"]
    top = fields.get("hypothesis")
    if isinstance(top, Mapping):
        cited = ", ".join(str(e) for e in top.get("evidence") or [])
        lines.append(
            f"*Top hypothesis* ({float(top.get('likelihood', 0)):.0%}): "
            f"{escape(str(top.get('cause', '')))}" + (f" ({escape(cited)})" if cited else "")
        )
    lines.append(f"*Next step*: {escape(str(fields.get('next_step') or '-'))}")
    rerun = " (a rerun is suggested)" if fields.get("suggest_rerun") else ""
    facts = [
        f"Cause: {escape(str(fields.get('cause') or '-'))}{rerun}",
        f"confidence {float(fields.get('confidence', 0)):.2f}",
    ]
    if fields.get("model"):
        facts.append(f"by {escape(str(fields['model']))}")
    links = [
        slack_link(url, name)
        for url, name in ((page, "Issue page"), (github, "GitHub issue"))
        if url is not None
    ]
    if page is None:
        links.insert(0, f"triagehub issue #{issue_id}")
    return {
        "text": clip(escape(f"Investigation of issue #{issue_id}: {summary}"), 3000),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": clip(f"*Investigation: {escape(title)}*\n" + "\n".join(lines), 3000),
                },
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": clip(" · ".join(facts + links), 2000)}],
            },
        ],
        "metadata": {"event_type": SLACK_EVENT, "event_payload": {"issue_id": int(issue_id)}},
    }


# -- queueing -------------------------------------------------------------------------------


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def queue_brief_posts(
    session: Session,
    settings: Settings,
    result: Investigation,
    now: datetime,
    *,
    request: int | None = None,
) -> list[str]:
    """Queue the brief's GitHub comment (when the issue has, or may get, a GitHub issue) and,
    for a brief (not the evidence alone), its Slack reply (when a Slack bot is configured), in
    the caller's transaction; return the kinds queued. ``request``: the job that asked for it
    from GitHub (the comment is then written again even when its text did not change, so that
    a deleted one comes back)."""
    i = t.issues.c
    row = session.execute(
        select(i.github_number, t.repositories.c.name)
        .join(t.repositories, t.repositories.c.id == i.repository_id)
        .where(i.id == result.issue_id)
    ).first()
    if row is None:
        return []
    queued: list[str] = []
    repository = settings.repositories.get(row.name)
    if row.github_number is not None or (
        repository is not None and repository.github_issues is not None
    ):
        body = brief_comment(result)
        key = f"{job_prefix(BRIEF_GITHUB, result.issue_id)}{_digest(body)}"
        data: dict[str, Any] = {"issue_id": result.issue_id, "body": body}
        if request is not None:
            key, data["request"] = f"{key}:{request}", request
        if enqueue(session, kind=BRIEF_GITHUB, key=key, data=data, now=now):
            queued.append(BRIEF_GITHUB)
    if result.brief is not None and SlackConfig.from_env().mode == "bot":
        fields = slack_fields(result)
        key = f"{job_prefix(BRIEF_SLACK, result.issue_id)}{_digest(fields)}"
        data = {"issue_id": result.issue_id, "fields": fields}
        if enqueue(session, kind=BRIEF_SLACK, key=key, data=data, now=now):
            queued.append(BRIEF_SLACK)
    return queued
