"""Webhook load on loopback: signed GitHub deliveries against a real ``triagehub serve``.

Starts ``triagehub serve`` (uvicorn) and ``triagehub worker`` in subprocesses on 127.0.0.1 with
a fresh database (SQLite, then a throwaway PostgreSQL database), sends N signed ``workflow_job``
deliveries (GitHub's real payload example, with fresh run and job ids; half failures, half
successes) from a bounded number of concurrent connections, then a replay of 5% of them, and
reports deliveries/s, p50/p99 latency, and whether every delivery was stored exactly once. Peers
in the same run: ``GET /healthz`` (the server's floor) and, with ``--peer-without-worker``, the
same deliveries with no worker writing meanwhile (what waiting on the writer costs).

    python benchmarks/webhooks.py [--quick] [--deliveries N] [--concurrency C]
        [--backend sqlite|postgresql|both] [--worker separate|in-process|none]
        [--peer-without-worker] [--compare-src DIR [--rounds R]]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy import func, select

from api_latency import PG_DEFAULT, PG_ENV, Postgres
from triagehub.api.app import signature_of
from triagehub.store import tables as t
from triagehub.store.db import make_engine, open_database

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures" / "octokit" / "webhooks"
SECRET = b"benchmark-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bodies(n: int) -> list[tuple[str, bytes]]:
    failure = json.loads((FIXTURES / "workflow_job.completed_failure.1.json").read_text())
    success = json.loads((FIXTURES / "workflow_job.completed_success.2.json").read_text())
    out = []
    for i in range(n):
        p: dict[str, Any] = copy.deepcopy(failure if i % 2 == 0 else success)
        job = p["workflow_job"]
        job["id"] = 10_000_000 + i
        job["run_id"] = 20_000_000 + i // 4
        job["run_attempt"] = 1
        job["name"] = f"test ({i % 4})"
        out.append((f"bench-{i}", json.dumps(p).encode()))
    return out


async def send(
    url: str, items: list[tuple[str, bytes]], concurrency: int
) -> tuple[list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                delivery, body = queue.get_nowait()
                headers = {
                    "content-type": "application/json",
                    "x-github-event": "workflow_job",
                    "x-github-delivery": delivery,
                    "x-hub-signature-256": signature_of(SECRET, body),
                }
                started = time.perf_counter()
                answer = await client.post("/webhooks/github", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses


async def health(url: str, n: int) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for _ in range(n):
            started = time.perf_counter()
            await client.get("/healthz")
            latencies.append(time.perf_counter() - started)
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class Result:
    backend: str
    worker: str
    n: int
    rate: float
    p50: float
    p99: float
    drained: float
    exactly_once: bool
    server_cpu_ms: float
    lines: list[str]
    tree: str = "this tree"
    worker_cpu_ms: float = 0.0
    client_cpu_ms: float = 0.0


def _env(src: Path | None) -> dict[str, str]:
    """The environment of a triagehub process importing from ``src`` (another checkout's) when
    given, else from this tree."""
    env = {**os.environ, "TRIAGEHUB_WEBHOOK_SECRET": SECRET.decode()}
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src.resolve()), *_other_paths()])
    return env


def migrate(db: str, src: Path | None) -> None:
    """``db`` migrated by the tree that will serve it: another checkout may not know this tree's
    newest migrations (its server refuses a database newer than its code)."""
    if src is None:
        open_database(db).dispose()
        return
    code = "import sys; from triagehub.store.db import open_database; open_database(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, db], env=_env(src), check=True)


def serve(
    db: str, worker_mode: str, port: int, src: Path | None = None
) -> list[subprocess.Popen[bytes]]:
    """The server (and the worker beside it) on ``db``, started in subprocesses (importing
    triagehub from ``src`` when given: another checkout's ``src``)."""
    env = _env(src)
    command = [sys.executable, "-m", "triagehub", "--db", db, "serve", "--port", str(port)]
    if worker_mode != "in-process":
        command.append("--no-worker")

    def start(args: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    started = [start(command)]
    if worker_mode == "separate":
        started.append(
            start([sys.executable, "-m", "triagehub", "--db", db, "worker", "--interval", "1"])
        )
    return started


def _other_paths() -> list[str]:
    """The entries of ``PYTHONPATH`` that are not a triagehub ``src`` (extra packages)."""
    entries = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    return [e for e in entries if e and not (Path(e) / "triagehub").is_dir()]


def load_average() -> str:
    path = Path("/proc/loadavg")
    return " ".join(path.read_text().split()[:3]) if path.exists() else "?"


def wait_until_up(url: str, server: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return True
        except httpx.HTTPError:
            if time.monotonic() > deadline or server.poll() is not None:
                return False
            time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used (user + system), from /proc: a figure that a machine
    shared with other work does not inflate the way it inflates latencies."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count(db: str, table: Any, where: Any = None) -> int:
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            stmt = select(func.count()).select_from(table)
            return int(conn.execute(stmt if where is None else stmt.where(where)).scalar_one())
    finally:
        engine.dispose()


def run(
    db: str,
    backend: str,
    worker_mode: str,
    items: list[tuple[str, bytes]],
    c: int,
    tree: tuple[str, Path | None] = ("this tree", None),
) -> Result:
    """Deliver ``items`` (then replays of 5%) to a fresh server on ``db``."""
    n = len(items)
    replays = items[: max(1, n // 20)]
    migrate(db, tree[1])  # before the server starts, as after an upgrade
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    processes = serve(db, worker_mode, port, tree[1])
    try:
        if not wait_until_up(url, processes[0]):
            raise SystemExit("the server did not start")
        floor = asyncio.run(health(url, 500))
        cpu_before = [cpu_seconds(p.pid) for p in processes]
        client_before = time.process_time()
        started = time.perf_counter()
        latencies, statuses = asyncio.run(send(url, items, c))
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - client_before
        _, replay_statuses = asyncio.run(send(url, replays, c))
        server_cpu = cpu_seconds(processes[0].pid) - cpu_before[0]
        # The worker ingests behind the acknowledgements: wait until no job is left to do.
        left = t.jobs.c.status.in_(("pending", "running"))  # claimed is not done yet
        while worker_mode != "none" and count(db, t.jobs, left):
            time.sleep(0.05)
        drained = time.perf_counter() - started
        worker_cpu = cpu_seconds(processes[-1].pid) - cpu_before[-1] if len(processes) > 1 else 0
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
    stored, runs = count(db, t.webhook_deliveries), count(db, t.runs)
    ingested = worker_mode == "none" or runs == n
    exactly_once = (
        stored == n and ingested and statuses == {202: n} and replay_statuses == {200: len(replays)}
    )
    rate = n / elapsed
    p50, p99 = pct(latencies, 0.50), pct(latencies, 0.99)
    label = "" if tree[1] is None else f" [{tree[0]}]"
    lines = [
        f"{n:,} signed workflow_job deliveries, {c} connections, {backend}, worker {worker_mode}"
        f"{label}, load average {load_average()}",
        f"  answers: {statuses}; replays of {len(replays)}: {replay_statuses}",
        f"  stored deliveries: {stored:,}; runs: {runs:,} (jobs of {n // 4:,} runs x 4 jobs)",
        f"  deliveries/s: {rate:,.0f}  p50 {p50:.1f} ms  p99 {p99:.1f} ms",
        f"  peer GET /healthz: p50 {pct(floor, 0.5):.1f} ms  p99 {pct(floor, 0.99):.1f} ms",
        f"  CPU per delivery: server {server_cpu / (n + len(replays)) * 1000:.2f} ms"
        + (f", worker {worker_cpu / n * 1000:.2f} ms" if worker_cpu else "")
        + f", client {client_cpu / n * 1000:.2f} ms",
    ]
    if worker_mode != "none":
        lines.insert(3, f"  all ingested after {drained:.1f} s ({n / drained:,.0f}/s end to end)")
    cpu_ms = server_cpu / (n + len(replays)) * 1000
    return Result(
        backend,
        worker_mode,
        n,
        rate,
        p50,
        p99,
        drained,
        exactly_once,
        cpu_ms,
        lines,
        tree[0],
        worker_cpu / n * 1000,
        client_cpu / n * 1000,
    )


def measure_all(
    args: argparse.Namespace,
    items: list[tuple[str, bytes]],
    trees: list[tuple[str, Path | None]],
    tmp: Path,
) -> list[Result]:
    """Every backend and worker mode asked for, for each tree, round after round (the trees
    alternate, so that a change in the machine's load falls on both)."""
    modes = [args.worker] + (["none"] if args.peer_without_worker and args.worker != "none" else [])
    results: list[Result] = []
    number = 0
    for _ in range(args.rounds if len(trees) > 1 else 1):
        for tree in trees:
            for backend in ("sqlite", "postgresql"):
                if args.backend not in (backend, "both"):
                    continue
                for mode in modes:
                    number += 1
                    if backend == "sqlite":
                        db = f"sqlite:///{tmp / f'bench{number}.db'}"
                        results.append(run(db, "SQLite", mode, items, args.concurrency, tree))
                        continue
                    pg = Postgres(os.environ.get(PG_ENV, PG_DEFAULT))
                    try:
                        version = pg.create()
                        label = f"PostgreSQL {version.split()[0]}"
                        results.append(run(pg.url, label, mode, items, args.concurrency, tree))
                    except sa.exc.OperationalError as exc:
                        print(f"PostgreSQL not measured: {exc.orig}")
                    finally:
                        pg.drop()
    return results


def compared(results: list[Result]) -> str:
    """Per backend and worker mode: each tree's median rate, p99 and CPU per delivery over the
    rounds, and this tree's ratio to the other's."""
    parts = []
    keys = dict.fromkeys((r.backend, r.worker) for r in results)
    for backend, worker in keys:
        mine = {}
        for tree in ("other", "this tree"):
            rs = [r for r in results if (r.backend, r.worker, r.tree) == (backend, worker, tree)]
            if not rs:
                continue
            mine[tree] = (
                statistics.median(r.rate for r in rs),
                statistics.median(r.p99 for r in rs),
                statistics.median(r.server_cpu_ms for r in rs),
                statistics.median(r.worker_cpu_ms for r in rs),
            )
        if len(mine) < 2:
            continue
        (ro, po, co, wo), (rt, pt, ct, wt) = mine["other"], mine["this tree"]
        parts.append(
            f"{backend} worker {worker}: other {ro:,.0f}/s p99 {po:.0f} ms server CPU {co:.2f} ms"
            f" worker CPU {wo:.2f} ms -> this tree {rt:,.0f}/s p99 {pt:.0f} ms server CPU "
            f"{ct:.2f} ms worker CPU {wt:.2f} ms (rate x{rt / ro:.2f}, server CPU x{ct / co:.2f})"
        )
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 deliveries")
    parser.add_argument("--deliveries", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--worker",
        choices=("in-process", "separate", "none"),
        default="separate",
        help="run queued jobs in the server, in a `triagehub worker` process beside it, or "
        "not at all (the acknowledgements alone: no writer to wait for)",
    )
    parser.add_argument(
        "--peer-without-worker",
        action="store_true",
        help="also run each backend with no worker (what waiting on the writer costs)",
    )
    parser.add_argument(
        "--compare-src",
        type=Path,
        metavar="DIR",
        help="also run the server and worker from DIR (another checkout's src), alternating "
        "with this tree's, and print the ratios",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --compare-src")
    args = parser.parse_args(argv)
    n = args.deliveries or (2_000 if args.quick else 20_000)
    if not FIXTURES.is_dir():
        print(f"fixtures not found at {FIXTURES}", file=sys.stderr)
        return 2
    items = bodies(n)
    trees: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.compare_src is not None:
        if not (args.compare_src / "triagehub").is_dir():
            print(f"no triagehub package in {args.compare_src}", file=sys.stderr)
            return 2
        trees = [("other", args.compare_src), ("this tree", ROOT / "src")]
    with tempfile.TemporaryDirectory(prefix="triagehub-webhooks-") as tmp:
        results = measure_all(args, items, trees, Path(tmp))
    for result in results:
        print("\n".join(result.lines))
    figures = "; ".join(
        f"{r.backend} worker {r.worker}{'' if len(trees) == 1 else f' [{r.tree}]'}: "
        f"{r.rate:,.0f}/s p50 {r.p50:.1f} ms p99 {r.p99:.1f} ms "
        f"(server CPU {r.server_cpu_ms:.2f} ms each)"
        f"{'' if r.exactly_once else ' NOT EXACTLY ONCE'}"
        for r in results
    )
    headline = [r for r in results if r.worker == args.worker and r.tree == "this tree"]
    met = bool(headline) and all(r.rate >= 300 and r.p99 < 100 and r.exactly_once for r in headline)
    if len(trees) > 1:
        print(
            f"COMPARE webhooks (median of {args.rounds} rounds; other = {args.compare_src}): "
            + compared(results)
        )
    print(
        f"SUMMARY webhooks: {n:,} deliveries, load average {load_average()}; {figures} "
        f"(targets >= 300/s, p99 < 100 ms, stored exactly once); "
        f"{'all targets met' if met else 'TARGET MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
