"""Does a message name an error, or only say that something failed?

CI systems and build tools end a failing run with a *footer*: "Process completed with exit code
1.", "Done. Your build exited with 1.", "npm ERR! Test failed. See above for more details.",
"make: *** [all] Error 2", "BUILD FAILURE", "=== 1 failed, 2 passed in 0.10s ===". Such a line is
true of every failure of a repository: fingerprinting it puts them all in one issue, and using it
as a title tells a human nothing. This module is the one rule that decides it (used by the
excerpt's line classification, by :func:`triagehub.core.excerpt.error_text` that picks the text to
fingerprint, and by the titles):

- :func:`is_footer` — one line that names no error: a CI or build-tool footer, an exit code, a
  "see above", a runner's tally of passed and failed tests, a bare "FAILED".
- :func:`is_informative` — a message with at least one line that is not a footer (nor blank nor a
  separator).
- :func:`informative_part` — the message without its footer lines ("" when nothing is left).

Lines are compared after a ``##[error]``/``Error:``/``ERROR:``/``[ERROR]`` prefix is removed, so a
footer is one whatever the annotation or log level around it.
"""

from __future__ import annotations

import re

from triagehub.core.memo import BoundedMemo

__all__ = ["informative_part", "is_footer", "is_informative"]

# Prefixes that CI systems and loggers put before a footer.
_PREFIX = re.compile(
    r"^(?:\s*(?:##\[error\]|::error(?:\s[^:]*)?::|\[ERROR\]|\[error\]|ERROR:|Error:|error:|"
    r"FATAL:|\*\*\*|-->|>|!|✖|✗|×|\[\d+/\d+\])\s*)+"
)

# Generic tails of Maven's "Failed to execute goal ...: <tail>": they name no cause.
_MAVEN_GENERIC = (
    r"There (?:are|were) test failures\.?.*|Compilation failure:?|Fatal error compiling:?.*"
    r"|There are \d+ errors?|Failed during checkstyle (?:execution|configuration).*"
    r"|You have \d+ (?:Checkstyle )?violations?\.?.*|\S* ?failed\.?|Command execution failed\.?"
    r"|An Ant BuildException has occured:.*exit.*|Process exited with an error: \d+.*"
)

_FOOTERS = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            # --- CI systems ---------------------------------------------------------------
            r"Process completed with exit code -?\d+\.?",  # GitHub Actions
            r"The (?:process|command) '?.*'? (?:failed with|exited with) (?:exit code )?-?\d+\.?",
            r'The command ".*" (?:failed and )?exited with -?\d+(?: during ?\w*)?\.?',  # Travis
            r"Done\. Your build exited with -?\d+\.?",  # Travis
            r"Job failed(?: \(system failure\))?: (?:command terminated with )?exit (?:code|status)"
            r" -?\d+.*",  # GitLab
            r"Finished: (?:FAILURE|UNSTABLE|ABORTED)",  # Jenkins
            r"(?:script|sh|bat|powershell) returned exit code -?\d+",  # Jenkins pipeline
            r"Build step '.*' marked build as failure",  # Jenkins
            r"Command exited with code -?\d+",  # AppVeyor
            r"Exited with code (?:exit status )?-?\d+",  # CircleCI
            r"Bash exited with code '?-?\d+'?\.?",  # Azure Pipelines
            r"PowerShell exited with code '?-?\d+'?\.?",
            r"The (?:job|step|operation) (?:has )?failed\.?",
            r"(?:exit|exited with) (?:status|code) -?\d+\.?",
            r"Command failed with exit code -?\d+\.?.*",  # yarn, execa
            r"Command failed: .*",  # node's child_process: the command, not the error
            r"Recipe `\S+` failed on line \d+ with exit code -?\d+",  # just
            r"Task failed with exit code -?\d+",
            # --- npm / yarn / pnpm --------------------------------------------------------
            r"npm (?:ERR!|error) (?:Test failed\.\s+See above for more details\.?"
            r"|code (?:ELIFECYCLE|\d+)|errno -?\d+|Exit status -?\d+|Failed at the .* script\.?"
            r"|[\w@/.-]+ \S+: `.*`|command failed|command sh -c .*|command \S+ .*|path .*"
            r"|Lifecycle script `\S+` failed with error:?|workspace .*|location .*"
            r"|A complete log of this run can be found in:?.*|This is probably not a problem.*"
            r"|\s*$)",
            r"(?:ELIFECYCLE|ERR_PNPM_RECURSIVE_RUN_FIRST_FAIL)\b.*(?:exit|failed).*",
            r"(?:error )?Command failed with exit code -?\d+\.?",
            r"info Visit https://yarnpkg\.com/.*",
            # --- make, cargo, linkers, compilers' tallies --------------------------------
            r"g?make(?:\[\d+\])?: \*\*\* .*(?:Error|Killed|Terminated)\s*-?\d*.*",
            r"could not compile `[^`]+`.*",  # cargo ("error: " is a removed prefix)
            r"test failed, to rerun pass .*",
            r"aborting due to .*",
            r"collect2: error: ld returned \d+ exit status",
            r"clang(?:-\d+)?: error: linker command failed with exit code \d+.*",
            r"compilation terminated\.?",
            r"\d+ errors? generated\.?",
            r"ninja: build stopped: subcommand failed\.?",
            # --- Gradle -------------------------------------------------------------------
            r"Execution failed for task '[^']*'\.?",
            r"BUILD FAILED(?: in .*)?",
            r"FAILURE: Build (?:failed|completed) with (?:an exception|\d+ failures?)\.?",
            r"\* What went wrong:",
            r"\* Try:",
            r"There were failing tests\. See the (?:report|results) at:? .*",
            r"\d+ tests? completed, \d+ failed(?:, \d+ skipped)?",
            r"\d+ actionable tasks?: .*",
            # --- Maven --------------------------------------------------------------------
            r"BUILD FAILURE",
            r"Failed to execute goal \S+ \([^)]*\) on project \S+: (?:" + _MAVEN_GENERIC + r")?"
            r"(?:\s*-> \[Help \d+\])?",
            r"Failed to execute goal \S+ \([^)]*\) on project \S+\s*(?:-> \[Help \d+\])?",
            r"Please refer to .* for the individual test results\.?",
            r"(?:COMPILATION ERROR|Failures|Errors)\s*:?",
            r"Tests run: \d+, Failures: \d+, Errors: \d+, Skipped: \d+(?:, Time elapsed: .*)?",
            r"To see the full stack trace of the errors.*|Re-run Maven using the -X switch.*",
            r"For more information about the errors and possible solutions.*|-> \[Help \d+\]",
            r"After correcting the problems, you can resume the build.*",
            r"There (?:are|were) test failures\.?",
            # --- test runners' summaries --------------------------------------------------
            r"=+ (?:short test summary info|FAILURES|ERRORS) =+",  # pytest
            r"=+ (?:[\d]+ \w+(?:, )?)+ in [\d.]+s(?: \([\d:]+\))? =+",  # pytest's last line
            r"(?:[\d]+ (?:failed|passed|errors?|skipped|xfailed|xpassed|warnings?|deselected)"
            r"(?:, )?)+ in [\d.]+s(?: \([\d:]+\))?",
            r"Ran \d+ tests? in [\d.]+s",  # unittest
            r"FAILED \((?:(?:failures|errors|skipped|expected failures)=\d+(?:, )?)+\)",
            r"(?:Tests|Test Suites|Test Files|Snapshots|Suites|Assertions):\s+(?:\d+ \w+,?\s*)+"
            r"(?:\(\d+\))?.*",  # jest, vitest
            r"\d+ (?:passing|failing|pending)(?: \(\d+m?s\))?",  # mocha
            r"\d+ (?:tests?|examples?|specs?|doctests?|properties)(?:, \d+ (?:failures?|errors?|"
            r"skipped|excluded|pending|invalid|passed|failed))+.*",  # ExUnit, RSpec
            r"Finished in [\d.]+ (?:seconds?|minutes?).*",
            r"(?:Failed|Passed|Skipped|Total|NotRun|Inconclusive)\s*[:=]\s*\d+"
            r"(?:,?\s*(?:Failed|Passed|Skipped|Total|NotRun|Inconclusive)\s*[:=]\s*\d+)*.*",
            r"Tests? (?:run|Run):\s*\d+,\s*Passed:\s*\d+,\s*Failed:\s*\d+.*",  # Pester
            r"Test Run Failed\.?|Total tests: \d+",  # dotnet test
            # xcodebuild
            r"Executed \d+ tests?, with \d+ failures? .*|\*\* (?:TEST|BUILD) FAILED \*\*",
            r"TEST FAILURE",  # vim
            r"\d+ (?:dead|broken) links? found!?|\d+ links? checked\.?",  # link checkers
            r"FAIL(?:ED)?(?:\s+\S+\s+(?:[\d.]+s|\[build failed\]|\(cached\)))?",  # go test
            r"(?:Some|\d+) tests? (?:failed|did not pass)[.!]?",
            r"Tests? (?:failed|failures?)[.!]?(?: See above.*)?",
            r"(?:Build|Tests?|Checks?|Job|Step|Lint(?:ing)?|Run) failed[.!]?",
            r"(?:Found|found) \d+ errors?(?: in \d+ files?)?(?: \(checked \d+ source files?\))?\.?",
            r"[✖×✗]? ?\d+ problems? \(\d+ errors?, \d+ warnings?\).*",  # eslint
            r"\d+ errors?(?:,? (?:and )?\d+ warnings?)?(?: found)?\.?",
            r"(?:FAILED|FAILURE|ERROR|ERRORS|FAIL|Failed|Failure|Error|failed|error)[.!:]?",
            r"See above for (?:more )?details\.?|See (?:the )?(?:log|output) above.*",
            r"Error: The process '.*' failed with exit code -?\d+",
            r"evaluation failed :\(.*",  # tox 4
            # --- tox ----------------------------------------------------------------------
            r"InvocationError(?: for command .*)?",
            r"[\w.-]+: (?:commands failed|FAIL code -?\d+.*|FAIL [✖✗×] in .*)",
            r"ERROR:\s+[\w.-]+: (?:commands failed|FAIL code -?\d+.*)",
            # --- dbt ----------------------------------------------------------------------
            r"Done\. PASS=\d+ WARN=\d+ ERROR=\d+.*",
            r"Completed with \d+ errors?(?:,? and \d+ warnings?)?:?",
        )
    )
)

_SEPARATOR = re.compile(r"^[\W_]*$")


def _core(line: str) -> str:
    """The line without annotation/log-level prefixes and surrounding blanks."""
    return _PREFIX.sub("", line.strip()).strip()


# The answers of :func:`is_footer` for the lines seen lately (bounded), by the lines' *shape*:
# their ASCII digits written "2" (in UTF-8, a byte 0x30-0x39 is always an ASCII digit). The same
# footers, tallies and assertions recur across the failures of a batch, with other numbers. The
# answer depends on a line's ASCII digits only through where they are: every test that the
# patterns (``_PREFIX``, ``_FOOTERS``) make of a digit is a class holding all ten (\d, \w, \s,
# [\d.]...), but for one literal, the "2" of "collect2" (checked by a test), so a line holding
# "collect" is remembered as it is (a str key, never equal to a shape's bytes).
_FOOTER_MEMO: BoundedMemo[bytes | str, bool] = BoundedMemo(8192)
_MEMO_LINE_CHARS = 600
_SHAPE = bytes.maketrans(b"0123456789", b"2222222222")
DIGIT_LITERAL_CONTEXT = "collect"
"""The text before the only digit literal of the patterns (a test checks it)."""


def is_footer(line: str) -> bool:
    """Whether one line names no error: a CI/build footer, an exit code, a runner's tally."""
    key: bytes | str = line
    if DIGIT_LITERAL_CONTEXT not in line:
        key = line.encode("utf-8", "surrogatepass").translate(_SHAPE)
    known = _FOOTER_MEMO.get(key)
    if known is not None:
        return known
    known = _is_footer(line)
    if len(line) <= _MEMO_LINE_CHARS:
        _FOOTER_MEMO.keep(key, known)
    return known


def _is_footer(line: str) -> bool:
    core = _core(line)
    if not core:
        return True
    if len(core) > 400:
        return False
    return _FOOTERS.fullmatch(core) is not None


def _meaningful(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not _SEPARATOR.match(stripped) and not is_footer(stripped)


def is_informative(message: str) -> bool:
    """Whether a message names an error: it has a line that is not a footer, blank or separator."""
    return any(_meaningful(line) for line in message.splitlines())


def informative_part(message: str) -> str:
    """The message without its footer lines (and without leading/trailing blank lines); "" when
    every line is a footer."""
    kept = []
    meaningful = False  # a line that is not a footer, blank or separator (is_informative)
    for line in message.splitlines():
        stripped = line.strip()
        if stripped:
            if is_footer(stripped):  # the same as is_footer(line): it strips the line first
                continue
            if not meaningful and not _SEPARATOR.match(stripped):
                meaningful = True
        kept.append(line)
    if not meaningful:
        return ""
    return "\n".join(kept).strip("\n")
