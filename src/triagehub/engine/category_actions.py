"""What each category does (the brief's per-category actions), once per issue and category.

- ``transient_failure``: watched and re-run (the monitor's auto-resolution and ``self_heal``).
- ``code_fix_required``: with ``category_actions.code_fix_requires_pr`` it resolves only with a
  linked merged pull request (:func:`link_pull_request`, from ``pull_request`` webhooks whose
  title or body says ``Fixes owner/name#12`` / ``#12`` of the issue's GitHub issue) or a person;
  the monitor asks :func:`may_auto_resolve`.
- ``data_quality_issue``: its owners (the expert: dbt ``meta.owner`` or the routing) are notified
  with the upstream freshness state: the repository's open ``freshness`` issues, or that none is.
- ``infrastructure_issue``: ``platform_channel`` is notified with what is affected (checks,
  repositories, the runs' hosts and services named in the message).
- ``false_positive``: a classification rule is proposed (a ``rule_proposed`` event with the
  YAML, shown on the issue); ``triagehub rules accept ISSUE --config FILE`` adds it.

Every action is an event on the timeline (``category_action``, with the category): a tick does
each once per issue and category.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.core.lifecycle import WORKING_STATES, Actor
from triagehub.core.models import Category, Kind
from triagehub.engine.notify import enqueue_issue_notification
from triagehub.engine.oncall import alert_channel
from triagehub.store import tables as t
from triagehub.store.lifecycle import record_event

ACTION: Final = "category_action"
_WORKING: Final = [s.value for s in WORKING_STATES]
_CLOSING = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+(?:([\w.\-]+/[\w.\-]+))?#(\d+)", re.I
)
_HOSTS = re.compile(
    r"\b(?:runner|host|hostname|service|node)[ =:]+[\"']?([A-Za-z0-9][\w.\-]{1,80})", re.I
)


def proposed_rule(row: Mapping[str, Any]) -> dict[str, Any]:
    """The classification rule that would classify this issue's failures as false positives:
    its repository, its check and the first line of its template (a regular expression)."""
    first = str(row["template"]).strip().splitlines()[0] if str(row["template"]).strip() else ""
    pattern = re.escape(first[:200]).replace(r"\<", "<").replace(r"\>", ">")
    pattern = re.sub(r"<[A-Z_]+>", ".*", pattern)  # the template's masks
    match: dict[str, Any] = {"repository": row["repository"]}
    if row.get("check_key"):
        match["check"] = row["check_key"]
    if pattern:
        match["message"] = pattern
    return {
        "name": f"false-positive-{str(row['fingerprint'])[:10]}",
        "match": match,
        "set": {"category": Category.FALSE_POSITIVE.value, "decision": "ignore"},
    }


def rule_yaml(rule: Mapping[str, Any]) -> str:
    return yaml.safe_dump([dict(rule)], sort_keys=False, allow_unicode=True).strip()


def _rows(session: Session, categories: list[str]) -> list[dict[str, Any]]:
    """The issues of these categories whose action was not done yet (false positives close at
    the tick: closed ones get their proposal too)."""
    done = {
        (issue_id, str((data or {}).get("category")))
        for issue_id, data in session.execute(
            select(t.issue_events.c.issue_id, t.issue_events.c.data).where(
                t.issue_events.c.kind == ACTION
            )
        )
    }
    query = (
        select(
            t.issues,
            t.repositories.c.name.label("repository"),
            t.checks.c.key.label("check_key"),
        )
        .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
        .outerjoin(t.checks, t.checks.c.id == t.issues.c.check_id)
        .where(
            t.issues.c.category.in_(categories),
            t.issues.c.state.in_([*_WORKING, Category.FALSE_POSITIVE.value]),
        )
        .order_by(t.issues.c.id)
    )
    return [
        dict(r) for r in session.execute(query).mappings() if (r["id"], r["category"]) not in done
    ]


def _notify(
    session: Session, row: Mapping[str, Any], text: str, channel: str | None, now: datetime
) -> None:
    enqueue_issue_notification(
        session,
        row,
        event="category_action",
        text=text,
        reason=f"action:{row['category']}",
        channel=channel,
        now=now,
    )


def _freshness(session: Session, row: Mapping[str, Any]) -> str:
    stale = session.execute(
        select(t.issues.c.id, t.issues.c.title)
        .where(
            t.issues.c.repository_id == row["repository_id"],
            t.issues.c.kind == Kind.FRESHNESS.value,
            t.issues.c.state.in_(_WORKING),
            t.issues.c.id != row["id"],
        )
        .order_by(t.issues.c.id)
        .limit(10)
    ).all()
    if not stale:
        return "upstream sources: no open freshness failure in this repository"
    listed = "; ".join(f"#{i} {title}" for i, title in stale)
    return f"upstream sources not fresh: {listed}"


def run_category_actions(
    session: Session, settings: Settings, now: datetime
) -> list[tuple[int, str]]:
    """Do the action of each issue's category once (see the module docstring)."""
    config = settings.category_actions
    if not config.enabled:
        return []
    categories = [Category.DATA_QUALITY.value, Category.INFRASTRUCTURE.value]
    categories.append(Category.FALSE_POSITIVE.value)
    if config.code_fix_requires_pr:
        categories.append(Category.CODE_FIX.value)
    done: list[tuple[int, str]] = []
    for row in _rows(session, categories):
        category = row["category"]
        data: dict[str, Any] = {"category": category}
        if category == Category.CODE_FIX.value:
            data["action"] = "resolves_with_merged_pr"
            data["reason"] = "resolves only with a linked merged pull request or a person"
        elif category == Category.DATA_QUALITY.value:
            state = _freshness(session, row)
            owners = row["assignee"] or row["expert"] or "the data owners"
            channel = alert_channel(settings, row["repository"], category, row["expert"]) or None
            data.update(action="owners_notified", owners=owners, upstream=state)
            data["reason"] = f"data quality: {owners} notified; {state}"
            _notify(
                session, row, f"Data quality issue #{row['id']} for {owners}: {state}", channel, now
            )
        elif category == Category.INFRASTRUCTURE.value:
            hosts = list(dict.fromkeys(_HOSTS.findall(str(row["sample_message"]))))[:10]
            affected = f"{row['checks_count']} check(s) of {row['repository']}"
            if hosts:
                affected += f"; runners/services: {', '.join(hosts)}"
            data.update(action="platform_notified", affected=affected, hosts=hosts)
            data["reason"] = f"infrastructure: platform notified ({affected})"
            _notify(
                session,
                row,
                f"Infrastructure issue #{row['id']}: {affected}",
                config.platform_channel,
                now,
            )
        elif category == Category.FALSE_POSITIVE.value:
            rule = proposed_rule(row)
            data.update(action="rule_proposed", rule=rule, yaml=rule_yaml(rule))
            data["reason"] = (
                f"proposed rule {rule['name']}: add it with `triagehub rules accept {row['id']} "
                "--config triagehub.yaml`"
            )
        record_event(session, row["id"], ACTION, at=now, actor=Actor.RULE.value, data=data)
        done.append((row["id"], str(data.get("action"))))
    return done


def may_auto_resolve(session: Session, settings: Settings, row: Mapping[str, Any]) -> bool:
    """Whether the monitor may resolve this issue on green runs alone."""
    if not (
        settings.category_actions.code_fix_requires_pr
        and row["category"] == Category.CODE_FIX.value
    ):
        return True
    linked = session.execute(
        select(t.issue_events.c.kind, t.issue_events.c.data).where(
            t.issue_events.c.issue_id == row["id"],
            t.issue_events.c.kind.in_(("pr_linked", "pr_merged")),
        )
    ).all()
    return any(
        kind == "pr_merged" or (isinstance(data, dict) and data.get("merged"))
        for kind, data in linked
    )


def link_pull_request(
    session: Session, payload: Mapping[str, Any], now: datetime
) -> tuple[str, str]:
    """A ``pull_request`` delivery: a merged pull request that closes linked GitHub issues
    (``Fixes #12``) is recorded on their triagehub issues (``pr_linked``)."""
    from triagehub.engine.sync.github_links import linked_row, text_or_none

    pr = payload.get("pull_request")
    repository = payload.get("repository")
    if payload.get("action") != "closed" or not isinstance(pr, Mapping):
        return "ignored", "only closed pull requests are read"
    if not pr.get("merged"):
        return "ignored", "the pull request was closed without merging"
    repo = text_or_none(repository.get("full_name")) if isinstance(repository, Mapping) else None
    number = pr.get("number")
    if repo is None or not isinstance(number, int):
        return "ignored", "the payload has no repository.full_name or pull_request.number"
    text = f"{pr.get('title') or ''}\n{pr.get('body') or ''}"
    linked: list[int] = []
    for target, ref in _CLOSING.findall(text):
        row = linked_row(session, target or repo, int(ref))
        if row is None or row["id"] in linked:
            continue
        linked.append(int(row["id"]))
        record_event(
            session,
            int(row["id"]),
            "pr_linked",
            at=now,
            actor="sync",
            data={
                "repository": repo,
                "number": number,
                "merged": True,
                "url": text_or_none(pr.get("html_url")),
                "reason": f"merged pull request {repo}#{number} fixes it",
            },
        )
    if not linked:
        return "ignored", "the pull request closes no linked issue"
    return "linked", f"{repo}#{number} linked to issue(s) {', '.join(map(str, linked))}"


__all__ = [
    "ACTION",
    "link_pull_request",
    "may_auto_resolve",
    "proposed_rule",
    "rule_yaml",
    "run_category_actions",
]
