"""Soak on PostgreSQL: two ``serve`` and two ``worker`` processes, webhooks and CLI ingests at
once, random ``kill -9`` and restarts; then an audit of what was stored.

For ``--seconds`` (60; ``--quick``: 20) the script, all on 127.0.0.1:

- sends signed GitHub ``workflow_job`` deliveries (GitHub's payload example with fresh run and
  job ids, over a few repositories and jobs so that checks, issues and patterns are shared) to
  either server, and redelivers some of them to the other one; a delivery whose answer did not
  arrive (its server was killed) is sent again until one server acknowledges it;
- runs ``triagehub ingest`` on generated event files (runs that share checks with each other and
  a repository with the webhooks), three at a time, again until each exits 0;
- every few seconds kills one of the four long-running processes or a running ingest with
  SIGKILL, and starts the server or worker again a moment later.

Then it lets the workers drain the queue and audits the database against what was
acknowledged: runs lost (acknowledged, never stored) or duplicated, and every counter
recomputed from the stored rows and the inputs (``check_stats.runs`` and ``failures`` per check,
``issues.occurrences``, ``issue_checks.occurrences``, pattern ``occurrences`` and
``issues_count``). Peer in the same run: the same traffic without any kill (``--no-peer`` skips
it), so a mismatch can be told apart from the chaos.

    python benchmarks/soak.py [--quick] [--seconds S] [--pg URL] [--seed N]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from triagehub.api.app import signature_of
from triagehub.core.models import Status
from triagehub.sources.events import parse_objects
from triagehub.sources.github_actions import report_from_workflow_job
from triagehub.store import db as store_db
from triagehub.store import tables as t

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = ROOT / "tests" / "data" / "github" / "workflow_job.completed_failure.1.json"
SECRET = "soak-secret"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HOOK_REPOS = ("octo-org/octo-repo", "octo-org/api", "acme/app")
CLI_REPOS = ("acme/app", "acme/dbt")
MESSAGES = (
    "AssertionError: expected {n} rows, got {m}",
    "Connection refused: connect to 10.0.0.{n}:5432",
    "KeyError: 'customer_{n}'",
    "Timeout 30000ms exceeded while waiting for locator('#btn{n}')",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- inputs -----------------------------------------------------------------------------------


def delivery(i: int, template: dict[str, Any]) -> tuple[str, bytes, dict[str, Any]]:
    payload = copy.deepcopy(template)
    job = payload["workflow_job"]
    job["id"] = 50_000_000 + i
    job["run_id"] = 60_000_000 + i // 3
    job["name"] = f"test ({i % 3})"
    job["head_sha"] = f"{i // 3:040x}"
    payload["repository"]["full_name"] = HOOK_REPOS[i % len(HOOK_REPOS)]
    payload["repository"]["name"] = HOOK_REPOS[i % len(HOOK_REPOS)].split("/")[1]
    return f"soak-{i}", json.dumps(payload).encode(), payload


RUNS_PER_FILE = 200
SENDERS = 4  # threads sending webhooks, each waiting for its answers
INGESTERS = 3  # `triagehub ingest` processes at a time


def event_file(folder: Path, i: int) -> tuple[Path, list[dict[str, Any]]]:
    """``RUNS_PER_FILE`` runs of 8 checks; checks 0-2 always fail, 3-5 pass, 6-7 alternate."""
    events = []
    for n in range(i * RUNS_PER_FILE, (i + 1) * RUNS_PER_FILE):
        results = []
        for c in range(8):
            fail = c < 3 or (c >= 6 and (n + c) % 2 == 0)
            message = MESSAGES[c % len(MESSAGES)].format(n=n * 8 + c, m=n) if fail else ""
            results.append(
                {
                    "check": f"tests/test_soak.py::test_{c}",
                    "status": "fail" if fail else "pass",
                    "message": message,
                }
            )
        day, minute = 1 + n // 1440 % 28, n % 1440
        events.append(
            {
                "source": "generic",
                "repository": CLI_REPOS[n % len(CLI_REPOS)],
                "run": {
                    "id": f"soak-run-{n}",
                    "attempt": 1,
                    "commit": f"{n:08x}",
                    "branch": "main",
                    "finished_at": f"2026-11-{day:02d}T{minute // 60:02d}:{minute % 60:02d}:00Z",
                },
                "results": results,
            }
        )
    path = folder / f"run-{i:06d}.json"
    path.write_text(json.dumps(events))
    return path, events


# -- processes --------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    kills: int = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()


@dataclass
class Tally:
    sent: int = 0  # deliveries acknowledged (202 or 200 duplicate) / files ingested (exit 0)
    attempts: int = 0
    failed_attempts: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


# -- the soak ---------------------------------------------------------------------------------


@dataclass
class Soak:
    url: str
    folder: Path
    seconds: float
    chaos: bool
    rng: random.Random
    servers: list[Proc] = field(default_factory=list)
    workers: list[Proc] = field(default_factory=list)
    hooks: Tally = field(default_factory=Tally)
    files: Tally = field(default_factory=Tally)
    acked_hooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    acked_files: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    ingest_kills: int = 0
    running_ingests: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    traffic_s: float = 0.0
    drain_s: float = 0.0

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "TRIAGEHUB_DATABASE_URL": self.url,
            "TRIAGEHUB_WEBHOOK_SECRET": SECRET,
            "TRIAGEHUB_JOB_LEASE_S": "3",
            "TRIAGEHUB_JOB_BACKOFF_S": "0.2",
            "TRIAGEHUB_JOB_MAX_BACKOFF_S": "2",
            "TRIAGEHUB_JOB_BATCH": "5",  # small batches: the two workers overlap
        }
        for name in ("GITHUB_TOKEN", "SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "ANTHROPIC_API_KEY"):
            env.pop(name, None)
        return env

    def start(self) -> None:
        env = self.env()
        tri = [sys.executable, "-m", "triagehub"]
        for n in range(2):
            port = free_port()
            self.servers.append(
                Proc(
                    f"serve-{n}",
                    [*tri, "serve", "--port", str(port), "--no-worker", "--no-monitor"],
                    env,
                    self.folder / f"serve-{n}.log",
                )
            )
            self.servers[-1].env = {**env, "SOAK_PORT": str(port)}
            self.workers.append(
                Proc(
                    f"worker-{n}",
                    [*tri, "worker", "--interval", "0.2"],
                    env,
                    self.folder / f"worker-{n}.log",
                )
            )
        for p in [*self.servers, *self.workers]:
            p.start()
        for s in self.servers:
            self.wait_up(s)

    def base(self, server: Proc) -> str:
        return f"http://127.0.0.1:{server.env['SOAK_PORT']}"

    def wait_up(self, server: Proc, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base(server) + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{server.name} did not start (see {server.log})")

    # traffic

    def send_hooks(self, first: int) -> None:
        template = json.loads(PAYLOAD.read_text())
        i = first
        with httpx.Client(timeout=15) as client:
            while not self.stop.is_set():
                delivery_id, body, payload = delivery(i, template)
                self.deliver(client, delivery_id, body)
                self.acked_hooks[delivery_id] = payload
                if self.rng.random() < 0.1:  # GitHub redelivers: the other server gets it
                    self.deliver(client, delivery_id, body)
                i += 1

    def deliver(self, client: httpx.Client, delivery_id: str, body: bytes) -> None:
        headers = {
            "content-type": "application/json",
            "x-github-event": "workflow_job",
            "x-github-delivery": delivery_id,
            "x-hub-signature-256": signature_of(SECRET.encode(), body),
        }
        while True:  # until one server acknowledges it
            server = self.rng.choice(self.servers)
            with self.hooks.lock:
                self.hooks.attempts += 1
            try:
                answer = client.post(
                    self.base(server) + "/webhooks/github", content=body, headers=headers
                )
            except httpx.HTTPError:
                with self.hooks.lock:
                    self.hooks.failed_attempts += 1
                time.sleep(0.05)
                continue
            with self.hooks.lock:
                self.hooks.answers[answer.status_code] += 1
            if answer.status_code in (200, 202):
                with self.hooks.lock:
                    self.hooks.sent += 1
                return
            time.sleep(0.1)

    def ingest_files(self, first: int, step: int) -> None:
        i = first
        while not self.stop.is_set():
            path, events = event_file(self.folder, i)
            while True:  # until an ingest of it exits 0
                with self.files.lock:
                    self.files.attempts += 1
                proc = subprocess.Popen(
                    [sys.executable, "-m", "triagehub", "ingest", str(path)],
                    env=self.env(),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                self.running_ingests.append(proc)
                code = proc.wait()
                self.running_ingests.remove(proc)
                if code == 0:
                    break
                with self.files.lock:
                    self.files.failed_attempts += 1
                    self.files.answers[code] += 1
            with self.files.lock:
                self.files.sent += 1
            self.acked_files[i] = events
            i += step

    def make_chaos(self) -> None:
        while not self.stop.wait(self.rng.uniform(1.5, 4.0)):
            roll = self.rng.random()
            if roll < 0.2 and self.running_ingests:
                try:
                    victim = self.rng.choice(self.running_ingests)
                    os.kill(victim.pid, signal.SIGKILL)
                    self.ingest_kills += 1
                except (IndexError, ProcessLookupError):
                    pass
                continue
            proc = self.rng.choice([*self.servers, *self.workers])
            proc.kill9()
            time.sleep(self.rng.uniform(0.2, 1.5))
            proc.start()
            if proc in self.servers:
                self.wait_up(proc)

    def run(self) -> float:
        self.start()
        threads = [
            *(
                threading.Thread(target=self.send_hooks, args=(n * 1_000_000,))
                for n in range(SENDERS)
            ),
            *(
                threading.Thread(target=self.ingest_files, args=(n, INGESTERS))
                for n in range(INGESTERS)
            ),
        ]
        if self.chaos:
            threads.append(threading.Thread(target=self.make_chaos))
        started = time.monotonic()
        for th in threads:
            th.start()
        self.stop.wait(self.seconds)
        self.stop.set()
        for th in threads:
            th.join()
        for p in [*self.servers, *self.workers]:
            if not p.alive():
                p.start()
        self.traffic_s = time.monotonic() - started
        self.drain_s = self.drain()
        for p in [*self.servers, *self.workers]:
            p.stop()
        return self.traffic_s

    def drain(self, timeout: float = 300) -> float:
        engine = sa.create_engine(self.url)
        started = time.monotonic()
        try:
            while time.monotonic() - started < timeout:
                with engine.connect() as conn:
                    left = conn.execute(
                        sa.select(sa.func.count())
                        .select_from(t.jobs)
                        .where(t.jobs.c.status.in_(("pending", "running")))
                    ).scalar_one()
                if not left:
                    return time.monotonic() - started
                time.sleep(0.3)
        finally:
            engine.dispose()
        raise RuntimeError("the job queue did not drain")


# -- the audit --------------------------------------------------------------------------------


def expected_results(soak: Soak) -> tuple[set[tuple[str, str, str]], Counter[Any], Counter[Any]]:
    """(runs, runs per check, failures per check) that the acknowledged inputs must give."""
    runs: set[tuple[str, str, str]] = set()
    per_check_runs: Counter[tuple[str, str]] = Counter()
    per_check_failures: Counter[tuple[str, str]] = Counter()
    reports = [r for p in soak.acked_hooks.values() if (r := report_from_workflow_job(p))]
    for events in soak.acked_files.values():
        reports.extend(parse_objects(events, "soak"))
    for report in reports:
        key = (report.repository, report.source, report.run_id)
        if key in runs:
            continue
        runs.add(key)
        seen: dict[str, Status] = {}
        for res in report.results:
            prev = seen.get(res.check)
            if prev is None or (res.status.is_failure and not prev.is_failure):
                seen[res.check] = res.status
        for check, status in seen.items():
            if status is Status.SKIP:
                continue
            per_check_runs[(report.repository, check)] += 1
            if status.is_failure or status is Status.FLAKY:
                per_check_failures[(report.repository, check)] += 1
    return runs, per_check_runs, per_check_failures


def audit(soak: Soak) -> dict[str, int]:
    runs, per_check_runs, per_check_failures = expected_results(soak)
    engine = sa.create_engine(soak.url)
    with engine.connect() as conn:
        repo = {
            pk: name
            for pk, name in conn.execute(sa.select(t.repositories.c.id, t.repositories.c.name))
        }
        stored_runs = Counter(
            (repo[r], s, e)
            for r, s, e in conn.execute(
                sa.select(t.runs.c.repository_id, t.runs.c.source, t.runs.c.external_id)
            )
        )
        checks = {
            pk: (repo[r], k)
            for pk, r, k in conn.execute(
                sa.select(t.checks.c.id, t.checks.c.repository_id, t.checks.c.key)
            )
        }
        stats = {
            checks[pk]: (n, f)
            for pk, n, f in conn.execute(
                sa.select(t.check_stats.c.check_id, t.check_stats.c.runs, t.check_stats.c.failures)
            )
        }
        occ_per_issue = Counter(i for (i,) in conn.execute(sa.select(t.occurrences.c.issue_id)))
        occ_per_issue_check = Counter(
            (i, c)
            for i, c in conn.execute(sa.select(t.occurrences.c.issue_id, t.occurrences.c.check_id))
        )
        issues = list(
            conn.execute(
                sa.select(
                    t.issues.c.id,
                    t.issues.c.occurrences,
                    t.issues.c.pattern_id,
                    t.issues.c.checks_count,
                )
            )
        )
        issue_checks = {
            (i, c): n
            for i, c, n in conn.execute(
                sa.select(
                    t.issue_checks.c.issue_id,
                    t.issue_checks.c.check_id,
                    t.issue_checks.c.occurrences,
                )
            )
        }
        patterns = {
            pk: (occ, n)
            for pk, occ, n in conn.execute(
                sa.select(t.patterns.c.id, t.patterns.c.occurrences, t.patterns.c.issues_count)
            )
        }
        deliveries = conn.execute(
            sa.select(sa.func.count()).select_from(t.webhook_deliveries)
        ).scalar_one()
        dead = conn.execute(
            sa.select(sa.func.count()).select_from(t.jobs).where(t.jobs.c.status == "dead")
        ).scalar_one()
        occurrences = sum(occ_per_issue.values())
    engine.dispose()
    want_occ_pattern: Counter[int] = Counter()
    want_issues_pattern: Counter[int] = Counter()
    checks_per_issue: Counter[int] = Counter(i for i, _ in issue_checks)
    for _, occ, pattern, _ in issues:
        if pattern is not None:
            want_occ_pattern[pattern] += occ
            want_issues_pattern[pattern] += 1
    all_check_keys = set(per_check_runs) | set(stats)
    return {
        "hooks_acknowledged": len(soak.acked_hooks),
        "files_ingested": len(soak.acked_files),
        "runs_expected": len(runs),
        "runs_stored": len(stored_runs),
        "runs_lost": len(runs - set(stored_runs)),
        "runs_unexpected": len(set(stored_runs) - runs),
        "runs_duplicated": sum(n - 1 for n in stored_runs.values() if n > 1),
        "deliveries_stored": deliveries,
        "occurrences": occurrences,
        "dead_jobs": dead,
        "check_runs_mismatches": sum(
            1 for k in all_check_keys if stats.get(k, (0, 0))[0] != per_check_runs.get(k, 0)
        ),
        "check_failures_mismatches": sum(
            1 for k in all_check_keys if stats.get(k, (0, 0))[1] != per_check_failures.get(k, 0)
        ),
        "issue_occurrences_mismatches": sum(
            1 for pk, occ, _, _ in issues if occ != occ_per_issue.get(pk, 0)
        ),
        "issue_checks_count_mismatches": sum(
            1 for pk, _, _, n in issues if n != checks_per_issue.get(pk, 0)
        ),
        "issue_check_occurrences_mismatches": sum(
            1 for k, n in issue_checks.items() if n != occ_per_issue_check.get(k, 0)
        ),
        "pattern_mismatches": sum(
            1
            for pk, (occ, n) in patterns.items()
            if occ != want_occ_pattern.get(pk, 0) or n != want_issues_pattern.get(pk, 0)
        ),
    }


MISMATCH_KEYS = (
    "runs_lost",
    "runs_unexpected",
    "runs_duplicated",
    "check_runs_mismatches",
    "check_failures_mismatches",
    "issue_occurrences_mismatches",
    "issue_checks_count_mismatches",
    "issue_check_occurrences_mismatches",
    "pattern_mismatches",
)


def one_run(admin_url: str, seconds: float, chaos: bool, seed: int) -> tuple[dict[str, Any], Soak]:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"triagehub_soak_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        store_db.open_database(url).dispose()  # migrated once, before the processes start
        with tempfile.TemporaryDirectory(prefix="triagehub-soak-") as tmp:
            soak = Soak(url, Path(tmp), seconds, chaos, random.Random(seed))
            took = soak.run()
            figures: dict[str, Any] = audit(soak)
            figures["traffic_s"] = round(took, 1)
            figures["drain_s"] = round(soak.drain_s, 1)
            figures["hook_attempts"] = soak.hooks.attempts
            figures["hook_failed_attempts"] = soak.hooks.failed_attempts
            figures["ingest_attempts"] = soak.files.attempts
            figures["ingest_failed_attempts"] = soak.files.failed_attempts
            figures["kills"] = sum(p.kills for p in [*soak.servers, *soak.workers])
            figures["ingest_kills"] = soak.ingest_kills
            figures["hook_answers"] = dict(soak.hooks.answers)
            return figures, soak
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 s instead of 60 s")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--pg", default=os.environ.get("TRIAGEHUB_TEST_POSTGRES_URL", PG_DEFAULT))
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--no-peer", action="store_true", help="skip the run without kills")
    args = parser.parse_args(argv)
    seconds = args.seconds or (20.0 if args.quick else 60.0)
    admin_url = store_db.normalize_url(args.pg)
    runs: list[tuple[str, dict[str, Any]]] = []
    chaos, _ = one_run(admin_url, seconds, True, args.seed)
    runs.append(("kill -9 chaos", chaos))
    if not args.no_peer:
        calm, _ = one_run(admin_url, seconds, False, args.seed)
        runs.append(("no kills (peer)", calm))
    keys = [k for k in chaos if k != "hook_answers"]
    width = max(len(k) for k in keys)
    print(f"soak: 2 serve + 2 worker on PostgreSQL, webhooks + CLI ingests, {seconds:.0f} s")
    print(f"{'figure':<{width}}  " + "  ".join(f"{label:>16}" for label, _ in runs))
    for k in keys:
        print(f"{k:<{width}}  " + "  ".join(f"{f.get(k, '')!s:>16}" for _, f in runs))
    for label, f in runs:
        print(f"{label}: webhook answers {f['hook_answers']}")
    bad = {k: chaos[k] for k in MISMATCH_KEYS if chaos[k]}
    print(
        f"summary: sent {chaos['hooks_acknowledged']} deliveries + "
        f"{chaos['files_ingested']} files, "
        f"stored {chaos['runs_stored']} of {chaos['runs_expected']} runs, "
        f"lost {chaos['runs_lost']}, duplicated {chaos['runs_duplicated']}, "
        f"counter mismatches {sum(chaos[k] for k in MISMATCH_KEYS[3:])} "
        f"with {chaos['kills']} process kills and {chaos['ingest_kills']} ingest kills"
        + (f"; NOT CLEAN: {bad}" if bad else "")
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
