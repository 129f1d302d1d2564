"""The message normaliser (``core/fingerprint.py``) on real log lines, against an older version of
itself in the same run.

    python benchmarks/normalize_messages.py [--quick] [--baseline REV] [--repeat N]

The baseline is ``src/triagehub/core/fingerprint.py`` as it was at git revision ``--baseline``
(default: the commit before the one-pass work of issue #24), from ``git archive`` into a temporary
package (``benchlib.load_core_at``). Both normalise the same texts with the current version
(``CURRENT_VERSION``), through ``Normalizer.normalize`` (not the cached ``normalize``, so every
message costs its full price), timed in chunks of 200 texts, each chunk ``--repeat`` times with old
and new interleaved; a figure adds up the best time of every chunk. Times are the process's CPU
time: on a shared machine, wall time also counts the time other processes hold the core. Texts:

- ``loghub``: the ``Content`` lines of the 16 Loghub-2k systems (``../shared/data/loghub2k``);
- ``ci lines``: every line of the 36 failing CI logs of ``../shared/data/cidiff`` and of the logs
  of the classification corpus (``tests/data/classification/cases.jsonl``);
- ``failure texts``: what ingest fingerprints for a failure, multi-line: each classification
  case's message or log excerpt (``error_text``), and each cidiff log's excerpt.

Every text's template must be the same both ways; the benchmark counts the differences (a
difference is a bug: a changed template needs a new normaliser version).

Then the cached ``normalize`` as ingest calls it, both trees, on the same texts with their digits
drawn again (the message cache never hits; from issue #24 on, a message of a shape seen before is
not normalised again: ``fingerprint._by_shape``), in their order (a log's lines recur as they do),
with both trees' caches emptied before every timing of a chunk: a shape pays full price the first
time it comes in a chunk of 200.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import random
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchlib import load_core_at
from triagehub.core import fingerprint
from triagehub.core.excerpt import error_text, extract
from triagehub.core.redact import redact

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = REPO_ROOT.parent / "shared" / "data"
CASES = REPO_ROOT / "tests" / "data" / "classification" / "cases.jsonl"
BASELINE = "f0e8445"  # main before issue #24's one-pass fingerprinting
MIN_TIMED = 2000


def load_baseline(rev: str) -> Callable[[str], str]:
    """The baseline's current normaliser (``core/fingerprint.py`` at ``rev``)."""
    module = importlib.import_module(f"{load_core_at(rev).__name__}.fingerprint")
    if module.CURRENT_VERSION != fingerprint.CURRENT_VERSION:
        print(
            f"note: the baseline's current version is v{module.CURRENT_VERSION}, "
            f"this tree's is v{fingerprint.CURRENT_VERSION}"
        )
    return module.NORMALIZERS[module.CURRENT_VERSION].normalize  # type: ignore[no-any-return]


def loghub_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted((DATA / "loghub2k").glob("*/*_2k.log_structured.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            lines.extend(row["Content"] for row in csv.DictReader(handle))
    return lines


def _cases() -> list[dict[str, str]]:
    with CASES.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _cidiff_logs() -> list[str]:
    return [
        path.read_text(encoding="utf-8", errors="replace")
        for path in sorted((DATA / "cidiff").glob("*/fail.log"))
    ]


def ci_lines() -> list[str]:
    logs = _cidiff_logs() + [case.get("log", "") for case in _cases()]
    return [line for log in logs for line in log.splitlines() if line.strip()]


def failure_texts() -> list[str]:
    texts = []
    for case in _cases():
        log = case.get("log", "")
        excerpt = redact(extract(log).text) if log else ""
        texts.append(error_text(redact(case.get("message", "")), excerpt))
    texts.extend(error_text("", redact(extract(log).text)) for log in _cidiff_logs())
    return [text for text in texts if text]


def load_baseline_cached(rev: str) -> tuple[Callable[[str], str], Callable[[], None]]:
    """The baseline's cached ``normalize`` and what empties its caches."""
    module = importlib.import_module(f"{load_core_at(rev).__name__}.fingerprint")
    return module.normalize, getattr(module, "clear_caches", module.normalize.cache_clear)


_ASCII_DIGIT = re.compile(r"[0-9]")


def redrawn(texts: Sequence[str], seed: int = 24) -> list[str]:
    """The texts with every ASCII digit drawn again (the same shapes, new messages)."""
    rng = random.Random(seed)
    return [_ASCII_DIGIT.sub(lambda _m: str(rng.randrange(10)), text) for text in texts]


def _nothing() -> None:
    return None


def best_rates(
    texts: Sequence[str],
    funcs: Sequence[Callable[[str], str]],
    repeat: int,
    chunk: int = 200,
    before: Sequence[Callable[[], None]] = (),
) -> list[float]:
    """Messages/s of each function: the texts are timed in chunks, each chunk ``repeat`` times
    with the functions interleaved (``before[i]`` called before each timing of ``funcs[i]``),
    and a function's time is the sum of its best CPU time on every chunk."""
    total = [0.0] * len(funcs)
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        best = [float("inf")] * len(funcs)
        for _ in range(repeat):
            for i, func in enumerate(funcs):
                (before[i] if before else _nothing)()
                started = time.process_time()
                for text in part:
                    func(text)
                best[i] = min(best[i], time.process_time() - started)
        total = [t + b for t, b in zip(total, best, strict=True)]
    return [len(texts) / seconds for seconds in total]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fifth of the lines, 2 passes")
    parser.add_argument("--baseline", default=BASELINE, help=f"git revision (default {BASELINE})")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes of each (default 5)")
    args = parser.parse_args(argv)
    if not (DATA / "loghub2k").is_dir() or not (DATA / "cidiff").is_dir():
        print(f"normalize_messages: the data is absent ({DATA}/loghub2k, {DATA}/cidiff)")
        return 2
    old = load_baseline(args.baseline)
    new = fingerprint.normalizer().normalize
    clear_new = getattr(fingerprint, "clear_caches", fingerprint.normalize.cache_clear)
    repeat = 2 if args.quick else args.repeat
    sets = {"loghub": loghub_lines(), "ci lines": ci_lines(), "failure texts": failure_texts()}
    if args.quick:
        sets = {name: texts[::5] for name, texts in sets.items()}
    print(f"baseline {args.baseline} vs this tree, normaliser v{fingerprint.CURRENT_VERSION}")
    print(
        f"{'texts':14} {'count':>7} {'chars':>6} {'old msg/s':>10} {'new msg/s':>10}  ratio  diff"
    )
    summary = []
    for name, texts in sets.items():
        timed = texts * max(1, MIN_TIMED // len(texts))  # a small set is timed several times
        old_rate, new_rate = best_rates(timed, (old, new), repeat)
        differ = sum(old(text) != new(text) for text in texts)
        chars = sum(map(len, texts)) / len(texts)
        ratio = new_rate / old_rate
        print(
            f"{name:14} {len(texts):>7,} {chars:>6.0f} {old_rate:>10,.0f} {new_rate:>10,.0f}"
            f" {ratio:>5.2f}x {differ:>5}"
        )
        summary.append(
            f"{name} {new_rate:,.0f}/s vs {old_rate:,.0f}/s ({ratio:.2f}x, {differ} differ)"
        )
    old_cached, old_clear = load_baseline_cached(args.baseline)
    print("cached normalize(), digits drawn again, caches emptied per chunk of 200")
    print(f"{'texts':14} {'count':>7} {'old us':>8} {'new us':>8}  ratio  diff")
    for name, texts in sets.items():
        fresh = redrawn(texts)
        # A small set is timed several times, every time with other digits.
        timed = [t for k in range(max(1, MIN_TIMED // len(texts))) for t in redrawn(texts, k)]
        old_rate, new_rate = best_rates(
            timed, (old_cached, fingerprint.normalize), repeat, before=(old_clear, clear_new)
        )
        clear_new()
        differ = sum(old(text) != fingerprint.normalize(text) for text in fresh)
        print(
            f"{name:14} {len(fresh):>7,} {1e6 / old_rate:>8.1f} {1e6 / new_rate:>8.1f}"
            f" {new_rate / old_rate:>5.2f}x {differ:>5}"
        )
        summary.append(
            f"cached {name} {1e6 / new_rate:.1f} us vs {1e6 / old_rate:.1f} us "
            f"({new_rate / old_rate:.2f}x, {differ} differ)"
        )
    print("SUMMARY normalize_messages: " + "; ".join(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
