"""The plan of the demo's runs (``Run``, ``Result``) and the seeded helpers every repository's
builder uses: times, commits, ids, scenario tags and Actions log lines."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

from triagehub.demo.scenario.data import RUN_IDS, SEED


@dataclass
class Result:
    check: str
    status: str
    message: str = ""
    log: str = ""
    duration_s: float = 0.0


@dataclass
class Run:
    repo: str
    index: int
    day: int
    start: datetime
    branch: str = "main"
    tag: str = ""
    commit: str = ""
    attempt: int = 1
    results: list[Result] = field(default_factory=list)
    finished: datetime | None = None

    @property
    def run_id(self) -> str:
        base, stride = RUN_IDS[self.repo]
        return str(base + self.index * stride)


def seeded_rng(name: str) -> random.Random:
    return random.Random(f"triagehub-demo:{SEED}:{name}")


def minute_offsets(rng: random.Random, count: int, lo: int, hi: int, gap: int) -> list[int]:
    """``count`` sorted minute offsets in ``[lo, hi)``, at least ``gap`` minutes apart."""
    while True:
        picks = sorted(rng.sample(range(lo, hi, 5), count))
        if all(b - a >= gap for a, b in pairwise(picks)):
            return picks


def hex_digits(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def uuid4_of(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def tag_run(
    runs: list[Run],
    day: int,
    tag: str,
    *,
    last: bool = False,
    branch: str | None = None,
    on_branch: str | None = None,
) -> Run:
    """Mark the first (or last) untagged run of ``day`` (on ``on_branch`` if given) with a
    scenario tag, and move it to ``branch`` if given."""
    free = [
        run for run in runs if run.day == day and not run.tag and on_branch in (None, run.branch)
    ]
    if not free:
        raise RuntimeError(f"demo scenario: no free run on day {day} for {tag}")
    run = free[-1] if last else free[0]
    run.tag = tag
    if branch is not None:
        run.branch = branch
    return run


def assign_commits(rng: random.Random, runs: list[Run], isolated: Callable[[Run], bool]) -> None:
    """7-hex commits per branch, each kept for 1-3 runs. An isolated run gets a commit of its
    own (the run after it on the same branch starts a new one), so it never shares a commit
    with a green run and cannot look flaky."""
    current: dict[str, str] = {}
    left: dict[str, int] = {}
    fresh_next: dict[str, bool] = {}
    for run in runs:
        branch = run.branch
        alone = isolated(run)
        if branch not in current or left[branch] <= 0 or alone or fresh_next.get(branch, False):
            current[branch] = hex_digits(rng, 7)
            left[branch] = rng.randint(1, 3)
        fresh_next[branch] = alone
        run.commit = current[branch]
        left[branch] -= 1


def iso_seconds(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def actions_log(rng: random.Random, at: datetime, lines: Iterable[str]) -> str:
    """GitHub Actions log lines: ``2026-11-20T06:31:02.1234567Z <text>``."""
    out: list[str] = []
    moment = at
    for line in lines:
        moment += timedelta(microseconds=rng.randint(2_000, 900_000))
        stamp = f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}{rng.randrange(10)}Z"
        out.append(f"{stamp} {line}")
    return "\n".join(out)


def status_of(results: list[Result]) -> str:
    return "failure" if any(r.status in ("fail", "error") for r in results) else "success"
