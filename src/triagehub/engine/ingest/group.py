"""Stage 2: join or create — find the issue each failure belongs to (fingerprint, alias, older
normaliser, near-identical template), else open a new one; then apply the failure to it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from triagehub.core.fingerprint import grouping_key, template_hash
from triagehub.core.models import HistoryClass, IssueState, Scope
from triagehub.core.patterns import FuzzyBudget, near_duplicate, same_identifiers
from triagehub.core.templates import Masker, TemplateMiner, same_dbt_test, same_family
from triagehub.engine.ingest.prepare import placeholder, title
from triagehub.engine.ingest.state import (
    MAX_AFFECTED,
    MAX_SCOPE_CANDIDATES,
    Failure,
    IngestContext,
    IssueWork,
    event,
    stored_work,
)
from triagehub.sources import dbt
from triagehub.store import grouping

Aliases = dict[str, tuple[str, str]]  # fingerprint -> (the issue's fingerprint, reason)
_RESOLVED = frozenset({IssueState.RESOLVED.value, IssueState.AUTO_RESOLVED.value})
# The values a new issue opens with (read once: an enum's ``.value`` is a slow property).
_OPEN = IssueState.OPEN.value
_NEW = HistoryClass.NEW.value


class IssueResolver:
    """Finds or creates the issue of every failure of one batch. ``works`` maps an issue's
    fingerprint to its work; ``aliases`` are the fingerprints that joined another issue."""

    def __init__(self, ctx: IngestContext) -> None:
        self.ctx = ctx
        self.works: dict[str, IssueWork] = {}
        self.by_id: dict[int, IssueWork] = {}
        self.aliases: Aliases = {}

    def adopt(self, row: dict[str, Any]) -> IssueWork:
        """The work of a stored issue (made once per batch)."""
        work = self.works.get(row["fingerprint"])
        if work is None:
            work = stored_work(row)
            self.works[row["fingerprint"]] = work
            self.by_id[row["id"]] = work
        return work

    def resolve(self, failures: list[Failure], now: datetime) -> dict[str, IssueWork]:
        """Find or create the issue of every failure, by fingerprint, then by an alias stored
        earlier, then by an older normaliser version's fingerprint, then by a near-identical
        template in the same scope; else a new issue. ``f.issue_key`` names the issue."""
        for f in failures:
            f.issue_key = f.fingerprint
        session = self.ctx.session
        for row in grouping.issues_by_fingerprint(
            session=session, fingerprints={f.fingerprint for f in failures}
        ):
            self.adopt(row)
        unknown = [f for f in failures if f.fingerprint not in self.works]
        if unknown:
            alias = grouping.aliases(session=session, fingerprints={f.fingerprint for f in unknown})
            for row in grouping.issues_by_id(
                session=session, ids=set(alias.values()) - self.by_id.keys()
            ):
                self.adopt(row)
            for f in unknown:
                if f.fingerprint in alias and alias[f.fingerprint] in self.by_id:
                    f.issue_key = self.by_id[alias[f.fingerprint]].row["fingerprint"]
            unknown = [f for f in unknown if f.issue_key == f.fingerprint]
        if unknown and len(self.ctx.normalizers) > 1:
            unknown = self._join_older_versions(unknown)
        if unknown:
            _NearJoiner(self, unknown).join_or_create(unknown, now)
        return self.works

    def _join_older_versions(self, unknown: list[Failure]) -> list[Failure]:
        """A new normaliser version must not re-split history: a failure whose template under an
        older version matches an issue of that version joins it."""
        ctx = self.ctx
        # Only the versions some stored issue was made by: an installation that began with
        # the current version has none, and its failures are not normalised again.
        versions = grouping.versions_in_use(
            session=ctx.session, versions=[v for v in ctx.normalizers if v != ctx.version]
        )
        if not versions:
            return unknown
        older: dict[str, list[tuple[Failure, int]]] = {}
        for f in unknown:
            if f.storm:
                continue
            for version in sorted(versions, reverse=True):
                template = ctx.normalize(f.text, version) or placeholder(f.result)
                key = grouping_key(
                    scope=f.scope,
                    repository=f.report.repository,
                    check=f.result.check if f.scope is Scope.CHECK else None,
                    template=template,
                    version=version,
                )
                older.setdefault(key, []).append((f, version))
        for row in grouping.issues_by_fingerprint(session=ctx.session, fingerprints=older):
            work = self.adopt(row)
            for f, version in older[row["fingerprint"]]:
                if f.issue_key == f.fingerprint:
                    f.issue_key = work.row["fingerprint"]
                    self.aliases[f.fingerprint] = (f.issue_key, f"normalizer v{version}")
        return [f for f in unknown if f.issue_key == f.fingerprint]


class _NearJoiner:
    """Joins a failure to a near-identical template of the same scope (bounded by a budget),
    else creates its issue; the issues made meanwhile are candidates for the next ones."""

    def __init__(self, resolver: IssueResolver, unknown: list[Failure]) -> None:
        self.resolver = resolver
        ctx = resolver.ctx
        joinable = [f for f in unknown if not f.storm]
        self.candidates = grouping.scope_candidates(
            session=ctx.session,
            check_ids={f.check_pk for f in joinable if f.scope is Scope.CHECK},
            repository_ids={f.repo_id for f in joinable if f.scope is Scope.REPOSITORY},
            version=ctx.version,
            per_scope=MAX_SCOPE_CANDIDATES,
        )
        self.budget = FuzzyBudget()
        self.rows_by_fp = {r["fingerprint"]: r for rows in self.candidates.values() for r in rows}
        self.miners: dict[tuple[Any, ...], tuple[TemplateMiner, dict[int, str]]] = {}
        self.masker = Masker()  # one for the batch's miners: the tokens recur across scopes

    def miner_for(self, key: tuple[Any, ...]) -> tuple[TemplateMiner, dict[int, str]]:
        """A template miner over the scope's issue templates, oldest first: it learns which
        tokens vary among them (cluster id -> the issue that opened the cluster)."""
        if key not in self.miners:
            miner, owners = TemplateMiner(masker=self.masker), dict[int, str]()
            for row in reversed(self.candidates.get(key, [])):
                owners.setdefault(miner.add(row["template"]).cluster_id, row["fingerprint"])
            self.miners[key] = (miner, owners)
        return self.miners[key]

    def join_or_create(self, unknown: list[Failure], now: datetime) -> None:
        resolver, ctx = self.resolver, self.resolver.ctx
        works = resolver.works
        join = ctx.settings.grouping.join_near_identical
        for f in unknown:
            if f.fingerprint in works:
                continue
            key = grouping.scope_key(str(f.scope), f.repo_id, f.check_pk)  # (its value)
            match: dict[str, Any] | None = None
            reason = "near-identical template"
            cluster_id: int | None = None
            if not f.storm and join:
                match, reason, cluster_id = self._match(f, key)
            if match is not None:
                work = works.get(match["fingerprint"])
                if work is None:  # read again, locked: this batch rewrites it
                    fresh = grouping.issues_by_id(session=ctx.session, ids={match["id"]})
                    work = resolver.adopt(fresh[0] if fresh else match)
                f.issue_key = work.row["fingerprint"]
                resolver.aliases[f.fingerprint] = (f.issue_key, reason)
                continue
            work = new_issue(f, ctx.version, now)
            works[f.fingerprint] = work
            if not f.storm:
                self.candidates.setdefault(key, []).insert(0, work.row)
                self.rows_by_fp[f.fingerprint] = work.row
                if key in self.miners and cluster_id is not None:
                    self.miners[key][1].setdefault(cluster_id, f.fingerprint)
        if self.budget.exhausted:
            ctx.summary.warnings.append(
                f"fuzzy grouping budget spent after {self.budget.checks} comparisons; "
                "the remaining templates were grouped exactly"
            )

    def _match(
        self, f: Failure, key: tuple[Any, ...]
    ) -> tuple[dict[str, Any] | None, str, int | None]:
        """The candidate issue ``f`` joins, why, and the template cluster it fell in (if the
        miner was asked)."""
        budget = self.budget
        owned = False  # a candidate with f's identifiers: one the miner's cluster may name
        for candidate in self.candidates.get(key, ()):
            if not budget.spend():
                break
            if f.report.source == dbt.SOURCE and same_dbt_test(f.template, candidate["template"]):
                return candidate, "same dbt test", None
            if not same_identifiers(f.template, candidate["template"]):
                continue  # another column, table, module or value: another failure
            if same_family(f.template, candidate["template"]) or near_duplicate(
                f.template, candidate["template"]
            ):
                return candidate, "near-identical template", None
            owned = True
        if budget.exhausted or not self.candidates.get(key):
            return None, "near-identical template", None
        if not owned and key not in self.miners:
            # Every candidate was compared, and none has f's identifiers: whatever cluster the
            # miner put f in, its owner (a candidate) could not be joined. The miner is not
            # built yet: f opens an issue, a candidate from now on, and the miner built when
            # first needed learns its template from the candidates in the very order it would
            # have learnt it here (the owners alike).
            return None, "near-identical template", None
        miner, owners = self.miner_for(key)
        cluster_id = miner.add(f.template).cluster_id
        owner = owners.get(cluster_id)
        if (
            owner is not None
            and owner in self.rows_by_fp
            and same_identifiers(f.template, self.rows_by_fp[owner]["template"])
        ):
            return self.rows_by_fp[owner], "mined template family", cluster_id
        return None, "near-identical template", cluster_id


def new_issue(f: Failure, version: int, now: datetime) -> IssueWork:
    """The work of a new issue opened by ``f`` (a flat row of every column: read as a table)."""
    row: dict[str, Any] = {
        "id": None,
        "repository_id": f.repo_id,
        "fingerprint": f.fingerprint,
        "normalizer_version": version,
        "source": f.report.source,
        "scope": str(f.scope),  # a StrEnum's str() is its value, cheaper than ``.value``
        "check_id": f.check_pk if f.scope is Scope.CHECK else None,
        "pattern_id": None,
        "title": title(f, checks=1)[:300],
        "template": f.template,
        "template_hash": template_hash(f.template),
        "sample_message": f.message[:4096],
        "state": _OPEN,
        "category": "pending_classification",
        "kind": str(f.kind.kind),
        "severity": "medium",
        "priority": "medium",
        "history_class": _NEW,
        "decision": "pending",
        "rationale": "",
        "confidence": 0.0,
        "classification_source": "rules",
        "expert": None,
        "assignee": None,
        "labels": [],
        "overrides": {},
        "affected_models": [],
        "spec_change": None,
        "llm_verdict": None,
        "sla_due_at": None,
        "escalate_after_hours": None,
        "first_seen": f.at,
        "last_seen": f.at,
        "occurrences": 0,
        "checks_count": 0,
        "resolved_at": None,
        "snoozed_until": None,
        "snooze_occurrences": None,
        "escalation_level": 0,
        "escalated_at": None,
        "escalations": {},
        "sla_breached_at": None,
        "github_repo": None,
        "github_number": None,
        "github_node_id": None,
        "github_url": None,
        "github_status": None,
        "github_synced_at": None,
        "github_synced_version": None,
        "github_body_hash": None,
        "github_body_at": None,
        "github_state": None,
        "github_labels": [],
        "github_event_cursor": None,
        "github_agent_at": None,
        "created_at": now,
        "updated_at": now,
    }
    work = IssueWork(row, True, ())
    work.events.append(
        event("created", f.at, f.run_pk, {"title": row["title"], "scope": row["scope"]})
    )
    return work


def apply_failure(ctx: IngestContext, work: IssueWork, f: Failure, now: datetime) -> None:
    """Count ``f`` on its issue: occurrences, first/last seen, its check, and what a new
    failure does to a resolved (regressed) or snoozed issue."""
    row = work.row
    work.touched = True
    at, last_seen = f.at, row["last_seen"]
    latest = at >= last_seen or (work.is_new and row["occurrences"] == 0)
    first_seen = row["first_seen"]
    if at < first_seen or (work.is_new and work.earliest is None):
        work.earliest = f
    row["occurrences"] += 1
    work.new_occurrences += 1
    # min() and max() of two, spelt out (once per failure): each keeps the first of equals.
    if at < first_seen:
        row["first_seen"] = at
    if at > last_seen:
        row["last_seen"] = at
    row["updated_at"] = now
    entry = work.checks.get(f.check_pk)
    if entry is None:
        work.checks[f.check_pk] = [at, at, 1]
    else:
        if at < entry[0]:
            entry[0] = at
        if at > entry[1]:
            entry[1] = at
        entry[2] += 1
    if row["state"] in _RESOLVED:  # (what ``_regress`` looks at first)
        _regress(ctx, work, f)
    if row["snooze_occurrences"] is not None:  # (what ``_count_down_snooze`` looks at first)
        _count_down_snooze(work, f)
    if f.result.affected:
        known = row["affected_models"]
        merged = list(dict.fromkeys((*known, *f.result.affected)))[:MAX_AFFECTED]
        if merged != known:
            row["affected_models"] = merged
    if latest:
        work.latest = f


def _regress(ctx: IngestContext, work: IssueWork, f: Failure) -> None:
    """A resolved issue that fails again after its resolution is regressed."""
    row = work.row
    if row["state"] not in _RESOLVED:
        return
    state = IssueState(row["state"])
    resolved_at = row["resolved_at"]
    if resolved_at is None or f.at > resolved_at:
        row["state"] = IssueState.REGRESSED.value
        row["resolved_at"] = None
        ctx.summary.regressions += 1
        work.events.append(
            event(
                "state_changed",
                f.at,
                f.run_pk,
                {
                    "from": state.value,
                    "to": IssueState.REGRESSED.value,
                    "reason": f"failed again at commit {f.report.commit or 'unknown'} "
                    f"after it was resolved",
                },
            )
        )


def _count_down_snooze(work: IssueWork, f: Failure) -> None:
    """An issue snoozed for a number of occurrences wakes up at the last of them."""
    row = work.row
    remaining = row["snooze_occurrences"]
    if remaining is None:
        return
    if remaining > 1:
        row["snooze_occurrences"] = remaining - 1
    else:
        row["snooze_occurrences"] = None
        row["snoozed_until"] = None
        work.events.append(
            event(
                "unsnoozed",
                f.at,
                f.run_pk,
                {"reason": "the occurrences it was snoozed for have arrived"},
            )
        )
