"""Event-time history: checks' outcomes replayed by event time, issues classified again."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.core.classify import Classifier, ClassifyInput, detect_kind, exit_code_of
from triagehub.core.history import Outcome, Replay, event_time_class, replay
from triagehub.core.models import Scope, Status
from triagehub.engine.ingest.classify import reclassify_issue
from triagehub.engine.monitor.context import Tick
from triagehub.store import tables as t

# Failures of a check the event-time replay reads (its latest, by event time).
MAX_REPLAYED_FAILURES = 256

# (repository id, finish time) -> the runs that finished then: (commit, run, attempt).
_RunsAt = dict[tuple[int, datetime], list[tuple[str | None, str, int]]]


def check_replays(
    session: Session, settings: Settings, passes: Mapping[int, list[datetime]]
) -> dict[int, Replay]:
    """Each check's outcomes by event time (``replay``): its failures (occurrences outside
    storms, with their runs' commits and attempts) and its kept green runs (with the
    commits and attempts of the runs of its repository that finished then, other than
    runs the check failed in; two runs finishing in the same second are both candidates)."""
    if not passes:
        return {}
    repo_of, outcomes = _failure_outcomes(session, sorted(passes))
    wanted = {(repo_of[c], at) for c, times in passes.items() for at in times if c in repo_of}
    runs_at = _runs_at(session, wanted)
    result: dict[int, Replay] = {}
    flaky_clean = settings.history.flaky_clean_runs
    for check_id, times in passes.items():
        repo_id = repo_of.get(check_id)
        # a run in which the check failed is not the one it passed in
        failed_in = {run for o in outcomes[check_id] for run in o.runs}
        for at in times:
            found = [
                (commit, run, attempt)
                for commit, run, attempt in runs_at.get((repo_id or 0, at), [])
                if (run, attempt) not in failed_in
            ]
            outcomes[check_id].append(
                Outcome(
                    at=at,
                    failed=False,
                    commits=frozenset(c for c, _, _ in found if c),
                    runs=frozenset((run, attempt) for _, run, attempt in found),
                )
            )
        result[check_id] = replay(outcomes[check_id], flaky_clean)
    return result


def _failure_outcomes(
    session: Session, ids: list[int]
) -> tuple[dict[int, int], dict[int, list[Outcome]]]:
    """The repository of each check, and its latest failures by event time as outcomes."""
    repo_of: dict[int, int] = {}
    outcomes: dict[int, list[Outcome]] = defaultdict(list)
    for chunk in (ids[i : i + 1000] for i in range(0, len(ids), 1000)):
        repo_of.update(
            session.execute(
                select(t.checks.c.id, t.checks.c.repository_id).where(t.checks.c.id.in_(chunk))
            ).all()
        )
        # The latest failures of each check by event time (bounded: the same set whatever
        # order they arrived in).
        latest = (
            select(
                t.occurrences.c.check_id,
                t.occurrences.c.occurred_at,
                t.occurrences.c.status,
                t.runs.c.commit_sha,
                t.runs.c.repository_id,
                t.runs.c.source,
                t.runs.c.external_id,
                t.runs.c.attempt,
                func.row_number()
                .over(
                    partition_by=t.occurrences.c.check_id,
                    order_by=(t.occurrences.c.occurred_at.desc(), t.runs.c.external_id),
                )
                .label("n"),
            )
            .join(t.runs, t.runs.c.id == t.occurrences.c.run_id)
            .where(t.occurrences.c.check_id.in_(chunk), t.runs.c.storm.is_(False))
            .subquery()
        )
        kept = select(latest).where(latest.c.n <= MAX_REPLAYED_FAILURES)
        for check_id, at, status, commit, repo_id, source, ext, attempt, _ in session.execute(kept):
            outcomes[check_id].append(
                Outcome(
                    at=at,
                    failed=status != "flaky",
                    commits=frozenset({commit} if commit else ()),
                    runs=frozenset({(f"{repo_id}:{source}:{ext}", attempt)}),
                    flaky=status == "flaky",
                )
            )
    return repo_of, outcomes


def _runs_at(session: Session, wanted: set[tuple[int, datetime]]) -> _RunsAt:
    """The runs of each repository that finished at each of the ``wanted`` times."""
    runs_at: _RunsAt = defaultdict(list)
    for repo_id in sorted({r for r, _ in wanted}):
        times = sorted({at for r, at in wanted if r == repo_id})
        for chunk_t in (times[i : i + 500] for i in range(0, len(times), 500)):
            for at, commit, source, ext, attempt in session.execute(
                select(
                    t.runs.c.occurred_at,
                    t.runs.c.commit_sha,
                    t.runs.c.source,
                    t.runs.c.external_id,
                    t.runs.c.attempt,
                ).where(t.runs.c.repository_id == repo_id, t.runs.c.occurred_at.in_(chunk_t))
            ):
                runs_at[(repo_id, at)].append((commit, f"{repo_id}:{source}:{ext}", attempt))
    return runs_at


def classify_in_event_time(
    tick: Tick, rows: list[dict[str, Any]], replays: Mapping[int, Replay]
) -> None:
    """Give every issue the history class its check's outcomes give in event time
    (``event_time_class``): the ingest judged it from the runs in their order of arrival.
    Only an issue whose class differs is classified again, from its latest failure; the
    new classification is stamped with that failure's time."""
    todo = {r["id"]: r for r in rows if r["scope"] != Scope.STORM.value}
    if not todo:
        return
    latest = _latest_failures(tick.session, sorted(todo))
    h = tick.settings.history
    classifier: Classifier | None = None
    for issue_id, chosen in latest.items():
        row, occ = todo[issue_id], chosen
        check = replays.get(occ["check_id"])
        if check is None:
            continue
        history = event_time_class(
            check,
            latest_failure=row["last_seen"],
            issue_occurrences=int(row["occurrences"]),
            recurring_threshold=h.recurring_threshold,
            persistent_threshold=h.persistent_threshold,
        )
        if history.value == row["history_class"]:
            continue
        classifier = classifier or Classifier(tick.settings)
        message, excerpt = occ["message"], occ["log_excerpt"]
        text = row["template"]
        exit_code = exit_code_of(message, excerpt)
        inp = ClassifyInput(
            source=row["source"],
            repository=row["repository"],
            check=occ["check"],
            text=text,
            status=Status(occ["status"]),
            branch=occ["branch"],
            history=history,
            kind=detect_kind(row["source"], occ["check"], text, exit_code),
            message=message,
            log=excerpt,
            attempt=int(occ["attempt"]),
            exit_code=exit_code,
            duration_s=occ["duration_s"],
        )
        if reclassify_issue(tick.session, classifier, row, inp, at=row["last_seen"], now=tick.now):
            tick.summary.reclassified.append(issue_id)


def _latest_failures(session: Session, issue_ids: list[int]) -> dict[int, Mapping[str, Any]]:
    """Each issue's latest failure (at its ``last_seen``; ties: the least check, message and
    status)."""
    latest: dict[int, Mapping[str, Any]] = {}
    query = (
        select(
            t.occurrences.c.issue_id,
            t.occurrences.c.check_id,
            t.occurrences.c.status,
            t.occurrences.c.message,
            t.occurrences.c.log_excerpt,
            t.occurrences.c.duration_s,
            t.checks.c.key.label("check"),
            t.runs.c.branch,
            t.runs.c.attempt,
        )
        .join(t.issues, t.issues.c.id == t.occurrences.c.issue_id)
        .join(t.checks, t.checks.c.id == t.occurrences.c.check_id)
        .join(t.runs, t.runs.c.id == t.occurrences.c.run_id)
        .where(
            t.occurrences.c.issue_id.in_(issue_ids),
            t.occurrences.c.occurred_at == t.issues.c.last_seen,
        )
    )
    for found in session.execute(query).mappings():
        occ: Mapping[str, Any] = dict(found)
        key = (occ["check"], occ["message"], occ["status"])
        have = latest.get(occ["issue_id"])
        if have is None or key < (have["check"], have["message"], have["status"]):
            latest[occ["issue_id"]] = occ
    return latest
