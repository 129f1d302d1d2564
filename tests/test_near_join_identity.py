"""Near-identical grouping joins what it joined before its template miners were built lazily
(issue #24): a scope's miner is built only when a failure has a candidate with its identifiers
(the only candidates the miner's cluster could let it join), from the scope's candidates, which by
then hold the templates it would have learnt meanwhile, in the same order.

This module keeps ``_NearJoiner._match`` as it was on main at 98ca4f0 and ingests the same
failures with it and with the current one (Loghub's real log lines as messages, many per check
and repository scope, in several batches; the ingest benchmark's failures): the issues, their
aliases and the reasons of the joins must be the same, mined template families among them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from test_failure_core_identity import SHARED_DATA, benchmark_failures
from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.patterns import near_duplicate, same_identifiers
from triagehub.core.templates import same_dbt_test, same_family
from triagehub.engine.ingest import group as group_module
from triagehub.engine.ingest import ingest_reports
from triagehub.engine.ingest.group import _NearJoiner
from triagehub.engine.ingest.state import Failure
from triagehub.sources import dbt
from triagehub.store import tables as t
from triagehub.store.db import open_database

T0 = datetime(2026, 11, 1, tzinfo=UTC)
CLOCK = FixedClock(T0 + timedelta(days=40))

# -- the reference copy (main at 98ca4f0) -------------------------------------------------------


def reference_match(
    self: _NearJoiner, f: Failure, key: tuple[Any, ...]
) -> tuple[dict[str, Any] | None, str, int | None]:
    budget = self.budget
    for candidate in self.candidates.get(key, ()):
        if not budget.spend():
            break
        if f.report.source == dbt.SOURCE and same_dbt_test(f.template, candidate["template"]):
            return candidate, "same dbt test", None
        if not same_identifiers(f.template, candidate["template"]):
            continue
        if same_family(f.template, candidate["template"]) or near_duplicate(
            f.template, candidate["template"]
        ):
            return candidate, "near-identical template", None
    if budget.exhausted or not self.candidates.get(key):
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


# -- the failures -------------------------------------------------------------------------------


def _loghub_batches() -> Iterator[list[RunReport]]:
    """Per Loghub system: its lines as the messages of a few checks (check scope) of two
    repositories, in runs of eight, in three ingests (the later ones find stored candidates)."""
    rng = random.Random(24)
    for path in sorted((SHARED_DATA / "loghub2k").glob("*/*_2k.log")):
        lines = [x for x in path.read_text(encoding="utf-8", errors="replace").splitlines() if x]
        lines = lines[:: max(1, len(lines) // 400)]
        system = path.parent.name
        reports = []
        for n in range(0, len(lines), 8):
            results = tuple(
                CheckResult(f"{system} / job {rng.randrange(3)} #{i}", Status.FAIL, line)
                for i, line in enumerate(lines[n : n + 8])
            )
            reports.append(
                RunReport(
                    "generic",
                    f"acme/{system.lower()}{n % 2}",
                    f"{system}-{n}",
                    commit=f"c{n}",
                    finished_at=T0 + timedelta(minutes=n),
                    results=results,
                )
            )
        third = max(1, len(reports) // 3)
        yield from (reports[:third], reports[third : 2 * third], reports[2 * third :])


def _benchmark_batches() -> Iterator[list[RunReport]]:
    failures = benchmark_failures(3000)
    reports = [
        RunReport(
            "generic",
            repository,
            f"b{n}",
            finished_at=T0 + timedelta(seconds=n),
            results=(CheckResult(check, Status.FAIL, message),),
        )
        for n, (repository, check, message) in enumerate(failures)
    ]
    yield reports[:1500]
    yield reports[1500:]


def _stored(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]:
    engine = open_database(url)
    try:
        with Session(engine) as session:
            i, a = t.issues.c, t.issue_aliases.c
            issues = session.execute(
                select(i.id, i.fingerprint, i.template, i.occurrences, i.scope).order_by(i.id)
            ).all()
            aliases = session.execute(
                select(a.fingerprint, a.issue_id, a.reason).order_by(a.fingerprint)
            ).all()
            reasons = [str(r) for r in session.execute(select(a.reason)).scalars()]
    finally:
        engine.dispose()
    return [tuple(r) for r in issues], [tuple(r) for r in aliases], reasons


def _ingest(url: str, batches: list[list[RunReport]]) -> None:
    engine = open_database(url)
    try:
        for batch in batches:
            ingest_reports(engine, batch, Settings(), clock=CLOCK)
    finally:
        engine.dispose()


@pytest.mark.parametrize("which", ["loghub", "benchmark"])
def test_near_joins_are_the_same_with_lazy_miners(
    which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (SHARED_DATA / "loghub2k").is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (../shared/data beside the repository)")
    batches = list(_loghub_batches() if which == "loghub" else _benchmark_batches())
    now = f"sqlite:///{tmp_path / 'now.db'}"
    _ingest(now, batches)
    with monkeypatch.context() as patch:
        patch.setattr(group_module._NearJoiner, "_match", reference_match)
        before = f"sqlite:///{tmp_path / 'before.db'}"
        _ingest(before, batches)
    issues, aliases, reasons = _stored(now)
    assert (issues, aliases) == _stored(before)[:2]
    if which == "loghub":  # the miner's joins were compared, not only its absence
        assert reasons.count("mined template family") >= 5, sorted(set(reasons))
        assert reasons.count("near-identical template") >= 5
