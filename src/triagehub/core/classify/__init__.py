"""Deterministic classification: kind, category, severity, priority, decision, routing.

Two steps, so that the pipeline can group before it knows the history:

1. ``detect_kind`` (cached per source, check and template) says which failure kind the error text
   shows and whether it is environmental (grouped per repository across checks).
2. ``classify`` fills every field of the vocabulary from the kind, the check's history class and
   the repository's configuration, with a confidence and a rationale naming the rules that fired.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from triagehub.config import RepositoryConfig, Settings
from triagehub.core.classify.rules import (
    CHECK_RULES,
    MAIN_BRANCHES,
    NOT_IMPLEMENTED,
    OUTAGE,
    SECURITY,
    SETUP_TEARDOWN,
    SPEC_PATH,
    TEXT_RULES,
    WARNING,
    KindRule,
)
from triagehub.core.models import (
    Category,
    Decision,
    HistoryClass,
    Kind,
    Level,
    Status,
)

TEXT_CONFIDENCE = 0.9
CHECK_CONFIDENCE = 0.7
FALLBACK_CONFIDENCE = 0.4
_TEST_SOURCES = frozenset({"playwright", "junit"})


@dataclass(frozen=True, slots=True)
class KindMatch:
    kind: Kind
    rule: str
    confidence: float
    transient: bool
    environmental: bool
    evidence: str


@lru_cache(maxsize=8192)
def _text_rule(template: str) -> tuple[KindRule, str] | None:
    """The first text rule matching a template, with the text it matched."""
    head = template[:4000]
    for rule in TEXT_RULES:
        found = rule.matches(head, "", "")
        if found:
            return rule, found.group(0) if not isinstance(found, bool) else rule.name
    return None


@lru_cache(maxsize=8192)
def _check_rule(source: str, check: str) -> tuple[KindRule | None, bool]:
    """The first check-name rule matching a check, and whether the check is a test."""
    test_like = source in _TEST_SOURCES or any(
        r.name == "check_test" and r.matches("", check, source) for r in CHECK_RULES
    )
    rule = next((r for r in CHECK_RULES if r.matches("", check, source)), None)
    return rule, test_like


def detect_kind(source: str, check: str, template: str) -> KindMatch:
    """The failure kind of an error (first matching text rule, else check-name rule)."""
    text_match = _text_rule(template)
    check_rule, test_like = _check_rule(source, check)
    if text_match is not None:
        rule, evidence = text_match
        # Network and capacity failures group per repository; so does a timeout outside tests.
        environmental = rule.environmental or (rule.kind is Kind.TIMEOUT and not test_like)
        return KindMatch(
            rule.kind, rule.name, TEXT_CONFIDENCE, rule.transient, environmental, evidence
        )
    if check_rule is not None:
        return KindMatch(check_rule.kind, check_rule.name, CHECK_CONFIDENCE, False, False, check)
    return KindMatch(Kind.BUILD, "fallback", FALLBACK_CONFIDENCE, False, False, "")


@dataclass(frozen=True, slots=True)
class ClassifyInput:
    source: str
    repository: str
    check: str
    text: str
    status: Status
    branch: str | None
    history: HistoryClass
    kind: KindMatch
    storm: bool = False


@dataclass(frozen=True, slots=True)
class Classification:
    category: Category
    kind: Kind
    severity: Level
    priority: Level
    history_class: HistoryClass
    decision: Decision
    expert: str | None
    sla_hours: float | None
    escalate_after: float | None
    confidence: float
    rationale: str


_REPO_ADJUST = {Level.CRITICAL: 1, Level.HIGH: 0, Level.MEDIUM: 0, Level.LOW: -1}
_HISTORY_ADJUST = {
    HistoryClass.PERSISTENT: 1,
    HistoryClass.RECURRING: 0,
    HistoryClass.NEW: 0,
    HistoryClass.FLAKY: -1,
}
_HIGH_KINDS = frozenset(
    {Kind.BUILD, Kind.COMPILATION, Kind.DEPENDENCY, Kind.DEPLOYMENT, Kind.SCHEMA, Kind.RUNTIME}
)


def _category(inp: ClassifyInput, why: list[str]) -> Category:
    k = inp.kind
    if inp.storm:
        why.append("category=infrastructure_issue: most checks of the run failed at once (storm)")
        return Category.INFRASTRUCTURE
    if inp.history is HistoryClass.FLAKY:
        why.append("category=transient_failure: the check is flaky (passed and failed)")
        return Category.TRANSIENT
    if k.transient and inp.history is not HistoryClass.PERSISTENT:
        why.append(f"category=transient_failure: {k.rule} failures usually heal on retry")
        return Category.TRANSIENT
    if k.kind in (Kind.INFRASTRUCTURE, Kind.TIMEOUT):
        why.append(f"category=infrastructure_issue: {k.kind.value} failure that does not heal")
        return Category.INFRASTRUCTURE
    if k.kind in (Kind.DATA_TEST, Kind.FRESHNESS):
        why.append(f"category=data_quality_issue: {k.kind.value} failure")
        return Category.DATA_QUALITY
    why.append(f"category=code_fix_required: {k.kind.value} failure")
    return Category.CODE_FIX


def _severity(inp: ClassifyInput, category: Category, why: list[str]) -> Level:
    text = inp.text[:4000]
    if SECURITY.search(text):
        why.append("severity=critical: security finding")
        return Level.CRITICAL
    if OUTAGE.search(text):
        why.append("severity=critical: production outage")
        return Level.CRITICAL
    kind = inp.kind.kind
    if kind is Kind.FORMAT or WARNING.search(text):
        why.append("severity=low: style or warning")
        return Level.LOW
    if inp.storm or kind in _HIGH_KINDS:
        why.append(f"severity=high: {'storm' if inp.storm else kind.value} failure blocks the run")
        return Level.HIGH
    if (
        inp.branch in MAIN_BRANCHES
        and category in (Category.CODE_FIX, Category.DATA_QUALITY)
        and inp.history is not HistoryClass.FLAKY
    ):
        why.append(f"severity=high: fails on the {inp.branch} branch")
        return Level.HIGH
    why.append(f"severity=medium: {kind.value} failure")
    return Level.MEDIUM


def _decision(inp: ClassifyInput, category: Category, why: list[str]) -> Decision:
    if inp.history is HistoryClass.FLAKY:
        why.append("decision=pending: flaky check, investigate before fixing")
        return Decision.PENDING
    if category is Category.TRANSIENT:
        why.append("decision=ignore: transient, watched for auto-resolution")
        return Decision.IGNORE
    score = 0
    reasons: list[str] = []
    if inp.history is HistoryClass.PERSISTENT:
        score += 3
        reasons.append("persistent +3")
    elif inp.history is HistoryClass.RECURRING:
        score += 2
        reasons.append("recurring +2")
    else:
        score -= 1
        reasons.append("new -1")
    if NOT_IMPLEMENTED.search(inp.text[:4000]):
        score += 3
        reasons.append("'not implemented' +3")
    if SPEC_PATH.search(inp.check):
        score += 1
        reasons.append("integration/e2e path +1")
    if SETUP_TEARDOWN.search(inp.check) or SETUP_TEARDOWN.search(inp.text[:500]):
        score -= 2
        reasons.append("setup/teardown -2")
    decision = Decision.NEEDS_SPEC if score >= 2 else Decision.ONE_OFF_FIX
    why.append(f"decision={decision.value}: score {score} ({', '.join(reasons)}; spec at >= 2)")
    return decision


def _routing(
    repo: RepositoryConfig, kind: Kind, priority: Level, settings: Settings, why: list[str]
) -> tuple[Level, str | None, float | None, float | None]:
    matched = repo.rule_for(kind)
    if matched is None:
        sla = settings.default_sla_hours.get(priority)
        return priority, None, sla, None
    name, rule = matched
    if rule.priority is not None and rule.priority.rank > priority.rank:
        why.append(f"priority={rule.priority.value}: raised by automation rule {name}")
        priority = rule.priority
    if rule.auto_assign:
        why.append(f"expert={rule.auto_assign}: automation rule {name}")
    sla = rule.sla_hours if rule.sla_hours is not None else settings.default_sla_hours.get(priority)
    return priority, rule.auto_assign, sla, rule.escalate_after


def classify(inp: ClassifyInput, settings: Settings) -> Classification:
    """Every field of the vocabulary, with the rules that decided it."""
    k = inp.kind
    kind = Kind.INFRASTRUCTURE if inp.storm else k.kind
    why = [
        f"kind={kind.value}: rule {k.rule}"
        + (f" matched {k.evidence[:60]!r}" if k.evidence and k.rule != "fallback" else "")
        + (" (storm)" if inp.storm else "")
    ]
    why.append(f"history={inp.history.value}")
    category = _category(inp, why)
    severity = _severity(inp, category, why)
    repo = settings.repository(inp.repository)
    rank = severity.rank + _REPO_ADJUST[repo.priority_level] + _HISTORY_ADJUST[inp.history]
    priority = Level.from_rank(rank)
    why.append(
        f"priority={priority.value}: severity {severity.value}, repository "
        f"{repo.priority_level.value}, history {inp.history.value}"
    )
    priority, expert, sla_hours, escalate_after = _routing(repo, kind, priority, settings, why)
    decision = _decision(inp, category, why)
    confidence = 0.95 if inp.storm else k.confidence
    return Classification(
        category=category,
        kind=kind,
        severity=severity,
        priority=priority,
        history_class=inp.history,
        decision=decision,
        expert=expert,
        sla_hours=sla_hours,
        escalate_after=escalate_after,
        confidence=confidence,
        rationale="; ".join(why),
    )
