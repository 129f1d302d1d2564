"""Peak memory and speed of the GitHub Actions job-log parser on a ~200 MB log.

A synthetic job log of real line shapes (the runner's timestamps, set-up groups, step header
groups with cyan commands and ``env:`` blocks, shell traces, compiler warnings, pip downloads,
pytest progress, ANSI colours, ``##[warning]`` lines and ``::warning`` / ``::error`` commands,
then one failing test step ending in ``##[error]Process completed with exit code 1.``, post steps
and ``Complete job``) is written, one line at a time, to a temporary file. A child process parses
it with ``parse_job_log(read_log_lines(file))``, reading the file line by line, and the parent
reads the child's peak RSS with ``getrusage(RUSAGE_CHILDREN)`` after it exits. The child runs
first, before anything else the parent does could raise the figure.

The peer, in the same run: a naive child that reads the whole log into one string and takes its
excerpt with ``core.excerpt.extract`` (what a parser that holds the log would cost).

    .venv/bin/python benchmarks/actions_log_rss.py           # ~200 MB log
    .venv/bin/python benchmarks/actions_log_rss.py --quick   # ~20 MB log
    .venv/bin/python benchmarks/actions_log_rss.py --strict  # exit 1 when a target is missed
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import vm_hwm_kib

TARGET_RSS_MB = 150.0
FULL_MB = 200
QUICK_MB = 20
STEPS = 24  # main steps; the last one fails
SEED = 20261120
FAILING_COMMAND = "python -m pytest -q tests"
FAILING_STEP = f"Run {FAILING_COMMAND}"
ASSERTION = "E       AssertionError: expected order total 1250, got 1205"

# -- the synthetic log --------------------------------------------------------------------------


class _Clock:
    """The runner's timestamp prefix: ``2026-11-20T06:30:00.1234567Z ``, always increasing."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.now = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)
        self.ticks = 0  # the 7th fractional digit

    def stamp(self) -> str:
        self.now += timedelta(microseconds=self.rng.randrange(5, 900))
        self.ticks = (self.ticks + 3) % 10
        return self.now.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{self.ticks}Z "


SETUP = [
    "Current runner version: '2.321.0'",
    "##[group]Operating System",
    "Ubuntu",
    "24.04.1",
    "LTS",
    "##[endgroup]",
    "##[group]Runner Image",
    "Image: ubuntu-24.04",
    "Version: 20261117.1.0",
    "Included Software: https://github.com/actions/runner-images/blob/ubuntu24/20261117.1/images/"
    "ubuntu/Ubuntu2404-Readme.md",
    "##[endgroup]",
    "##[group]GITHUB_TOKEN Permissions",
    "Contents: read",
    "Metadata: read",
    "##[endgroup]",
    "Secret source: Actions",
    "Prepare workflow directory",
    "Prepare all required actions",
    "Getting action download info",
    "Download action repository 'actions/checkout@v4' "
    "(SHA:11bd71901bbe5b1630ceea73d27597364c9af683)",
    "Download action repository 'actions/setup-python@v5' "
    "(SHA:0b93645e9fea7318ecaed2b359559ac225c90a2b)",
    "Complete job name: build (3.11)",
]

ENV = [
    "env:",
    "  pythonLocation: /opt/hostedtoolcache/Python/3.11.10/x64",
    "  PKG_CONFIG_PATH: /opt/hostedtoolcache/Python/3.11.10/x64/lib/pkgconfig",
    "  Python_ROOT_DIR: /opt/hostedtoolcache/Python/3.11.10/x64",
    "  LD_LIBRARY_PATH: /opt/hostedtoolcache/Python/3.11.10/x64/lib",
    "  PYTEST_ADDOPTS: --maxfail=50 -p no:cacheprovider",
]

MODULES = ("orders", "billing", "users", "checkout", "inventory", "search", "auth", "reports")
PACKAGES = ("numpy", "pandas", "requests", "sqlalchemy", "pydantic", "httpx", "pytest", "rich")


def _header(command: str) -> list[str]:
    return [
        f"##[group]Run {command}",
        f"\x1b[36;1m{command}\x1b[0m",
        "shell: /usr/bin/bash -e {0}",
        *ENV,
        "##[endgroup]",
    ]


def _body_line(rng: random.Random, kind: int) -> str:
    """One line of ordinary step output, of the shapes real logs show."""
    module = rng.choice(MODULES)
    if kind == 0:
        pct = rng.randrange(100)
        return f"tests/unit/test_{module}.py::test_case_{rng.randrange(5000)} PASSED [{pct:3d}%]"
    if kind == 1:
        pkg = rng.choice(PACKAGES)
        version = f"{rng.randrange(1, 3)}.{rng.randrange(30)}.{rng.randrange(10)}"
        return (
            f"  Downloading {pkg}-{version}-cp311-cp311-manylinux_2_17_x86_64.whl "
            f"({rng.randrange(1, 60)}.{rng.randrange(10)} MB)"
        )
    if kind == 2:
        return (
            f"gcc -pthread -fno-strict-overflow -DNDEBUG -g -O2 -Wall -fPIC -Isrc -c "
            f"src/{module}/{module}_{rng.randrange(300)}.c -o build/temp/{module}.o"
        )
    if kind == 3:
        return f"+ export LD_LIBRARY_PATH=/home/runner/work/acme/acme/build/{module}/lib:"
    if kind == 4:
        return (
            f"\x1b[32m✓\x1b[39m \x1b[2m{module}.spec.ts\x1b[22m \x1b[2m(\x1b[22m"
            f"{rng.randrange(1, 40)} tests\x1b[2m)\x1b[22m "
            f"\x1b[33m{rng.randrange(20, 900)}ms\x1b[39m"
        )
    if kind == 5:
        return (
            f"src/{module}/core.c:{rng.randrange(1, 900)}:{rng.randrange(1, 80)}: warning: "
            "comparison of integer expressions of different signedness [-Wsign-compare]"
        )
    if kind == 6:
        return f"Collecting {rng.choice(PACKAGES)}>={rng.randrange(1, 3)}.{rng.randrange(20)}"
    return (
        f"Receiving objects:  {rng.randrange(100)}% ({rng.randrange(10**5)}/{rng.randrange(10**5)})"
        f", {rng.randrange(1, 900)}.{rng.randrange(100)} MiB | {rng.randrange(1, 90)} MiB/s"
    )


def _rare_line(rng: random.Random) -> str:
    module = rng.choice(MODULES)
    pick = rng.randrange(5)
    if pick == 0:
        return f"##[warning]The `set-output` command is deprecated ({module})"
    if pick == 1:
        return (
            f"::warning file=src/{module}/api.py,line={rng.randrange(1, 500)},"
            "title=DeprecationWarning::datetime.utcnow() is deprecated"
        )
    if pick == 2:
        return "##[group]Installing build tools..."
    if pick == 3:
        return "##[endgroup]"
    return f"WARNING: Retrying (Retry(total=4)) after connection broken by 'ReadTimeout' ({module})"


FAILURE = [
    "=================================== FAILURES ===================================",
    "__________________________ test_order_total_with_discount __________________________",
    "",
    "    def test_order_total_with_discount():",
    "        order = make_order(items=5, discount=0.1)",
    ">       assert order.total == 1250, f'expected order total 1250, got {order.total}'",
    ASSERTION,
    "E       assert 1205 == 1250",
    "",
    "tests/unit/test_orders.py:42: AssertionError",
    "=========================== short test summary info ============================",
    "FAILED tests/unit/test_orders.py::test_order_total_with_discount - AssertionError: expected "
    "order total 1250, got 1205",
    "::error file=tests/unit/test_orders.py,line=42,title=test_order_total_with_discount::"
    "AssertionError: expected order total 1250, got 1205",
    "1 failed, 5127 passed, 12 skipped in 412.33s (0:06:52)",
    "##[error]Process completed with exit code 1.",
]

TAIL = [
    "Post job cleanup.",
    "[command]/usr/bin/git version",
    "git version 2.47.1",
    "[command]/usr/bin/git config --local --name-only --get-regexp core\\.sshCommand",
    "Cleaning up orphan processes",
]


def _log_lines(target_bytes: int, rng: random.Random) -> Iterator[str]:
    """The log's lines without timestamps, about ``target_bytes`` in all (with them)."""
    yield from SETUP
    per_step = target_bytes // STEPS
    for index in range(STEPS):
        last = index == STEPS - 1
        command = FAILING_COMMAND if last else f"make -C build/step{index} all"
        yield from _header(command)
        written = 0
        while written < per_step:
            line = _rare_line(rng) if rng.random() < 0.002 else _body_line(rng, rng.randrange(8))
            written += len(line) + 30  # 29 characters of timestamp, one line break
            yield line
        if last:
            yield from FAILURE
    yield from TAIL


def write_log(path: Path, target_bytes: int) -> tuple[int, int]:
    """Write the synthetic log, streaming; returns (lines, bytes)."""
    rng = random.Random(SEED)
    clock = _Clock(rng)
    lines = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("\ufeff")
        for line in _log_lines(target_bytes, rng):
            out.write(clock.stamp())
            out.write(line)
            out.write("\n")
            lines += 1
    return lines, path.stat().st_size


# -- children -----------------------------------------------------------------------------------


def child_streaming(path: Path, out: TextIO) -> None:
    from triagehub.sources.github_actions import parse_job_log, read_log_lines

    baseline = vm_hwm_kib()
    start = time.perf_counter()
    with path.open("rb") as fh:
        log = parse_job_log(read_log_lines(fh))
    seconds = time.perf_counter() - start
    report = {
        "lines": log.lines,
        "seconds": seconds,
        "steps": len(log.steps),
        "failed_step": log.failed_step,
        "exit_code": log.exit_code,
        "annotations": len(log.annotations),
        "error_annotation": any(a.file == "tests/unit/test_orders.py" for a in log.errors),
        "excerpt_lines": log.excerpt.count("\n") + 1 if log.excerpt else 0,
        "excerpt_has_assertion": ASSERTION.strip() in log.excerpt,
        "baseline_kib": baseline,
        "hwm_kib": vm_hwm_kib(),
    }
    out.write(json.dumps(report) + "\n")


def child_naive(path: Path, out: TextIO) -> None:
    from triagehub.core.excerpt import extract

    baseline = vm_hwm_kib()
    start = time.perf_counter()
    text = path.read_text(encoding="utf-8")
    excerpt = extract(text)
    seconds = time.perf_counter() - start
    report = {
        "lines": excerpt.total_lines,
        "seconds": seconds,
        "excerpt_has_assertion": ASSERTION.strip() in excerpt.text,
        "baseline_kib": baseline,
        "hwm_kib": vm_hwm_kib(),
    }
    out.write(json.dumps(report) + "\n")


def _kib(maxrss: int) -> int:
    """``ru_maxrss`` in KiB (Linux reports KiB, macOS bytes)."""
    return maxrss // 1024 if sys.platform == "darwin" else maxrss


def _mb(kib: int | None) -> float:
    return (kib or 0) * 1024 / 1e6


@dataclass(frozen=True, slots=True)
class ChildRun:
    data: dict[str, Any]
    peak_kib: int  # getrusage(RUSAGE_CHILDREN).ru_maxrss after the child exited

    @property
    def rate(self) -> float:
        seconds = float(self.data["seconds"])
        return float(self.data["lines"]) / seconds if seconds > 0 else 0.0


def run_child(flag: str, path: Path) -> ChildRun:
    before = _kib(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), flag, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    peak = _kib(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    if proc.returncode != 0:
        raise SystemExit(f"the {flag} child failed (exit {proc.returncode}):\n{proc.stderr}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    # RUSAGE_CHILDREN is the largest of all children so far: an earlier, larger child hides a
    # later one, whose own VmHWM is then the figure.
    own = data.get("hwm_kib")
    return ChildRun(data, peak if peak > before or own is None else int(own))


# -- main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help=f"a ~{QUICK_MB} MB log (smoke run)")
    parser.add_argument("--size-mb", type=int, help=f"log size in MB (default {FULL_MB})")
    parser.add_argument("--no-peer", action="store_true", help="skip the naive whole-log peer")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a target is missed"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--naive-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_streaming(args.child, sys.stdout)
        return 0
    if args.naive_child:
        child_naive(args.naive_child, sys.stdout)
        return 0

    size_mb = args.size_mb or (QUICK_MB if args.quick else FULL_MB)
    with tempfile.TemporaryDirectory(prefix="actions-log-rss-") as tmp:
        path = Path(tmp) / "job.log"
        start = time.perf_counter()
        written_lines, written_bytes = write_log(path, size_mb * 1_000_000)
        gen_seconds = time.perf_counter() - start
        print(
            f"generated {written_bytes / 1e6:,.1f} MB, {written_lines:,} lines in "
            f"{gen_seconds:.1f} s: {path}"
        )
        streaming = run_child("--child", path)  # first: nothing earlier can raise the figure
        naive = None if args.no_peer else run_child("--naive-child", path)

    s = streaming.data
    correct = (
        s["lines"] == written_lines
        and s["failed_step"] == FAILING_STEP
        and s["exit_code"] == 1
        and bool(s["excerpt_has_assertion"])
        and bool(s["error_annotation"])
    )
    rss_ok = _mb(streaming.peak_kib) < TARGET_RSS_MB
    mb_per_s = written_bytes / 1e6 / s["seconds"] if s["seconds"] else 0.0

    rows = [
        ("parser", "lines", "seconds", "lines/s", "MB/s", "peak RSS", "target", "verdict"),
        (
            "parse_job_log (streaming)",
            f"{s['lines']:,}",
            f"{s['seconds']:.1f}",
            f"{streaming.rate:,.0f}",
            f"{mb_per_s:.1f}",
            f"{_mb(streaming.peak_kib):,.1f} MB",
            f"< {TARGET_RSS_MB:.0f} MB",
            "ok" if rss_ok else "MISS",
        ),
    ]
    if naive is not None:
        n = naive.data
        rows.append(
            (
                "read all + extract (naive)",
                f"{n['lines']:,}",
                f"{n['seconds']:.1f}",
                f"{naive.rate:,.0f}",
                f"{written_bytes / 1e6 / n['seconds']:.1f}" if n["seconds"] else "-",
                f"{_mb(naive.peak_kib):,.1f} MB",
                "peer",
                "info",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
    print(
        f"streaming child: {s['steps']} steps, failed step {s['failed_step']!r}, exit code "
        f"{s['exit_code']}, {s['annotations']} annotations kept (the ::error one: "
        f"{s['error_annotation']}), excerpt {s['excerpt_lines']} lines "
        f"(holds the assertion: {s['excerpt_has_assertion']}); its own VmHWM "
        f"{_mb(s['hwm_kib']):,.1f} MB ({_mb(s['baseline_kib']):,.1f} MB after imports)"
    )
    print("MB = 10^6 bytes; peak RSS = getrusage(RUSAGE_CHILDREN).ru_maxrss of the child")
    peer = ""
    if naive is not None:
        ratio = naive.peak_kib / streaming.peak_kib if streaming.peak_kib else 0.0
        peer = (
            f"; naive whole-log peer {_mb(naive.peak_kib):,.1f} MB ({ratio:.1f}x) at "
            f"{naive.rate:,.0f} lines/s"
        )
    met = int(rss_ok) + int(correct)
    mode = " [quick]" if size_mb != FULL_MB else ""
    print(
        f"SUMMARY actions_log_rss{mode}: {written_bytes / 1e6:,.0f} MB log, {s['lines']:,} lines "
        f"parsed at {streaming.rate:,.0f} lines/s ({mb_per_s:.1f} MB/s); peak RSS "
        f"{_mb(streaming.peak_kib):,.1f} MB (<{TARGET_RSS_MB:.0f} MB "
        f"{'ok' if rss_ok else 'MISS'}); failing step and excerpt "
        f"{'correct' if correct else 'WRONG'}{peer}; {met}/2 targets met"
    )
    return 1 if args.strict and met < 2 else 0


if __name__ == "__main__":
    raise SystemExit(main())
