"""Scale-out on one PostgreSQL database: two ``serve`` and two ``worker`` processes under the
webhook load, beside one ``serve`` and one ``worker`` (the peer) in the same run.

For each topology, a fresh PostgreSQL database; ``triagehub serve --no-worker`` processes
(uvicorn) on their own loopback ports and ``triagehub worker`` processes beside them. The load is
``benchmarks/webhooks.py``'s: N signed ``workflow_job`` deliveries (GitHub's payload example,
fresh run and job ids, half failures), here spread over ``--repositories`` repositories and
round-robin over the servers from ``--concurrency`` connections in all. While it runs, 5% of
the deliveries are also sent at the same moment to the other server (a race on the delivery
id), and after it another 5% are sent again to the other server (GitHub's redelivery).

Reported per topology: acknowledged deliveries/s, p50/p99 latency, deliveries/s end to end
(until the workers have ingested everything), and exactly-once: every delivery answered 202
once and 200 "duplicate" for every copy, one delivery record, one ingest job done and one run per
delivery, no run twice, no job dead, and the issues' occurrence counters equal to the
occurrence rows.

    python benchmarks/scale_out.py [--quick] [--deliveries N] [--concurrency C]
        [--repositories R] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from triagehub.engine.ingest_jobs import INGEST_WEBHOOK
from triagehub.store import db as store_db
from triagehub.store import tables as t
from webhooks import FIXTURES, SECRET, bodies, free_port, pct, send

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass
class Outcome:
    """One topology's figures."""

    servers: int
    workers: int
    deliveries: int = 0
    ack_s: float = 0.0
    drained_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    replay_statuses: Counter[int] = field(default_factory=Counter)
    raced: int = 0
    replays: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.servers} serve + {self.workers} worker"

    @property
    def rate(self) -> float:
        return self.deliveries / self.ack_s

    @property
    def end_to_end(self) -> float:
        return self.deliveries / self.drained_s

    @property
    def exactly_once(self) -> bool:
        n, c = self.deliveries, self.counts
        return (
            self.statuses == Counter({202: n, 200: self.raced})
            and self.replay_statuses == Counter({200: self.replays})
            and c["delivery records"] == c["jobs done"] == c["runs"] == n
            and c["runs stored twice"] == c["jobs dead"] == 0
            and c["occurrence rows"] == c["issue occurrences"]
        )


def spread(items: list[tuple[str, bytes]], repositories: int) -> list[tuple[str, bytes]]:
    """The same deliveries, their repository one of ``repositories``."""
    out = []
    for n, (delivery, body) in enumerate(items):
        payload: dict[str, Any] = json.loads(body)
        repo = payload["repository"]
        repo["name"] = f"repo-{n % repositories}"
        repo["full_name"] = f"{repo['owner']['login']}/{repo['name']}"
        out.append((delivery, json.dumps(payload).encode()))
    return out


def shares(
    items: list[tuple[str, bytes]], servers: int
) -> tuple[list[list[tuple[str, bytes]]], int]:
    """Round-robin over the servers, each 20th delivery also sent to the next server at the
    same place in its queue (the two copies race); how many raced."""
    queues: list[list[tuple[int, tuple[str, bytes]]]] = [[] for _ in range(servers)]
    raced = 0
    for n, item in enumerate(items):
        queues[n % servers].append((n, item))
        if n % 20 == 7:
            queues[(n + 1) % servers].append((n, item))
            raced += 1
    return [[item for _, item in sorted(q, key=lambda x: x[0])] for q in queues], raced


@contextmanager
def database(admin_url: str) -> Iterator[str]:
    """A throwaway, migrated PostgreSQL database."""
    admin = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"triagehub_scale_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        store_db.open_database(url).dispose()  # migrated once, before the processes start
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@contextmanager
def processes(url: str, servers: int, workers: int) -> Iterator[list[str]]:
    """``servers`` × ``triagehub serve --no-worker`` and ``workers`` × ``triagehub worker``;
    the servers' base URLs once they answer."""
    env = {**os.environ, "TRIAGEHUB_WEBHOOK_SECRET": SECRET.decode()}
    base = [sys.executable, "-m", "triagehub", "--db", url]
    ports = [free_port() for _ in range(servers)]
    procs = [
        subprocess.Popen(
            [*base, "serve", "--port", str(port), "--no-worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    procs += [
        subprocess.Popen(
            [*base, "worker", "--interval", "0.2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 60
        for u in urls:
            while True:
                try:
                    httpx.get(f"{u}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                        raise RuntimeError("a triagehub process did not start") from None
                    time.sleep(0.2)
        yield urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


async def load(
    urls: list[str], queues: list[list[tuple[str, bytes]]], concurrency: int
) -> tuple[list[float], Counter[int]]:
    """Every server's queue at once, the connections shared out."""
    each = max(1, concurrency // len(urls))
    done = await asyncio.gather(*(send(u, q, each) for u, q in zip(urls, queues, strict=True)))
    latencies = [x for lat, _ in done for x in lat]
    statuses: Counter[int] = Counter()
    for _, st in done:
        statuses.update(st)
    return latencies, statuses


def wait_drained(engine: Engine) -> None:
    j = t.jobs.c
    while True:
        with engine.connect() as conn:
            left = conn.execute(
                select(func.count()).select_from(t.jobs).where(j.status.in_(("pending", "running")))
            ).scalar_one()
        if not left:
            return
        time.sleep(0.05)


def count(engine: Engine) -> dict[str, int]:
    def one(stmt: Any) -> int:
        with engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one() or 0)

    r, j = t.runs.c, t.jobs.c
    twice = (
        select(r.repository_id, r.external_id, r.attempt)
        .group_by(r.repository_id, r.external_id, r.attempt)
        .having(func.count() > 1)
        .subquery()
    )
    return {
        "delivery records": one(select(func.count()).select_from(t.webhook_deliveries)),
        "jobs done": one(
            select(func.count())
            .select_from(t.jobs)
            .where(j.status == "done", j.kind == INGEST_WEBHOOK)
        ),
        "jobs dead": one(select(func.count()).select_from(t.jobs).where(j.status == "dead")),
        # what the monitor's ticks queued meanwhile (notifications of the new issues)
        "other jobs": one(select(func.count()).select_from(t.jobs).where(j.kind != INGEST_WEBHOOK)),
        "runs": one(select(func.count()).select_from(t.runs)),
        "runs stored twice": one(select(func.count()).select_from(twice)),
        "occurrence rows": one(select(func.count()).select_from(t.occurrences)),
        "issue occurrences": one(select(func.sum(t.issues.c.occurrences))),
        "issues": one(select(func.count()).select_from(t.issues)),
    }


def run_topology(
    admin_url: str, servers: int, workers: int, items: list[tuple[str, bytes]], concurrency: int
) -> Outcome:
    outcome = Outcome(servers, workers, deliveries=len(items))
    queues, outcome.raced = shares(items, servers)
    outcome.replays = len(range(3, len(items), 20))
    with database(admin_url) as url, processes(url, servers, workers) as urls:
        engine = create_engine(url)
        started = time.perf_counter()
        outcome.latencies, outcome.statuses = asyncio.run(load(urls, queues, concurrency))
        outcome.ack_s = time.perf_counter() - started
        # redeliveries, each to the next server after the one its first copy went to
        again: list[list[tuple[str, bytes]]] = [[] for _ in range(servers)]
        for n in range(3, len(items), 20):
            again[(n + 1) % servers].append(items[n])
        _, outcome.replay_statuses = asyncio.run(load(urls, again, concurrency))
        wait_drained(engine)
        outcome.drained_s = time.perf_counter() - started
        outcome.counts = count(engine)
        engine.dispose()
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 deliveries per topology")
    parser.add_argument("--deliveries", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=8, help="connections in all")
    parser.add_argument("--repositories", type=int, default=8)
    parser.add_argument(
        "--postgres", default=os.environ.get("TRIAGEHUB_TEST_POSTGRES_URL", PG_DEFAULT)
    )
    args = parser.parse_args(argv)
    n = args.deliveries or (2_000 if args.quick else 10_000)
    if not FIXTURES.is_dir():
        print(f"fixtures not found at {FIXTURES}", file=sys.stderr)
        return 2
    items = spread(bodies(n), args.repositories)
    results = [
        run_topology(args.postgres, s, w, items, args.concurrency) for s, w in ((1, 1), (2, 2))
    ]
    print(
        f"{n:,} signed workflow_job deliveries over {args.repositories} repositories, "
        f"{args.concurrency} connections in all, one PostgreSQL database per topology"
    )
    header = f"  {'topology':<22}{'ack/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'e2e/s':>8}  exactly once"
    print(header)
    for o in results:
        print(
            f"  {o.name:<22}{o.rate:>8,.0f}{pct(o.latencies, 0.5):>9.1f}"
            f"{pct(o.latencies, 0.99):>9.1f}{o.end_to_end:>8,.0f}  {o.exactly_once}"
        )
    for o in results:
        print(
            f"  {o.name}: answers {dict(o.statuses)} ({o.raced} raced copies), "
            f"redeliveries {dict(o.replay_statuses)}; {o.counts}"
        )
    peer, out = results
    p99 = pct(out.latencies, 0.99)
    met = out.rate >= 300 and p99 < 100 and all(o.exactly_once for o in results)
    print(
        f"SUMMARY scale_out: 2 serve + 2 worker {out.rate:,.0f} deliveries/s "
        f"({out.rate / peer.rate:.2f}x the 1 + 1 peer's {peer.rate:,.0f}), p99 {p99:.1f} ms "
        f"(peer {pct(peer.latencies, 0.99):.1f} ms), end to end {out.end_to_end:,.0f}/s "
        f"({out.end_to_end / peer.end_to_end:.2f}x), exactly once: "
        f"{all(o.exactly_once for o in results)}; "
        f"{'all targets met' if met else 'TARGET MISSED (>= 300/s, p99 < 100 ms)'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
