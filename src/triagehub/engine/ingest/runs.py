"""The repositories, runs and checks of a batch: created race-free, runs deduplicated, each
check's rolling history loaded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triagehub.core.models import CheckResult, RunReport
from triagehub.engine.ingest.state import STATS_FIELDS, RunKey
from triagehub.store import grouping, retention
from triagehub.store import tables as t
from triagehub.store.bulk import BulkWriter, data_columns
from triagehub.store.dialect import dialect_name, insert_ignoring, lock_repositories, one_of

if TYPE_CHECKING:
    from triagehub.config import Settings
    from triagehub.core.history import CheckHistory

# A run to store: its key, its report, one result per check, whether it is a storm.
NewRun = tuple[RunKey, RunReport, list[CheckResult], bool]
RUN_COLUMNS = data_columns(t.runs)  # rows are built in this order
ARRAY_SLICE = 50_000  # values per PostgreSQL array parameter (a batch holds 20,000 results)


class Catalog:
    """The ids of repositories and checks, cached across the batches of one ``Ingestor``."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.bulk = BulkWriter(session)
        self._repos: dict[str, int] = {}
        self._checks: dict[tuple[int, str], int] = {}
        # Values per ``IN``: SQLite's parameter limit; PostgreSQL takes them as one array
        # parameter (``one_of``), so a batch's lookup is one statement.
        self._slice = ARRAY_SLICE if dialect_name(session) == "postgresql" else grouping.CHUNK

    def ensure_repositories(self, names: set[str], now: datetime) -> dict[str, int]:
        """The ids of these repositories (created if new, race-free), write-locked until the
        transaction ends: everything after this reads and changes rows of these repositories
        only (runs, checks, their history, issues), so concurrent ingests serialise per
        repository and count exactly like one serial ingest."""
        missing = sorted(n for n in names if n not in self._repos)
        if missing:
            self._select_repositories(missing)
            new = [n for n in missing if n not in self._repos]
            if new:
                rows = self.session.execute(
                    insert_ignoring(self.session, t.repositories, "name").returning(
                        t.repositories.c.name, t.repositories.c.id
                    ),
                    [
                        {
                            "name": n,
                            "priority_level": self.settings.repository(n).priority_level.value,
                            "created_at": now,
                        }
                        for n in new
                    ],
                )
                self._repos.update({name: pk for name, pk in rows})
                # Created meanwhile by another transaction (its insert won).
                self._select_repositories([n for n in new if n not in self._repos])
        ids = {n: self._repos[n] for n in names}
        lock_repositories(self.session, ids.values())
        return ids

    def _select_repositories(self, names: Sequence[str]) -> None:
        for chunk in grouping.chunks(names):
            rows = self.session.execute(
                select(t.repositories.c.name, t.repositories.c.id).where(
                    t.repositories.c.name.in_(chunk)
                )
            )
            self._repos.update({name: pk for name, pk in rows})

    def existing_runs(self, keys: list[RunKey]) -> dict[Any, str]:
        """The digest of each of these runs that is stored already."""
        found: dict[Any, str] = {}
        wanted = set(keys)
        ids = sorted({k[2] for k in keys})
        for condition in one_of(self.session, t.runs.c.external_id, ids, self._slice):
            rows = self.session.execute(
                select(
                    t.runs.c.repository_id,
                    t.runs.c.source,
                    t.runs.c.external_id,
                    t.runs.c.attempt,
                    t.runs.c.digest,
                ).where(condition)
            )
            for repo_id, source, ext, attempt, digest in rows:
                key = (repo_id, source, ext, attempt)
                if key in wanted:
                    found[key] = digest
        return found

    def pruned(self, keyed: Mapping[RunKey, RunReport]) -> tuple[datetime | None, list[RunKey]]:
        """The retention horizon, and the runs not stored that finished before it: they may have
        been pruned (``triagehub db prune``), so they are not ingested again. Read after
        ``existing_runs``: a run a prune deleted in between is past a horizon set before."""
        limit = retention.horizon(self.session) if keyed else None
        if limit is None:
            return None, []
        return limit, [k for k, r in keyed.items() if r.occurred_at and r.occurred_at < limit]

    def insert_runs(
        self, runs: list[NewRun], digests: Mapping[RunKey, str], now: datetime
    ) -> list[int]:
        """Store the runs; their ids, in the order given."""
        return self.bulk.insert_returning_ids(
            t.runs,
            RUN_COLUMNS,
            (
                (
                    key[0],
                    report.source,
                    report.run_id,
                    report.attempt,
                    report.commit,
                    report.branch,
                    report.url,
                    report.status,
                    report.started_at,
                    report.finished_at,
                    report.occurred_at or now,
                    now,
                    len(results),
                    sum(1 for r in results if r.status.is_failure),
                    storm,
                    digests[key],
                )
                for key, report, results, storm in runs
            ),
        )

    def ensure_checks(
        self, keys: set[tuple[int, str]], now: datetime
    ) -> dict[tuple[int, str], int]:
        """The ids of these ``(repository id, check key)`` checks, created if new, race-free."""
        if len(self._checks) > 200_000:
            self._checks.clear()
        missing = [k for k in keys if k not in self._checks]
        by_repo: dict[int, list[str]] = {}
        for repo_id, check in missing:
            by_repo.setdefault(repo_id, []).append(check)
        for repo_id, names in by_repo.items():
            for condition in one_of(self.session, t.checks.c.key, names, self._slice):
                rows = self.session.execute(
                    select(t.checks.c.key, t.checks.c.id).where(
                        t.checks.c.repository_id == repo_id, condition
                    )
                )
                self._checks.update({(repo_id, key): pk for key, pk in rows})
        new = sorted(k for k in missing if k not in self._checks)
        if new:
            self._insert_checks(new, now)
        return {k: self._checks[k] for k in keys}

    def _insert_checks(self, new: list[tuple[int, str]], now: datetime) -> None:
        # One statement on PostgreSQL (a JSON document, not a parameter per value), a few
        # hundred rows a statement on SQLite; ids in the order given, as one row at a time.
        inserted = self.bulk.insert_ignoring_returning(
            t.checks,
            ("repository_id", "key", "created_at"),
            ((r, k, now) for r, k in new),
            ("repository_id", "key"),
            ("repository_id", "key", "id"),
        )
        for repo_id, key, pk in inserted:
            self._checks[(repo_id, key)] = pk
        for repo_id, key in new:  # created meanwhile by another transaction
            if (repo_id, key) not in self._checks:
                self._checks[(repo_id, key)] = self.session.execute(
                    select(t.checks.c.id).where(
                        t.checks.c.repository_id == repo_id, t.checks.c.key == key
                    )
                ).scalar_one()

    def load_stats(self, check_pks: set[int]) -> tuple[dict[int, CheckHistory], set[int]]:
        """The rolling history of each check, and which of them have none stored yet."""
        from triagehub.core.history import CheckHistory  # (a batch with new runs only)

        stats: dict[int, CheckHistory] = {}
        cols = [t.check_stats.c.check_id, *(t.check_stats.c[f] for f in STATS_FIELDS)]
        pks = sorted(check_pks)
        for condition in one_of(self.session, t.check_stats.c.check_id, pks, self._slice):
            for row in self.session.execute(select(*cols).where(condition)):
                stats[row[0]] = CheckHistory(*row[1:])
        new = check_pks - stats.keys()
        for pk in new:
            stats[pk] = CheckHistory()
        return stats, new
