"""Webhook load on loopback: signed GitHub deliveries against a real ``triagehub serve``.

Starts ``triagehub serve`` (uvicorn) in a subprocess on 127.0.0.1 with a fresh SQLite database,
sends N signed ``workflow_job`` deliveries (GitHub's real payload example, with fresh run and job
ids; half failures, half successes) from a bounded number of concurrent connections, then a
replay of 5% of them, and reports deliveries/s, p50/p99 latency, and whether every delivery was
stored exactly once. Peer in the same run: ``GET /healthz``, the server's floor.

    python benchmarks/webhooks.py [--quick] [--deliveries N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select

from triagehub.api.app import signature_of
from triagehub.store import tables as t

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 deliveries")
    parser.add_argument("--deliveries", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--worker",
        choices=("in-process", "separate"),
        default="separate",
        help="run queued jobs in the server, or in a `triagehub worker` process beside it",
    )
    args = parser.parse_args(argv)
    n = args.deliveries or (2_000 if args.quick else 20_000)
    if not FIXTURES.is_dir():
        print(f"fixtures not found at {FIXTURES}", file=sys.stderr)
        return 2
    items = bodies(n)
    replays = items[: max(1, n // 20)]
    with tempfile.TemporaryDirectory(prefix="triagehub-webhooks-") as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.db'}"
        port = free_port()
        env = {**os.environ, "TRIAGEHUB_WEBHOOK_SECRET": SECRET.decode()}
        command = [sys.executable, "-m", "triagehub", "--db", db, "serve", "--port", str(port)]
        if args.worker == "separate":
            command.append("--no-worker")
        server = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        worker = (
            subprocess.Popen(
                [sys.executable, "-m", "triagehub", "--db", db, "worker", "--interval", "1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if args.worker == "separate"
            else None
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{url}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        print("the server did not start", file=sys.stderr)
                        return 1
                    time.sleep(0.2)
            floor = asyncio.run(health(url, 500))
            started = time.perf_counter()
            latencies, statuses = asyncio.run(send(url, items, args.concurrency))
            elapsed = time.perf_counter() - started
            _, replay_statuses = asyncio.run(send(url, replays, args.concurrency))
            # The worker ingests behind the acknowledgements: wait for the queue to drain.
            watcher = create_engine(db)
            while True:
                with watcher.connect() as conn:
                    left = conn.execute(
                        select(func.count()).select_from(t.jobs).where(t.jobs.c.status == "pending")
                    ).scalar_one()
                if not left:
                    break
                time.sleep(0.05)
            drained = time.perf_counter() - started
            watcher.dispose()
        finally:
            server.terminate()
            server.wait(timeout=30)
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
        engine = create_engine(db)
        with engine.connect() as conn:
            stored = conn.execute(
                select(func.count()).select_from(t.webhook_deliveries)
            ).scalar_one()
            runs = conn.execute(select(func.count()).select_from(t.runs)).scalar_one()
        engine.dispose()
    rate = n / elapsed
    p50, p99 = pct(latencies, 0.50), pct(latencies, 0.99)
    exactly_once = (
        stored == n
        and runs == n
        and statuses == {202: n}
        and replay_statuses == {200: len(replays)}
    )
    print(
        f"{n:,} signed workflow_job deliveries, {args.concurrency} connections, SQLite, "
        f"worker {args.worker}"
    )
    print(f"  answers: {statuses}; replays of {len(replays)}: {replay_statuses}")
    print(f"  stored deliveries: {stored:,}; runs: {runs:,} (jobs of {n // 4:,} runs x 4 jobs)")
    print(f"  all ingested after {drained:.1f} s ({n / drained:,.0f} deliveries/s end to end)")
    print(f"  deliveries/s: {rate:,.0f}  p50 {p50:.1f} ms  p99 {p99:.1f} ms")
    print(f"  peer GET /healthz: p50 {pct(floor, 0.5):.1f} ms  p99 {pct(floor, 0.99):.1f} ms")
    met = rate >= 300 and p99 < 100 and exactly_once
    print(
        f"SUMMARY webhooks: {n:,} deliveries at {rate:,.0f}/s (target >= 300), p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms (target < 100 ms), stored exactly once: {exactly_once}; "
        f"{'all targets met' if met else 'TARGET MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
