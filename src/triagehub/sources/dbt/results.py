"""What dbt's node statuses, messages and compiled SQL become in a ``CheckResult`` (shared by
the artifacts and the console logs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from triagehub.core.models import CheckResult, Status
from triagehub.sources.dbt.identity import resource

SOURCE = "dbt"
"""The ``RunReport.source`` of every report this package makes (and its registry name)."""

MAX_MESSAGE_CHARS = 64 * 1024
MAX_SQL_CHARS = 8 * 1024
MAX_SQL_LINES = 120


def clip_text(value: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A message (non-strings are empty), cut at ``limit`` characters."""
    if not isinstance(value, str):
        return ""
    return value if len(value) <= limit else value[:limit] + "\n… (cut)"


def duration(value: object) -> float | None:
    """A number of seconds; None for anything else (or a negative number)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


def sql_excerpt(sql: object) -> str:
    """Compiled SQL for a failure's log, bounded in lines and characters."""
    if not isinstance(sql, str) or not sql.strip():
        return ""
    lines = sql.strip("\n").splitlines()
    kept = lines[:MAX_SQL_LINES]
    excerpt = "\n".join(kept)
    if len(excerpt) > MAX_SQL_CHARS:
        excerpt = excerpt[:MAX_SQL_CHARS]
    if len(kept) < len(lines) or len(excerpt) < len("\n".join(kept)):
        excerpt += f"\n-- … compiled SQL cut ({len(lines)} lines in all)"
    return excerpt


def _test_type(unique_id: str, node: Mapping[str, Any] | None) -> str | None:
    if resource(unique_id) == "unit_test":
        return "unit"
    if node is None:
        return None
    meta = node.get("test_metadata")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        namespace = meta.get("namespace")
        name: str = meta["name"]
        return f"{namespace}.{name}" if isinstance(namespace, str) and namespace else name
    return "custom"


def _test_target(node: Mapping[str, Any] | None) -> str:
    """`` on stg_customers.email`` for a generic test on a column; empty when unknown."""
    if node is None:
        return ""
    attached = node.get("attached_node")
    if not isinstance(attached, str):
        deps = node.get("depends_on", {}).get("nodes") if isinstance(node, dict) else None
        attached = deps[0] if isinstance(deps, list) and deps and isinstance(deps[0], str) else ""
    model = attached.rsplit(".", 1)[-1] if attached else ""
    meta = node.get("test_metadata")
    column = meta.get("kwargs", {}).get("column_name") if isinstance(meta, dict) else None
    if not model:
        return ""
    return f" on {model}.{column}" if isinstance(column, str) and column else f" on {model}"


def test_message(
    base: str, unique_id: str, node: Mapping[str, Any] | None, failures: object, status: Status
) -> str:
    """A failing test's message: dbt's text, then the test type, target and failing rows."""
    kind = _test_type(unique_id, node)
    detail = f"{kind} test" if kind else "test"
    detail += _test_target(node)
    if isinstance(failures, int) and not isinstance(failures, bool) and status is not Status.ERROR:
        detail += f": {failures} failing row{'s' if failures != 1 else ''}"
    return f"{base}\n{detail}" if base else detail


def map_status(raw: str, unique_id: str) -> tuple[Status, bool]:
    """(status, is_warning) of a dbt node status."""
    value = raw.lower()
    if value in ("success", "pass", "no-op", "reused"):
        return Status.PASS, False
    if value == "warn":
        return Status.FAIL, True
    if value == "fail" or value == "partial success":
        return Status.FAIL, False
    if value == "skipped":
        return Status.SKIP, False
    if value == "error" and resource(unique_id) == "source":
        return Status.FAIL, False  # freshness: stale past error_after (a data failure)
    return Status.ERROR, False  # error, runtime error


def run_status(results: Iterable[CheckResult]) -> str:
    """``failure`` when any result is a failure, else ``success``."""
    return "failure" if any(r.status.is_failure for r in results) else "success"
