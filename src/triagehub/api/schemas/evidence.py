"""The shapes of an issue's evidence pack and of its investigation brief (documentation only:
the answers are rendered from :func:`triagehub.work.evidence.build_pack`)."""

from __future__ import annotations

from triagehub.api.schemas.common import Out


class NumberedLine(Out):
    line: int
    text: str


class RunRef(Out):
    run: str | None
    attempt: int | None = None
    commit: str | None
    branch: str | None = None
    url: str | None
    at: str | None
    lines: int | None = None
    log_kept: bool | None = None


class KeyExcerpt(Out):
    check: str
    run: RunRef | None
    message: str
    lines: list[NumberedLine]
    key_lines: list[int]


class GreenDiffOut(Out):
    against_run: str
    new_lines: int
    total_lines: int
    lines: list[NumberedLine]


class HistoryOut(Out):
    check: str
    runs: int
    failures: int
    failure_rate: float | None
    flip_rate: float | None
    flaky: bool
    consecutive_failures: int
    recent: list[str]
    first_failure: RunRef | None
    last_pass: RunRef | None
    last_fail_commit: str | None


class SuspectCommit(Out):
    sha: str
    author: str | None
    date: str | None
    message: str
    url: str | None


class SuspectsOut(Out):
    status: str
    reason: str | None = None
    base: str | None
    head: str | None
    compare_url: str | None = None
    total_commits: int | None = None
    commits: list[SuspectCommit]
    files: list[str]
    files_in_errors: list[str] = []  # noqa: RUF012  # a pydantic default (copied per model)


class LineageOut(Out):
    affected_models: list[str]
    owners: list[str]


class ResolutionOut(Out):
    state: str
    reason: str
    by: str
    at: str | None
    related_prs: list[str]


class SimilarOut(Out):
    id: int
    title: str
    repository: str
    state: str
    last_seen: str | None
    resolution: ResolutionOut | None


class EvidencePackOut(Out):
    issue_id: int
    repository: str
    title: str
    state: str
    category: str
    kind: str
    severity: str
    key_excerpt: KeyExcerpt | None
    green_diff: GreenDiffOut | None
    green_diff_note: str
    history: HistoryOut | None
    suspects: SuspectsOut
    lineage: LineageOut
    affected_checks: list[str]
    checks_count: int
    similar: list[SimilarOut]
    related_prs: list[str]
    digest: str


class HypothesisOut(Out):
    cause: str
    evidence: list[str]
    likelihood: float


class BriefOut(Out):
    summary: str
    hypotheses: list[HypothesisOut]
    cause: str
    suggest_rerun: bool
    next_step: str
    fix_outline: str
    confidence: float


class InvestigationOut(Out):
    issue_id: int
    status: str
    detail: str
    fallback: bool
    model: str | None
    brief: BriefOut | None
    evidence: EvidencePackOut
