"""Grouping at scale: precision and recall of triagehub's issues against the generator's truth.

100,000 synthetic failures over ~2,000 checks in 5 repositories (the message catalogue of
``benchmarks/ingest.py``: real tools' messages with varying numbers, ids, paths, IPs and
timestamps), plus near-duplicates (a word changed, two lines swapped) of some templates, are
ingested through the real pipeline into SQLite; then every occurrence's issue is compared with the
truth: one group per repository, check and template for code, test and data failures; one group
per repository and template for environmental ones (network, capacity), across checks.

Pairwise precision = share of same-issue pairs that are truly the same group; recall = share of
truly-same pairs that share an issue. Peers in the same run: grouping by the raw message (what a
naive dedupe does), and triagehub with fuzzy joining switched off (masks only).

    python benchmarks/grouping_scale.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from math import comb
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ingest as catalogue_module
from triagehub.config import GroupingConfig, Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.store import tables as t
from triagehub.store.db import open_database

SEED = 20261122
RUN_SIZE = 20
FAILS_PER_RUN = 5
NEAR_DUPLICATE_SHARE = 0.05

Template = catalogue_module.Template


@dataclass(frozen=True, slots=True)
class Truth:
    run_id: str
    check: str
    group: tuple[str, ...]
    message: str


def near_duplicate(message: str, rng: random.Random) -> str:
    """The same failure worded slightly differently: two lines swapped, or one word changed."""
    lines = message.split("\n")
    if len(lines) >= 3 and rng.random() < 0.5:
        lines[-1], lines[-2] = lines[-2], lines[-1]
        return "\n".join(lines)
    words = message.split(" ")
    candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 3]
    if not candidates:
        return message + " (retried)"
    i = candidates[len(candidates) // 2]
    words[i] = words[i] + "s" if not words[i].endswith("s") else words[i][:-1]
    return " ".join(words)


def generate(
    total_failures: int, rng: random.Random
) -> tuple[list[RunReport], dict[tuple[str, str], Truth]]:
    checks = catalogue_module.catalogue(rng)
    env = set(catalogue_module.ENVIRONMENTAL)
    reports: list[RunReport] = []
    truth: dict[tuple[str, str], Truth] = {}
    failures = 0
    run_no = 0
    mutated: dict[Template, bool] = {}
    while failures < total_failures:
        repo = rng.choice(catalogue_module.REPOSITORIES)
        chosen = rng.sample(checks[repo], RUN_SIZE)
        n_fail = min(FAILS_PER_RUN, total_failures - failures)
        run_id = f"scale-{run_no}"
        results: list[CheckResult] = []
        for i, check in enumerate(chosen):
            if i >= n_fail:
                results.append(CheckResult(check.key, Status.PASS))
                continue
            roll = rng.random()
            template: Template
            if roll < 0.70:
                template = check.primary
            elif roll < 0.88:
                template = check.secondary
            else:
                template = rng.choice(catalogue_module.ENVIRONMENTAL)
            message = template(rng, check)
            # Some templates have a reworded twin that shows up now and then.
            if mutated.setdefault(template, rng.random() < 0.5) and (
                rng.random() < NEAR_DUPLICATE_SHARE * 2
            ):
                message = near_duplicate(message, random.Random(template.__name__))
            group = (
                (repo, "env", template.__name__)
                if template in env
                else (repo, check.key, template.__name__)
            )
            truth[(run_id, check.key)] = Truth(run_id, check.key, group, message)
            results.append(CheckResult(check.key, Status.FAIL, message))
        failures += n_fail
        reports.append(
            RunReport(
                source="generic",
                repository=repo,
                run_id=run_id,
                commit=f"{rng.getrandbits(28):07x}",
                branch="main",
                finished_at=catalogue_module.BASE_TIME + timedelta(seconds=31 * run_no),
                results=tuple(results),
            )
        )
        run_no += 1
    return reports, truth


def pair_scores(pairs: list[tuple[object, tuple[str, ...]]]) -> tuple[float, float]:
    """Pairwise precision and recall of predicted groups against true groups."""
    both = Counter(pairs)
    predicted = Counter(p for p, _ in pairs)
    actual = Counter(g for _, g in pairs)
    tp = sum(comb(n, 2) for n in both.values())
    pred_pairs = sum(comb(n, 2) for n in predicted.values())
    true_pairs = sum(comb(n, 2) for n in actual.values())
    return (tp / pred_pairs if pred_pairs else 1.0, tp / true_pairs if true_pairs else 1.0)


@dataclass
class Result:
    name: str
    seconds: float
    issues: int
    patterns: int
    precision: float
    recall: float


def run_triagehub(
    name: str,
    reports: list[RunReport],
    truth: dict[tuple[str, str], Truth],
    workdir: Path,
    settings: Settings,
) -> Result:
    url = f"sqlite:///{workdir / (name.replace(' ', '_').replace(',', '') + '.db')}"
    engine = open_database(url)
    started = time.perf_counter()
    ingest_reports(engine, iter(reports), settings)
    seconds = time.perf_counter() - started
    with Session(engine) as session:
        rows = session.execute(
            select(t.runs.c.external_id, t.checks.c.key, t.occurrences.c.issue_id)
            .join(t.runs, t.runs.c.id == t.occurrences.c.run_id)
            .join(t.checks, t.checks.c.id == t.occurrences.c.check_id)
        ).all()
        issues = session.execute(select(t.issues.c.id)).all()
        patterns = session.execute(select(t.patterns.c.id)).all()
    engine.dispose()
    pairs: list[tuple[object, tuple[str, ...]]] = [
        (issue_id, truth[(run_id, check)].group) for run_id, check, issue_id in rows
    ]
    assert len(pairs) == len(truth), (len(pairs), len(truth))
    precision, recall = pair_scores(pairs)
    return Result(name, seconds, len(issues), len(patterns), precision, recall)


def run_exact_peer(truth: dict[tuple[str, str], Truth]) -> Result:
    started = time.perf_counter()
    pairs: list[tuple[object, tuple[str, ...]]] = [
        ((tr.check, tr.message), tr.group) for tr in truth.values()
    ]
    groups = len({p for p, _ in pairs})
    precision, recall = pair_scores(pairs)
    return Result("raw message (peer)", time.perf_counter() - started, groups, 0, precision, recall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10,000 failures instead of 100,000")
    parser.add_argument("--failures", type=int, default=None)
    args = parser.parse_args(argv)
    total = args.failures or (10_000 if args.quick else 100_000)
    console = Console(width=160)
    rng = random.Random(SEED)
    reports, truth = generate(total, rng)
    results_n = sum(len(r.results) for r in reports)
    console.print(
        f"{total:,} failures ({results_n:,} results) in {len(reports):,} runs over "
        f"{len({(r.repository, c.check) for r in reports for c in r.results}):,} checks in "
        f"{len(catalogue_module.REPOSITORIES)} repositories; truth groups: "
        f"{len({tr.group for tr in truth.values()}):,}"
    )
    with tempfile.TemporaryDirectory(prefix="triagehub-scale-") as tmp:
        workdir = Path(tmp)
        results = [
            run_triagehub("triagehub", reports, truth, workdir, Settings()),
            run_triagehub(
                "triagehub, masks only (peer)",
                reports,
                truth,
                workdir,
                Settings(grouping=GroupingConfig(join_near_identical=False)),
            ),
            run_exact_peer(truth),
        ]
    table = Table(title="grouping at scale", title_justify="left")
    for col in ("grouping", "seconds", "failures/s", "issues", "patterns", "precision", "recall"):
        table.add_column(col, justify="left" if col == "grouping" else "right")
    for r in results:
        table.add_row(
            r.name,
            f"{r.seconds:.1f}",
            f"{total / r.seconds:,.0f}" if r.seconds > 0.5 else "-",
            f"{r.issues:,}",
            f"{r.patterns:,}" if r.patterns else "-",
            f"{r.precision:.4f}",
            f"{r.recall:.4f}",
        )
    console.print(table)
    main_result = results[0]
    ok = (
        main_result.precision >= 0.99
        and main_result.recall >= 0.95
        and (main_result.seconds < 60 or args.quick)
    )
    console.print(
        f"SUMMARY grouping_scale: {total:,} failures -> {main_result.issues:,} issues, "
        f"{main_result.patterns:,} patterns in {main_result.seconds:.1f} s (target < 60 s); "
        f"precision {main_result.precision:.4f} (target >= 0.99), recall "
        f"{main_result.recall:.4f} (target >= 0.95); raw-message peer recall "
        f"{results[2].recall:.4f}; {'all targets met' if ok else 'TARGET MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
