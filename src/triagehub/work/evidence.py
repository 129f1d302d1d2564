"""The evidence pack of an issue: everything known about it, as data, without an LLM.

- ``key_excerpt``: the newest occurrence's stored excerpt (lines numbered within the excerpt) and
  its key error lines (what triagehub fingerprints);
- ``green_diff``: the failing log's lines absent from the check's last passing log (computed at
  ingest when both logs were given; line numbers index the failing log), else why not;
- ``history``: first failure and last pass (run, commit, time), failure and flip rates, the
  recent outcomes of the issue's primary check;
- ``suspects``: the commits between the last passing commit and the first failing one (GitHub's
  compare API, capped), with authors, messages, the range's changed files and which of them the
  error lines mention; ``status`` says why they are missing when they are;
- ``lineage``: what the failures reach (dbt models, exposures) and who owns the issue;
- ``affected_checks`` and ``similar``: issues of the same pattern, with how the resolved ones were
  resolved (the reason on their timeline, pull requests it names).

The pack carries a ``digest`` (SHA-256 of its content): a cache key for what is built from it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from triagehub.core.excerpt import extract_key
from triagehub.core.greendiff import files_in_text
from triagehub.core.timeparse import iso_z
from triagehub.errors import ExternalServiceError
from triagehub.store import evidence as evidence_store
from triagehub.store import tables as t
from triagehub.work.agent_prs import related_prs

log = logging.getLogger(__name__)

MAX_SUSPECTS = 20
MAX_FILES = 100
MAX_SIMILAR = 10
MAX_CHECKS = 50
_RESOLVED = ("resolved", "auto_resolved", "false_positive", "ignored")
_PR_REF = re.compile(r"(?:https://github\.com/[\w.-]+/[\w.-]+/pull/\d+|(?<![\w/])#\d+\b)")


class CompareClient(Protocol):
    """What the pack needs from GitHub (``triagehub.actions.github.GitHubClient``)."""

    def compare_commits(self, repo: str, base: str, head: str) -> dict[str, Any]: ...


def _run_ref(session: Session, run_pk: int | None) -> dict[str, Any] | None:
    if run_pk is None:
        return None
    r = session.execute(select(t.runs).where(t.runs.c.id == run_pk)).first()
    if r is None:
        return None
    return {
        "run": r.external_id,
        "attempt": r.attempt,
        "commit": r.commit_sha,
        "branch": r.branch,
        "url": r.url,
        "at": iso_z(r.occurred_at),
    }


def _flip_rate(recent: list[str]) -> float | None:
    if len(recent) < 2:
        return None
    flips = sum(1 for a, b in itertools.pairwise(recent) if a != b)
    return round(flips / (len(recent) - 1), 3)


def _history(session: Session, issue: Any, check_id: int | None) -> dict[str, Any] | None:
    if check_id is None:
        return None
    c, s = t.checks.c, t.check_stats.c
    row = session.execute(
        select(c.key, c.repository_id, t.check_stats)
        .outerjoin(t.check_stats, s.check_id == c.id)
        .where(c.id == check_id)
    ).first()
    if row is None:
        return None
    runs = int(row.runs or 0)
    bits = int(row.recent or 0)
    recent = ["fail" if bits >> n & 1 else "pass" for n in range(min(runs, 63))]
    o = t.occurrences.c
    first_fail_q = select(o.run_id, o.occurred_at).where(
        o.issue_id == issue.id, o.check_id == check_id
    )
    if row.last_pass_at is not None:
        first_fail_q = first_fail_q.where(o.occurred_at > row.last_pass_at)
    first = session.execute(first_fail_q.order_by(o.occurred_at, o.id).limit(1)).first()
    if first is None:  # every failure is older than the last pass: the first one ever
        first = session.execute(
            select(o.run_id, o.occurred_at)
            .where(o.issue_id == issue.id, o.check_id == check_id)
            .order_by(o.occurred_at, o.id)
            .limit(1)
        ).first()
    last_pass: dict[str, Any] | None = None
    if row.last_pass_at is not None:
        kept = evidence_store.pass_log_of(session=session, check_id=check_id)
        if kept is not None and kept["at"] == row.last_pass_at:
            last_pass = {**kept, "at": iso_z(kept["at"]), "log_kept": True}
        else:
            r = t.runs.c
            found = session.execute(
                select(r.id)
                .where(r.repository_id == row.repository_id, r.occurred_at == row.last_pass_at)
                .order_by((r.commit_sha == row.last_pass_commit).desc(), r.id.desc())
                .limit(1)
            ).first()
            ref = _run_ref(session, found.id if found else None) or {}
            last_pass = {
                "run": ref.get("run"),
                "url": ref.get("url"),
                "commit": row.last_pass_commit,
                "at": iso_z(row.last_pass_at),
                "log_kept": kept is not None,
            }
    return {
        "check": row.key,
        "runs": runs,
        "failures": int(row.failures or 0),
        "failure_rate": round(int(row.failures or 0) / runs, 3) if runs else None,
        "flip_rate": _flip_rate(recent),
        "flaky": bool(row.flaky),
        "consecutive_failures": int(row.consecutive_failures or 0),
        "recent": recent,
        "first_failure": _run_ref(session, first.run_id) if first else None,
        "last_pass": last_pass,
        "last_fail_commit": row.last_fail_commit,
    }


def _suspects(
    repository: str,
    history: dict[str, Any] | None,
    error_text: str,
    github: CompareClient | None,
) -> dict[str, Any]:
    last_pass = (history or {}).get("last_pass") or {}
    first_fail = (history or {}).get("first_failure") or {}
    base, head = last_pass.get("commit"), first_fail.get("commit")
    out: dict[str, Any] = {"base": base, "head": head, "commits": [], "files": []}
    if not base or not head:
        return {**out, "status": "unavailable", "reason": "no passing and failing commit known"}
    if base == head:
        return {
            **out,
            "status": "same_commit",
            "reason": "the check passed and failed on the same commit: not caused by a change "
            "(flaky or environment)",
        }
    if github is None:
        return {**out, "status": "unavailable", "reason": "no GitHub client (GITHUB_TOKEN unset)"}
    try:
        answer = github.compare_commits(repository, base, head)
    except (ExternalServiceError, ValueError) as exc:
        log.warning("compare %s %s...%s failed: %s", repository, base, head, exc)
        return {**out, "status": "unavailable", "reason": f"GitHub compare failed: {exc}"}
    commits_raw = answer.get("commits")
    files_raw = answer.get("files")
    commits_list = commits_raw if isinstance(commits_raw, list) else []
    files = [
        str(f["filename"])
        for f in (files_raw if isinstance(files_raw, list) else [])
        if isinstance(f, dict) and isinstance(f.get("filename"), str)
    ][:MAX_FILES]
    commits: list[dict[str, Any]] = []
    for c in reversed(commits_list):  # newest first: the likelier suspects
        if not isinstance(c, dict) or len(commits) >= MAX_SUSPECTS:
            continue
        inner = _obj(c.get("commit"))
        author = _obj(inner.get("author"))
        login = _obj(c.get("author")).get("login")
        message = str(inner.get("message") or "")
        commits.append(
            {
                "sha": str(c.get("sha") or ""),
                "author": login or author.get("name"),
                "date": author.get("date"),
                "message": message.splitlines()[0][:200] if message else "",
                "url": c.get("html_url"),
            }
        )
    total = answer.get("total_commits")
    return {
        **out,
        "status": "ok",
        "compare_url": answer.get("html_url"),
        "total_commits": total if isinstance(total, int) else len(commits_list),
        "commits": commits,
        "files": files,
        "files_in_errors": files_in_text(files, error_text),
    }


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _resolution(session: Session, issue_id: int) -> dict[str, Any] | None:
    e = t.issue_events.c
    for r in session.execute(
        select(e.data, e.at, e.actor)
        .where(e.issue_id == issue_id, e.kind == "state_changed")
        .order_by(e.at.desc(), e.id.desc())
        .limit(5)
    ):
        data = r.data if isinstance(r.data, dict) else {}
        if data.get("to") in _RESOLVED:
            reason = str(data.get("reason") or "")
            prs = sorted(set(_PR_REF.findall(reason)))
            return {
                "state": data.get("to"),
                "reason": reason,
                "by": data.get("by") or r.actor,
                "at": iso_z(r.at),
                "related_prs": prs,
            }
    return None


def _similar(session: Session, issue: Any) -> list[dict[str, Any]]:
    if issue.pattern_id is None:
        return []
    i = t.issues.c
    found: list[dict[str, Any]] = []
    for r in session.execute(
        select(i.id, i.title, i.state, i.repository_id, i.last_seen, i.resolved_at)
        .where(i.pattern_id == issue.pattern_id, i.id != issue.id)
        .order_by(i.last_seen.desc(), i.id.desc())
        .limit(MAX_SIMILAR)
    ):
        repo = session.execute(
            select(t.repositories.c.name).where(t.repositories.c.id == r.repository_id)
        ).scalar_one()
        found.append(
            {
                "id": r.id,
                "title": r.title,
                "repository": repo,
                "state": r.state,
                "last_seen": iso_z(r.last_seen),
                "resolution": _resolution(session, r.id) if r.state in _RESOLVED else None,
            }
        )
    return found


def _latest_occurrence(session: Session, issue_id: int) -> Any:
    """The issue's latest occurrence, with its check's key (None without any)."""
    o = t.occurrences.c
    return session.execute(
        select(o.run_id, o.check_id, o.message, o.log_excerpt, o.occurred_at, t.checks.c.key)
        .join(t.checks, t.checks.c.id == o.check_id)
        .where(o.issue_id == issue_id)
        .order_by(o.occurred_at.desc(), o.id.desc())
        .limit(1)
    ).first()


def _key_excerpt(session: Session, latest: Any) -> dict[str, Any]:
    """The latest occurrence's log, numbered, with the key lines that identify the failure."""
    text = latest.log_excerpt or latest.message
    lines = text.splitlines()
    key = extract_key(lines)
    return {
        "check": latest.key,
        "run": _run_ref(session, latest.run_id),
        "message": latest.message,
        "lines": [{"line": n + 1, "text": line} for n, line in enumerate(lines)],
        "key_lines": [n + 1 for n in key.line_numbers],
    }


def _green_diff(session: Session, latest: Any) -> tuple[dict[str, Any] | None, str]:
    """The failing log against the check's last passing log, and a note saying what it shows."""
    if latest is None:
        return None, "no occurrence"
    green = evidence_store.green_diff_of(
        session=session, run_id=latest.run_id, check_id=latest.check_id
    )
    if green is None:
        return None, (
            "no passing log of this check was kept before this failure (the source gave "
            "none), or the failure came without a log"
        )
    return green, (
        f"{green['new_lines']} of {green['total_lines']} lines of the failing log do "
        f"not occur in the passing log of run {green['against_run']}"
    )


def _affected_checks(session: Session, issue_id: int) -> list[str]:
    """The keys of the issue's checks, most recently failing first."""
    return [
        k
        for (k,) in session.execute(
            select(t.checks.c.key)
            .join(t.issue_checks, t.issue_checks.c.check_id == t.checks.c.id)
            .where(t.issue_checks.c.issue_id == issue_id)
            .order_by(t.issue_checks.c.last_seen.desc(), t.checks.c.key)
            .limit(MAX_CHECKS)
        )
    ]


def build_pack(
    *, session: Session, issue_id: int, github: CompareClient | None = None
) -> dict[str, Any] | None:
    """The evidence pack of an issue, or None when there is no such issue."""
    issue = session.execute(select(t.issues).where(t.issues.c.id == issue_id)).first()
    if issue is None:
        return None
    repository = session.execute(
        select(t.repositories.c.name).where(t.repositories.c.id == issue.repository_id)
    ).scalar_one()
    latest = _latest_occurrence(session, issue_id)
    key_excerpt = _key_excerpt(session, latest) if latest is not None else None
    error_text = issue.sample_message
    if latest is not None:
        error_text = f"{latest.message}\n{latest.log_excerpt or latest.message}"
    green, green_note = _green_diff(session, latest)
    check_id = (
        issue.check_id if issue.check_id is not None else (latest.check_id if latest else None)
    )
    history = _history(session, issue, check_id)
    pack: dict[str, Any] = {
        "issue_id": issue_id,
        "repository": repository,
        "title": issue.title,
        "state": issue.state,
        "category": issue.category,
        "kind": issue.kind,
        "severity": issue.severity,
        "key_excerpt": key_excerpt,
        "green_diff": green,
        "green_diff_note": green_note,
        "history": history,
        "suspects": _suspects(repository, history, error_text, github),
        "lineage": {
            "affected_models": list(issue.affected_models or []),
            "owners": [p for p in dict.fromkeys((issue.assignee, issue.expert)) if p],
        },
        "affected_checks": _affected_checks(session, issue_id),
        "checks_count": issue.checks_count,
        "similar": _similar(session, issue),
        "related_prs": related_prs(session, issue_id),
    }
    canonical = json.dumps(pack, sort_keys=True, default=str).encode()
    pack["digest"] = hashlib.sha256(canonical).hexdigest()
    return pack
