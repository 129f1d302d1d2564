"""Diff-against-green benchmark on the cidiff fail/pass pairs: does comparing the failing log with
the last passing log of the same build sharpen the excerpt?

Run it as ``.venv/bin/python benchmarks/diff_against_green.py [--quick] [--max-lines N]`` from the
repository root. Data: ../shared/data/cidiff (each case: ``fail.log``, ``pass.log``,
``groundtruth``; the format and the scoring are those of ``benchmarks/excerpt_cidiff.py``, whose
parser this reuses). Three excerpts of the same failing log, in the same run:

- ``green``: :func:`triagehub.core.greendiff.diff_against_green` (the excerpt taken among the
  lines whose masked form does not occur in ``pass.log``);
- ``today``: :func:`triagehub.core.excerpt.extract` on the failing log alone;
- ``tail30``: the last 30 lines (the naive peer).

Figures per excerpt, averaged over the cases: block recall (share of ground-truth ``E`` ranges with
a line in the excerpt), line recall (share of ``E`` lines), precision (share of excerpt lines that
are ``E`` or ``C`` lines) and size. ``new%`` is the share of the failing log's lines the diff kept.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from excerpt_cidiff import DEFAULT_DATA, Score, parse_groundtruth, score
from triagehub.core.excerpt import extract
from triagehub.core.greendiff import diff_against_green

TAIL = 30


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--max-lines", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="the first 8 cases only")
    args = parser.parse_args(argv)
    data: Path = args.data
    if not data.is_dir():
        print(
            f"diff_against_green: data folder {data} is absent (cidiff breakages with fail.log, "
            "pass.log and groundtruth per case); pass --data DIR.",
            file=sys.stderr,
        )
        return 2
    folders = sorted(
        p
        for p in data.iterdir()
        if all((p / name).is_file() for name in ("groundtruth", "fail.log", "pass.log"))
    )
    if args.quick:
        folders = folders[:8]
    if not folders:
        print(f"diff_against_green: no fail/pass case in {data}", file=sys.stderr)
        return 2

    console = Console(width=160)
    table = Table(title=f"cidiff fail/pass pairs: excerpt (max_lines={args.max_lines})")
    table.add_column("case", no_wrap=True)
    table.add_column("lines", justify="right")
    table.add_column("new%", justify="right")
    for name, style in (("green", "cyan"), ("today", "magenta"), ("tail30", "yellow")):
        for col in ("rec", "line", "prec", "size"):
            table.add_column(f"{name} {col}", justify="right", style=style)

    results: dict[str, list[Score]] = {"green": [], "today": [], "tail30": []}
    compared = 0
    seconds = 0.0
    for folder in folders:
        truth = parse_groundtruth(folder / "groundtruth")
        fail, passing = _read(folder / "fail.log"), _read(folder / "pass.log")
        total = len(fail.splitlines())
        started = time.perf_counter()
        green = diff_against_green(fail, passing, max_lines=args.max_lines)
        seconds += time.perf_counter() - started
        compared += int(green.compared and green.new_lines > 0)
        today = extract(fail, max_lines=args.max_lines)
        scores = {
            "green": score(set(green.excerpt.line_numbers), truth),
            "today": score(set(today.line_numbers), truth),
            "tail30": score(set(range(max(0, total - TAIL), total)), truth),
        }
        row = [folder.name, str(total), f"{100 * green.new_lines / max(1, total):.0f}"]
        for name, s in scores.items():
            results[name].append(s)
            row += [f"{s.recall:.2f}", f"{s.line_recall:.2f}", f"{s.precision:.2f}", str(s.size)]
        table.add_row(*row)

    def avg(name: str) -> tuple[float, float, float, float]:
        got = results[name]
        return (
            statistics.fmean(s.recall for s in got),
            statistics.fmean(s.line_recall for s in got),
            statistics.fmean(s.precision for s in got),
            statistics.fmean(float(s.size) for s in got),
        )

    table.add_section()
    row = ["average", "", ""]
    for name in results:
        r, lr, p, size = avg(name)
        row += [f"{r:.2f}", f"{lr:.2f}", f"{p:.2f}", f"{size:.1f}"]
    table.add_row(*row)
    console.print(table)
    g, t, b = avg("green"), avg("today"), avg("tail30")
    print(
        f"SUMMARY cases={len(folders)} with_new_lines={compared} | "
        f"green: recall={g[0]:.3f} line_recall={g[1]:.3f} precision={g[2]:.3f} size={g[3]:.1f} | "
        f"today: recall={t[0]:.3f} line_recall={t[1]:.3f} precision={t[2]:.3f} size={t[3]:.1f} | "
        f"tail30: recall={b[0]:.3f} line_recall={b[1]:.3f} precision={b[2]:.3f} size={b[3]:.1f} | "
        f"diff time {seconds:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
