"""The report commands: ``triagehub dashboard``, ``health``, ``metrics`` and ``export``.

They only read the store, through :mod:`triagehub.store.metrics`. The database comes from the root
command's state (``--db``) through the context object's ``engine()``, so this module never imports
:mod:`triagehub.cli.main` (which imports this one to ``register`` its commands).
"""

import enum
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from triagehub.cli.common import OutputFormat as Format
from triagehub.cli.common import err, out, session_of
from triagehub.clock import SystemClock
from triagehub.core.timeparse import parse_time
from triagehub.errors import InputError

if TYPE_CHECKING:
    from triagehub.store.metrics import BriefMetric, DayTrend, Metrics, RepositoryHealth, TopIssue

SPARK = "▁▂▃▄▅▆▇█"
_STATUS_STYLE = {"healthy": "green", "degraded": "yellow", "unhealthy": "red"}
_PRIORITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}


class ExportFormat(enum.StrEnum):
    json = "json"
    csv = "csv"


# -- options shared by the commands ---------------------------------------------------------------

RepoOption = Annotated[str | None, typer.Option("--repo", help="Only this OWNER/NAME.")]
RangeOption = Annotated[
    str,
    typer.Option("--time-range", help="How far back from --until: 24h, 7d, 30d (any Nh, Nd, Nw)."),
]
UntilOption = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="End of the range (ISO 8601, e.g. 2026-11-20T00:00:00Z). Default: now.",
        show_default=False,
    ),
]
FormatOption = Annotated[Format, typer.Option("--format", help="table or json.")]


def _range(time_range: str, until: str | None) -> tuple[datetime, datetime]:
    from triagehub.store.metrics import parse_time_range

    span = parse_time_range(time_range)
    if until is None:
        end = SystemClock().now()
    else:
        try:
            end = parse_time(until)
        except ValueError as exc:
            raise InputError("--until", until, str(exc)) from None
    return end - span, end


def _write_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


# -- rendering ------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _hours(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 60:.0f} min"
    if value < 48:
        return f"{value:.1f} h"
    return f"{value / 24:.1f} d"


def sparkline(values: list[int]) -> str:
    """One block character per value, scaled to the largest (blank-free: zero is the lowest)."""
    top = max(values, default=0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[round(v / top * (len(SPARK) - 1))] for v in values)


def _score(h: float, status: str) -> Text:
    return Text(f"{h:.1f}", style=_STATUS_STYLE.get(status, ""))


def _health_table(rows: "list[RepositoryHealth]", title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("repository", "left"),
        ("health", "right"),
        ("status", "left"),
        ("runs", "right"),
        ("run success", "right"),
        ("open", "right"),
        ("critical", "right"),
        ("high", "right"),
        ("SLA breaches", "right"),
        ("MTTR", "right"),
        ("failures", "right"),
        ("issues", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for h in rows:
        table.add_row(
            Text(h.repository),
            _score(h.score, h.status),
            Text(h.status, style=_STATUS_STYLE.get(h.status, "")),
            str(h.runs),
            _pct(h.run_success_rate),
            str(h.open_issues),
            str(h.open_critical),
            str(h.open_high),
            str(h.sla_breaches),
            _hours(h.mttr_hours),
            str(h.raw_failures),
            str(h.issues),
        )
    return table


def _brief_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ratio":
        return _pct(value)
    if unit == "hours":
        return _hours(value)
    if unit == "failures/issue":
        return f"{value:.1f}x"
    return f"{value:g}"


_TREND = {"up": "↑", "down": "↓", "flat": "→", "-": ""}


def _brief_table(rows: "list[BriefMetric]") -> Table:
    """The brief's success metrics: value, target, met, previous range, definition."""
    table = Table(title="Success metrics (the brief's definitions)", title_justify="left")
    for name, justify in (
        ("metric", "left"),
        ("value", "right"),
        ("target", "right"),
        ("met", "left"),
        ("previous", "right"),
        ("definition", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for b in rows:
        met = "-" if b.met is None else ("yes" if b.met else "no")
        style = "" if b.met is None else ("green" if b.met else "red")
        table.add_row(
            b.label,
            _brief_value(b.value, b.unit),
            f"{b.direction} {_brief_value(b.target, b.unit)}",
            Text(met, style=style),
            f"{_brief_value(b.previous, b.unit)} {_TREND[b.trend]}".strip(),
            Text(b.definition, style="dim"),
        )
    return table


def _metrics_table(m: "Metrics") -> Table:
    table = Table(show_header=False, title="Metrics", title_justify="left")
    table.add_column("metric", style="dim")
    table.add_column("value", justify="right")
    ttft, ttr = m.time_to_first_triage, m.time_to_resolution
    noise = "-" if m.noise_reduction is None else f"{m.noise_reduction:.1f}x"
    rows = [
        ("raw failures", str(m.raw_failures)),
        ("issues (with failures in range)", str(m.issues)),
        ("new issues", str(m.new_issues)),
        ("noise reduction (failures per issue)", noise),
        (
            "time to first triage (median / p90)",
            f"{_hours(ttft.median_hours)} / {_hours(ttft.p90_hours)} (n={ttft.count})",
        ),
        (
            "time to resolution (MTTR / median / p90)",
            f"{_hours(ttr.mean_hours)} / {_hours(ttr.median_hours)} / {_hours(ttr.p90_hours)}"
            f" (n={ttr.count})",
        ),
        (
            "auto-resolution rate of transient failures",
            f"{_pct(m.auto_resolution_rate)} ({m.transient_auto_resolved}/{m.transient_closed})",
        ),
        (
            "false-positive rate",
            f"{_pct(m.false_positive_rate)} ({m.false_positives}/{m.new_issues})",
        ),
        (
            "escalations",
            f"{m.escalations_total}"
            + (
                " (" + ", ".join(f"{k} {v}" for k, v in m.escalations.items()) + ")"
                if m.escalations
                else ""
            ),
        ),
        ("SLA breaches", str(m.sla_breaches)),
        ("run success rate", f"{_pct(m.run_success_rate)} ({m.successful_runs}/{m.runs})"),
        ("open issues (critical / high)", f"{m.open_issues} ({m.open_critical} / {m.open_high})"),
        ("health", f"{m.health_score:.1f} ({m.health_status})"),
    ]
    for name, value in rows:
        table.add_row(name, Text(value))
    return table


def _overrides_table(m: "Metrics") -> Table:
    table = Table(
        title="Human override rate per field",
        caption=f"{m.overrides_reviewed} issue(s) reviewed by a human",
        title_justify="left",
        caption_justify="left",
        min_width=40,
    )
    table.add_column("field")
    table.add_column("override rate", justify="right")
    for name, rate in m.override_rates.items():
        table.add_row(name, _pct(rate))
    return table


def _trend_table(trend: "list[DayTrend]") -> Table:
    table = Table(title="Trend per day (UTC)", title_justify="left")
    for name, justify in (("day", "left"), ("failures", "right"), ("new", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("resolved", justify="right")
    for d in trend:
        table.add_row(d.day.isoformat(), str(d.failures), str(d.new_issues), str(d.resolved))
    if len(trend) > 1:
        table.add_section()
        table.add_row(
            "trend",
            sparkline([d.failures for d in trend]),
            sparkline([d.new_issues for d in trend]),
            sparkline([d.resolved for d in trend]),
        )
    return table


def _top_table(issues: "list[TopIssue]") -> Table:
    table = Table(title=f"Top {len(issues)} open issue(s) by priority", title_justify="left")
    for name, kw in (
        ("id", {"justify": "right"}),
        ("priority", {}),
        ("repository", {}),
        ("title", {"max_width": 70, "overflow": "ellipsis"}),
        ("state", {}),
        ("category", {}),
        ("occ", {"justify": "right"}),
        ("last seen", {}),
    ):
        table.add_column(name, **kw)
    for i in issues:
        table.add_row(
            str(i.id),
            Text(i.priority, style=_PRIORITY_STYLE.get(i.priority, "")),
            Text(i.repository),
            Text(i.title),
            i.state,
            i.category,
            str(i.occurrences),
            i.last_seen.strftime("%Y-%m-%d %H:%M"),
        )
    return table


def _heading(what: str, repo: str | None, since: datetime, until: datetime) -> Text:
    scope = repo or "all repositories"
    return Text(
        f"{what}: {scope}, {since:%Y-%m-%d %H:%M} → {until:%Y-%m-%d %H:%M} UTC", style="bold"
    )


# -- commands -------------------------------------------------------------------------------------


def dashboard(
    ctx: typer.Context,
    repo: RepoOption = None,
    time_range: RangeOption = "7d",
    until: UntilOption = None,
    top: Annotated[int, typer.Option("--top", min=1, max=100, help="Top issues shown.")] = 10,
    fmt: FormatOption = Format.table,
) -> None:
    """A terminal dashboard: health per repository, the top open issues, the trend per day."""
    from triagehub.store.metrics import compute_metrics, repository_health, top_issues

    since, end = _range(time_range, until)
    with session_of(ctx) as session:
        metrics = compute_metrics(session, repository=repo, since=since, until=end)
        health = repository_health(session, since=since, until=end, repository=repo)
        issues = top_issues(session, repository=repo, limit=top)
    if fmt is Format.json:
        _write_json(
            {
                "metrics": metrics.to_json(),
                "health": [h.to_json() for h in health],
                "top_issues": [i.to_json() for i in issues],
            }
        )
        return
    out.print(_heading("triagehub dashboard", repo, since, end))
    out.print(
        Text(
            f"health {metrics.health_score:.1f} ({metrics.health_status}) · "
            f"{metrics.raw_failures} failures → {metrics.issues} issues · "
            f"run success {_pct(metrics.run_success_rate)} · "
            f"MTTR {_hours(metrics.mttr_hours)} · "
            f"first triage (median) {_hours(metrics.time_to_first_triage.median_hours)} · "
            f"{metrics.open_issues} open",
            style=_STATUS_STYLE.get(metrics.health_status, ""),
        )
    )
    out.print(_health_table(health, "Health per repository (least healthy first)"))
    out.print(_top_table(issues))
    out.print(_trend_table(metrics.trend))


def health(
    ctx: typer.Context,
    repo: RepoOption = None,
    time_range: RangeOption = "7d",
    until: UntilOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """The health score of each repository (0..100; formula in the README), least healthy first."""
    from triagehub.store.metrics import repository_health

    since, end = _range(time_range, until)
    with session_of(ctx) as session:
        rows = repository_health(session, since=since, until=end, repository=repo)
    if fmt is Format.json:
        _write_json([h.to_json() for h in rows])
        return
    out.print(_heading("Repository health", repo, since, end))
    out.print(_health_table(rows, f"{len(rows)} repositor{'y' if len(rows) == 1 else 'ies'}"))


def metrics(
    ctx: typer.Context,
    repo: RepoOption = None,
    time_range: RangeOption = "7d",
    until: UntilOption = None,
    fmt: FormatOption = Format.table,
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="The brief's metrics as the weekly report (Markdown)."),
    ] = False,
) -> None:
    """The success metrics for a time range: noise reduction, time to triage and to resolution,
    auto-resolution, false positives, human overrides, escalations, SLA breaches, run success."""
    from triagehub.store.metrics import brief_metrics, compute_metrics

    since, end = _range(time_range, until)
    with session_of(ctx) as session:
        m = compute_metrics(session, repository=repo, since=since, until=end)
        brief = brief_metrics(session, repository=repo, since=since, until=end)
    if markdown:
        from triagehub.engine.weekly_report import report_markdown

        sys.stdout.write(report_markdown(brief, since, end, repo))
        return
    if fmt is Format.json:
        _write_json({**m.to_json(), "brief": [b.to_json() for b in brief]})
        return
    out.print(_heading("Metrics", repo, since, end))
    out.print(_brief_table(brief))
    out.print(_metrics_table(m))
    out.print(_overrides_table(m))
    out.print(_trend_table(m.trend))


def _write_csv(rows: Iterable[dict[str, Any]], fh: IO[str]) -> int:
    from triagehub.store.metrics import csv_chunks

    n = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal n
        for row in rows:
            n += 1
            yield row

    for chunk in csv_chunks(counted()):
        fh.write(chunk)
    return n


def _write_json_rows(rows: Iterable[dict[str, Any]], fh: IO[str]) -> int:
    n = 0
    fh.write("[")
    for row in rows:
        fh.write(("\n" if n == 0 else ",\n") + json.dumps(row, ensure_ascii=False))
        n += 1
    fh.write("\n]\n" if n else "]\n")
    return n


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomically(path: Path, *, force: bool, write: Callable[[IO[str]], int]) -> int:
    """Write ``path`` through a temporary file in the same directory, then rename it into
    place; without ``force`` an existing file is never replaced (not even one that appeared
    while writing). Returns what ``write`` returned."""
    if path.is_dir():
        raise InputError("--output", str(path), "is a directory; give a file name")
    if path.exists() and not force:
        raise InputError("--output", str(path), "already exists; pass --force to overwrite it")
    parent = path.parent
    if not parent.is_dir():
        raise InputError("--output", str(path), f"the directory {parent} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            result = write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(0o666 & ~_umask())
        if force:
            tmp.replace(path)
        else:
            try:
                os.link(tmp, path)  # fails if the name exists: no clobbering, even in a race
            except FileExistsError:
                raise InputError(
                    "--output", str(path), "already exists; pass --force to overwrite it"
                ) from None
            except OSError:  # no hard links on this file system
                if path.exists():
                    raise InputError(
                        "--output", str(path), "already exists; pass --force to overwrite it"
                    ) from None
                tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def export(
    ctx: typer.Context,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The file to write.", show_default=False)
    ],
    time_range: RangeOption = "7d",
    until: UntilOption = None,
    repo: RepoOption = None,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", help="json (an array) or csv.")
    ] = ExportFormat.json,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Export the issues active in the range (seen in it) with their fields, as JSON or CSV.

    The file is written to a temporary name and renamed into place, so a reader never sees half
    a file; an existing file is refused unless --force. In CSV, lists (labels) are JSON text and
    missing values are empty."""
    from triagehub.store.metrics import export_issues

    since, end = _range(time_range, until)
    with session_of(ctx) as session:
        rows: Iterator[dict[str, Any]] = export_issues(
            session, since=since, until=end, repository=repo
        )
        writer = _write_csv if fmt is ExportFormat.csv else _write_json_rows
        n = write_atomically(output, force=force, write=lambda fh: writer(rows, fh))
    err.print(f"wrote {n} issue(s) to {output} ({fmt.value})", markup=False)


def register(app: typer.Typer) -> None:
    """Add the report commands to the ``triagehub`` app."""
    app.command("dashboard")(dashboard)
    app.command("health")(health)
    app.command("metrics")(metrics)
    app.command("export")(export)
