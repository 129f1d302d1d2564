"""The pattern tables that recognise error, noise, boilerplate and stack-frame lines.

A long but flat table of regular expressions: each entry is one tool's or runner's format, kept
together so that a new format is one line here (splitting it would scatter the formats)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from triagehub.core.wordtree import any_word


def _anchored(*alternatives: str) -> re.Pattern[str]:
    """One pattern for alternatives that all match at the start of a line (used with .match)."""
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


@dataclass(frozen=True, slots=True)
class _Probe:
    """A pattern that can match anywhere, behind a cheap guard: the regex only runs on lines that
    hold one of the ``guards`` substrings (Python's regex engine is slow on unanchored
    alternations, and most lines hold none of the guards)."""

    guards: tuple[str, ...]
    pattern: re.Pattern[str] | None = None


def _p(guards: str | tuple[str, ...], pattern: str | None = None) -> _Probe:
    compiled = re.compile(pattern) if pattern is not None else None
    return _Probe((guards,) if isinstance(guards, str) else guards, compiled)


_PREFILTER_GUARDS = 12  # from this many guards on, one regex scan for all of them is cheaper


class Probes:
    """A table of probes: :meth:`hit` tells whether any of them hits a line (a probe hits when the
    line holds one of its guards and, if it has one, its pattern matches somewhere)."""

    __slots__ = ("guards", "items", "prefilter")

    def __init__(self, *probes: _Probe) -> None:
        self.items = tuple((probe.guards, probe.pattern) for probe in probes)
        self.guards = tuple(dict.fromkeys(guard for probe in probes for guard in probe.guards))
        self.prefilter = (
            re.compile(any_word(self.guards)) if len(self.guards) >= _PREFILTER_GUARDS else None
        )

    def hit(self, line: str) -> bool:
        # First whether the line holds any guard at all (most lines hold none), then each probe.
        # The loops are inline: this runs for most lines of a log.
        if self.prefilter is not None:
            if self.prefilter.search(line) is None:
                return False
        else:
            for guard in self.guards:
                if guard in line:
                    break
            else:
                return False
        for guards, pattern in self.items:
            for guard in guards:
                if guard in line:
                    if pattern is None or pattern.search(line) is not None:
                        return True
                    break
        return False


# A necessary condition for every error pattern, searched in the lower-cased line: lines without
# any of these words (most lines of a log) skip the pattern lists.
_HINT_WORDS = (
    "err", "fail", "fatal", "exception", "traceback", "caused", "denied", "not found", "no such",
    "no space", "panic", "abort", "segmentation", "core dumped", "unable", "cannot", "can't",
    "could not", "couldn't", "does not exist", "assert", "exit code", "exit status", "***",
    "killed", "timeout", "timed out", "refused", "unavailable", "unsafe", "went wrong",
    "undefined", "unresolved", "got ", "out of memory", "certificate", "not known", "forbidden",
    "unauthorized", "bad gateway", "too many requests", "terminated", "●", "✕", "✖", "×",
    "✗", "dead link", "broken link", "expected ",
)  # fmt: skip
_HINT = re.compile(any_word(_HINT_WORDS))
_HINT_START = re.compile(r"E[ \t]|e: |::error|##\[error|\d+\) test |\[-\] |\^-")
_HINT_LOCATION = re.compile(  # linters, Go
    r":\d+(?::\d+)?:? [A-Z][A-Za-z]{0,7}\d{2,5}\b|\.go:\d+:\d+: |_test\.go:\d+: "
)

# Findings that tools print with a warning-like level but that fail the job: shellcheck's
# gcc format (every finding is a failure), GHC warnings (fatal under -Werror).
SHELLCHECK = re.compile(r"\S+:\d+:\d+: (?:error|warning|note|info|style): .* \[SC\d{4}\]$")
GHC_WARNING = re.compile(r"\S+\.l?hs:\d+:\d+(?:-\d+)?: warning: \[(?:GHC-\d+\] \[)?-W")


def hinted(stripped: str) -> bool:
    return (
        _HINT.search(stripped.lower()) is not None
        or _HINT_START.match(stripped) is not None
        or (":" in stripped and _HINT_LOCATION.search(stripped) is not None)
    )


FRAME_LINE = _anchored(
    r"\s*at [\w$.<>/\\@:\[\]-]+[( ]",  # Java, JavaScript
    r"\s*at <?\w",
    r"\s*\.\.\. \d+ (?:more|common frames omitted)",
    r'\s*File "[^"]*", line \d+',  # Python
    r"\s+\S+\.go:\d+(?: \+0x[0-9a-f]+)?$",  # Go
    r"\s*#\d+ 0x[0-9a-f]+ in ",  # gdb, sanitizers
)

# Noise, matched at the start of the left-stripped line: it ends blocks and is never chosen
# (:func:`noise`). The patterns that scan the line (a name, then what follows it) are apart, each
# behind the words it needs, and so is the progress bar.
NOISE_LINE = _anchored(
    r"\[?(?:INFO|DEBUG|TRACE|NOTICE|WARN|WARNING)\]?(?:[\s:\]]|$)",
    r"\[(?:info|debug|notice|warning)\] ",  # pip
    r"\[[\w.-]+\] (?:INFO|DEBUG|TRACE|WARN|WARNING)\b",  # log4j "[main] WARN ..."
    r"(?:warning|Warning)(?:\[\w+\])?:",
    r"CMake (?:Deprecation )?Warning",
    r"npm (?:WARN|warn|notice|info|timing|http|verb|sill)\b",
    r"##\[(?:group|endgroup|debug|command|section|warning|notice)\]",
    r"::(?:group|endgroup|debug|add-mask|warning|notice|set-output|save-state)",
    r"\[command\]",
    r"(?:Post job cleanup|Cleaning up orphan processes|Terminate orphan process)",
    r"(?:\[ERROR\] )?Picked up \w*JAVA\w*OPTIONS",
    r"\d+ actionable tasks?:",  # Gradle
    r"(?:Downloading|Downloaded|Download|Progress|Fetching|Resolving|Collecting|Using cached)\b",
    r"(?:Requirement already satisfied|Obtaining|Installing collected|Successfully installed)",
    r"(?:Get|Hit|Ign):\d+ ",
    r"(?:Unpacking|Setting up|Preparing to unpack|Selecting previously|Processing triggers)\b",
    r"\[\s*\d+%\]",
    # git's own output, including commit messages that may hold error words.
    r"(?:HEAD is now at|Previous HEAD position was|Cloning into|Switched to (?:a new )?branch"
    r"|Checking out (?:ref|files)|Updating files:|From https?://|Submodule path|Fast-forward$"
    r"|Already up to date|Resetting the working tree"
    r"|Merge (?:pull request|branch|commit|[0-9a-f]{7,} into)|Author:|Date:|commit [0-9a-f]{40}"
    r"|\[[\w./-]+ [0-9a-f]{7,}\] |remote: (?:Enumerating"
    r"|Counting|Compressing|Total)|Receiving objects|Resolving deltas|Unpacking objects)",
    # Tests that did not run: their names and reasons may hold error words.
    r"(?:SKIPPED|SKIP|XFAIL|XPASS|PENDING|Pending|Skipped|skipped|skip)\b(?: \[\d+\]|:|\s)",
    r"--- SKIP: |[○◌-] skipped ",
    # Caches and artifacts, set up and saved around the failure.
    r"(?:##\[(?:error|warning)\]|Error: |Warning: )?(?:Cache (?:not found|restored|saved|hit|miss"
    r"|Size)|Failed to (?:save|restore)(?: cache)?:|Unable to (?:reserve|save|restore) cache"
    r"|Received \d+ of \d+|No files were found with the provided path|Uploading artifact"
    r"|Artifact \S+ (?:has been|was) (?:successfully )?(?:uploaded|finalized)"
    r"|With the provided path"
    r"|Beginning upload of artifact|Finished uploading artifact|Post job cleanup"
    r"|(?:\[\w-]+\] )?Uploading (?:coverage|report|reports|results))",
)

NOISE_SCANS = Probes(
    _p((": warning:", ": note:"), r"\A(?:\S+:\d+(?::\d+)?: (?:warning|note):)"),
    _p((": warning:", ": note:"), r"\A(?:[\w./-]+: (?:warning|note):)"),  # cc1, ld
    _p("Warning: ", r"\A\w*Warning: "),
    _p("%]", r"\A\S+ [.sxXFE]+\s+\[\s*\d+%\]$"),  # pytest progress
    _p("%]", r"\A\S+::\S.* (?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\s+\[\s*\d+%\]$"),  # -v
    # Tests that did not run (see NOISE_LINE).
    _p(" ... ", r"\A\S.* \.\.\. (?:skipped|SKIP|XFAIL|expected failure)\b"),
    _p((" SKIPPED", " XFAIL"), r"\A\S+(?:::\S+)+ (?:SKIPPED|XFAIL)\b"),
)
# A progress bar: a run of bar characters, then a size or a percentage, behind a check of its
# start and of a digit: separator lines ("=====", "-----") are common, and scanning the rest of
# one for a size costs more than all the other noise patterns together.
NOISE_PROGRESS = re.compile(r"[━─═=#>.\-█▓▒░■□|\s]{8,}.*?(?:\d+(?:\.\d+)?\s?[kKMG]?i?B\b|\d+%)")
_PROGRESS_HEAD = re.compile(r"[━─═=#>.\-█▓▒░■□|\s]{8}")
_DIGIT = re.compile(r"\d")


def noise(stripped: str) -> bool:
    """Whether a (left-stripped) line is noise: ends blocks and is never chosen."""
    return (
        NOISE_LINE.match(stripped) is not None
        or NOISE_SCANS.hit(stripped)
        or (
            _PROGRESS_HEAD.match(stripped) is not None
            and _DIGIT.search(stripped) is not None
            and NOISE_PROGRESS.match(stripped) is not None
        )
    )


PASSING = Probes(
    _p(("PASS",), r"\bPASS(?:ED)?\b"),
    _p(("Failures: 0, Errors: 0",)),
    _p(("0 failed", "0 failures", "0 errors"), r"\b0 (?:failed|failures|errors)\b"),
)
PASSING_START = re.compile(r"(?:ok|✓|✔|√)\b|\[[✓✔]\] ")

# Tool boilerplate: goes on with a block, never opens one, chosen last.
BOILER_LINE = _anchored(
    r"\[ERROR\]\s*$",
    r"\[ERROR\] -> \[Help \d+\]",
    r"\[ERROR\] \[Help \d+\] http",
    r"\[ERROR\] To see the full stack trace of the errors",
    r"\[ERROR\] Re-run Maven using the -X switch",
    r"\[ERROR\] For more information about the errors and possible solutions",
    r"\[ERROR\] After correcting the problems, you can resume the build",
    r"\[ERROR\]\s+mvn <\w+> -rf",
    r"\[ERROR\] Please refer to .* for the individual test results",
    r"\[ERROR\] Please refer to dump files",
    r"\[ERROR\] -{5,}",
    r"\* (?:Try|Get more help at)\b",
    r"> Run with --",
    r"npm (?:ERR!|error) (?:A complete log of this run|This is probably not a problem"
    r"|Tell the author|You can get (?:their|information)|Make sure you have|Please include"
    r"|\s*$|\s+\S+/_logs/)",
    r"\S*/_logs/\S+-debug(?:-\d+)?\.log$",
    r"\[\*\] \d+ fixable",  # ruff
    r"For more information about this error, try `rustc --explain",
)

# Consequences that name no cause: they fill the excerpt only when nothing better is there.
WEAK_START = _anchored(
    # What a later step finds missing after the failure (the cause is earlier).
    r"(?:ls|cp|mv|cat|rm|stat|tar|find|du|chmod|chown|ln|mkdir|zip|unzip|gzip|sha256sum|md5sum)"
    r": (?:cannot |can't |)(?:access|stat|open|remove|create|read)?.*(?:No such file or directory"
    r"|cannot (?:access|stat))",
    r"(?:##\[error\])?(?:Error: )?No (?:files|artifacts) (?:were )?found",
    r"(?:Cannot|Could not|Unable to) (?:upload|download) (?:artifact|the artifact|coverage)",
    r"<no location info>: error:\s*$|Failing due to -Werror\.?",  # GHC: the warning is the cause
    r"make(?:\[\d+\])?: \*\*\*",
    r"FAILURE: Build failed with an exception",
    r"\* What went wrong:",
    r"Finished: (?:FAILURE|ABORTED|UNSTABLE)",
    r"error: could not compile",
    r"compilation terminated",
    r"\d+ tests? completed, \d+ failed",
    r"=+ .*\b\d+ (?:failed|errors?)\b.*=+$",
    r"=+ (?:short test summary info|FAILURES|ERRORS) =+$",
    r"(?:Tests|Test Suites|Test Files):\s+\d+ failed",
    r"Done\. PASS=\d+",
    r"Found \d+ errors?\b",  # mypy, ruff
    r"\[ERROR\] (?:COMPILATION ERROR|Failures|Errors)\s*:?\s*$",
    r"\[ERROR\] Tests run: \d+, Failures: \d+, Errors: \d+, Skipped: \d+\s*$",
    r"npm (?:ERR!|error) (?:code ELIFECYCLE|errno|Exit status|Failed at the|command failed"
    r"|code \d+$|path )",
    r"ERROR: Job failed: exit code",
    r"error Command failed with exit code",  # yarn
    r"FAIL(?:\s+\S+\s+(?:[\d.]+s|\[build failed\]))?$",  # go test
)
WEAK_ANY = Probes(
    _p("Process completed with exit code"),
    _p(("BUILD FAILURE", "BUILD FAILED")),
    _p("marked build as failure"),
    _p("aborting due to"),
    _p("Completed with ", r"Completed with \d+ errors?"),
)

EXCEPTION = re.compile(
    r"(?:Exception in thread \"[^\"]*\" |Caused by: |Suppressed: |Uncaught |Unhandled |"
    r"(?:ERROR|FATAL|Error|error|fatal|\[ERROR\]|E)\s*:?\s+)?"
    r"(?:[A-Za-z_$][\w$]*[.:]{1,2})*[A-Z][\w$]*"
    r"(?:Error|Exception|Failure|Fault|Exit|Interrupt|Panic|Errno)(?:\[\w+\])?"
    r"(?:\s*:.*|\s*\(.*\)|\s+at \S+:\d+|)$"  # "X at Foo.java:61" is Gradle's short form
)

# Specific errors at the start of the (left-stripped) line.
STRONG_START = _anchored(
    r"\d+\) test .+ \([\w.]+\)$",  # ExUnit failure header
    r"\*\* \([\w.]+\) ",  # ExUnit/Elixir exception
    r"Assertion with \S+ failed",  # ExUnit
    r"\[-\] \S",  # Pester
    r"Expected .*,? but (?:got|was) ",  # Pester, vim's assert_equal
    r"Found errors in \w+\(\):",  # vim's test report
    r"\S+:\d+(?::\d+)?:? (?:error )?[A-Z][A-Za-z]{0,7}\d{2,5}\b",  # tldr-lint, markdownlint
    r"\^-*\^? SC\d{4} \(\w+\): ",  # shellcheck (tty)
    r"\[✖\] \S+ → Status: ",  # markdown-link-check
    r"[✗✖] \[(?:\d{3}|ERR|ERROR|TIMEOUT)\] \S",  # lychee
    r"E {2,}\S|E\t",  # pytest assertion detail
    r"(?:FAILED|ERROR) \S+::",  # pytest short summary
    r"Caused by:",
    r"Exception in thread ",
    r"\[ERROR\]\s+[\w$]+(?:\.[\w$]+)*[.:][\w$]+:\d+",  # surefire summary entry
    r"\S+?:\d+(?::\d+)?:\s*(?:fatal )?error\b",  # gcc, clang, mypy, javac
    r"\S+\(\d+,\d+\): (?:fatal )?error\b",  # tsc, MSBuild
    r"(?:fatal )?error(?:\[E\d+\])?:",  # rustc, git, most CLIs
    r"fatal:",
    r"e: ",  # kotlinc
    r"\d+:\d+\s+error\s",  # eslint
    r"\S+\.go:\d+:\d+: ",
    r"\S+_test\.go:\d+: ",  # go test's t.Errorf
    r"\S+:\d+:\d+: [A-Z]{1,3}\d{2,4}\b",  # flake8, ruff
    r"panic: |--- FAIL: |FAIL: \w",
    r"● ",  # jest
    r"::error\b",
    r"AssertionError\b|assert ",
    r"ERR_[A-Z_]+",
)

HTTP_REASONS = (
    "Service Unavailable", "Not Found", "Forbidden", "Unauthorized", "Bad Gateway",
    "Internal Server Error", "Too Many Requests", "Gateway Timeout", "Gateway Time-out",
)  # fmt: skip

# Specific errors anywhere in the line.
STRONG_ANY = Probes(
    _p(("<<< FAILURE!", "<<< ERROR!")),  # surefire
    _p(":[", r"\.(?:java|kt|scala|groovy):\[\d+"),  # javac through Maven
    _p("error TS", r"error TS\d+:"),
    _p("fatal error", r"fatal error(?: [A-Z]+\d+)?:"),  # gcc, clang, MSVC
    _p(("AssertionError", "Failure in test")),
    _p(("Database Error", "Compilation Error", "Runtime Error", "Parsing Error")),  # dbt
    _p(("Dependency Error",)),
    _p("configured to ", r"Got \d+ results?, configured to (?:fail|warn)"),  # dbt
    _p(("No such file or directory", "Permission denied", "command not found")),
    _p(("No space left on device", "Segmentation fault", "core dumped", "Out of memory")),
    _p(("OutOfMemory", "Connection refused", "Connection reset", "Connection timed out")),
    _p(("Could not resolve host", "Name or service not known", "name resolution")),
    _p(("SSL certificate problem", "certificate verify failed", "unable to access '")),
    _p(("The requested URL returned error", "Could not resolve dependencies")),
    _p(("Could not find artifact", "Could not transfer artifact")),
    _p("Killed", r"\bKilled\s*$"),
    # Linkers: ld, lld, Apple's ld.
    _p(("undefined reference to", "multiple definition of", "Undefined symbols for architecture")),
    _p(("cannot find -l", "undefined symbol: "), r"cannot find -l\S|undefined symbol: \S"),
    _p("expected to ", r"\bexpected to (?:eventually )?(?:not )?\w.*, got "),  # Quick/Nimble
    _p(HTTP_REASONS, rf"\b[45]\d\d (?:{'|'.join(HTTP_REASONS)})"),
)

# A log level that says "error" and nothing more.
LEVEL_GUARDS = ("ERROR", "SEVERE", "CRITICAL", "FATAL", "npm ERR!", "npm error")
LEVEL_WORD = re.compile(
    r"(?:^|(?<=[\s\]]))\[?(?:ERROR|SEVERE|CRITICAL|FATAL|npm ERR!|npm error)\]?(?::|\s|$)"
)
LEVEL_PROBE = Probes(_Probe(LEVEL_GUARDS, LEVEL_WORD))

# Generic error markers.
MEDIUM_ANY = Probes(
    _p("ERROR", r"\bERROR\b"),
    _p("FATAL", r"\bFATAL\b"),
    _p("FAILED", r"\bFAILED\b"),
    _p("FAILURE", r"\bFAILURE\b"),
    _p("rror", r"\b(?:Error|error)(?:\[\w+\])?:"),
    _p("error ", r"^\s*error "),
    _p("code E", r"\bcode E(?!LIFECYCLE)[A-Z0-9]{2,}\b"),  # npm
    _p("##[error]", r"^##\[error\]"),
    _p("[error]", r"^\[error\] "),  # prettier, vite
    _p("curl: (", r"^curl: \(\d+\) "),
    _p(
        ("onnection refused", "ould not resolve host", "ailed to connect", "timed out"),
        r"(?i)connection refused|could not resolve host|failed to connect|timed out",
    ),
    _p("Error: ", r"\b[A-Z]\w*Error: "),  # an exception named inside a line
    _p(("Traceback (most recent call last)", "Execution failed for task")),
    _p(("Failed to execute goal", "Something went wrong")),
    _p("___", r"^_{3,} .+ _{3,}$"),  # pytest failure section header
    _p("does not exist", r"\bdoes not exist\b"),
    _p(("failed: ", "failure: "), r"\b(?:failed|failure): "),
    _p(("✕", "✖", "×"), r"^\s*[✕✖×] "),
    _p((" failed", " failure", " error"), r"\b[1-9]\d* (?:failed|failures?|errors?)\b"),
)
