"""The deterministic classifier on a hand-labelled corpus of real tools' failures.

Reads ``tests/data/classification/cases.jsonl`` (each case produced by running a real tool into
failure on this machine and labelled with kind and category by hand; see the README there), runs
every case through the same path the pipeline takes (redaction, error excerpt, normalisation,
kind detection, classification), and prints accuracy per field, the confusion matrices and the
cases it got wrong. Then measures rules-only throughput: 100,000 failures made from the corpus
with fresh numbers in every message (so the per-message caches do not help), against a peer in
the same run: a naive classifier that only matches a few keywords.

    python benchmarks/classify_corpus.py [--quick] [--baseline REV]

With ``--baseline REV``, the whole path is also timed for ``triagehub.core`` as it was at git
revision REV (``benchlib.load_core_at``), alternating with this tree in chunks of 1,000 failures,
in CPU time, for a before/after ratio that a shared machine's load does not skew.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchlib import load_core_at
from triagehub.config import Settings
from triagehub.core.classify import Classifier, ClassifyInput, detect_kind
from triagehub.core.models import HistoryClass, Status

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "classification"
TARGETS = {"kind": 0.90, "category": 0.85}
THROUGHPUT_TARGET = 20_000


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    tool: str
    check: str
    source: str
    message: str
    log: str
    exit_code: int | None
    kind: str
    category: str


def load(path: Path) -> list[Case]:
    cases = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                d: dict[str, Any] = json.loads(line)
                cases.append(
                    Case(
                        d["id"],
                        d["tool"],
                        d["check"],
                        d.get("source", "generic"),
                        d.get("message", ""),
                        d.get("log", ""),
                        d.get("exit_code"),
                        d["kind"],
                        d["category"],
                    )
                )
    return cases


class FailurePath:
    """The functions of the per-failure path, from ``triagehub.core`` or from an older version
    of it (``--baseline``)."""

    def __init__(self, core: str = "triagehub.core") -> None:
        def module(name: str) -> Any:
            return importlib.import_module(f"{core}.{name}")

        classify, excerpt, fingerprint = (
            module("classify"),
            module("excerpt"),
            module("fingerprint"),
        )
        self.redact = module("redact").redact
        self.extract, self.error_text = excerpt.extract, excerpt.error_text
        self.normalize, self.strip_ansi = fingerprint.normalize, fingerprint.strip_ansi
        # The message cache, and from issue #24 on the template cache by shape (digits aside).
        self.clear_normalize = getattr(fingerprint, "clear_caches", self.normalize.cache_clear)
        self.detect_kind, self.exit_code_of = classify.detect_kind, classify.exit_code_of
        self.input = classify.ClassifyInput
        self.classifier = classify.Classifier(Settings())
        self.core = core
        # The kinds and keys of the log lines seen (from issue #24 on; older trees have none).
        self.clear_lines = getattr(excerpt, "clear_known", lambda: None)

    def clear_caches(self) -> None:
        classify = importlib.import_module(f"{self.core}.classify")
        self.clear_normalize()
        self.clear_lines()
        for name in ("_text_rule", "_check_rule", "_facts", "_check_facts"):
            getattr(classify, name).cache_clear()
        getattr(classify, "clear_caches", lambda: None)()  # the kinds too (from issue #24 on)


CURRENT = FailurePath()


def to_input(
    case: Case, message: str | None = None, path: FailurePath = CURRENT, log: str | None = None
) -> ClassifyInput:
    """What the pipeline builds for a new failure of this case (``log``: instead of its own)."""
    text = path.redact(message if message is not None else case.message)
    log = case.log if log is None else log
    excerpt = path.redact(path.extract(log).text) if log else ""
    template = path.normalize(path.error_text(text, excerpt)) or "<no message>"
    return path.input(  # type: ignore[no-any-return]
        source=case.source,
        repository="acme/app",
        check=case.check,
        text=template,
        status=Status.FAIL,
        branch="feature/x",
        history=HistoryClass.NEW,
        kind=path.detect_kind(
            case.source,
            case.check,
            template,
            case.exit_code if case.exit_code is not None else path.exit_code_of(text, excerpt),
        ),
        message=path.strip_ansi(text),
        log=excerpt,
        exit_code=case.exit_code,
    )


_NAIVE = (
    ("timeout", "timeout", "transient_failure"),
    ("connection", "infrastructure", "transient_failure"),
    ("assert", "test", "code_fix_required"),
    ("error", "build", "code_fix_required"),
)


def naive(case: Case, message: str) -> tuple[str, str]:
    low = message.lower()
    for word, kind, category in _NAIVE:
        if word in low:
            return kind, category
    return "build", "code_fix_required"


def confusion(rows: list[tuple[str, str]], title: str) -> Table:
    labels = sorted({a for a, _ in rows} | {p for _, p in rows})
    counts = Counter(rows)
    table = Table(title=title, title_justify="left")
    table.add_column("truth \\ predicted")
    for label in labels:
        table.add_column(label[:12], justify="right")
    for truth in labels:
        table.add_row(truth, *[str(counts.get((truth, p), "")) for p in labels])
    return table


_NUMBER = re.compile(r"(?<![\w.])\d+(?![\w.])")  # standalone numbers vary; identifiers do not


def clear_caches() -> None:
    CURRENT.clear_caches()


Failure = tuple[Case, str, str | None]  # a case, its message and its log (None: the case's own)


def whole_path_seconds(messages: list[Failure], path: FailurePath) -> float:
    """CPU seconds for the whole path (fingerprint stage, then classification) of these failures."""
    started = time.process_time()
    inputs = [to_input(case, message, path, log) for case, message, log in messages]
    for inp in inputs:
        path.classifier.classify(
            dataclasses.replace(
                inp, kind=path.detect_kind(inp.source, inp.check, inp.text, inp.exit_code)
            )
        )
    return time.process_time() - started


def compare(messages: list[Failure], rev: str, repeat: int) -> tuple[float, float]:
    """Failures/s of the whole path of this tree and of ``triagehub.core`` at ``rev``, in the same
    run: chunks of 1,000 failures, each timed ``repeat`` times alternating the two, the best CPU
    time of each chunk (on a shared machine, wall time also counts other processes' turns).
    The normaliser's caches are emptied before each timing (every message is new, and a template
    is shared only with the chunk's messages of the same shape); the others (the log lines' kinds
    among them) warm up over the run, as they do in the main figure."""
    paths = (CURRENT, FailurePath(load_core_at(rev).__name__))
    for path in paths:
        path.clear_caches()
    times = [0.0, 0.0]
    for start in range(0, len(messages), 1000):
        chunk = messages[start : start + 1000]
        best = [float("inf"), float("inf")]
        for _ in range(repeat):
            for i, path in enumerate(paths):
                path.clear_normalize()
                best[i] = min(best[i], whole_path_seconds(chunk, path))
        times = [t + b for t, b in zip(times, best, strict=True)]
    return len(messages) / times[0], len(messages) / times[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 failures for throughput")
    parser.add_argument("--corpus", type=Path, default=CORPUS / "cases.jsonl", help="cases.jsonl")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also time the whole path of triagehub.core at git revision REV, in the same run",
    )
    args = parser.parse_args(argv)
    console = Console(width=170)
    path: Path = args.corpus
    if not path.is_file():
        console.print(f"corpus not found: {path}")
        return 2
    cases = load(path)
    classifier = Classifier(Settings())
    results = []
    for case in cases:
        c = classifier.classify(to_input(case))
        results.append((case, c.kind.value, c.category.value, c.confidence, c.rationale))

    tools = len({c.tool for c in cases})
    accuracy = {
        "kind": sum(k == c.kind for c, k, *_ in results) / len(results),
        "category": sum(cat == c.category for c, _, cat, *_ in results) / len(results),
    }
    naive_acc = {
        "kind": sum(naive(c, c.message)[0] == c.kind for c in cases) / len(cases),
        "category": sum(naive(c, c.message)[1] == c.category for c in cases) / len(cases),
    }
    table = Table(
        title=f"{len(cases)} labelled failures from {tools} real tools", title_justify="left"
    )
    for col in ("field", "triagehub", "naive keywords (peer)", "target"):
        table.add_column(col, justify="left" if col == "field" else "right")
    for field, target in TARGETS.items():
        table.add_row(
            field, f"{accuracy[field]:.1%}", f"{naive_acc[field]:.1%}", f">= {target:.0%}"
        )
    console.print(table)
    console.print(confusion([(c.kind, k) for c, k, *_ in results], "kind: confusion matrix"))
    console.print(
        confusion([(c.category, cat) for c, _, cat, *_ in results], "category: confusion matrix")
    )
    wrong = [r for r in results if r[1] != r[0].kind or r[2] != r[0].category]
    if wrong:
        misses = Table(title=f"{len(wrong)} case(s) with a wrong field", title_justify="left")
        for col in ("case", "truth", "predicted", "confidence", "why"):
            misses.add_column(col, overflow="fold")
        for case, kind, category, confidence, why in wrong:
            misses.add_row(
                case.id,
                f"{case.kind} / {case.category}",
                f"{kind} / {category}",
                f"{confidence:.2f}",
                why.split("; ")[0],
            )
        console.print(misses)

    # Throughput, rules only (no LLM). The classification stage is kind detection plus the
    # rules engine on a fingerprinted failure (its template); the fingerprint stage before it
    # (redaction, excerpt, normalisation) is measured too, for the whole path. Every message gets
    # fresh numbers, so no per-message cache helps; caches are emptied first.
    n = 10_000 if args.quick else 100_000
    rng = random.Random(7)
    messages: list[Failure] = [
        (case, _NUMBER.sub(lambda _m: str(rng.randrange(10**6)), case.message), None)
        for case in (cases[i % len(cases)] for i in range(n))
    ]
    clear_caches()
    started = time.perf_counter()
    inputs = [to_input(case, message) for case, message, _ in messages]
    fingerprint_s = time.perf_counter() - started
    clear_caches()
    started = time.perf_counter()
    for inp in inputs:
        classifier.classify(
            dataclasses.replace(
                inp, kind=detect_kind(inp.source, inp.check, inp.text, inp.exit_code)
            )
        )
    classify_s = time.perf_counter() - started
    stage = n / classify_s
    full = n / (fingerprint_s + classify_s)
    started = time.perf_counter()
    for case, message, _ in messages:
        naive(case, message)
    peer = n / (time.perf_counter() - started)
    console.print(
        f"throughput, rules only: classification stage (kind detection + rules) {stage:,.0f} "
        f"failures/s; whole path with redaction, excerpt and normalisation {full:,.0f}/s; naive "
        f"keyword peer {peer:,.0f}/s"
    )
    # The same failures with fresh numbers in their logs too: each log's lines with a number
    # are new, as a re-run's durations, ids and counts are (the lines' kinds are worked out again).
    fresh: list[Failure] = [
        (case, message, _NUMBER.sub(lambda _m: str(rng.randrange(10**6)), case.log))
        for case, message, _ in messages
    ]
    clear_caches()
    fresh_rate = n / whole_path_seconds(fresh, CURRENT)
    console.print(
        f"whole path with fresh numbers in the logs too: {fresh_rate:,.0f}/s (CPU time)",
        highlight=False,
    )
    if args.baseline:
        for label, failures in (("", messages), (", fresh numbers in the logs too", fresh)):
            ours, theirs = compare(failures, args.baseline, repeat=3)
            console.print(
                f"same run, interleaved (best CPU time of 3 per 1,000 failures{label}): whole "
                f"path {ours:,.0f}/s, at {args.baseline} {theirs:,.0f}/s ({ours / theirs:.2f}x)",
                highlight=False,
            )
    met = all(accuracy[f] >= t for f, t in TARGETS.items()) and stage >= THROUGHPUT_TARGET
    console.print(
        f"SUMMARY classify_corpus: {len(cases)} cases from {tools} tools; kind "
        f"{accuracy['kind']:.1%} (target >= 90%), category {accuracy['category']:.1%} (target >= "
        f"85%); naive peer kind {naive_acc['kind']:.1%}, category {naive_acc['category']:.1%}; "
        f"rules-only classification {stage:,.0f} failures/s (target >= {THROUGHPUT_TARGET:,}), "
        f"whole path {full:,.0f}/s ({fresh_rate:,.0f}/s with fresh numbers in the logs); "
        f"{'all targets met' if met else 'TARGET MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
