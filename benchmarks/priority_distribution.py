"""Priority distribution: the share of open issues per priority after each daily monitor tick, and
the escalations per day, on the bundled demo and on a generated 30-day stream of several
repositories.

    .venv/bin/python benchmarks/priority_distribution.py [--quick] [--days N]

Each stream is replayed live: each day's runs are ingested with the clock at the end of that day,
then one monitor tick runs at that time. The peer in the same run is the same stream without any
tick (no escalation, no auto-resolution): the priorities the classification alone gives.
``--quick`` replays the demo and 10 days of the generated stream.

Critical should stay reserved for P0 failures (main-branch build or deploy breaks in critical
repositories, production data failures, security): the generated stream has two such failures.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import Settings, parse_settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.demo.runner import demo_dbt_reports
from triagehub.demo.scenario import DEMO_CONFIG_YAML, demo_events
from triagehub.engine.ingest import ingest_reports
from triagehub.engine.monitor import run_tick
from triagehub.sources.events import parse_objects
from triagehub.store import db
from triagehub.store import tables as t

LEVELS = ("critical", "high", "medium", "low")
WORKING = ("open", "triaged", "assigned", "in_progress", "regressed")
END = datetime(2026, 11, 30, tzinfo=UTC)


@dataclass
class Day:
    day: int
    open: Counter[str]
    escalations: int
    repo_escalations: int = 0
    auto_resolved: int = 0

    def share(self, level: str) -> float:
        total = sum(self.open.values())
        return self.open[level] / total if total else 0.0


@dataclass
class Replay:
    name: str
    days: list[Day] = field(default_factory=list)

    @property
    def escalations(self) -> int:
        return sum(d.escalations + d.repo_escalations for d in self.days)


def _open_priorities(engine: Engine) -> Counter[str]:
    with Session(engine) as session:
        rows = session.execute(
            select(t.issues.c.priority).where(t.issues.c.state.in_(WORKING))
        ).scalars()
        return Counter(rows)


def _escalation_events(engine: Engine, at: datetime) -> int:
    """Issue escalations written by the tick at ``at`` (each is one notification)."""
    with Session(engine) as session:
        return len(
            session.execute(
                select(t.issue_events.c.id).where(
                    t.issue_events.c.kind == "escalated", t.issue_events.c.at == at
                )
            ).all()
        )


def replay(name: str, reports: list[RunReport], settings: Settings, *, ticks: bool) -> Replay:
    by_day: dict[datetime, list[RunReport]] = {}
    for r in sorted(reports, key=lambda r: r.occurred_at or END):
        at = r.occurred_at or END
        day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        by_day.setdefault(day, []).append(r)
    result = Replay(name)
    with tempfile.TemporaryDirectory(prefix="triagehub-bench-") as tmp:
        engine = db.open_database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        clock = FixedClock(min(by_day))
        for n, (day, batch) in enumerate(sorted(by_day.items())):
            clock.set(day + timedelta(days=1) - timedelta(seconds=1))
            ingest_reports(engine, batch, settings, clock=clock)
            escalated = repo = resolved = 0
            if ticks:
                summary = run_tick(engine, settings, clock=clock)
                escalated = _escalation_events(engine, clock.now())
                repo = len(getattr(summary, "repository_escalations", []))
                resolved = len(summary.auto_resolved) + len(summary.resolved)
            result.days.append(Day(n, _open_priorities(engine), escalated, repo, resolved))
        engine.dispose()
    return result


# -- the streams ---------------------------------------------------------------------------------


def demo_stream() -> tuple[list[RunReport], Settings]:
    end = END
    settings = parse_settings(yaml.safe_load(DEMO_CONFIG_YAML), "<bundled demo config>")
    events = parse_objects(demo_events(end), "<bundled demo data>")
    return [*events, *demo_dbt_reports(end, settings)], settings


GEN_CONFIG = {
    "repositories": {
        "acme/payments": {"priority_level": "critical"},
        "acme/warehouse": {"priority_level": "critical"},
        "acme/web": {"priority_level": "high"},
        "acme/tools": {"priority_level": "medium"},
        "acme/docs": {"priority_level": "low"},
    }
}

# (check, message, status, kind of failure) per repository; {n} varies per occurrence.
_CHECKS: dict[str, list[str]] = {
    "acme/payments": [
        "CI / lint / Run ruff",
        "CI / test / Run pytest",
        "CI / build / Build image",
        "deploy / Helm upgrade",
        *(f"tests/test_ledger.py::test_case_{i}" for i in range(8)),
    ],
    "acme/warehouse": [
        "dbt build / model.shop.orders",
        "dbt build / model.shop.customers",
        *(f"dbt build / test.shop.not_null_orders_{c}" for c in ("id", "total", "customer")),
        "dbt build / test.shop.unique_customers_id",
        "dbt build / source.shop.raw.orders",
    ],
    "acme/web": [
        *(f"chromium › e2e/checkout.spec.ts › step {i}" for i in range(5)),
        *(f"chromium › components/button.spec.ts › renders {i}" for i in range(4)),
        "CI / lint / eslint",
    ],
    "acme/tools": [
        "CI / test / Run pytest",
        "CI / lint / Run mypy",
        "CI / Install dependencies",
        *(f"tests/test_cli.py::test_cmd_{i}" for i in range(5)),
    ],
    "acme/docs": ["CI / build / mkdocs", "CI / lint / markdownlint", "CI / links / lychee"],
}


@dataclass
class _Incident:
    repo: str
    check: str
    message: str
    start: int  # day
    days: int  # how many days it lasts (fails every run)
    branch: str = "main"
    rate: float = 1.0  # share of runs that fail while it lasts


def _incidents(rng: random.Random, days: int) -> list[_Incident]:
    out: list[_Incident] = []

    def at(lo: float, hi: float) -> int:
        return rng.randrange(int(days * lo), max(int(days * lo) + 1, int(days * hi)))

    # Transient noise: network resets and registry outages, a few runs each.
    for _ in range(days // 2):
        repo = rng.choice(list(_CHECKS))
        check = rng.choice(_CHECKS[repo])
        msg = rng.choice(
            [
                "curl: (56) Recv failure: Connection reset by peer",
                "Retrying (Retry(total=4, connect=None)) after connection broken by "
                "'NewConnectionError(\"Failed to establish a new connection\")': /simple/{n}/",
                "The runner has received a shutdown signal.",
            ]
        )
        out.append(_Incident(repo, check, msg, rng.randrange(days), 1, rate=0.4))
    # Flaky Playwright timeouts.
    for i in range(3):
        out.append(
            _Incident(
                "acme/web",
                f"chromium › e2e/checkout.spec.ts › step {i}",
                "Test timeout of 30000ms exceeded.",
                at(0, 0.5),
                days,
                rate=0.15,
            )
        )
    # Real bugs: a few days each on feature branches and main.
    bugs = [
        ("acme/payments", "tests/test_ledger.py::test_case_3", "AssertionError: assert {n} == 42"),
        ("acme/tools", "tests/test_cli.py::test_cmd_1", "KeyError: 'profile_{n}'"),
        (
            "acme/web",
            "chromium › components/button.spec.ts › renders 2",
            'Error: expect(locator).toHaveText(expected) failed\nExpected: "Pay"\nReceived: "{n}"',
        ),
        (
            "acme/tools",
            "CI / lint / Run mypy",
            'src/tools/cli.py:{n}: error: Argument 1 has incompatible type "str"; expected "int"'
            "  [arg-type]",
        ),
        (
            "acme/web",
            "CI / lint / eslint",
            "warning  'x{n}' is assigned a value but never used  no-unused-vars",
        ),
        (
            "acme/docs",
            "CI / lint / markdownlint",
            "docs/index.md:{n} MD013/line-length Line length",
        ),
        ("acme/docs", "CI / links / lychee", "✗ [404] https://example.com/page/{n} | Not Found"),
    ]
    for repo, check, msg in bugs:
        for _ in range(2):
            out.append(
                _Incident(
                    repo,
                    check,
                    msg,
                    at(0, 0.9),
                    rng.randint(1, 5),
                    branch=rng.choice(["main", "feature/x"]),
                )
            )
    # dbt: warn-severity tests that keep warning, a failing data test, a freshness warning.
    out.append(
        _Incident(
            "acme/warehouse",
            "dbt build / test.shop.not_null_orders_total",
            "Warning in test not_null_orders_total (models/schema.yml)\n"
            "  Got {n} results, configured to warn if != 0",
            2,
            days - 2,
        )
    )
    out.append(
        _Incident(
            "acme/warehouse",
            "dbt build / test.shop.unique_customers_id",
            "Failure in test unique_customers_id (models/schema.yml)\n"
            "  Got {n} results, configured to fail if != 0",
            at(0.2, 0.5),
            4,
        )
    )
    out.append(
        _Incident(
            "acme/warehouse",
            "dbt build / source.shop.raw.orders",
            "WARN STALE freshness of raw.orders: max_loaded_at is {n} hours old",
            at(0.3, 0.7),
            3,
        )
    )
    # P0: a deploy break of a critical repository on main, a production data failure.
    out.append(
        _Incident(
            "acme/payments",
            "deploy / Helm upgrade",
            "Error: UPGRADE FAILED: timed out waiting for the condition",
            at(0.4, 0.6),
            1,
        )
    )
    out.append(
        _Incident(
            "acme/warehouse",
            "dbt build / model.shop.orders",
            "Runtime Error in model orders (models/orders.sql)\n  Catalog Error: "
            "Table with name raw_orders_{n} does not exist!",
            at(0.6, 0.8),
            2,
        )
    )
    return out


def generated_stream(days: int, seed: int = 19) -> tuple[list[RunReport], Settings]:
    rng = random.Random(seed)
    incidents = _incidents(rng, days)
    start = END - timedelta(days=days)
    reports: list[RunReport] = []
    for repo, checks in _CHECKS.items():
        for day in range(days):
            for run in range(rng.randint(3, 6)):
                at = start + timedelta(days=day, hours=2 + run * 3, minutes=rng.randrange(60))
                n = len(reports)
                results = []
                branch = "main"
                for check in checks:
                    failing = [
                        i
                        for i in incidents
                        if i.repo == repo
                        and i.check == check
                        and i.start <= day < i.start + i.days
                        and rng.random() < i.rate
                    ]
                    if failing:
                        inc = failing[0]
                        branch = inc.branch
                        msg = inc.message.replace("{n}", str(rng.randint(1, 999)))
                        results.append(CheckResult(check, Status.FAIL, msg))
                    else:
                        results.append(CheckResult(check, Status.PASS, ""))
                reports.append(
                    RunReport(
                        source="generic",
                        repository=repo,
                        run_id=f"g{n}",
                        commit=f"{n:08x}",
                        branch=branch,
                        finished_at=at,
                        results=tuple(results),
                    )
                )
    return reports, parse_settings(GEN_CONFIG, "<generated stream config>")


# -- output ----------------------------------------------------------------------------------------


def _table(replays: Iterable[Replay]) -> None:
    for r in replays:
        print(f"\n{r.name}")
        print(f"{'day':>4} {'open':>5} " + " ".join(f"{lv:>9}" for lv in LEVELS) + "  escalations")
        for d in r.days:
            shares = " ".join(f"{d.share(lv):>8.0%} " for lv in LEVELS)
            esc = f"{d.escalations}" + (
                f" (+{d.repo_escalations} repo)" if d.repo_escalations else ""
            )
            print(f"{d.day:>4} {sum(d.open.values()):>5} {shares} {esc:>11}")


def _final(r: Replay) -> str:
    last = r.days[-1]
    shares = "/".join(f"{last.share(lv):.0%}" for lv in LEVELS)
    peak = max(d.share("critical") for d in r.days)
    most = max(d.open["critical"] for d in r.days)
    return (
        f"{r.name}: open {sum(last.open.values())}, c/h/m/l {shares}, peak critical {peak:.0%} "
        f"({most} issues), "
        f"escalations {r.escalations}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--days", type=int, default=None)
    args = parser.parse_args()
    days = args.days or (10 if args.quick else 30)
    demo_reports, demo_settings = demo_stream()
    gen_reports, gen_settings = generated_stream(days)
    replays = [
        replay("demo, daily ticks", demo_reports, demo_settings, ticks=True),
        replay("demo, no ticks (peer)", demo_reports, demo_settings, ticks=False),
        replay(f"generated {days} days, daily ticks", gen_reports, gen_settings, ticks=True),
        replay(f"generated {days} days, no ticks (peer)", gen_reports, gen_settings, ticks=False),
    ]
    _table(replays)
    print()
    print("SUMMARY " + " | ".join(_final(r) for r in replays))


if __name__ == "__main__":
    main()
