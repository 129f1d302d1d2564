"""Stage 1: clean, redact and fingerprint the incoming reports' failures (and title them)."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from triagehub.config import GroupingConfig
from triagehub.core.classify import detect_kind, exit_code_of
from triagehub.core.excerpt import error_text, extract, headline
from triagehub.core.fingerprint import SCOPE_MASK_VERSION, grouping_key, mask_check, strip_ansi
from triagehub.core.models import CheckResult, RunReport, Scope, Status
from triagehub.core.redact import redact
from triagehub.engine.ingest.state import (
    EXCERPT_LINES,
    MAX_EXCERPT,
    MAX_STORED_MESSAGE,
    Failure,
    IngestContext,
    RunKey,
)
from triagehub.sources import dbt
from triagehub.store import grouping

log = logging.getLogger("triagehub.engine.ingest")
_CHECK, _REPOSITORY = Scope.CHECK, Scope.REPOSITORY


def _excerpt(log_text: str) -> str:
    """The lines of a log that carry the error (redacted), for the occurrence and for humans."""
    if not log_text:
        return ""
    return redact(extract(log_text, max_lines=EXCERPT_LINES, max_chars=MAX_EXCERPT).text)


def placeholder(result: CheckResult) -> str:
    """The template of a failure that says nothing."""
    return f"<no message> ({result.status.value})"


# The detail line that the dbt source adds to a test's message.
_DBT_TEST = re.compile(
    r"^([\w.]+) test on ([\w$]+)(?:\.([\w$]+))?(?:: (\d+) failing rows?)?$", re.MULTILINE
)


def _dbt_test_title(message: str) -> str | None:
    """``accepted_values(status) on stg_orders: 3 rows`` for a dbt test's message."""
    match = _DBT_TEST.search(message)
    if match is None:
        return None
    kind, model, column, rows = match.groups()
    title = f"{kind}({column}) on {model}" if column else f"{kind} on {model}"
    if rows is not None:
        title += f": {rows} row{'s' if rows != '1' else ''}"
    return title


def title(f: Failure, *, checks: int) -> str:
    """``check — key error line``, with the real (redacted) values of the failure; an issue
    grouped across checks says so once it holds two checks or more. A dbt test reads
    ``accepted_values(status) on stg_orders: 3 rows``."""
    if f.scope is Scope.CHECK and f.report.source == "dbt":
        dbt_title = _dbt_test_title(f.message)
        if dbt_title is not None:
            return dbt_title[:300]
    if f.headline is None:  # a new issue's title is made again when the batch is written
        f.headline = headline(f.text)
    line = f.headline or _first_line(f.template)
    if f.scope is Scope.STORM:
        return f"Storm: many checks failed at once: {line}"[:300]
    if f.scope is Scope.REPOSITORY and checks >= 2:
        return f"{line} (across checks)"[:300]
    return f"{f.result.check} — {line}"[:300]


def _first_line(text: str, limit: int = 160) -> str:
    line = next((x for x in text.splitlines() if x.strip()), text).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def one_result_per_check(report: RunReport, g: GroupingConfig) -> tuple[list[CheckResult], bool]:
    """One result per check of a run (a failure wins over a pass of the same check), and
    whether the run is a storm (so many checks failed at once that they share one cause)."""
    per_check: dict[str, CheckResult] = {}
    for res in report.results:
        prev = per_check.get(res.check)
        if prev is None or (res.status.is_failure and not prev.status.is_failure):
            per_check[res.check] = res
    results = list(per_check.values())
    counted = [x for x in results if x.status is not Status.SKIP]
    failed = sum(1 for x in counted if x.status.is_failure)
    storm = len(counted) >= g.storm_min_checks and failed >= g.storm_share * len(counted)
    return results, storm


def one_identity_per_dbt_node(
    session: Session, keyed: dict[RunKey, RunReport]
) -> dict[RunKey, RunReport]:
    """A dbt test is one check whether its run came as artifacts or a JSON log
    (``test.p.unique_orders_id.c7614daada``) or as a plain console log
    (``test.p.unique_orders_id``): each key takes the check already stored under the same
    node name, else the first key of this batch, so that the order of ingestion never
    splits a node in two."""
    wanted: dict[int, set[str]] = {}
    for key, report in keyed.items():
        if report.source == dbt.SOURCE:
            for res in report.results:
                if res.check.startswith("test."):
                    wanted.setdefault(key[0], set()).add(dbt.node_identity(res.check))
    if not wanted:
        return keyed
    chosen: dict[tuple[int, str], tuple[int, str]] = {}  # (repo, identity) -> (order, key)
    for repo_id, names in wanted.items():
        for stored, pk in grouping.checks_by_name_prefix(
            session=session, repository_id=repo_id, names=names
        ):
            identity = (repo_id, dbt.node_identity(stored))
            if identity[1] in names and (identity not in chosen or pk < chosen[identity][0]):
                chosen[identity] = (pk, stored)
    out: dict[RunKey, RunReport] = {}
    for key, report in keyed.items():
        if report.source != dbt.SOURCE:
            out[key] = report
            continue
        results: list[CheckResult] = []
        for res in report.results:
            if res.check.startswith("test."):
                identity = (key[0], dbt.node_identity(res.check))
                canonical = chosen.setdefault(identity, (1 << 62, res.check))[1]
                if canonical != res.check:
                    res = replace(res, check=canonical)
            results.append(res)
        out[key] = replace(report, results=tuple(results))
    return out


def prepare_failure(
    ctx: IngestContext,
    report: RunReport,
    res: CheckResult,
    ids: tuple[int, int, int],
    at: datetime,
    storm: bool,
) -> Failure:
    """A failure redacted, excerpted, normalised to its template and fingerprinted in its
    scope (``ids``: its repository, run and check)."""
    repo_id, run_pk, check_pk = ids
    version, check = ctx.version, res.check
    message = redact(res.message)
    excerpt = _excerpt(res.log)
    text = error_text(message, excerpt)
    template = ctx.normalize(text, version) or placeholder(res)
    exit_code = res.exit_code if res.exit_code is not None else exit_code_of(message, excerpt)
    kind = detect_kind(report.source, check, template, exit_code)
    if kind.environmental:
        scope = _REPOSITORY
        if version >= SCOPE_MASK_VERSION:
            template = mask_check(template, check)  # one failure across the checks it names
        scoped: str | None = None
    else:
        scope, scoped = _CHECK, check
    fingerprint = grouping_key(
        scope=scope, repository=report.repository, check=scoped, template=template, version=version
    )
    # (positional, in the order of the fields: once per failure)
    return Failure(
        run_pk,
        check_pk,
        repo_id,
        report,
        res,
        at,
        strip_ansi(message)[:MAX_STORED_MESSAGE],
        excerpt,
        text,
        template,
        kind,
        scope,
        fingerprint,
        storm,
        exit_code,
    )


def roll_up_storm(version: int, report: RunReport, failures: list[Failure], total: int) -> None:
    """Point every failure of a storm run at one infrastructure issue for the run's cause."""
    counts = Counter(f.template for f in failures if f.result.status.is_failure)
    dominant = min(counts, key=lambda tpl: (-counts[tpl], tpl))
    fingerprint = grouping_key(
        scope=Scope.STORM,
        repository=report.repository,
        check=None,
        template=dominant,
        version=version,
    )
    for f in failures:
        f.scope = Scope.STORM
        f.fingerprint = fingerprint
        f.storm = True
    log.info(
        "storm guard rolled up a run",
        extra={"run": report.run_id, "failed": len(failures), "checks": total},
    )
