"""The built-in, ordered kind rules: which failure kind a message (and check) shows.

Each rule has a name (it appears in the rationale), the kind it gives, a regex over the error text
and/or one over the check key, and whether the failure it describes is usually transient. The first
rule that matches wins; text matches are more certain than check-name matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from triagehub.core.models import Kind


@dataclass(frozen=True, slots=True)
class KindRule:
    name: str
    kind: Kind
    text: re.Pattern[str] | None = None
    check: re.Pattern[str] | None = None
    transient: bool = False
    environmental: bool = False  # grouped per repository across checks
    sources: tuple[str, ...] = ()

    def matches(self, text: str, check: str, source: str) -> re.Match[str] | bool | None:
        if self.sources and source not in self.sources:
            return None
        if self.check is not None and self.check.search(check) is None:
            return None
        if self.text is not None:
            return self.text.search(text)
        return True


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


TEXT_RULES: tuple[KindRule, ...] = (
    # An assertion that waited (Playwright's expect with its own timeout) is a test failure.
    KindRule(
        "web_assertion",
        Kind.TEST,
        _rx(r"\bexpect\(.{0,120}\)\.(?:not\.)?to\w*\(.{0,200}\) failed|expect\(received\)"),
    ),
    KindRule(
        "network_timeout",
        Kind.TIMEOUT,
        _rx(
            r"\b(?:Read|Connect|Pool)Timeout\b|connect(?:ion)? timed out|read timed out|"
            r"i/o timeout|\b(?-i:ETIMEDOUT)\b|gateway time-?out|TLS handshake timeout|"
            r"timed out waiting for (?:<ip>|[\w.-]+:\d+)"
        ),
        transient=True,
        environmental=True,
    ),
    KindRule(
        "timeout",
        Kind.TIMEOUT,
        _rx(
            r"\btimed?[ -]?out\b|timeout of \S+ exceeded|deadline exceeded|exceeded the maximum "
            r"execution time|\bTimeoutError\b|\b(?-i:ETIMEDOUT)\b|timeout exceeded|took too long|"
            r"operation timed out|execution expired"
        ),
        transient=True,
    ),
    KindRule(
        "network",
        Kind.INFRASTRUCTURE,
        _rx(
            r"connection (?:refused|reset|aborted|closed)|\b(?-i:ECONNREFUSED|ECONNRESET|EAI_AGAIN|"
            r"ENOTFOUND)\b|could not resolve host|temporary failure in name resolution|"
            r"name or service not known|network is unreachable|no route to host|"
            r"service unavailable|bad gateway|rate limit exceeded|too many requests|"
            r"TLS handshake|SSL(?:Error|: )|remote end closed connection|broken pipe|"
            r"failed to connect to"
        ),
        transient=True,
        environmental=True,
    ),
    KindRule(
        "capacity",
        Kind.INFRASTRUCTURE,
        _rx(
            r"no space left on device|disk quota exceeded|out of memory|OOMKilled|\bkilled\b.{0,40}"
            r"signal (?:9|<n>)|runner has received a shutdown signal|lost communication "
            r"with the server|runner .{0,80} (?:offline|lost)|cannot connect to the docker daemon|"
            r"docker daemon|resource temporarily unavailable|too many open files|"
            r"the hosted runner|infrastructure (?:error|failure)"
        ),
        environmental=True,
    ),
    KindRule(
        "dbt_freshness",
        Kind.FRESHNESS,
        _rx(r"freshness|is past due|\bstale\b|max_loaded_at|ERROR STALE|WARN STALE"),
    ),
    KindRule(
        "dbt_data_test",
        Kind.DATA_TEST,
        _rx(
            r"\bGot (?:\d+|<n>) results?, configured to (?:fail|warn)\b|failing rows|"
            r"test failed.{0,80}rows"
        ),
    ),
    KindRule(
        "schema_change",
        Kind.SCHEMA,
        _rx(
            r"contract (?:enforcement|violation)|enforced contract|schemas? (?:change|changed|are "
            r"out of sync|mismatch)|out of sync|on_schema_change|data type mismatch|"
            r"column .{1,80} (?:type changed|changed type)"
        ),
    ),
    KindRule(
        "database_runtime",
        Kind.RUNTIME,
        _rx(
            r"Runtime Error|Database Error|Binder Error|Catalog Error|Parser Error in SQL|"
            r"SQL compilation error|permission denied|insufficient privileges|"
            r"relation .{1,120} does not exist|column .{1,120} (?:does not exist|not found)|"
            r"Referenced column|no such (?:column|table)|invalid identifier|(?:Table|Schema|View) .{1,120} does not exist|"
            r"deadlock detected|division by zero"
        ),
    ),
    KindRule(
        "dbt_compilation",
        Kind.COMPILATION,
        _rx(
            r"Compilation Error|Parsing Error|jinja|undefined macro|'\w+' is undefined|depends on "
            r"a (?:node|source) named|dbt found .{1,80} (?:not found|duplicate)"
        ),
    ),
    KindRule(
        "dependency",
        Kind.DEPENDENCY,
        _rx(
            r"No matching distribution found|Could not find a version that satisfies|"
            r"ResolutionImpossible|\bERESOLVE\b|npm ERR! (?:code )?E(?:404|TARGET|NOTARGET)|"
            r"unable to resolve dependency|Could not resolve dependencies|ModuleNotFoundError|"
            r"No module named|"
            r"Cannot find module|failed to select a version|version solving failed|"
            r"Unable to locate package|package .{1,80} (?:not found|is not in)|"
            r"requires .{1,80} but .{1,80} is installed|dependency (?:resolution|conflict)"
        ),
    ),
    KindRule(
        "formatter",
        Kind.FORMAT,
        _rx(
            r"would reformat|would be reformatted|Code style issues|\bprettier\b|ruff format|"
            r"\bgofmt\b|\brustfmt\b|clang-format|incorrectly sorted|needs formatting|"
            r"Diff in .{1,200} at line|formatting check failed"
        ),
    ),
    KindRule(
        "linter",
        Kind.LINT,
        _rx(
            r"\b(?:ruff|flake8|pylint|eslint|golangci-lint|shellcheck|hadolint|stylelint|rubocop|"
            r"clippy|yamllint|sqlfluff|markdownlint|mypy|pyright)\b|"
            r"\S+:(?:\d+|<n>):(?:\d+|<n>): [A-Z]{1,3}\d{2,4}\b|Found (?:\d+|<n>) errors?|"
            r": error: .{1,200} \[[a-z\-]+\]|\blint(?:ing)? "
            r"(?:failed|errors?)"
        ),
    ),
    KindRule(
        "compiler",
        Kind.BUILD,
        _rx(
            r"error TS\d+|error\[E\d+\]|could not compile|linking with|compilation (?:failed|"
            r"terminated)|BUILD FAILED|make(?:\[(?:\d+|<n>)\])?: \*\*\*|cannot find symbol|"
            r"undefined reference to|fatal error: |COMPILATION ERROR|Failed to compile|"
            r"\bSyntaxError\b|error: expected|Build failed|cannot be resolved to a type|javac|\bld: "
        ),
    ),
    KindRule(
        "deployment",
        Kind.DEPLOYMENT,
        _rx(
            r"deploy(?:ment)? (?:failed|error)|ImagePullBackOff|CrashLoopBackOff|rollout .{1,80}"
            r"(?:failed|exceeded)|helm .{1,80}(?:failed|error)|terraform .{1,80}error|"
            r"release .{1,80} failed"
        ),
    ),
    KindRule(
        "assertion",
        Kind.TEST,
        _rx(
            r"AssertionError|\bassert(?:ion)?\b|expect\(|\bExpected\b|\bto(?:Be|Equal|Have)\w*\(|"
            r"FAILED |tests? failed|failures?:|\bfailed\b.*\btests?\b|Traceback|Error: expect|"
            r"\bpytest\b|\bjunit\b|should (?:be|have|equal)"
        ),
    ),
)

CHECK_RULES: tuple[KindRule, ...] = (
    KindRule("dbt_test_node", Kind.DATA_TEST, check=_rx(r"(?:^|[\s/])test\.[\w.]+")),
    KindRule("dbt_source_node", Kind.FRESHNESS, check=_rx(r"(?:^|[\s/])source\.[\w.]+")),
    KindRule("dbt_model_node", Kind.RUNTIME, check=_rx(r"(?:^|[\s/])(?:model|snapshot|seed)\.")),
    KindRule("check_format", Kind.FORMAT, check=_rx(r"format|prettier|black|fmt")),
    KindRule("check_lint", Kind.LINT, check=_rx(r"lint|ruff|flake8|mypy|typecheck|type-check")),
    KindRule("check_deploy", Kind.DEPLOYMENT, check=_rx(r"deploy|release|publish")),
    KindRule("check_dependency", Kind.DEPENDENCY, check=_rx(r"install|dependenc|deps\b|setup-")),
    KindRule("check_build", Kind.BUILD, check=_rx(r"build|compile|package")),
    KindRule("check_test", Kind.TEST, check=_rx(r"test|spec|e2e|pytest|jest|playwright")),
)

SECURITY = _rx(
    r"\bCVE-|vulnerabilit|security (?:alert|issue|scan)|secret (?:detected|leaked)|"
    r"leaked (?:secret|credential)|\bGHSA-"
)
OUTAGE = _rx(
    r"production (?:outage|down|is down)|\bprod(?:uction)? (?:deploy|release) failed|\bP0\b"
)
WARNING = _rx(r"configured to warn|\bwarn(?:ing)?s?\b(?!.*\berror)")
NOT_IMPLEMENTED = _rx(r"not (?:yet )?implemented|NotImplementedError|unimplemented|todo!\(")
SETUP_TEARDOWN = _rx(
    r"\b(?:setup|teardown|set_up|tear_down|before(?:All|Each)|after(?:All|Each)|fixture)\b"
)
SPEC_PATH = _rx(r"integration|\be2e\b|end[-_ ]to[-_ ]end|acceptance|\bspec\b")
MAIN_BRANCHES = frozenset({"main", "master", "trunk", "production", "prod"})
