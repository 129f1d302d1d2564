"""The on-call columns of a new issue, decided before its insert (issue #24).

The ingest's on-call pass (:func:`~triagehub.engine.oncall.alert_at_once`) names the expert of
every new issue it announces at once, or assigns it, and it used to write that as a second
version of the row just inserted. :func:`columns_at_insert` makes the same decision before the
insert, so the insert carries those columns. The pass still decides everything as before, from
the row as it would have been inserted (the ``before`` of a :data:`Carried`); it writes no
update where its decision is the one the insert carried, and an update to its own decision
where the guess was wrong (a workload moved by an older issue of the same pass, say). What is
stored is therefore the pass's decision, whatever was guessed here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from triagehub.config import AlertMode, Settings
from triagehub.core.models import Category
from triagehub.engine.issue_rows import WORKING, snoozed
from triagehub.engine.oncall.alerts import alert_mode
from triagehub.engine.oncall.common import CHUNK
from triagehub.engine.oncall.routing import open_workload, plan_assignment
from triagehub.engine.oncall.writes import ONCALL_COLUMNS, Carried, OncallWrites
from triagehub.store import tables as t
from triagehub.store.dialect import any_of

# What routing reads of an issue row (``plan_assignment``), besides the on-call columns.
_READ: Final = (
    "category",
    "overrides",
    "snoozed_until",
    "snooze_occurrences",
    "title",
    "sample_message",
    "template",
    "pattern_id",
    "source",
    "kind",
)


def columns_at_insert(
    session: Session,
    settings: Settings,
    rows: Sequence[Mapping[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """For each new issue row (in the order of their ``created`` events, not inserted yet), the
    on-call columns (:data:`ONCALL_COLUMNS`) the pass at ``now`` is expected to give it, or
    ``{}`` when it is expected to leave them as they are."""
    names = _repository_names(session, {int(r["repository_id"]) for r in rows})
    modes: dict[tuple[int, str, str], AlertMode] = {}  # (a batch has few distinct ones)
    announced: list[int] = []
    for n, r in enumerate(rows):
        if (
            r["state"] not in WORKING
            or snoozed(r, now)
            or r["category"] == Category.FALSE_POSITIVE.value
        ):
            continue
        key = (int(r["repository_id"]), r["category"], r["priority"])
        if key not in modes:
            modes[key] = alert_mode(settings, names[key[0]], key[1], key[2])
        if modes[key] == "immediate":
            announced.append(n)
    out: list[dict[str, Any]] = [{} for _ in rows]
    if not announced:
        return out
    routed = [rows[n] for n in announced if not rows[n]["expert"]]
    spans = _spans(session, routed)
    workload: Counter[str] = open_workload(session) if settings.experts else Counter()
    scratch = OncallWrites(now)  # routing's other writes are the pass's, not the insert's
    for n in announced:
        row = rows[n]
        planned = {k: row[k] for k in (*_READ, *ONCALL_COLUMNS)} | {"id": None}
        plan_assignment(settings, planned, now, workload, spans, scratch)
        if planned["state"] != row["state"]:
            planned["updated_at"] = now
        after = {c: planned[c] for c in ONCALL_COLUMNS}
        if any(after[c] != row[c] for c in ONCALL_COLUMNS):
            out[n] = after
    return out


def carried(row: Mapping[str, Any], after: Mapping[str, Any]) -> Carried:
    """What a pass needs to know of an issue inserted with ``after``: its on-call columns as
    they were before the guess, and as inserted."""
    return Carried({c: row[c] for c in ONCALL_COLUMNS}, dict(after))


def _repository_names(session: Session, ids: set[int]) -> dict[int, str]:
    r = t.repositories.c
    wanted = sorted(ids)
    return {
        int(pk): str(name)
        for n in range(0, len(wanted), CHUNK)
        for pk, name in session.execute(select(r.id, r.name).where(r.id.in_(wanted[n : n + CHUNK])))
    }


def _spans(session: Session, rows: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """``routing.pattern_spans`` of the rows' patterns as they will be once the rows are in: the
    repositories and sources of the stored issues of each pattern and of these rows."""
    repositories: dict[int, set[Any]] = {}
    sources: dict[int, set[Any]] = {}
    for r in rows:
        if r["pattern_id"] is not None:
            repositories.setdefault(r["pattern_id"], set()).add(r["repository_id"])
            sources.setdefault(r["pattern_id"], set()).add(r["source"])
    i = t.issues.c
    wanted = sorted(repositories)
    for n in range(0, len(wanted), CHUNK):
        query = (
            select(i.pattern_id, i.repository_id, i.source)
            .distinct()
            .where(any_of(session, i.pattern_id, wanted[n : n + CHUNK]))
        )
        for pattern, repository, source in session.execute(query):
            repositories[int(pattern)].add(repository)
            sources[int(pattern)].add(source)
    return {p: max(len(repositories[p]), len(sources[p])) for p in wanted}
