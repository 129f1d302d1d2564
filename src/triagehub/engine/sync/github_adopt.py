"""Issues opened by people on GitHub, adopted: ``gh issue create --label dbt-error`` ends
classified, labelled and assigned.

A repository whose ``github_issues`` section lists ``adopt_labels`` (e.g. ``[dbt-error,
ci-failure]``) has its GitHub issues (in the sync's target repository) watched: an ``issues``
delivery ``opened`` (or ``labeled``) by a person, carrying one of those labels, on an issue no
triagehub issue is linked to, queues a ``github_adopt`` job (:func:`queue_adoption`). The job
ingests the GitHub issue as one failure (source ``github_issue``, check ``github-issue/<n>``,
message: the title and the body, which often hold a pasted log; redacted, capped), so it is
fingerprinted and classified like any other failure, then links the triagehub issue to the
GitHub issue. From there the usual machinery applies: the sync adds the brief's labels (the
person's body is never replaced: the link is marked ``adopted``), the routing table assigns an
expert (GitHub assignee), alerts follow the priority. When the failure joined an issue that is
already linked to another GitHub issue, the adoption is recorded on the timeline (a duplicate)
and the person's issue is left as it is.

Re-linking (:func:`adopt_issues`, ``triagehub sync github --adopt``): the targets are searched for
the issues triagehub wrote (their metadata block), and the unlinked issues with the same
fingerprint are linked to them, e.g. after the database was lost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.redact import redact
from triagehub.engine.jobs import enqueue
from triagehub.engine.sync import render
from triagehub.engine.sync.github_links import (
    LINKED,
    configured,
    label_names,
    linked_row,
    managed_of,
    own_logins,
    target_of,
    text_or_none,
    time_of,
)
from triagehub.store import tables as t
from triagehub.store.lifecycle import record_event

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient, JSONObject

log = logging.getLogger(__name__)

ADOPT: Final = "github_adopt"
SOURCE: Final = "github_issue"
ADOPTED: Final = "adopted"  # github_body_hash of an adopted issue: its body is the person's
MAX_TEXT: Final = 20_000


def adoption_repository(settings: Settings, target: str) -> tuple[str, frozenset[str]] | None:
    """The triagehub repository whose GitHub issues go to ``target``, and its adopt labels."""
    for name, repo in settings.repositories.items():
        config = repo.github_issues
        if config is None or not config.adopt_labels:
            continue
        if target_of(name, config).lower() == target.lower():
            return name, frozenset(label.lower() for label in config.adopt_labels)
    return None


def queue_adoption(
    session: Session,
    settings: Settings,
    event: str,
    delivery: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> tuple[str, str] | None:
    """Queue the adoption of a person's labelled GitHub issue (in the caller's transaction);
    None when the delivery is not one (the caller handles it as usual)."""
    if event != "issues" or payload.get("action") not in ("opened", "labeled"):
        return None
    repository, issue = payload.get("repository"), payload.get("issue")
    if not isinstance(repository, Mapping) or not isinstance(issue, Mapping):
        return None
    target = text_or_none(repository.get("full_name"))
    number = issue.get("number")
    if target is None or not isinstance(number, int) or "pull_request" in issue:
        return None
    found = adoption_repository(settings, target)
    if found is None:
        return None
    name, wanted = found
    labels = label_names(issue)
    if not wanted & {label.lower() for label in labels}:
        return None
    sender = payload.get("sender")
    login = text_or_none(sender.get("login")) if isinstance(sender, Mapping) else None
    if (sender.get("type") if isinstance(sender, Mapping) else None) == "Bot":
        return "ignored", "an issue opened by a bot"
    if (login or "").lower() in own_logins(session) or render.is_own_text(issue.get("body")):
        return "ignored", "triagehub's own issue"
    if linked_row(session, target, number) is not None:
        return None  # linked already: a label change like any other
    title = redact(str(issue.get("title") or ""))[:300]
    body = redact(str(issue.get("body") or ""))[:MAX_TEXT]
    data = {
        "repository": name,
        "target": target,
        "number": number,
        "title": title,
        "body": body,
        "login": login or "unknown",
        "url": text_or_none(issue.get("html_url")),
        "node_id": text_or_none(issue.get("node_id")),
        "created_at": text_or_none(issue.get("created_at")),
        "labels": labels,
    }
    enqueue(session, kind=ADOPT, key=f"{ADOPT}:{target.lower()}:{number}", data=data, now=now)
    return "queued", f"adopting {target}#{number} (labelled {', '.join(sorted(wanted))})"


def report_of(data: Mapping[str, Any], now: datetime) -> RunReport:
    """The GitHub issue as one failure of its repository."""
    number = int(data["number"])
    title, body = str(data.get("title") or ""), str(data.get("body") or "")
    message = f"{title}\n{body}".strip()
    return RunReport(
        source=SOURCE,
        repository=str(data["repository"]),
        run_id=f"github-issue-{str(data['target']).lower()}-{number}",
        finished_at=time_of(data.get("created_at")) or now,
        url=data.get("url"),
        results=(CheckResult(f"github-issue/{number}", Status.FAIL, message or title, log=body),),
    )


def adoption_query(target: str) -> str:
    """The search for the issues triagehub wrote in a repository (its body's footer)."""
    return f'repo:{target} is:issue in:body "triagehub issue" fingerprint'


__all__ = ["ADOPT", "ADOPTED", "adoption_repository", "queue_adoption"]


# -- re-linking after a lost database (``triagehub sync github --adopt``) ------------------------


def adopt_issues(
    engine: Engine,
    settings: Settings,
    github: GitHubClient,
    *,
    now: datetime,
    repository: str | None = None,
) -> list[tuple[int, str, int]]:
    """Link the unlinked issues to the GitHub issues triagehub wrote for their fingerprint
    (found by search); return (issue id, target, number) of each link made."""
    configs = configured(settings, repository)
    by_target: dict[str, list[str]] = {}
    for name, cfg in configs.items():
        by_target.setdefault(target_of(name, cfg).lower(), []).append(name)
    linked: list[tuple[int, str, int]] = []
    for target, names in sorted(by_target.items()):
        found: dict[str, JSONObject] = {}
        for item in github.search_issues(adoption_query(target)):
            meta = render.parse_metadata(item.get("body"))
            fingerprint = meta.get("error_fingerprint") if meta else None
            number = item.get("number")
            if not isinstance(fingerprint, str) or not isinstance(number, int):
                continue
            if fingerprint not in found or number < int(found[fingerprint]["number"]):
                found[fingerprint] = item
        if not found:
            continue
        with Session(engine) as session, session.begin():
            i = t.issues.c
            rows = session.execute(
                select(i.id, i.fingerprint)
                .join(t.repositories, t.repositories.c.id == i.repository_id)
                .where(
                    t.repositories.c.name.in_(names),
                    i.github_number.is_(None),
                    i.fingerprint.in_(sorted(found)),
                )
            ).all()
            for issue_id, fingerprint in rows:
                _relink(session, issue_id, target, found[fingerprint], now)
                linked.append((issue_id, target, int(found[fingerprint]["number"])))
    return linked


def _relink(session: Session, issue_id: int, target: str, item: JSONObject, now: datetime) -> None:
    """Link an issue to the GitHub issue triagehub wrote for it, and say so on its timeline."""
    last_event = session.execute(
        select(func.max(t.issue_events.c.id)).where(t.issue_events.c.issue_id == issue_id)
    ).scalar()
    session.execute(
        update(t.issues)
        .where(t.issues.c.id == issue_id)
        .values(
            github_repo=target,
            github_number=item["number"],
            github_node_id=item.get("node_id"),
            github_url=item.get("html_url"),
            github_status=LINKED,
            github_state="closed" if item.get("state") == "closed" else "open",
            github_labels=managed_of(item),
            github_event_cursor=last_event or 0,
            github_synced_at=now,
            github_synced_version=None,  # the next tick brings body and labels up
        )
    )
    record_event(
        session,
        issue_id,
        "synced",
        at=now,
        actor="triagehub",
        data={
            "action": "adopted",
            "repository": target,
            "number": item["number"],
            "url": item.get("html_url"),
        },
    )
