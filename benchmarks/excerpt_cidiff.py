"""Excerpt benchmark on the cidiff breakages: does the excerpt hold the lines that carry the error?

Run it as ``.venv/bin/python benchmarks/excerpt_cidiff.py [--show CASE] [--max-lines N]`` from the
repository root. The data is ../shared/data/cidiff (36 real failing CI logs, labri-progress/cidiff
``data/breakages``, Apache-2.0; ISSTA 2025); ``--data DIR`` points elsewhere.

Ground truth (checked against the logs, see ``check_alignment``): each case's ``groundtruth`` starts
with the parsing option (``DEFAULT``, ``RAW_GITHUB``: each line starts with a GitHub Actions ISO
timestamp; ``FULL_GITHUB``: ``job<TAB>step<TAB>timestamp`` as ``gh run view --log`` prints). Then
``E a-b`` / ``E n`` are error line ranges and ``C n`` context lines. The numbers are 1-based,
inclusive, and index the lines of ``fail.log`` itself, split like ``str.splitlines()`` (a lone
``\\r`` ends a line too, as Java's line readers do), whatever the option: the option only tells how
lines are prefixed, and the extractor removes those prefixes itself. So the raw log goes in and
line numbers compare directly.

Figures, per case and averaged over the cases:

- ``recall``: the share of ground-truth ``E`` blocks (ranges) with at least one line in the
  excerpt. This is the headline: several ranges are whole stack traces of hundreds of lines
  (up to 2,376), which no excerpt of a few dozen lines can hold, so line recall alone would
  only measure range lengths.
- ``line rec``: the share of ``E`` lines in the excerpt (bounded by size / range length).
- ``prec``: the share of excerpt lines that are ``E`` or ``C`` lines.
- ``size``: excerpt lines.
- ``key``: whether :func:`error_lines` (the <= 5 lines that triagehub fingerprints) holds at least
  one ``E`` line.

The peer is the naive baseline "the last 30 lines of the log", measured in the same run; a second
peer, "tail@size", takes as many last lines as the excerpt has, for a comparison at equal size.
Target: average recall >= 0.8 with an average excerpt no larger than the baseline's (<= 30 lines).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from triagehub.core.excerpt import Excerpt, clean_line, extract, extract_key

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "cidiff"
BASELINE_LINES = 30
TARGET_RECALL = 0.8
OPTIONS = ("DEFAULT", "RAW_GITHUB", "FULL_GITHUB")


@dataclass(frozen=True)
class GroundTruth:
    option: str
    errors: tuple[tuple[int, int], ...]  # 0-based inclusive ranges
    context: frozenset[int]

    @property
    def error_lines(self) -> frozenset[int]:
        return frozenset(i for a, b in self.errors for i in range(a, b + 1))


@dataclass(frozen=True)
class Score:
    size: int
    recall: float
    line_recall: float
    precision: float


@dataclass(frozen=True)
class Case:
    name: str
    option: str
    total: int
    blocks: int
    error_count: int
    ours: Score
    base: Score
    tail_same: Score  # the last lines of the log, as many as the excerpt has
    key_hit: bool
    key_size: int
    prefixes_removed: float


def parse_groundtruth(path: Path) -> GroundTruth:
    rows = [row.strip() for row in path.read_text(encoding="utf-8").splitlines() if row.strip()]
    if not rows or rows[0] not in OPTIONS:
        raise ValueError(f"{path}: first line must be one of {OPTIONS}, got {rows[:1]}")
    errors: list[tuple[int, int]] = []
    context: set[int] = set()
    for number, row in enumerate(rows[1:], start=2):
        kind, _, span = row.partition(" ")
        first, _, last = span.strip().partition("-")
        if kind not in ("E", "C") or not first.isdigit() or (last and not last.isdigit()):
            raise ValueError(f"{path}:{number}: expected 'E a-b', 'E n' or 'C n', got {row!r}")
        a, b = int(first) - 1, int(last or first) - 1  # 1-based inclusive -> 0-based inclusive
        if kind == "E":
            errors.append((a, b))
        else:
            context.update(range(a, b + 1))
    return GroundTruth(rows[0], tuple(errors), frozenset(context))


def check_alignment(lines: list[str], truth: GroundTruth) -> float:
    """Sanity checks of the reading of the ground truth; returns the share of lines whose
    timestamp prefix the extractor removes (1.0 for DEFAULT logs)."""
    for a, b in truth.errors:
        if not 0 <= a <= b < len(lines):
            raise ValueError(f"range {a + 1}-{b + 1} outside the log's {len(lines)} lines")
    if truth.option == "DEFAULT":
        return 1.0
    sample = [line for line in lines if line.strip()][:2000]
    removed = sum(1 for line in sample if len(clean_line(line)) < len(line.rstrip()) - 20)
    return removed / max(1, len(sample))


def score(selected: set[int], truth: GroundTruth) -> Score:
    errors = truth.error_lines
    hits = sum(1 for a, b in truth.errors if any(a <= i <= b for i in selected))
    relevant = errors | truth.context
    return Score(
        size=len(selected),
        recall=hits / len(truth.errors) if truth.errors else 1.0,
        line_recall=len(selected & errors) / len(errors) if errors else 1.0,
        precision=len(selected & relevant) / len(selected) if selected else 0.0,
    )


def run_case(folder: Path, max_lines: int) -> tuple[Case, Excerpt, float]:
    truth = parse_groundtruth(folder / "groundtruth")
    text = (folder / "fail.log").read_bytes().decode("utf-8", errors="replace")
    lines = text.splitlines()
    prefixes = check_alignment(lines, truth)
    started = time.perf_counter()
    excerpt = extract(text, max_lines=max_lines)
    key = extract_key(text)
    elapsed = time.perf_counter() - started
    baseline = set(range(max(0, len(lines) - BASELINE_LINES), len(lines)))
    same_size = set(range(max(0, len(lines) - len(excerpt)), len(lines)))
    case = Case(
        name=folder.name,
        option=truth.option,
        total=len(lines),
        blocks=len(truth.errors),
        error_count=len(truth.error_lines),
        ours=score(set(excerpt.line_numbers), truth),
        base=score(baseline, truth),
        tail_same=score(same_size, truth),
        key_hit=bool(set(key.line_numbers) & truth.error_lines),
        key_size=len(key),
        prefixes_removed=prefixes,
    )
    return case, excerpt, elapsed


def show(folder: Path, max_lines: int, console: Console) -> None:
    truth = parse_groundtruth(folder / "groundtruth")
    text = (folder / "fail.log").read_bytes().decode("utf-8", errors="replace")
    excerpt = extract(text, max_lines=max_lines)
    key = extract_key(text)
    errors = truth.error_lines
    console.print(
        f"[bold]{folder.name}[/] ({truth.option}), E ranges (1-based): "
        + ", ".join(f"{a + 1}-{b + 1}" for a, b in truth.errors)
    )
    for number, line in zip(excerpt.line_numbers, excerpt.lines, strict=True):
        mark = "E" if number in errors else "C" if number in truth.context else " "
        star = "*" if number in key.line_numbers else " "
        console.print(f"{number + 1:>6}{mark}{star}| {line[:160]}", markup=False, highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--max-lines", type=int, default=20)
    parser.add_argument("--show", metavar="CASE", help="print one case's excerpt and stop")
    args = parser.parse_args(argv)
    console = Console(width=180)

    data: Path = args.data
    if not data.is_dir():
        print(
            f"excerpt_cidiff: data folder {data} is absent. It holds the cidiff breakages "
            "(labri-progress/cidiff data/breakages); put them there or pass --data DIR.",
            file=sys.stderr,
        )
        return 2
    folders = sorted(p for p in data.iterdir() if (p / "groundtruth").is_file())
    if not folders:
        print(
            f"excerpt_cidiff: no case (folder with a groundtruth file) in {data}", file=sys.stderr
        )
        return 2
    if args.show:
        show(data / args.show, args.max_lines, console)
        return 0

    cases: list[Case] = []
    elapsed = 0.0
    total_lines = 0
    for folder in folders:
        case, _, seconds = run_case(folder, args.max_lines)
        cases.append(case)
        elapsed += seconds
        total_lines += case.total

    table = Table(
        title=f"cidiff breakages: excerpt (max_lines={args.max_lines}) vs last "
        f"{BASELINE_LINES} lines"
    )
    table.add_column("case", no_wrap=True)
    table.add_column("option")
    for column in ("lines", "E blk", "E lines"):
        table.add_column(column, justify="right")
    for column in ("size", "recall", "line rec", "prec", "key"):
        table.add_column(column, justify="right", style="cyan")
    for column in ("base size", "base rec", "base line", "base prec"):
        table.add_column(column, justify="right", style="magenta")
    table.add_column("tail@size rec", justify="right", style="yellow")

    def fmt(value: float) -> str:
        return f"{value:.2f}"

    for c in cases:
        table.add_row(
            c.name,
            c.option,
            str(c.total),
            str(c.blocks),
            str(c.error_count),
            str(c.ours.size),
            fmt(c.ours.recall),
            fmt(c.ours.line_recall),
            fmt(c.ours.precision),
            "yes" if c.key_hit else "no",
            str(c.base.size),
            fmt(c.base.recall),
            fmt(c.base.line_recall),
            fmt(c.base.precision),
            fmt(c.tail_same.recall),
        )

    def mean(values: list[float]) -> float:
        return statistics.fmean(values) if values else 0.0

    ours = Score(
        size=0,
        recall=mean([c.ours.recall for c in cases]),
        line_recall=mean([c.ours.line_recall for c in cases]),
        precision=mean([c.ours.precision for c in cases]),
    )
    base = Score(
        size=0,
        recall=mean([c.base.recall for c in cases]),
        line_recall=mean([c.base.line_recall for c in cases]),
        precision=mean([c.base.precision for c in cases]),
    )
    tail_same = mean([c.tail_same.recall for c in cases])
    ours_size = mean([float(c.ours.size) for c in cases])
    base_size = mean([float(c.base.size) for c in cases])
    key_rate = mean([1.0 if c.key_hit else 0.0 for c in cases])
    key_size = mean([float(c.key_size) for c in cases])
    table.add_section()
    table.add_row(
        "average",
        "",
        "",
        "",
        "",
        f"{ours_size:.1f}",
        fmt(ours.recall),
        fmt(ours.line_recall),
        fmt(ours.precision),
        f"{key_rate:.2f}",
        f"{base_size:.1f}",
        fmt(base.recall),
        fmt(base.line_recall),
        fmt(base.precision),
        fmt(tail_same),
    )
    console.print(table)

    github = [c for c in cases if c.option != "DEFAULT"]
    if github:
        share = min(c.prefixes_removed for c in github)
        console.print(
            f"GitHub-format cases: {len(github)} ({', '.join(c.name for c in github)}); "
            f"timestamp prefixes removed on >= {share:.0%} of their non-blank lines."
        )
    full = sum(1 for c in cases if c.ours.recall == 1.0)
    console.print(
        f"cases with every E block in the excerpt: {full}/{len(cases)}; "
        f"key lines (error_lines, {key_size:.1f} lines on average) hit an E line in "
        f"{sum(c.key_hit for c in cases)}/{len(cases)} cases; "
        f"extraction: {total_lines / elapsed:,.0f} lines/s ({elapsed:.2f} s for {total_lines:,} "
        "lines, excerpt + key)."
    )
    met = ours.recall >= TARGET_RECALL and ours_size <= min(base_size, BASELINE_LINES)
    print(
        f"SUMMARY cases={len(cases)} excerpt: recall={ours.recall:.3f} "
        f"line_recall={ours.line_recall:.3f} precision={ours.precision:.3f} "
        f"size={ours_size:.1f} lines | baseline last-{BASELINE_LINES}: recall={base.recall:.3f} "
        f"line_recall={base.line_recall:.3f} precision={base.precision:.3f} "
        f"size={base_size:.1f} lines | tail@size: recall={tail_same:.3f} | "
        f"key_hit={key_rate:.3f} | target recall>={TARGET_RECALL} "
        f"and size<=baseline: {'MET' if met else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
