"""Grouping on real CI logs, ingested three ways: does the hub find the real error in any log?

Data (all real output):

- ``cidiff``: the 36 failing build logs of ../shared/data/cidiff (labri-progress/cidiff
  ``data/breakages``, Apache-2.0), with their ground-truth error lines. Each failure is ingested
  ``--runs`` times, as re-runs of one failure look: timestamps, durations, hex ids and temp
  paths change, and a different amount of the project's own passing log (``pass.log``, a real
  run of the same build) comes before the failure. Repository = the project (``astor``,
  ``nopol``, ``guava``...: 27 projects, up to 3 failures each), check = ``build``: the failures of
  one project share a check, so a footer taken as the fingerprint merges them. (Putting all 36
  in one repository would not be a fair truth: several cases of different projects are the same
  error, such as ``No space left on device`` on one build machine.)
- ``tools``: failures produced on this machine by running real tools in a temporary directory
  (gcc + make link and compile errors, pytest, shellcheck, node's assert under npm), each one run
  ``--runs`` times for real (object-file names, durations and temp paths vary by themselves).
  Each run's log is preceded by a passing step of a real GitHub Actions run (GHALogs,
  ../shared/data/ghalogs: pytables wheels.yml run 200; a different step for each run) and
  followed by the runner's footer.

Each failure occurrence is ingested three ways through the real pipeline (``ingest_reports``
into a fresh SQLite database per way):

1. ``message``: message = the real error line (the first informative ground-truth line), no log;
2. ``footer``: message = the CI's footer (``##[error]Process completed with exit code 1.`` for
   GitHub logs, ``Finished: FAILURE`` for Jenkins ones, ``make: *** [all] Error 2``...), log
   attached;
3. ``log``: no message, log only.

Figures, per way: pairwise precision (share of same-issue pairs that are one failure) and recall
(share of same-failure pairs in one issue); ``key hit``: how often the text fingerprinted
(``error_text(message, excerpt)``) holds a ground-truth error line (cidiff's ``E`` lines; the
known error line of a tool's output); and the agreement of the three ways' groupings (share of
occurrence pairs on which two ways agree; 1.0 = the same grouping). The peer in the same run is
the naive grouping by the message's first line (the log's last line without a message), masked
by the normaliser: what a hub that trusts messages does.

Targets: precision >= 0.95 for every way, and the three ways give the same grouping.

    python benchmarks/grouping_real_logs.py [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import comb
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.core.excerpt import clean_line, error_text
from triagehub.core.fingerprint import normalize
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.engine.ingest.prepare import _excerpt
from triagehub.store import tables as t
from triagehub.store.db import open_database

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = REPO_ROOT.parent / "shared" / "data"
T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
WAYS = ("message", "footer", "log")
TARGET_PRECISION = 0.95
GHA_FOOTER = "##[error]Process completed with exit code 1."


@dataclass
class Occurrence:
    source: str  # "cidiff" or "tools"
    failure: str  # ground-truth group
    repository: str
    check: str
    error_line: str  # the real error line (way 1's message)
    footer: str  # the CI footer (way 2's message)
    log: str
    truth_lines: frozenset[str] = field(default_factory=frozenset)  # cleaned ground-truth lines


# --------------------------------------------------------------------------------------------
# Re-runs of one failure
# --------------------------------------------------------------------------------------------

_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?")
_CLOCK = re.compile(r"(?<![\d:.])(\d{2}):(\d{2}):(\d{2})(?![\d:])")
_DURATION = re.compile(
    r"(?<![\w.])\d+(?:[.,]\d+)?(?= ?(?:s|sec|secs|seconds|ms|min)\b)|(?<=Time elapsed: )[\d.]+"
)
_HEX = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b")
_TMP = re.compile(r"/tmp/[\w.-]+")


def rerun(text: str, rng: random.Random) -> str:
    """The same failure as another run of it prints it: new timestamps, durations, ids, temp
    paths."""
    shift = timedelta(days=rng.randint(1, 60), seconds=rng.randint(0, 86_399))

    def iso(m: re.Match[str]) -> str:
        try:
            y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
            when = datetime(y, mo, d, h, mi, sec) + shift
        except ValueError:
            return m.group(0)
        return when.strftime("%Y-%m-%dT%H:%M:%S") + (m.group(7) or "")

    text = _ISO.sub(iso, text)
    text = _CLOCK.sub(
        lambda m: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        text,
    )
    text = _DURATION.sub(lambda m: f"{rng.uniform(0.01, 300):.3f}", text)
    text = _HEX.sub(lambda m: "".join(rng.choice("0123456789abcdef") for _ in m.group(0)), text)
    return _TMP.sub(lambda m: f"/tmp/tmp{rng.randrange(16**8):08x}", text)


# --------------------------------------------------------------------------------------------
# cidiff
# --------------------------------------------------------------------------------------------


def _ranges(path: Path) -> tuple[str, list[tuple[int, int]]]:
    rows = [r.strip() for r in path.read_text(encoding="utf-8").splitlines() if r.strip()]
    spans = []
    for row in rows[1:]:
        kind, _, span = row.partition(" ")
        first, _, last = span.partition("-")
        if kind == "E":
            spans.append((int(first) - 1, int(last or first) - 1))
    return rows[0], spans


_WORDY = re.compile(r"[A-Za-z]{3}")
_FOOTERISH = re.compile(
    r"^\[(?:WARNING|INFO)\]|To see the full stack trace|Re-run Maven|-> \[Help"
    r"|BUILD FAILURE|Failed to execute goal|Tests run:|^\[ERROR\]\s*(?:Failures|Errors)?:?\s*$"
    r"|Process completed|FAILURE: Build failed|What went wrong|^\[ERROR\]\s*$"
)


def cidiff_occurrences(runs: int, limit: int | None, rng: random.Random) -> list[Occurrence]:
    root = DATA / "cidiff"
    if not root.is_dir():
        print(f"cidiff data absent ({root}): skipped", file=sys.stderr)
        return []
    cases = sorted(p for p in root.iterdir() if (p / "groundtruth").is_file())[:limit]
    out: list[Occurrence] = []
    for case in cases:
        option, spans = _ranges(case / "groundtruth")
        fail = (case / "fail.log").read_bytes().decode("utf-8", "replace")
        passing = (case / "pass.log").read_bytes().decode("utf-8", "replace").splitlines()
        lines = fail.splitlines()
        truth = [clean_line(lines[i]).strip() for a, b in spans for i in range(a, b + 1)]
        truth = [x for x in truth if x]
        error_line = next(
            (x for x in truth if _WORDY.search(x) and not _FOOTERISH.search(x)), truth[0]
        )
        project = re.sub(r"_\d+$", "", case.name)
        footer = GHA_FOOTER if "GITHUB" in option else "Finished: FAILURE"
        for k in range(runs):
            preamble = passing[: 40 * k]  # a real passing run of the same build, more each time
            log = rerun("\n".join([*preamble, *lines]), rng)
            out.append(
                Occurrence(
                    "cidiff",
                    case.name,
                    f"cidiff/{project}",
                    "build",
                    error_line,
                    footer,
                    log,
                    frozenset(truth),
                )
            )
    return out


# --------------------------------------------------------------------------------------------
# Real tools
# --------------------------------------------------------------------------------------------


def _gha_steps() -> list[list[str]]:
    """Passing steps of a real GitHub Actions run (their lines, with the runner's timestamps)."""
    archive = DATA / "ghalogs" / "log.tar.gz"
    if not archive.is_file():
        return [[]]
    steps: list[list[str]] = []
    with tarfile.open(archive) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.isfile() and "/" in member.name and len(steps) < 40:
                handle = tar.extractfile(member)
                if handle is not None:
                    text = handle.read().decode("utf-8", "replace").splitlines()
                    if 5 <= len(text) <= 400:
                        steps.append(text)
    return steps or [[]]


@dataclass(frozen=True)
class Tool:
    name: str
    repository: str
    needs: str
    files: dict[str, str]
    command: Sequence[str]
    marker: str  # a substring of the real error line
    footer: str
    group: str = ""  # the failure it is (default: its name); noisy variants share it


def _tools() -> list[Tool]:
    makefile = "all: app\napp: main.c\n\tgcc -o app main.c\n"
    c_main = 'int {fn}(const char *data);\nint main(void) {{ return {fn}("abc"); }}\n'
    py_tests = {
        "assert": "def test_port():\n    assert int('8080') == 8081\n",
        "keyerror": "def test_config(tmp_path):\n    cfg = {'host': str(tmp_path)}\n"
        "    assert cfg['port']\n",
        "zerodiv": "def test_ratio():\n    hits, total = 3, 0\n    assert hits / total > 0.5\n",
    }
    scripts = {
        "quote": "#!/bin/sh\ntarget=$1\ncp $target /srv/app\n",
        "posix": '#!/bin/sh\nif [ "$1" == "prod" ]; then\n  echo deploying\nfi\n',
    }
    node = {
        "max": "const assert = require('assert');\nassert.strictEqual(Math.max(1, 2), 1, "
        "'max picks the larger value');\n",
        "deep": "const assert = require('assert');\nassert.deepStrictEqual({a: 1}, {a: 2}, "
        "'config objects differ');\n",
    }
    tools: list[Tool] = []
    for fn in ("compute_checksum", "parse_header"):
        tools.append(
            Tool(
                f"ld:{fn}",
                "tools/c",
                "gcc",
                {"Makefile": makefile, "main.c": c_main.format(fn=fn)},
                ("make", "all"),
                f"undefined reference to `{fn}'",
                "make: *** [all] Error 2",
            )
        )
    tools.append(
        Tool(
            "cc:undeclared",
            "tools/c",
            "gcc",
            {"Makefile": makefile, "main.c": "int main(void) { return count + 1; }\n"},
            ("make", "all"),
            "undeclared (first use in this function)",
            "make: *** [all] Error 2",
        )
    )
    for name, body in py_tests.items():
        tools.append(
            Tool(
                f"pytest:{name}",
                "tools/py",
                sys.executable,
                {f"test_{name}.py": body},
                (sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--tb=short"),
                {"assert": "assert 8080 == 8081", "keyerror": "KeyError: 'port'"}.get(
                    name, "ZeroDivisionError: division by zero"
                ),
                GHA_FOOTER,
            )
        )
    for name, body in scripts.items():
        tools.append(
            Tool(
                f"shellcheck:{name}",
                "tools/sh",
                "shellcheck",
                {"deploy.sh": body},
                ("shellcheck", "-f", "gcc", "deploy.sh"),
                {"quote": "SC2086", "posix": "SC3014"}[name],
                GHA_FOOTER,
            )
        )
    for name, body in node.items():
        tools.append(
            Tool(
                f"node:{name}",
                "tools/js",
                "node",
                {"test.js": body},
                ("node", "test.js"),
                {"max": "max picks the larger value", "deep": "config objects differ"}[name],
                "npm ERR! Test failed.  See above for more details.",
            )
        )
    # The same failures again, with the noise CI logs put around them, produced for real: git
    # output with an error word in the commit message, a skipped test whose reason names an
    # error, a set-up probe failing before the command (curl to a closed port), and a later
    # step's consequence (ls of an artifact that was never built).
    git = (
        "git init -q . && git -c user.email=ci@example.com -c user.name=ci commit -q "
        "--allow-empty -m 'Fix Segmentation fault in parser when input is empty' && git log -1"
    )
    tools.append(
        Tool(
            "pytest:assert+noise",
            "tools/py",
            sys.executable,
            {
                "test_assert.py": py_tests["assert"],
                "test_skipped.py": "import pytest\n\n@pytest.mark.skip(reason='Segmentation "
                "fault on old kernels')\ndef test_segfault_is_reported():\n    pass\n",
            },
            (
                "sh",
                "-c",
                f"{git} && {sys.executable} -m pytest -p no:cacheprovider -rA --tb=short",
            ),
            "assert 8080 == 8081",
            GHA_FOOTER,
            group="pytest:assert",
        )
    )
    tools.append(
        Tool(
            "ld:compute_checksum+noise",
            "tools/c",
            "gcc",
            {"Makefile": makefile, "main.c": c_main.format(fn="compute_checksum")},
            (
                "sh",
                "-c",
                "curl -fsS http://127.0.0.1:9/toolchain.tar.gz; make all; ls dist/*.whl",
            ),
            "undefined reference to `compute_checksum'",
            "make: *** [all] Error 2",
            group="ld:compute_checksum",
        )
    )
    return tools


def tool_occurrences(runs: int, rng: random.Random) -> tuple[list[Occurrence], list[str]]:
    steps = _gha_steps()
    out: list[Occurrence] = []
    skipped: list[str] = []
    for tool in _tools():
        if shutil.which(tool.needs) is None and not Path(tool.needs).exists():
            skipped.append(f"{tool.name} ({tool.needs} not installed)")
            continue
        for k in range(runs):
            with tempfile.TemporaryDirectory(prefix="grl-") as tmp:
                for name, body in tool.files.items():
                    (Path(tmp) / name).write_text(body)
                proc = subprocess.run(
                    tool.command, cwd=tmp, capture_output=True, text=True, timeout=120
                )
            output = (proc.stdout + proc.stderr).splitlines()
            error_line = next((x for x in output if tool.marker in x), "")
            if proc.returncode == 0 or not error_line:
                skipped.append(f"{tool.name} (did not fail as expected)")
                break
            step = steps[(k * 7 + len(tool.name)) % len(steps)]
            log = "\n".join([*step, *output, tool.footer])
            out.append(
                Occurrence(
                    "tools",
                    tool.group or tool.name,
                    tool.repository,
                    "CI / test",
                    error_line.strip(),
                    tool.footer,
                    rerun(log, rng) if k else log,
                    frozenset({clean_line(error_line).strip()}),
                )
            )
    return out, skipped


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def pairwise(predicted: Sequence[object], truth: Sequence[str]) -> tuple[float, float]:
    """Pairwise precision and recall of a grouping."""
    same_pred: dict[object, int] = {}
    same_truth: dict[str, int] = {}
    both: dict[tuple[object, str], int] = {}
    for p, g in zip(predicted, truth, strict=True):
        same_pred[p] = same_pred.get(p, 0) + 1
        same_truth[g] = same_truth.get(g, 0) + 1
        both[(p, g)] = both.get((p, g), 0) + 1
    tp = sum(comb(n, 2) for n in both.values())
    pred_pairs = sum(comb(n, 2) for n in same_pred.values())
    truth_pairs = sum(comb(n, 2) for n in same_truth.values())
    return (tp / pred_pairs if pred_pairs else 1.0, tp / truth_pairs if truth_pairs else 1.0)


def agreement(a: Sequence[object], b: Sequence[object]) -> float:
    """Share of pairs on which two groupings agree (Rand index)."""
    n = len(a)
    if n < 2:
        return 1.0
    agree = sum((a[i] == a[j]) == (b[i] == b[j]) for i, j in itertools.combinations(range(n), 2))
    return agree / comb(n, 2)


def message_of(occ: Occurrence, way: str) -> tuple[str, str]:
    if way == "message":
        return occ.error_line, ""
    if way == "footer":
        return occ.footer, occ.log
    return "", occ.log


def ingest_way(occurrences: list[Occurrence], way: str, workdir: Path) -> tuple[list[int], float]:
    engine = open_database(f"sqlite:///{workdir / f'{way}.db'}")
    reports = []
    for i, occ in enumerate(occurrences):
        message, log = message_of(occ, way)
        reports.append(
            RunReport(
                source="generic",
                repository=occ.repository,
                run_id=str(i),
                finished_at=T0 + timedelta(minutes=i),
                commit=f"c{i}",
                results=(CheckResult(occ.check, Status.FAIL, message, log),),
            )
        )
    started = time.perf_counter()
    ingest_reports(engine, reports, Settings())
    seconds = time.perf_counter() - started
    with Session(engine) as session:
        rows = session.execute(
            select(t.runs.c.external_id, t.occurrences.c.issue_id).join(
                t.runs, t.runs.c.id == t.occurrences.c.run_id
            )
        ).all()
    engine.dispose()
    issue_of = {int(run): issue for run, issue in rows}
    return [issue_of[i] for i in range(len(occurrences))], seconds


def naive(occurrences: list[Occurrence], way: str) -> list[object]:
    """The peer: group by the normalised first line of the message, else the log's last line."""
    keys: list[object] = []
    for occ in occurrences:
        message, log = message_of(occ, way)
        text = message.strip() or next(
            (clean_line(x) for x in reversed(log.splitlines()) if x.strip()), ""
        )
        first = text.splitlines()[0] if text else ""
        keys.append((occ.repository, occ.check, normalize(first)))
    return keys


def key_hit(occ: Occurrence, way: str) -> bool:
    message, log = message_of(occ, way)
    text = error_text(message, _excerpt(log))
    lines = {clean_line(x).strip() for x in text.splitlines()}
    if occ.source == "tools":
        return any(occ.error_line in x or x in occ.error_line for x in lines if x)
    return bool(lines & occ.truth_lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 cidiff cases, 2 runs each")
    parser.add_argument("--runs", type=int, default=3, help="occurrences of each failure")
    args = parser.parse_args(argv)
    rng = random.Random(20261205)
    runs = 2 if args.quick else max(2, args.runs)
    occurrences = cidiff_occurrences(runs, 12 if args.quick else None, rng)
    tools, skipped = tool_occurrences(runs, rng)
    occurrences += tools
    if not occurrences:
        print("no data: ../shared/data/cidiff is absent and no tool could run", file=sys.stderr)
        return 0
    failures = len({o.failure for o in occurrences})
    print(
        f"{len(occurrences)} occurrences of {failures} failures "
        f"({sum(o.source == 'cidiff' for o in occurrences)} cidiff, {len(tools)} tools; "
        f"{runs} runs each); tools skipped: {', '.join(skipped) or 'none'}"
    )
    truth = [o.failure for o in occurrences]
    groupings: dict[str, list[int]] = {}
    header = f"{'way':<8} {'source':<7} {'prec':>6} {'recall':>6} {'key hit':>8} | naive prec/rec"
    print(header)
    print("-" * len(header))
    summary: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="grouping-real-") as tmp:
        for way in WAYS:
            predicted, seconds = ingest_way(occurrences, way, Path(tmp))
            groupings[way] = predicted
            peer = naive(occurrences, way)
            for source in ("cidiff", "tools", "all"):
                idx = [i for i, o in enumerate(occurrences) if source in ("all", o.source)]
                if not idx:
                    continue
                p, r = pairwise([predicted[i] for i in idx], [truth[i] for i in idx])
                np_, nr = pairwise([peer[i] for i in idx], [truth[i] for i in idx])
                hits = [key_hit(occurrences[i], way) for i in idx] if way != "message" else []
                hit = sum(hits) / len(hits) if hits else 1.0
                print(
                    f"{way:<8} {source:<7} {p:>6.3f} {r:>6.3f} "
                    f"{(f'{hit:.3f}' if hits else '-'):>8} | {np_:.3f}/{nr:.3f}"
                )
                if source == "all":
                    summary[way] = (p, r, hit)
            print(f"{'':<8} ingest {seconds:.2f} s, {len(set(predicted))} issues")
    agree = {
        f"{a}~{b}": agreement(groupings[a], groupings[b])
        for a, b in itertools.combinations(WAYS, 2)
    }
    identical = all(
        agreement(groupings[a], groupings[b]) == 1.0 for a, b in itertools.combinations(WAYS, 2)
    )
    print(
        "agreement between ways (Rand index): "
        + ", ".join(f"{k} {v:.3f}" for k, v in agree.items())
    )
    met = identical and all(p >= TARGET_PRECISION for p, _, _ in summary.values())
    print(
        "SUMMARY grouping_real_logs"
        + (" --quick" if args.quick else "")
        + f" ({len(occurrences)} occurrences, {failures} failures): "
        + "; ".join(f"{w} P={p:.3f} R={r:.3f} key_hit={h:.3f}" for w, (p, r, h) in summary.items())
        + f"; same grouping across ways: {'yes' if identical else 'no'} (min agreement "
        f"{min(agree.values()):.3f}); target precision>={TARGET_PRECISION} and same grouping: "
        + ("MET" if met else "NOT MET")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
