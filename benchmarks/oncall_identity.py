"""Every table after varied ingests, stored by this tree and by another one (issue #24).

``python benchmarks/oncall_identity.py --compare-src /work/main/src [--quick]``: for each backend
(SQLite, and PostgreSQL when reachable), routing table (none, or experts with several people and
teams), clock (standing, or one second further at each reading: the number and order of the
clock readings matter) and seed, a fresh process of each tree ingests the same runs into an
empty database: two ingests first (critical issues opened while only digested, then failing
again beside new critical issues: the on-call pass assigns the older ones first), then twelve
rounds of random runs in batches of 5 to 20,000 results, a monitor tick every third round. Each
child dumps every table (every column, timestamps included) in primary key order; the two dumps
must be equal. The table gives the rows stored, and a final SUMMARY line the verdict.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ingest import PG_DEFAULT, PG_ENV, Postgres
from triagehub.clock import Clock, FixedClock
from triagehub.config import Settings, parse_settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import Ingestor
from triagehub.engine.monitor import run_tick
from triagehub.store import tables as t
from triagehub.store.db import open_database

T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)
REPOS = ("acme/dbt", "acme/app", "acme/web")
SOURCES = ("dbt", "generic", "playwright", "github-actions")
MESSAGES = (
    "Failure in test {c}: Got {n} results, expected 0",
    "Database Error in model {c}: Snowflake statement timeout after {n}s",
    "Tableau workbook refresh failed for {c} ({n})",
    "AssertionError: expected {n} == 0 in {c}",
    "Connection refused to host 10.0.0.{n}",
    "Shared failure: shared library missing",
    "Error in {r}: build step {c} exited {n}",
    "dbt runtime error in {r} model {c}",
)


class SteppingClock:
    """One second further at each reading."""

    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at


def settings(experts: bool, *, quiet: bool = False) -> Settings:
    rules: list[dict[str, Any]] = [
        {"name": f"p-{p}", "match": {"check": f"{p}_*"}, "set": {"priority": p}}
        for p in ("critical", "high", "medium", "low")
    ]
    rules += [
        {"name": "fp", "match": {"check": "critical_fp*"}, "set": {"category": "false_positive"}},
        {"name": "ex", "match": {"check": "critical_rule*"}, "set": {"expert": "dbt-expert"}},
        {"name": "ex2", "match": {"check": "critical_norule*"}, "set": {"expert": "nobody"}},
    ]
    data: dict[str, Any] = {
        "repositories": {
            "acme/dbt": {"github_issues": {"target": "acme/dbt", "min_priority": "low"}},
            "acme/app": {"alerts": {"slack": "#app", "high": "immediate"}},
        },
        "classification_rules": rules,
        "lifecycle": {"agent_handle": None},
    }
    if quiet:
        data["alerts"] = {"critical": "digest", "high": "digest"}
    if experts:
        data["experts"] = {
            "dbt-expert": {"github": ["alice", "bob", "@acme/data-eng"], "slack": "#data"},
            "github-sleuth-expert": {"github": ["carol", "dave"]},
            "snowflake-expert": {"github": ["@acme/warehouse"]},
            "da-architect": {"github": "erin"},
        }
    return parse_settings(data, "identity.yaml")


def random_runs(rng: random.Random, round_no: int, at: datetime) -> list[RunReport]:
    runs = []
    for r in range(rng.randint(3, 8)):
        repo, source = rng.choice(REPOS), rng.choice(SOURCES)
        results = []
        for c in rng.sample(range(40), rng.randint(2, 12)):
            priority = ("critical", "high", "medium", "low")[c % 4]
            extra = ("", "fp", "rule", "norule")[(c // 4) % 4] if priority == "critical" else ""
            name = f"{priority}_{extra}chk{c}"
            if rng.random() < 0.45:
                text = rng.choice(MESSAGES).format(c=name, n=rng.randint(1, 3), r=repo)
                results.append(CheckResult(name, Status.FAIL, text))
            else:
                results.append(CheckResult(name, Status.PASS, ""))
        runs.append(
            RunReport(
                source=source,
                repository=repo,
                run_id=f"r{round_no}-{r}",
                attempt=1,
                commit=f"c{round_no:04d}{r}",
                finished_at=at + timedelta(minutes=r),
                results=tuple(results),
            )
        )
    return runs


def failing_run(run: str, checks: Sequence[str]) -> RunReport:
    return RunReport(
        source="dbt",
        repository="acme/dbt",
        run_id=run,
        attempt=1,
        commit="c0",
        finished_at=T0,
        results=tuple(
            CheckResult(c, Status.FAIL, f"Failure in test {c}: Got 3 results, expected 0")
            for c in checks
        ),
    )


def ingest(engine: Any, config: Settings, clock: Clock, runs: list[RunReport], batch: int) -> None:
    with Session(engine) as session, session.begin():
        ingestor = Ingestor(session, config, clock=clock, batch_results=batch)
        ingestor.add_all(runs)
        ingestor.flush()


def child(url: str, experts: bool, stepping: bool, seed: int) -> None:
    """Ingest the scenario into ``url``; print the dump's digest and row counts."""
    engine = open_database(url)
    config, quiet = settings(experts), settings(experts, quiet=True)
    clock: SteppingClock | FixedClock = SteppingClock() if stepping else FixedClock(T0)
    clock.set(T0 - timedelta(hours=2))
    ingest(
        engine, quiet, clock, [failing_run("pre1", [f"critical_rulechk{n}" for n in range(6)])], 50
    )
    again = [f"critical_rulechk{n}" for n in (0, 2, 4, 20, 21, 22, 23)]
    ingest(engine, config, clock, [failing_run("pre2", again)], 20_000)
    rng = random.Random(seed)
    for round_no in range(12):
        at = T0 + timedelta(hours=6 * round_no)
        clock.set(at)
        batch = rng.choice([5, 20, 50, 20_000])
        runs = random_runs(rng, round_no, at)
        ingest(engine, quiet if round_no % 4 == seed % 4 else config, clock, runs, batch)
        if round_no % 3 == 2:
            run_tick(engine, config, clock=clock)
    dump: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()
            dump[table.name] = [
                {k: v if isinstance(v, dict | list) else repr(v) for k, v in r.items()}
                for r in rows
            ]
    engine.dispose()
    text = json.dumps(dump, sort_keys=True, default=repr)
    counts = {name: len(rows) for name, rows in dump.items()}
    print(json.dumps({"sha256": hashlib.sha256(text.encode()).hexdigest(), "rows": counts}))


def run_child(src: Path, url: str, experts: bool, stepping: bool, seed: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{src.resolve()}{os.pathsep}{Path(__file__).parent}"}
    args = ["--child", url, str(int(experts)), str(int(stepping)), str(seed)]
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"{src} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def compare(other: Path, quick: bool) -> int:
    trees = {"this tree": Path(__file__).resolve().parent.parent / "src", "other": other}
    seeds = (3,) if quick else (1, 2, 3, 4)
    pg = Postgres(os.environ.get(PG_ENV, PG_DEFAULT))
    try:
        pg.create()
        backends = ["sqlite", "postgresql"]
    except OperationalError as exc:  # the server is optional: SQLite only then
        print(f"PostgreSQL not reachable ({exc}); SQLite only", file=sys.stderr)
        backends = ["sqlite"]
    same = cases = 0
    print(
        f"{'backend':<11} {'experts':<8} {'clock':<9} {'seed':>4} {'issues':>7} "
        f"{'events':>7} {'jobs':>5}  dumps"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="triagehub-identity-") as tmp:
            for backend in backends:
                for experts in (False, True):
                    for stepping in (False, True):
                        for seed in seeds:
                            got: list[dict[str, Any]] = []
                            for src in trees.values():
                                if backend == "sqlite":
                                    url = f"sqlite:///{Path(tmp) / f'{len(got)}-{seed}.db'}"
                                    Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
                                else:
                                    pg.reset()
                                    url = pg.url
                                got.append(run_child(src, url, experts, stepping, seed))
                            equal = got[0] == got[1]
                            cases += 1
                            same += int(equal)
                            rows = got[0]["rows"]
                            print(
                                f"{backend:<11} {'yes' if experts else 'no':<8} "
                                f"{'stepping' if stepping else 'standing':<9} {seed:>4} "
                                f"{rows['issues']:>7} {rows['issue_events']:>7} "
                                f"{rows['jobs']:>5}  {'identical' if equal else 'DIFFERENT'}"
                            )
    finally:
        pg.drop()
    print(
        f"SUMMARY oncall identity (other = {other}): {same} of {cases} cases store identical "
        f"tables ({', '.join(backends)})"
    )
    return 0 if same == cases else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--compare-src", type=Path, metavar="DIR", help="another checkout's src")
    parser.add_argument("--quick", action="store_true", help="one seed")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        url, experts, stepping, seed = args.child
        child(url, experts == "1", stepping == "1", int(seed))
        return 0
    if args.compare_src is None:
        parser.error("--compare-src DIR is required (the tree to compare with)")
    return compare(args.compare_src, args.quick)


if __name__ == "__main__":
    raise SystemExit(main())
