"""``triagehub demo``: the bundled scenario, ingested into a fresh database and summarised."""

from __future__ import annotations

import contextlib
import gzip
import json
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock, SystemClock
from triagehub.config import Settings, parse_settings
from triagehub.core.models import RunReport
from triagehub.demo.scenario import DEMO_CONFIG_YAML, EXPECTED, demo_events
from triagehub.errors import InputError
from triagehub.pipeline import IngestSummary, ingest_reports
from triagehub.sources import dbt
from triagehub.sources.events import parse_objects
from triagehub.store import db
from triagehub.store import tables as t
from triagehub.store.queries import IssueView, list_issues


@dataclass
class DemoResult:
    url: str
    summary: IngestSummary
    issues: list[IssueView]
    scenarios: list[tuple[str, str, IssueView | None]] = field(default_factory=list)

    @property
    def raw_failures(self) -> int:
        return self.summary.occurrences

    @property
    def noise_reduction(self) -> float:
        return self.raw_failures / max(1, len(self.issues))

    def headline(self) -> str:
        s = self.summary
        return (
            f"{s.runs} runs, {s.results:,} results, {self.raw_failures} raw failures -> "
            f"{len(self.issues)} issues: noise reduction {self.noise_reduction:.1f}x"
        )

    def scenario_lines(self) -> list[str]:
        lines = []
        for name, check, issue in self.scenarios:
            if issue is None:
                lines.append(f"{name:<11} {check}: no issue")
                continue
            lines.append(
                f"{name:<11} #{issue.id} {issue.category} / {issue.history_class} / "
                f"{issue.decision} ({issue.occurrences} occurrences) - {check}"
            )
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.url,
            "summary": self.summary.as_dict(),
            "raw_failures": self.raw_failures,
            "issues_count": len(self.issues),
            "noise_reduction": round(self.noise_reduction, 2),
            "scenarios": {
                name: (issue.to_json() if issue else None) for name, _, issue in self.scenarios
            },
            "issues": [i.to_json() for i in self.issues],
        }


def _fresh_sqlite(url: str) -> None:
    parsed = make_url(db.normalize_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    path = Path(parsed.database)
    if not path.exists():
        return
    # Emptied in place, not deleted: a server already serving this file (`demo --serve` in
    # another terminal) keeps its open file and sees the new demo, not a deleted inode.
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
            conn.execute("PRAGMA foreign_keys=OFF")
            names = [
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            ]
            for name in names:
                conn.execute(f'DROP TABLE IF EXISTS "{name}"')
            conn.commit()
    except sqlite3.DatabaseError:  # not a database (e.g. a half-written file): start anew
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def _find(issues: list[IssueView], check: str) -> IssueView | None:
    matches = [i for i in issues if check in i.checks and i.scope != "storm"]
    return max(matches, key=lambda i: i.occurrences) if matches else None


# The real dbt Core runs of the demo: hours before ``end`` (two scheduled runs, same failures).
DBT_RUN_HOURS_AGO = (30, 6)


def demo_dbt_reports(end: datetime, settings: Settings) -> list[RunReport]:
    """Two runs of real ``dbt build`` artifacts (see ``demo/dbt/README.md``), each given its own
    invocation id and time, parsed by the dbt Core source with lineage and owners."""
    bundled = resources.files("triagehub.demo") / "dbt"
    results = json.loads((bundled / "run_results.json").read_text(encoding="utf-8"))
    manifest = gzip.decompress((bundled / "manifest.json.gz").read_bytes())
    reports = []
    with tempfile.TemporaryDirectory(prefix="triagehub-demo-dbt-") as tmp:
        folder = Path(tmp)
        (folder / "manifest.json").write_bytes(manifest)
        for hours in DBT_RUN_HOURS_AGO:
            finished = end - timedelta(hours=hours)
            meta = results["metadata"]
            meta["invocation_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"triagehub-demo-{hours}"))
            meta["generated_at"] = finished.isoformat().replace("+00:00", "Z")
            started = finished - timedelta(seconds=float(results.get("elapsed_time") or 0))
            meta["invocation_started_at"] = started.isoformat().replace("+00:00", "Z")
            (folder / "run_results.json").write_text(json.dumps(results), encoding="utf-8")
            parsed = dbt.parse_artifacts_full(
                folder, project_repositories=settings.dbt_project_repositories()
            )
            reports.append(dbt.with_lineage(parsed))
    return reports


def run_demo(url: str, *, end: datetime | None = None, recreate: bool = True) -> DemoResult:
    """Ingest the demo into a fresh database at ``url`` (an existing SQLite file is recreated
    when ``recreate``; any other database must be empty)."""
    if recreate:
        _fresh_sqlite(url)
    engine = db.open_database(url)
    with Session(engine) as session:
        if session.execute(select(func.count()).select_from(t.runs)).scalar_one():
            raise InputError(url, "", "the demo needs an empty database; this one has runs")
    end = end or SystemClock().now().replace(minute=0, second=0, microsecond=0)
    settings = parse_settings(yaml.safe_load(DEMO_CONFIG_YAML), "<bundled demo config>")
    events = parse_objects(demo_events(end), "<bundled demo data>")
    reports = sorted(
        [*events, *demo_dbt_reports(end, settings)],
        key=lambda r: r.occurred_at or end,
    )
    summary = ingest_reports(engine, reports, settings, clock=FixedClock(end))
    with Session(engine) as session:
        issues = list_issues(session=session, limit=10_000)
    engine.dispose()
    e = EXPECTED
    scenarios: list[tuple[str, str, IssueView | None]] = [
        ("repeated", e.repeated_check[1], _find(issues, e.repeated_check[1])),
        ("data test", e.data_test_check[1], _find(issues, e.data_test_check[1])),
        ("transient", e.transient_check[1], _find(issues, e.transient_check[1])),
        ("flaky", e.flaky_check[1], _find(issues, e.flaky_check[1])),
        ("persistent", e.persistent_check[1], _find(issues, e.persistent_check[1])),
        ("storm", f"run {e.storm_run[1]}", next((i for i in issues if i.scope == "storm"), None)),
    ]
    return DemoResult(url, summary, issues, scenarios)
