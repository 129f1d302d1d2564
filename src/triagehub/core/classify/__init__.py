"""Deterministic classification: kind, category, severity, priority, decision, routing.

Two steps, so that the pipeline can group before it knows the history:

1. ``detect_kind`` (cached per source, check and template) says which failure kind the error text
   shows and whether it is environmental (grouped per repository across checks).
2. ``classify`` fills every field of the vocabulary from the kind, the check's history class and
   the repository's configuration, with a confidence and a rationale naming the rules that fired.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

from triagehub.core.classify.rules import (
    CHECK_RULES,
    MAIN_BRANCHES,
    NOT_IMPLEMENTED,
    OUTAGE,
    SECURITY,
    SETUP_TEARDOWN,
    SPEC_PATH,
    TEST_TIME_LIMIT,
    TEXT_RULES,
    WARNING,
    KindRule,
)
from triagehub.core.classify.settings import ClassifierSettings, RepositoryLike
from triagehub.core.memo import BoundedMemo
from triagehub.core.models import (
    Category,
    Decision,
    HistoryClass,
    Kind,
    Level,
    Status,
)
from triagehub.core.user_rules import ClassificationRule

# The fields a human override or the LLM may set (besides assignee and state for humans).
CLASSIFICATION_FIELDS = ("category", "kind", "severity", "priority", "decision", "expert")
LLM_FIELDS = ("category", "kind", "severity", "decision", "confidence")

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
    test_like: bool = False
    category: str | None = None


# Exit codes that say what happened when the text does not: killed by a time limit, by the kernel.
_EXIT_KINDS = {
    124: (Kind.TIMEOUT, "exit_code_timeout", False),
    137: (Kind.INFRASTRUCTURE, "exit_code_killed", False),
}


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
    rule = None
    for candidate in CHECK_RULES:  # (one pass: the rule found is the first that matches)
        if candidate.matches("", check, source):
            rule = candidate
            break
    # A test: by its source, or by the check-name rule ``check_test`` (which did not match if no
    # rule did, and did if it is the rule found).
    test_like = (
        source in _TEST_SOURCES
        or rule is _CHECK_TEST
        or (rule is not None and bool(_CHECK_TEST.matches("", check, source)))
    )
    return rule, test_like


_CHECK_TEST = next(r for r in CHECK_RULES if r.name == "check_test")


# A dbt command, a dbt model or a step merely named "build": the name says what ran, not what
# broke, so the error text decides.
_GENERIC_STEP = re.compile(r"\bdbt (?:build|run|test|seed|snapshot|compile)\b", re.IGNORECASE)


def _generic_step(check: str, rule: KindRule) -> bool:
    return rule.name in ("check_build", "dbt_model_node") or _GENERIC_STEP.search(check) is not None


# The kinds worked out lately (bounded): a check fails again and again with one template.
# ``_detect_kind`` reads nothing but its arguments and the built-in rules (module constants).
_KINDS: BoundedMemo[tuple[str, str, str, int | None], KindMatch] = BoundedMemo(8192)


def detect_kind(source: str, check: str, template: str, exit_code: int | None = None) -> KindMatch:
    """The failure kind of an error: the first matching text rule; a weak text rule yields to
    the check's name; then the check-name rules; then the exit code (124: a time limit)."""
    key = (source, check, template, exit_code)
    found = _KINDS.get(key)
    if found is None:
        found = _KINDS.keep(key, _detect_kind(source, check, template, exit_code))
    return found


def clear_caches() -> None:
    """Forget every kind and rule worked out so far (a benchmark measuring failures never seen)."""
    _KINDS.clear()
    for cached in (_text_rule, _check_rule, _facts, _check_facts):
        cached.cache_clear()


def _detect_kind(source: str, check: str, template: str, exit_code: int | None) -> KindMatch:
    """:func:`detect_kind`, worked out."""
    text_match = _text_rule(template)
    check_rule, test_like = _check_rule(source, check)
    if text_match is not None:
        rule, evidence = text_match
        if (
            rule.name == "environment"
            and check_rule is not None
            and check_rule.kind is Kind.DEPLOYMENT
        ):
            # Credentials, roles or certificates missing in a deploy step: the deploy failed.
            return KindMatch(
                Kind.DEPLOYMENT,
                f"{check_rule.name} ({rule.name})",
                TEXT_CONFIDENCE,
                False,
                False,
                evidence,
                test_like,
            )
        if rule.weak and check_rule is not None and not _generic_step(check, check_rule):
            return KindMatch(
                check_rule.kind,
                f"{check_rule.name} (over {rule.name})",
                (TEXT_CONFIDENCE + CHECK_CONFIDENCE) / 2,
                False,
                False,
                check,
                test_like,
            )
        # Network and capacity failures group per repository; so does a timeout outside tests.
        environmental = rule.environmental or (rule.kind is Kind.TIMEOUT and not test_like)
        return KindMatch(
            rule.kind,
            rule.name,
            TEXT_CONFIDENCE,
            rule.transient,
            environmental,
            evidence,
            test_like,
            rule.category,
        )
    if check_rule is not None:
        return KindMatch(
            check_rule.kind, check_rule.name, CHECK_CONFIDENCE, False, False, check, test_like
        )
    if exit_code in _EXIT_KINDS:
        kind, name, transient = _EXIT_KINDS[exit_code]
        return KindMatch(
            kind,
            name,
            CHECK_CONFIDENCE,
            transient,
            not test_like,
            f"exit code {exit_code}",
            test_like,
        )
    return KindMatch(Kind.BUILD, "fallback", FALLBACK_CONFIDENCE, False, False, "", test_like)


@dataclass(frozen=True, slots=True)
class ClassifyInput:
    source: str
    repository: str
    check: str
    text: str  # the template (masked error text)
    status: Status
    branch: str | None
    history: HistoryClass
    kind: KindMatch
    storm: bool = False
    message: str = ""  # the redacted message, for user rules' regexes
    log: str = ""  # the redacted log excerpt
    attempt: int = 1
    exit_code: int | None = None
    duration_s: float | None = None
    owner: str | None = None  # the owner the source's metadata names (dbt meta.owner / group)


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
    labels: tuple[str, ...] = ()
    rules_fired: tuple[str, ...] = ()


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
    if k.category is not None:
        why.append(f"category={k.category}: decided by rule {k.rule}")
        return Category(k.category)
    if (
        k.kind is Kind.TIMEOUT
        and k.test_like
        and TEST_TIME_LIMIT.search(inp.text[:4000])
        and not _check_facts(inp.check)[0]
    ):
        why.append("category=code_fix_required: a unit test ran past its own time limit")
        return Category.CODE_FIX
    if k.transient and inp.history is not HistoryClass.PERSISTENT:
        why.append(f"category=transient_failure: {k.rule} failures usually heal on retry")
        return Category.TRANSIENT
    if k.kind in (Kind.INFRASTRUCTURE, Kind.TIMEOUT):
        why.append(f"category=infrastructure_issue: {k.kind} failure that does not heal")
        return Category.INFRASTRUCTURE
    if k.kind in (Kind.DATA_TEST, Kind.FRESHNESS):
        why.append(f"category=data_quality_issue: {k.kind} failure")
        return Category.DATA_QUALITY
    why.append(f"category=code_fix_required: {k.kind} failure")
    return Category.CODE_FIX


@dataclass(frozen=True, slots=True)
class _TextFacts:
    security: bool
    outage: bool
    warning: bool
    not_implemented: bool
    setup_teardown: bool


@lru_cache(maxsize=8192)
def _facts(template: str) -> _TextFacts:
    """The text checks of a template, once per template."""
    head = template[:4000]
    return _TextFacts(
        security=SECURITY.search(head) is not None,
        outage=OUTAGE.search(head) is not None,
        warning=WARNING.search(head) is not None,
        not_implemented=NOT_IMPLEMENTED.search(head) is not None,
        setup_teardown=SETUP_TEARDOWN.search(head[:500]) is not None,
    )


@lru_cache(maxsize=8192)
def _check_facts(check: str) -> tuple[bool, bool]:
    """(integration/e2e path, setup/teardown) of a check name."""
    return SPEC_PATH.search(check) is not None, SETUP_TEARDOWN.search(check) is not None


def _severity(inp: ClassifyInput, category: Category, why: list[str]) -> Level:
    facts = _facts(inp.text)
    if facts.security:
        why.append("severity=critical: security finding")
        return Level.CRITICAL
    if facts.outage:
        why.append("severity=critical: production outage")
        return Level.CRITICAL
    kind = inp.kind.kind
    if kind is Kind.FORMAT or facts.warning:
        why.append("severity=low: style or warning")
        return Level.LOW
    if inp.storm or kind in _HIGH_KINDS:
        why.append(f"severity=high: {'storm' if inp.storm else kind} failure blocks the run")
        return Level.HIGH
    if (
        inp.branch in MAIN_BRANCHES
        and category in (Category.CODE_FIX, Category.DATA_QUALITY)
        and inp.history is not HistoryClass.FLAKY
    ):
        why.append(f"severity=high: fails on the {inp.branch} branch")
        return Level.HIGH
    why.append(f"severity=medium: {kind} failure")
    return Level.MEDIUM


def _decision(inp: ClassifyInput, category: Category, why: list[str]) -> Decision:
    if inp.history is HistoryClass.FLAKY:
        why.append("decision=pending: flaky check, investigate before fixing")
        return Decision.PENDING
    if category is Category.TRANSIENT:
        why.append("decision=ignore: transient, watched for auto-resolution")
        return Decision.IGNORE
    if inp.kind.kind is Kind.TIMEOUT and inp.history is HistoryClass.NEW:
        why.append("decision=pending: a first-seen timeout; its history or real error decides")
        return Decision.PENDING
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
    facts = _facts(inp.text)
    spec_path, setup_check = _check_facts(inp.check)
    if facts.not_implemented:
        score += 3
        reasons.append("'not implemented' +3")
    if spec_path:
        score += 1
        reasons.append("integration/e2e path +1")
    if setup_check or facts.setup_teardown:
        score -= 2
        reasons.append("setup/teardown -2")
    decision = Decision.NEEDS_SPEC if score >= 2 else Decision.ONE_OFF_FIX
    why.append(f"decision={decision}: score {score} ({', '.join(reasons)}; spec at >= 2)")
    return decision


def _routing(
    repo: RepositoryLike, kind: Kind, priority: Level, why: list[str]
) -> tuple[Level, str | None, float | None, float | None]:
    matched = repo.rule_for(kind)
    if matched is None:
        return priority, None, None, None
    name, rule = matched
    if rule.priority is not None and rule.priority.rank > priority.rank:
        why.append(f"priority={rule.priority}: raised by automation rule {name}")
        priority = rule.priority
    if rule.auto_assign:
        why.append(f"expert={rule.auto_assign}: automation rule {name}")
    return priority, rule.auto_assign, rule.sla_hours, rule.escalate_after


def _builtin(inp: ClassifyInput, settings: ClassifierSettings) -> tuple[dict[str, Any], list[str]]:
    """The built-in defaults: every field from the kind, the history and the repository."""
    # (The rationale formats the members of the vocabulary's ``StrEnum``s as themselves: that is
    # their value, and three times cheaper than reading ``.value``.)
    k = inp.kind
    kind = Kind.INFRASTRUCTURE if inp.storm else k.kind
    why = [
        f"kind={kind}: rule {k.rule}"
        + (f" matched {k.evidence[:60]!r}" if k.evidence and k.rule != "fallback" else "")
        + (" (storm)" if inp.storm else "")
    ]
    why.append(f"history={inp.history}")
    category = _category(inp, why)
    severity = _severity(inp, category, why)
    repo = settings.repository(inp.repository)
    rank = severity.rank + _REPO_ADJUST[repo.priority_level] + _HISTORY_ADJUST[inp.history]
    priority = Level.from_rank(rank)
    if priority is Level.CRITICAL and severity.rank < Level.HIGH.rank:
        # Critical is for P0: a high-severity break (main-branch build or deploy, production
        # data) in a critical repository, or a critical one (security, outage) anywhere.
        priority = Level.HIGH
    why.append(
        f"priority={priority}: severity {severity}, repository "
        f"{repo.priority_level}, history {inp.history}"
    )
    priority, expert, sla_hours, escalate_after = _routing(repo, kind, priority, why)
    if (severity is Level.LOW or kind in (Kind.LINT, Kind.FORMAT)) and priority.rank > 1:
        why.append(
            f"priority=medium: a {kind} failure of {severity} severity (a "
            "warning, lint or style) stays at most medium"
        )
        priority = Level.MEDIUM
    decision = _decision(inp, category, why)
    fields: dict[str, Any] = {
        "category": category,
        "kind": kind,
        "severity": severity,
        "priority": priority,
        "decision": decision,
        "expert": expert,
        "sla_hours": sla_hours,
        "escalate_after": escalate_after,
        "confidence": 0.95 if inp.storm else k.confidence,
        "labels": (),
    }
    return fields, why


_EXIT_CODE = re.compile(
    r"(?:exit(?:ed)? (?:with )?(?:code|status)|returned non-zero exit status|exit code:?)\s+(\d+)",
    re.IGNORECASE,
)


def exit_code_of(*texts: str) -> int | None:
    """The exit code a message or log reports (``Process completed with exit code 2``)."""
    for text in texts:
        tail = text[-20_000:]
        # Every match holds "exit": under IGNORECASE its ASCII letters match their two cases
        # only in ASCII text (in other text, "ı" and "İ" match "i"), so ASCII text without
        # "exit" in any case cannot match.
        if tail.isascii() and "exit" not in tail.lower():
            continue
        codes = _EXIT_CODE.findall(tail)
        if codes:
            return int(codes[-1])
    return None


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: ClassificationRule
    message: re.Pattern[str] | None
    log: re.Pattern[str] | None
    sources: tuple[str, ...]
    repositories: tuple[str, ...]
    checks: tuple[str, ...]
    branches: tuple[str, ...]

    def matches(self, inp: ClassifyInput, kind: Kind) -> bool:
        m = self.rule.match
        if self.sources and not _glob_any(inp.source, self.sources):
            return False
        if self.repositories and not _glob_any(inp.repository, self.repositories):
            return False
        if self.checks and not _glob_any(inp.check, self.checks):
            return False
        if self.branches and not _glob_any(inp.branch or "", self.branches):
            return False
        if m.kind is not None and kind not in m.kind:
            return False
        if m.history is not None and inp.history not in m.history:
            return False
        if m.attempt_gte is not None and inp.attempt < m.attempt_gte:
            return False
        if m.exit_code is not None:
            code = (
                inp.exit_code if inp.exit_code is not None else exit_code_of(inp.message, inp.log)
            )
            if code not in m.exit_code:
                return False
        if m.duration_gte is not None and (
            inp.duration_s is None or inp.duration_s < m.duration_gte
        ):
            return False
        if m.duration_lte is not None and (
            inp.duration_s is None or inp.duration_s > m.duration_lte
        ):
            return False
        if self.message is not None and not (
            self.message.search(inp.message) or self.message.search(inp.text)
        ):
            return False
        return self.log is None or self.log.search(inp.log) is not None


def _glob_any(value: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(value, p) for p in patterns)


class Classifier:
    """The deterministic classifier: built-in defaults, then the ordered rules of
    ``classification_rules`` (each matching rule sets its fields; ``stop`` ends the list), then
    CODEOWNERS-style ownership (the last matching pattern names the owner, used as the expert
    when no rule or automation rule names one)."""

    def __init__(self, settings: ClassifierSettings) -> None:
        self.settings = settings
        self.rules = tuple(
            _CompiledRule(
                rule,
                *rule.match.compiled(rule.name),
                rule.match.globs("source"),
                rule.match.globs("repository"),
                rule.match.globs("check"),
                rule.match.globs("branch"),
            )
            for rule in settings.classification_rules
        )
        self.ownership = tuple(settings.ownership)

    def owner_of(self, repository: str, check: str) -> str | None:
        owner = None
        for rule in self.ownership:
            if rule.repository and not fnmatchcase(repository, rule.repository):
                continue
            if fnmatchcase(check, rule.pattern):
                owner = rule.owner
        return owner

    def classify(self, inp: ClassifyInput) -> Classification:
        fields, why = _builtin(inp, self.settings)
        fired: list[str] = []
        for compiled in self.rules:
            if not compiled.matches(inp, fields["kind"]):
                continue
            rule = compiled.rule
            changes = rule.set.model_dump(exclude_none=True)
            fired.append(rule.name)
            for name, value in changes.items():
                if name == "labels":
                    fields["labels"] = tuple(dict.fromkeys((*fields["labels"], *value)))
                elif name == "confidence":
                    continue
                else:
                    fields[name] = value
            fields["confidence"] = changes.get("confidence", max(fields["confidence"], 0.95))
            shown = ", ".join(
                f"{k}={v.value if isinstance(v, enum.Enum) else v}" for k, v in changes.items()
            )
            why.append(f"rule {rule.name!r} set {shown}")
            if rule.stop:
                why.append(f"rule {rule.name!r} stops the rule list")
                break
        if fields["expert"] is None:
            owner = self.owner_of(inp.repository, inp.check)
            if owner is not None:
                fields["expert"] = owner
                why.append(f"expert={owner}: ownership rule")
            elif inp.owner:
                fields["expert"] = inp.owner
                why.append(f"expert={inp.owner}: owner named by the {inp.source} metadata")
        if fields["sla_hours"] is None:  # no rule set one: the default for the final priority
            fields["sla_hours"] = self.settings.default_sla_hours.get(fields["priority"])
        return Classification(
            category=fields["category"],
            kind=fields["kind"],
            severity=fields["severity"],
            priority=fields["priority"],
            history_class=inp.history,
            decision=fields["decision"],
            expert=fields["expert"],
            sla_hours=fields["sla_hours"],
            escalate_after=fields["escalate_after"],
            confidence=float(fields["confidence"]),
            rationale="; ".join(why),
            labels=tuple(fields["labels"]),
            rules_fired=tuple(fired),
        )


def classify(inp: ClassifyInput, settings: ClassifierSettings) -> Classification:
    """Classify one input with a classifier built for ``settings`` (use ``Classifier`` to
    classify many)."""
    return Classifier(settings).classify(inp)
