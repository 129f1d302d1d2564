"""The built-in, ordered kind rules: which failure kind a message (and check) shows.

Each rule has a name (it appears in the rationale), the kind it gives, a regex over the error text
(the template: numbers are ``<n>``) and/or one over the check key, and whether the failure it
describes is usually transient or environmental. The first rule that matches wins; text matches are
more certain than check-name matches, except for *weak* text rules. Tuned on the labelled corpus of
real tools' failures in ``tests/data/classification/`` (see ``benchmarks/classify_corpus.py``).
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
    # A weak rule names a symptom many kinds of step share (a SyntaxError, a database error, a
    # make failure): when the check's name says what the step is, the check's kind wins.
    weak: bool = False
    category: str | None = None  # a category the text itself decides (e.g. data integrity)

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
        _rx(
            r"\bexpect\(.{0,120}\)\.(?:not\.)?to\w*\(.{0,200}\) failed|expect\(received\)|"
            # an action that waited for an element the page never showed: a missing selector
            r"waiting for (?:locator|selector|getBy\w+)\("
        ),
    ),
    # An install that could not reach its registry is the network's fault, not the pins'.
    KindRule(
        "registry_unreachable",
        Kind.INFRASTRUCTURE,
        _rx(
            r"Retrying .{0,120}(?:NewConnectionError|connection broken|ConnectTimeout)|"
            r"spurious network error|Could not connect to server|Failed to establish a new "
            r"connection|network is unreachable"
        ),
        transient=True,
        environmental=True,
    ),
    # Missing modules, packages, libraries and tools, whichever tool reports them.
    KindRule(
        "dependency",
        Kind.DEPENDENCY,
        _rx(
            r"No matching distribution found|Could not find a version that satisfies|"
            r"ResolutionImpossible|\bERESOLVE\b|npm (?:ERR!|error) (?:code )?E(?:404|TARGET|NOTARGET)|"
            r"npm (?:ERR!|error) .{0,80}(?:package-lock|npm-shrinkwrap|peer dep)|"
            r"unable to resolve dependency|Could not resolve dependencies|ModuleNotFoundError|"
            r"No module named|Cannot find module|failed to select a version|version solving failed|"
            r"Unable to locate package|package .{1,80} (?:not found|is not in)|"
            r"requires .{1,80} but .{1,80} is installed|dependency (?:resolution|conflict)|"
            r"Cannot find implementation or library stub|Library stubs not installed|"
            r"\[import-not-found\]|\[import-untyped\]|error TS2307|cannot find -l\S+|"
            r"library not found for -l|: command not found|\bnot found in \$PATH|"
            r"failed to (?:get|load|select) .{1,80} (?:as a )?dependenc|no matching package named|"
            r"could not find (?:package|artifact|dependency)"
        ),
    ),
    KindRule(
        "network",
        Kind.INFRASTRUCTURE,
        _rx(
            r"connection (?:refused|reset|aborted|closed)|ConnectionRefusedError|"
            r"\b(?-i:ECONNREFUSED|ECONNRESET|EAI_AGAIN|ENOTFOUND)\b|could not resolve host|"
            r"temporary failure in name resolution|name or service not known|"
            r"network is unreachable|no route to host|service unavailable|bad gateway|"
            r"rate limit exceeded|too many requests|TLS handshake|SSL(?:Error|: )|"
            r"remote end closed connection|broken pipe|failed to connect to|"
            r"Could not connect to|getaddrinfo"
        ),
        transient=True,
        environmental=True,
    ),
    # A deployment that waited for its resources and gave up (Helm, kubectl rollout): the
    # deploy failed; waiting again does not make the pods healthy.
    KindRule(
        "deploy_wait",
        Kind.DEPLOYMENT,
        _rx(
            r"timed out waiting for the condition|UPGRADE FAILED|INSTALLATION FAILED|"
            r"exceeded its progress deadline|rollout status .{0,120}timed out|"
            r"error: timed out waiting for|context deadline exceeded.{0,80}(?:helm|release)"
        ),
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
    # A runner that vanished mid-job: the job never got to fail on its own.
    KindRule(
        "runner_lost",
        Kind.INFRASTRUCTURE,
        _rx(
            r"runner has received a shutdown signal|lost communication with the server|"
            r"runner .{0,80} (?:offline|lost)|The hosted runner .{0,120}lost"
        ),
        transient=True,
        environmental=True,
    ),
    # A time limit alone proves nothing: transient only with the check's history (flaky).
    KindRule(
        "timeout",
        Kind.TIMEOUT,
        _rx(
            r"\btimed?[ -]?out\b(?!=)|timeout of \S+ exceeded|deadline exceeded|exceeded the "
            r"maximum execution time|\bTimeoutError\b|timeout exceeded|took too long|"
            r"operation timed out|execution expired|Timeout \(>|timeout: sending signal"
        ),
    ),
    KindRule(
        "capacity",
        Kind.INFRASTRUCTURE,
        _rx(
            r"no space left on device|disk quota exceeded|out of memory|OOMKilled|\bkilled\b.{0,40}"
            r"signal (?:9|<n>)|runner has received a shutdown signal|lost communication "
            r"with the server|runner .{0,80} (?:offline|lost)|cannot connect to the docker daemon|"
            r"docker daemon|resource temporarily unavailable|too many open files|"
            r"the hosted runner|infrastructure (?:error|failure)|\bMemoryError\b|"
            r"OutOfMemoryError|Java heap space|Cannot allocate memory|std::bad_alloc"
        ),
        environmental=True,
    ),
    KindRule(
        "busy",
        Kind.INFRASTRUCTURE,
        _rx(r"database is locked|resource busy|lock (?:wait )?timeout|could not obtain lock"),
        transient=True,
        environmental=True,
    ),
    # Corrupt or truncated downloads and caches: fetching again usually heals them.
    KindRule(
        "corrupt_download",
        Kind.INFRASTRUCTURE,
        _rx(
            r"not in gzip format|(?:gzip|tar|unzip|zip|bzip2|xz)\b.{0,40}unexpected end of file|"
            r"Unexpected EOF in archive|"
            r"End-of-central-directory signature not found|archive is (?:corrupt|truncated)"
        ),
        transient=True,
    ),
    KindRule(
        "corrupt_data",
        Kind.INFRASTRUCTURE,
        _rx(r"invalid compressed data|crc error|checksum mismatch|file is not a database"),
    ),
    # The environment a step needs is missing: databases, roles, volumes, secrets, credentials,
    # regions, certificates, remotes, permissions of the runner.
    KindRule(
        "environment",
        Kind.INFRASTRUCTURE,
        _rx(
            r"database \S{1,80} does not exist|role \S{1,80} does not exist|Access denied for "
            r"user|password authentication failed|NoRegionError|must specify a region|Unable to "
            r"locate credentials|NoCredentialsError|unbound variable|: \[REDACTED\] variable|"
            r"certificate (?:has expired|verify failed)|unable to get local issuer certificate|"
            r"unable to load certificate|could not read certificate|PEM routines|self[- ]signed "
            r"certificate|does not appear to be a git repository|Could not read from remote "
            r"repository|IO Error: Cannot open|Cannot open file .{1,200}No such file or directory|"
            r"PermissionError|Operation not permitted|\bEACCES\b|(?<!\.sh: )(?<!\.py: )Permission "
            r"denied(?! for (?:table|relation|schema|database|sequence))"
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
            r"test failed.{0,80}rows|Failure in test"
        ),
    ),
    KindRule(
        "data_integrity",
        Kind.RUNTIME,
        _rx(
            r"UNIQUE constraint failed|NOT NULL constraint failed|FOREIGN KEY constraint failed|"
            r"duplicate key value violates|violates (?:not-null|foreign key|check|unique) "
            r"constraint|Duplicate entry .{1,80} for key"
        ),
        category="data_quality_issue",
    ),
    KindRule(
        "schema_change",
        Kind.SCHEMA,
        _rx(
            r"contract (?:enforcement|violation)|enforced contract|schemas? (?:change|changed|are "
            r"out of sync|mismatch)|out of sync|on_schema_change|data type mismatch|"
            r"column .{1,80} (?:type changed|changed type)|contract .{0,40}(?:mismatch|failed)"
        ),
    ),
    KindRule(
        "dbt_compilation",
        Kind.COMPILATION,
        _rx(
            r"(?-i:Compilation Error|Parsing Error)|\bjinja|undefined macro|'\w+' is undefined|"
            r"depends on a (?:node|source) named|dbt found .{1,80} (?:not found|duplicate)"
        ),
    ),
    # A relation the SQL needs is not there: the schema, not the query, is what changed.
    KindRule(
        "missing_relation",
        Kind.SCHEMA,
        _rx(
            r"relation .{1,120} does not exist|(?:Table|Schema|View) .{1,120} does not exist|"
            r"no such table|Catalog Error: Table|Object .{1,120} does not exist or not authorized"
        ),
        weak=True,
    ),
    KindRule(
        "database_runtime",
        Kind.RUNTIME,
        _rx(
            r"Runtime Error|Database Error|Binder Error|Catalog Error|Parser Error in SQL|"
            r"SQL compilation error|permission denied for (?:table|relation|schema|database)|"
            r"insufficient privileges|relation .{1,120} does not exist|"
            r"column .{1,120} (?:does not exist|not found)|Referenced column|"
            r"no such (?:column|table)|invalid identifier|(?:Table|Schema|View) .{1,120} does "
            r"not exist|deadlock detected|division by zero|syntax error at or near|"
            r"near \S+: syntax error|\bERROR: .{1,80}(?:relation|column|syntax)"
        ),
        weak=True,
    ),
    KindRule(
        "git",
        Kind.BUILD,
        _rx(r"pathspec .{1,120} did not match|CONFLICT \(|Automatic merge failed|fix conflicts"),
    ),
    KindRule(
        "push_rejected",
        Kind.DEPLOYMENT,
        _rx(r"! \[rejected\]|failed to push some refs|non-fast-forward"),
    ),
    KindRule(
        "formatter",
        Kind.FORMAT,
        _rx(
            r"would reformat|would be reformatted|Code style issues|\bprettier\b|ruff format|"
            r"\bgofmt\b|\brustfmt\b|clang-format|incorrectly sorted|needs formatting|"
            r"Diff in .{1,200} at line|formatting check failed|--check.{0,40}(?:fail|differ)"
        ),
    ),
    KindRule(
        "linter",
        Kind.LINT,
        _rx(
            r"\b(?:ruff|flake8|pylint|eslint|golangci-lint|shellcheck|hadolint|stylelint|rubocop|"
            r"clippy|yamllint|sqlfluff|markdownlint|mypy|pyright)\b|"
            r"\S+:(?:\d+|<n>):(?:\d+|<n>): [A-Z]{1,3}\d{2,4}\b|Found (?:\d+|<n>) errors?|"
            r": error: .{1,200} \[[a-z\-]+\]|\blint(?:ing)? (?:failed|errors?)|"
            r"error TS\d+|✖ (?:\d+|<n>) problems?|(?:\d+|<n>):(?:\d+|<n>)\s+error\s+|"
            r"\bSC\d{4}\b|clippy::"
        ),
    ),
    KindRule(
        "compiler",
        Kind.BUILD,
        _rx(
            r"error\[E\d+\]|compilation (?:failed|terminated)|BUILD FAILED|cannot find symbol|"
            r"undefined reference to|fatal error: |COMPILATION ERROR|Failed to compile|"
            r"cannot be resolved to a type|\bjavac\b|\.(?:c|cc|cpp|cxx|h|hpp|go|rs|java|kt|swift|m)"
            r":(?:\d+|<n>):(?:(?:\d+|<n>):)? error:|error: linker|collect2: error|"
            r"No rule to make target|No targets specified and no makefile found"
        ),
    ),
    KindRule(
        "compiler_symptom",
        Kind.BUILD,
        _rx(
            r"could not compile|make(?:\[(?:\d+|<n>)\])?: \*\*\*|\bSyntaxError\b|error: expected|"
            r"Build failed|\bld: |parse error:|Error: Unexpected token"
        ),
        weak=True,
    ),
    KindRule(
        "deployment",
        Kind.DEPLOYMENT,
        _rx(
            r"deploy(?:ment)? (?:failed|error)|ImagePullBackOff|CrashLoopBackOff|rollout .{1,80}"
            r"(?:failed|exceeded)|helm .{1,80}(?:failed|error)|terraform .{1,80}error|"
            r"on \S+\.tf line|error (?:validating|parsing) \S*\.ya?ml|kubectl|"
            r"Reference to undeclared input variable|Error: Unclosed configuration block"
        ),
    ),
    KindRule(
        "assertion",
        Kind.TEST,
        _rx(
            r"AssertionError|(?:^|\n)E\s+assert\b|(?<!static )assertion failed|Assertion `.{1,200}' "
            r"failed|expect\(|\bto(?:Be|Equal|Have)\w*\(|FAILED tests?/|\btests? failed\b|"
            r"panicked at|test result: FAILED|Tests run: .{0,40}Failures: [1-9<]|\bnot ok "
            r"(?:\d+|<n>)|Error: expect|should (?:be|have|equal)|AssertionFailedError|"
            r"ComparisonFailure|Expected: .{1,200}\n\s*(?:Actual|Received|but)|^\s*Failed: |"
            r"Expected values to be (?:strictly )?(?:deep-)?equal|ERR_ASSERTION"
        ),
    ),
)

CHECK_RULES: tuple[KindRule, ...] = (
    KindRule("dbt_test_node", Kind.DATA_TEST, check=_rx(r"(?:^|[\s/])test\.[\w.]+")),
    KindRule("dbt_source_node", Kind.FRESHNESS, check=_rx(r"(?:^|[\s/])source\.[\w.]+")),
    KindRule("dbt_model_node", Kind.RUNTIME, check=_rx(r"(?:^|[\s/])(?:model|snapshot|seed)\.")),
    KindRule("check_format", Kind.FORMAT, check=_rx(r"format|prettier|black|fmt")),
    KindRule(
        "check_lint",
        Kind.LINT,
        check=_rx(
            r"lint|ruff|flake8|mypy|typecheck|type-check|clippy|tsc|node --check|validate json"
        ),
    ),
    KindRule(
        "check_deploy",
        Kind.DEPLOYMENT,
        check=_rx(r"deploy|release|publish|migrat|terraform|kubectl|helm|CD /"),
    ),
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
NOT_IMPLEMENTED = _rx(r"not (?:yet )?implemented|NotImplemented(?:Error)?\b|unimplemented|todo!\(")
SETUP_TEARDOWN = _rx(
    r"\b(?:setup|teardown|set_up|tear_down|before(?:All|Each)|after(?:All|Each)|fixture)\b"
)
# A test runner's own per-test time limit (as opposed to a service that was slow).
TEST_TIME_LIMIT = _rx(
    r"Timeout \(>|Test timeout of|Exceeded timeout of|timeout of .{1,20} exceeded"
)
# An integration or end-to-end test: its path or its project says so (``*.spec.ts`` alone is only
# the file naming of a test runner).
SPEC_PATH = _rx(r"integration|\be2e\b|end[-_ ]to[-_ ]end|acceptance")
MAIN_BRANCHES = frozenset({"main", "master", "trunk", "production", "prod"})
