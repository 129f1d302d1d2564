"""The issue export of ``triagehub export`` and the API: rows of ``EXPORT_FIELDS``, as CSV that
spreadsheets cannot run."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triagehub.store import tables as t
from triagehub.store.metrics.common import check_range, iso, repository_id

EXPORT_FIELDS = (
    "id",
    "repository",
    "title",
    "state",
    "category",
    "kind",
    "severity",
    "priority",
    "history_class",
    "decision",
    "confidence",
    "classification_source",
    "expert",
    "assignee",
    "occurrences",
    "checks_count",
    "first_seen",
    "last_seen",
    "resolved_at",
    "sla_due_at",
    "sla_breached_at",
    "escalation_level",
    "scope",
    "source",
    "fingerprint",
    "labels",
    "template",
    "rationale",
)
_EXPORT_TIMES = ("first_seen", "last_seen", "resolved_at", "sla_due_at", "sla_breached_at")
_FORMULA = re.compile(r"^[=+@\t\r]|^-(?![\d.])")


def csv_cell(value: Any) -> Any:
    """An export cell: lists and objects as JSON, and text a spreadsheet would run as a formula
    (``=``, ``+``, ``@``, ``-`` not starting a number) prefixed with ``'`` so it shows as text."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value


def csv_chunks(
    rows: Iterable[Mapping[str, Any]], fields: Sequence[str] = EXPORT_FIELDS
) -> Iterator[str]:
    """The rows as CSV text with a header line, in chunks of about 64 KiB (for streaming)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fields)
    for row in rows:
        writer.writerow([csv_cell(row.get(name)) for name in fields])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_issues(
    session: Session, *, since: datetime, until: datetime, repository: str | None = None
) -> Iterator[dict[str, Any]]:
    """The issues active in ``[since, until)`` (first seen before ``until``, last seen at or
    after ``since``) as JSON-ready rows of ``EXPORT_FIELDS``, oldest first, streamed (the
    range and repository are checked at once, the rows read as they are consumed)."""
    since, until = check_range(since, until)
    repo_id = repository_id(session, repository)
    columns = [
        t.repositories.c.name.label("repository") if name == "repository" else t.issues.c[name]
        for name in EXPORT_FIELDS
    ]
    query = (
        select(*columns)
        .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
        .where(t.issues.c.last_seen >= since, t.issues.c.first_seen < until)
        .order_by(t.issues.c.first_seen, t.issues.c.id)
        .execution_options(yield_per=1000)
    )
    if repo_id is not None:
        query = query.where(t.issues.c.repository_id == repo_id)

    def rows() -> Iterator[dict[str, Any]]:
        for row in session.execute(query).mappings():
            data = dict(row)
            for name in _EXPORT_TIMES:
                data[name] = iso(data[name])
            data["labels"] = list(data["labels"] or [])
            yield data

    return rows()
