"""``triagehub demo``: the bundled scenario, ingested into a fresh database day by day with a
monitor tick at the end of each day (at event time, as a monitor running along would have), and
summarised: what the triage made of each scenario and what the monitor did (healed transients
auto-resolved, regressions reopened, the few criticals and why)."""

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
from typing import Any, Final

import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock, SystemClock
from triagehub.config import Settings, parse_settings
from triagehub.core.lifecycle import Actor
from triagehub.core.models import IssueState, RunReport
from triagehub.demo.scenario import DEMO_CONFIG_YAML, EXPECTED, demo_events
from triagehub.engine.ingest import IngestSummary, ingest_reports
from triagehub.engine.monitor import TickSummary, run_tick
from triagehub.errors import InputError
from triagehub.sources import dbt
from triagehub.sources.events import parse_objects
from triagehub.store import db
from triagehub.store import tables as t
from triagehub.store.lifecycle import change_state
from triagehub.store.queries import IssueView, get_issue, list_issues
from triagehub.store.triage import apply_override


@dataclass
class DemoResult:
    url: str
    summary: IngestSummary
    issues: list[IssueView]
    scenarios: list[tuple[str, str, IssueView | None]] = field(default_factory=list)
    ticks: list[TickSummary] = field(default_factory=list)
    # (what, issue id, the reason on its timeline): the monitor's work worth showing.
    monitor: list[tuple[str, int, str]] = field(default_factory=list)

    def monitor_lines(self) -> list[str]:
        if not self.ticks:
            return []
        escalations = sum(len({i for i, _ in t.escalated}) for t in self.ticks)
        repo = sum(len(t.repository_escalations) for t in self.ticks)
        lines = [
            f"monitor: {len(self.ticks)} daily ticks at event time, "
            f"{escalations} issue escalations, {repo} repository escalations"
        ]
        lines.extend(f"{what:<11} #{issue}: {reason}" for what, issue, reason in self.monitor)
        return lines

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
                f"{name:<11} #{issue.id} {issue.state}: {issue.category} / {issue.history_class} "
                f"/ {issue.decision} ({issue.occurrences} occurrences) - {check}"
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
            "monitor": {
                "ticks": [t.as_dict() for t in self.ticks],
                "highlights": [
                    {"what": what, "issue": issue, "reason": reason}
                    for what, issue, reason in self.monitor
                ],
            },
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
    summary = IngestSummary()
    ticks: list[TickSummary] = []
    clock = FixedClock(end)
    for day_end, batch in _by_day(reports, end):
        clock.set(day_end)
        summary.add(ingest_reports(engine, batch, settings, clock=clock))
        ticks.append(run_tick(engine, settings, clock=clock))
        _people(engine, day_end, end)
    with Session(engine) as session:
        issues = list_issues(session=session, limit=10_000)
        monitor = _highlights(session, issues)
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
    return DemoResult(url, summary, issues, scenarios, ticks, monitor)


# What the demo's people do, at event time: (days before the end, check, what). They make the
# human-facing metrics (first triage, override agreement, escalation accuracy) real.
_PEOPLE: Final = (
    (3, EXPECTED.persistent_check[1], "triage", {"decision": "needs_spec"}, "priya"),
    (2, EXPECTED.repeated_check[1], "state", {"state": "in_progress"}, "alice"),
    (1, "model.triage_demo.stg_orders", "triage", {"decision": "one_off_fix"}, "priya"),
    (
        1,
        "test.triage_demo.not_null_stg_customers_email.d7cf761533",
        "triage",
        {"priority": "medium"},
        "dmitri",
    ),
)


def _people(engine: Engine, day_end: datetime, end: datetime) -> None:
    """The people's actions due at the end of this day (through the same functions as the CLI
    and the dashboard: an override with its reason, a state change), on the newest issue of
    their check. Where a day ends depends on the hour the demo runs: an issue that has healed by
    then is left as it is, as a person would."""

    def day_end_of(at: datetime) -> datetime:  # as _by_day: the end of its UTC day, or ``end``
        return min(at.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1), end)

    due = [p for p in _PEOPLE if day_end_of(end - timedelta(days=p[0])) == day_end]
    if not due:
        return
    with Session(engine) as session, session.begin():
        issues = list_issues(session=session, limit=10_000)
        for _days, check, action, values, who in due:
            issue = _find(issues, check)
            if issue is None:
                continue
            if action == "triage":
                apply_override(
                    session=session,
                    issue_id=issue.id,
                    changes=values,
                    reason=f"{who} looked at it",
                    actor=who,
                    now=day_end,
                )
            elif issue.state in _OPEN_STATES:  # nobody starts work on what already healed
                change_state(
                    session,
                    issue.id,
                    IssueState(values["state"]),
                    actor=Actor.HUMAN,
                    reason=f"{who} is on it",
                    now=day_end,
                    who=who,
                )


def _by_day(reports: list[RunReport], end: datetime) -> list[tuple[datetime, list[RunReport]]]:
    """The runs per UTC day, each with the time its day's tick runs (the day's end; ``end`` for
    the last day)."""
    days: dict[datetime, list[RunReport]] = {}
    for report in reports:
        at = report.occurred_at or end
        day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        days.setdefault(day, []).append(report)
    return [(min(day + timedelta(days=1), end), batch) for day, batch in sorted(days.items())]


def _highlights(session: Session, issues: list[IssueView]) -> list[tuple[str, int, str]]:
    """The monitor's work a reader should see, each with the reason its timeline gives:
    auto-resolved transients, regressions, and every open critical issue."""
    found: list[tuple[str, int, str]] = []
    for issue in issues:
        detail = get_issue(session=session, issue_id=issue.id)
        if detail is None:
            continue
        changes = [e for e in detail.timeline if e.kind == "state_changed"]
        last = changes[-1] if changes else None
        if issue.state == "auto_resolved" and last is not None:
            found.append(("healed", issue.id, f"{issue.title[:60]}: {last.data['reason']}"))
        elif issue.state == "regressed" and last is not None:
            found.append(("regressed", issue.id, f"{issue.title[:60]}: {last.data['reason']}"))
        if issue.priority == "critical" and issue.state in _OPEN_STATES:
            why = next(
                (p.strip() for p in issue.rationale.split(";") if "priority=critical" in p),
                issue.rationale[:120],
            )
            escalated = [e.data.get("reason", "") for e in detail.timeline if e.kind == "escalated"]
            if escalated:
                why += f"; escalated: {escalated[-1]}"
            found.append(("critical", issue.id, f"{issue.title[:60]}: {why}"))
    return found


_OPEN_STATES = frozenset({"open", "triaged", "assigned", "in_progress", "regressed"})
