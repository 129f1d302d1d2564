"""Pick the lines of a failure message or CI log that carry the error.

A CI log is mostly noise: set-up, downloads, progress bars, passing tests, warnings. Fingerprinting
the whole log would split one failure into as many issues as there are variations of that noise,
so triagehub fingerprints an *excerpt*: the lines that carry the error.

How lines are chosen (one pass, bounded memory, no I/O):

1. Each line is cleaned: ANSI escapes removed, a timestamp prefix removed (GitHub Actions'
   ``2026-11-20T06:30:00.1234567Z ``, ``gh run view --log``'s ``job<TAB>step<TAB>timestamp ``,
   dbt's ``HH:MM:SS  ``), and cut to ``MAX_LINE_CHARS``.
2. Each line is classified: noise (``[INFO]``, downloads, progress bars, passing tests, warnings,
   runner markers), a *strong* error line (an exception or assertion, a compiler diagnostic, pytest
   ``E`` and ``FAILED`` lines, ``Caused by:``, ``fatal:``, an OS error such as ``No such file or
   directory``, a dbt error), a *medium* one (generic ``ERROR``/``FATAL``/``FAILED``/``error:``
   markers, ``npm ERR!``, ``##[error]``), a *weak* one (consequences that name no cause:
   ``BUILD FAILURE``, ``make: *** ... Error 2``, ``Process completed with exit code 1``), tool
   boilerplate (Maven's "Re-run Maven using the -X switch"), a stack frame, or plain text.
3. Error lines open *blocks*; a block goes on over continuation lines (indented text, stack frames,
   ``Caused by:``, more error lines, a few plain detail lines right after an error) and ends at
   noise, at a section header, at a second blank line or at plain text far from an error. Only a
   bounded number of blocks, and of lines per block, is kept: a log of any size is read in O(n)
   time and bounded memory.
4. The *final cluster* is the last error block with the blocks just before it (less than
   ``_CLUSTER_GAP`` lines apart): the failure and the summaries that tools print after it. Its
   blocks are ranked strongest first, then latest first. Each contributes its head (its best
   lines), then the best blocks their details, until ``max_lines``; older error blocks get one
   line each if room is left, and consequence-only (weak) blocks count only when there is nothing
   else. A line that repeats an earlier one (Maven prints each compiler error twice) is shown once.
   The chosen lines are returned in their original order.

When no line looks like an error, the excerpt falls back to the last non-empty lines.

:func:`error_lines` (:func:`extract_key`) is the compact subset used for fingerprinting: the
strongest lines of the best block of the final cluster and their detail, at most 5 lines, so that
two logs of the same failure with different surrounding noise give the same text, modulo the
values that the normaliser masks.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from triagehub.core.fingerprint import strip_ansi
from triagehub.core.informative import informative_part, is_footer

__all__ = [
    "MAX_LINE_CHARS",
    "Excerpt",
    "clean_line",
    "error_lines",
    "extract",
    "extract_key",
    "extract_lines",
    "iter_lines",
]

MAX_LINE_CHARS = 500
"""Excerpt lines are cut to this many characters (an ellipsis marks the cut)."""

_RAW_CHARS = MAX_LINE_CHARS * 4  # raw characters looked at per line (ANSI codes take room)
_BLOCK_LINES = 48  # lines kept verbatim per block
_BLOCK_OVERFLOW = 12  # error lines kept beyond that (the deepest "Caused by:" of a long trace)
_HEAD = 3  # lines each block contributes before any block is extended
_DETAIL_SPAN = 3  # plain lines after an error line that still count as its detail
_MAX_PLAIN_RUN = 3  # consecutive plain lines a block tolerates before it ends
_KEY_LINES = 5
_KEY_DETAIL_SPAN = 3  # lines after a key line that may join the key as its detail
_CHUNK_CHARS = 1 << 20  # characters of a text split at once


# --------------------------------------------------------------------------------------------
# Public value
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Excerpt:
    """The lines of a log that carry the error.

    ``lines`` are cleaned (ANSI escapes and timestamp prefixes removed) and in their original
    order; ``line_numbers`` are their 0-based indexes among the input's lines (``str.splitlines``
    for :func:`extract`, the items of the iterable for :func:`extract_lines`). ``fallback`` is true
    when no line looked like an error and the excerpt is the last non-empty lines.
    """

    lines: tuple[str, ...]
    line_numbers: tuple[int, ...]
    total_lines: int = 0
    fallback: bool = False

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __len__(self) -> int:
        return len(self.lines)


# --------------------------------------------------------------------------------------------
# Line splitting and cleaning
# --------------------------------------------------------------------------------------------

_WORDY = re.compile(r"\w\w")  # a line with words, not a separator or a row of dots

# Exactly the boundaries of str.splitlines().
_LINE_BREAK = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def iter_lines(
    text: str, *, max_chars: int = _RAW_CHARS, chunk_chars: int = _CHUNK_CHARS
) -> Iterator[str]:
    """The lines of ``text`` as ``str.splitlines()`` gives them, lazily, a chunk at a time.

    Each line is cut to ``max_chars`` characters, and no more than about a chunk of the text is
    copied at once, so neither one enormous line nor a huge text is ever duplicated in memory.
    """
    size = len(text)
    chunk = max(1, chunk_chars)
    pos = 0
    while pos < size:
        end = min(size, pos + chunk)
        cut = size if end == size else text.rfind("\n", pos, end) + 1
        if cut > pos:  # the common case: a "\n" always ends a line, alone or after "\r"
            for line in text[pos:cut].splitlines():
                yield line if len(line) <= max_chars else line[:max_chars]
            pos = cut
            continue
        # No "\n" in a whole chunk: lines ended by other breaks ("\r" progress bars), or one
        # very long line.
        start = pos
        for match in _LINE_BREAK.finditer(text, pos, end):
            yield text[pos : min(match.start(), pos + max_chars)]
            pos = match.end()
            if pos < size and text[pos - 1] == "\r" and text[pos] == "\n":
                pos += 1  # a "\r\n" cut in two by the chunk's end
        if pos > start:
            continue
        following = _LINE_BREAK.search(text, end)
        stop = size if following is None else following.start()
        yield text[pos : min(stop, pos + max_chars)]
        pos = size if following is None else following.end()


_PREFIX = re.compile(
    r"^\ufeff?"
    # `gh run view --log`: "job<TAB>step<TAB>" before the timestamp.
    r"(?:[^\t\n]{1,300}\t[^\t\n]{1,300}\t(?=\ufeff?\[?\d{4}-\d{2}-\d{2}[T ]\d))?\ufeff?"
    r"(?:"
    # ISO 8601 (GitHub Actions, most loggers), optionally bracketed, then one blank.
    r"\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\]?[ \t]?"
    # dbt's console "HH:MM:SS  " (two blanks), optionally with fractions.
    r"|\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[ ]{1,2}(?=\S|[ ]{2})|[ ]*$)"
    r")"
)


def clean_line(raw: str) -> str:
    """One line without ANSI escapes, timestamp prefix, carriage-return redraws or trailing blanks,
    cut to ``MAX_LINE_CHARS``."""
    line = raw[:_RAW_CHARS] if len(raw) > _RAW_CHARS else raw
    line = line.rstrip("\r\n")
    if "\r" in line:  # a progress bar redrawn in place: keep what the terminal would show
        parts = [part for part in line.split("\r") if part.strip()]
        line = parts[-1] if parts else ""
    line = strip_ansi(line)
    if line and (line[0].isdigit() or line[0] == "[" or line[0] == "\ufeff" or "\t" in line):
        match = _PREFIX.match(line)
        if match is not None:
            line = line[match.end() :]
    line = line.rstrip()
    if len(line) > MAX_LINE_CHARS:
        line = line[: MAX_LINE_CHARS - 1] + "…"
    return line


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------

# Kinds of lines, weakest first. LEVEL is a line whose only error evidence is its log level
# ("[ERROR] realm = ...", "[main] ERROR Foo - bar"): it opens a block like MEDIUM, but inside a
# block it is only detail.
BLANK, NOISE, PLAIN, INDENT, FRAME, BOILER, WEAK, LEVEL, MEDIUM, STRONG = range(10)
_OPENERS = frozenset((WEAK, LEVEL, MEDIUM, STRONG))


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

    def hit(self, line: str) -> bool:
        for guard in self.guards:
            if guard in line:
                return self.pattern is None or self.pattern.search(line) is not None
        return False


def _p(guards: str | tuple[str, ...], pattern: str | None = None) -> _Probe:
    compiled = re.compile(pattern) if pattern is not None else None
    return _Probe((guards,) if isinstance(guards, str) else guards, compiled)


def _hit(probes: tuple[_Probe, ...], line: str) -> bool:
    return any(probe.hit(line) for probe in probes)


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
_HINT = re.compile("|".join(re.escape(word) for word in _HINT_WORDS))
_HINT_START = re.compile(r"E[ \t]|e: |::error|##\[error|\d+\) test |\[-\] |\^-")
_HINT_LOCATION = re.compile(  # linters, Go
    r":\d+(?::\d+)?:? [A-Z][A-Za-z]{0,7}\d{2,5}\b|\.go:\d+:\d+: |_test\.go:\d+: "
)

# Findings that tools print with a warning-like level but that fail the job: shellcheck's
# gcc format (every finding is a failure), GHC warnings (fatal under -Werror).
_SHELLCHECK = re.compile(r"\S+:\d+:\d+: (?:error|warning|note|info|style): .* \[SC\d{4}\]$")
_GHC_WARNING = re.compile(r"\S+\.l?hs:\d+:\d+(?:-\d+)?: warning: \[(?:GHC-\d+\] \[)?-W")


def _hinted(stripped: str) -> bool:
    return (
        _HINT.search(stripped.lower()) is not None
        or _HINT_START.match(stripped) is not None
        or (":" in stripped and _HINT_LOCATION.search(stripped) is not None)
    )


_FRAME = _anchored(
    r"\s*at [\w$.<>/\\@:\[\]-]+[( ]",  # Java, JavaScript
    r"\s*at <?\w",
    r"\s*\.\.\. \d+ (?:more|common frames omitted)",
    r'\s*File "[^"]*", line \d+',  # Python
    r"\s+\S+\.go:\d+(?: \+0x[0-9a-f]+)?$",  # Go
    r"\s*#\d+ 0x[0-9a-f]+ in ",  # gdb, sanitizers
)

# Noise, matched at the start of the left-stripped line: it ends blocks and is never chosen.
_NOISE = _anchored(
    r"\[?(?:INFO|DEBUG|TRACE|NOTICE|WARN|WARNING)\]?(?:[\s:\]]|$)",
    r"\[(?:info|debug|notice|warning)\] ",  # pip
    r"\[[\w.-]+\] (?:INFO|DEBUG|TRACE|WARN|WARNING)\b",  # log4j "[main] WARN ..."
    r"(?:warning|Warning)(?:\[\w+\])?:",
    r"\S+:\d+(?::\d+)?: (?:warning|note):",
    r"[\w./-]+: (?:warning|note):",  # cc1, ld
    r"CMake (?:Deprecation )?Warning",
    r"\w*Warning: ",
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
    r"[━─═=#>.\-█▓▒░■□|\s]{8,}.*?(?:\d+(?:\.\d+)?\s?[kKMG]?i?B\b|\d+%)",  # progress bars
    r"\S+ [.sxXFE]+\s+\[\s*\d+%\]$",  # pytest progress
    r"\S+::\S.* (?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\s+\[\s*\d+%\]$",  # pytest -v
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
    r"--- SKIP: |[○◌-] skipped |\S.* \.\.\. (?:skipped|SKIP|XFAIL|expected failure)\b",
    r"\S+(?:::\S+)+ (?:SKIPPED|XFAIL)\b",
    # Caches and artifacts, set up and saved around the failure.
    r"(?:##\[(?:error|warning)\]|Error: |Warning: )?(?:Cache (?:not found|restored|saved|hit|miss"
    r"|Size)|Failed to (?:save|restore)(?: cache)?:|Unable to (?:reserve|save|restore) cache"
    r"|Received \d+ of \d+|No files were found with the provided path|Uploading artifact"
    r"|Artifact \S+ (?:has been|was) (?:successfully )?(?:uploaded|finalized)"
    r"|With the provided path"
    r"|Beginning upload of artifact|Finished uploading artifact|Post job cleanup"
    r"|(?:\[\w-]+\] )?Uploading (?:coverage|report|reports|results))",
)

_PASSING = (
    _p(("PASS",), r"\bPASS(?:ED)?\b"),
    _p(("Failures: 0, Errors: 0",)),
    _p(("0 failed", "0 failures", "0 errors"), r"\b0 (?:failed|failures|errors)\b"),
)
_PASSING_START = re.compile(r"(?:ok|✓|✔|√)\b|\[[✓✔]\] ")

# Tool boilerplate: goes on with a block, never opens one, chosen last.
_BOILER = _anchored(
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
_WEAK_START = _anchored(
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
_WEAK_ANY = (
    _p("Process completed with exit code"),
    _p(("BUILD FAILURE", "BUILD FAILED")),
    _p("marked build as failure"),
    _p("aborting due to"),
    _p("Completed with ", r"Completed with \d+ errors?"),
)

_EXCEPTION = re.compile(
    r"(?:Exception in thread \"[^\"]*\" |Caused by: |Suppressed: |Uncaught |Unhandled |"
    r"(?:ERROR|FATAL|Error|error|fatal|\[ERROR\]|E)\s*:?\s+)?"
    r"(?:[A-Za-z_$][\w$]*[.:]{1,2})*[A-Z][\w$]*"
    r"(?:Error|Exception|Failure|Fault|Exit|Interrupt|Panic|Errno)(?:\[\w+\])?"
    r"(?:\s*:.*|\s*\(.*\)|\s+at \S+:\d+|)$"  # "X at Foo.java:61" is Gradle's short form
)

# Specific errors at the start of the (left-stripped) line.
_STRONG_START = _anchored(
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

_HTTP_REASONS = (
    "Service Unavailable", "Not Found", "Forbidden", "Unauthorized", "Bad Gateway",
    "Internal Server Error", "Too Many Requests", "Gateway Timeout", "Gateway Time-out",
)  # fmt: skip

# Specific errors anywhere in the line.
_STRONG_ANY = (
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
    _p(_HTTP_REASONS, rf"\b[45]\d\d (?:{'|'.join(_HTTP_REASONS)})"),
)

# A log level that says "error" and nothing more.
_LEVEL_GUARDS = ("ERROR", "SEVERE", "CRITICAL", "FATAL", "npm ERR!", "npm error")
_LEVEL = re.compile(
    r"(?:^|(?<=[\s\]]))\[?(?:ERROR|SEVERE|CRITICAL|FATAL|npm ERR!|npm error)\]?(?::|\s|$)"
)

# Generic error markers.
_MEDIUM = (
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

_SECTION_STARTS = frozenset(c * 3 for c in "=_*#~-")
_ZERO_COUNT = re.compile(r"(?i)\b0 (?:errors?|failed|failures?)\b|\b(?:errors?|failures?)[:=] ?0\b")
_NONZERO_COUNT = re.compile(r"(?i)\b[1-9]\d* (?:errors?|failed|failures?)\b")


# Section headers ("=== FAILURES ===", "___ test_foo ___", "--- Captured stdout call ---"): they
# end the open block. The pytest failure header opens one; other sections are noise.
_SECTION = re.compile(r"([=_*#~-])\1{2,} \S.* \1{3,}$")
_FAILURE_SECTION = re.compile(r"_{3,} \S.* _{3,}$")


def _plain(stripped: str, indented: bool) -> int:
    if (_PASSING_START.match(stripped) or _hit(_PASSING, stripped)) and not (
        "FAIL" in stripped or "ERROR" in stripped
    ):
        return NOISE
    if stripped[:3] in _SECTION_STARTS and _SECTION.match(stripped):
        return MEDIUM if _FAILURE_SECTION.match(stripped) else NOISE
    return INDENT if indented else PLAIN


def _classify(line: str) -> int:
    """The kind of one cleaned line."""
    stripped = line.lstrip()
    if not stripped:
        return BLANK
    indented = len(stripped) != len(line)
    if (indented or stripped.startswith(("at ", "..."))) and _FRAME.match(line):
        return FRAME
    if ": " in stripped and "[" in stripped:
        if _SHELLCHECK.match(stripped):
            return STRONG
        if _GHC_WARNING.match(stripped):
            return MEDIUM
    if _NOISE.match(stripped):
        return WEAK if "BUILD FAILURE" in stripped else NOISE
    if not _hinted(stripped):
        return _plain(stripped, indented)
    if _BOILER.match(stripped):
        return BOILER
    if _WEAK_START.match(stripped) or _hit(_WEAK_ANY, stripped):
        return WEAK
    if is_footer(stripped):  # a footer or a tally: a consequence that names no cause
        if _ZERO_COUNT.search(stripped) and not _NONZERO_COUNT.search(stripped):
            return NOISE
        return WEAK
    if stripped.startswith("curl: ("):  # a probe's failure (a version manager's 404) or a cause
        return MEDIUM
    if _STRONG_START.match(stripped) or _EXCEPTION.match(stripped) or _hit(_STRONG_ANY, stripped):
        return STRONG
    if stripped.startswith("[ERROR]  "):  # Maven goes on with a message on indented lines
        return INDENT
    level = any(guard in stripped for guard in _LEVEL_GUARDS) and _LEVEL.search(stripped)
    if _hit(_MEDIUM, _LEVEL.sub(" ", stripped) if level else stripped):
        if _ZERO_COUNT.search(stripped) and not _NONZERO_COUNT.search(stripped):
            return NOISE
        return MEDIUM
    if level:
        return LEVEL
    return _plain(stripped, indented)


# --------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------

_VALUE = {STRONG: 10.0, MEDIUM: 6.0, WEAK: 3.0, BOILER: 0.1}
_DETAIL_VALUE = 4.0  # text right after an error line
_LEVEL_VALUE = 0.8  # an error-level line further away from an error (a Maven class-path dump)
_FAR_VALUE = 0.5  # plain text further away
_FIRST_FRAMES_VALUE = 1.0  # the first two frames under an exception
_FRAME_VALUE = 0.1
_FILL_MIN = 1.0  # lines worth less are never chosen


@dataclass(slots=True)
class _Line:
    index: int
    text: str
    kind: int
    value: float


@dataclass(slots=True)
class _Block:
    start: int
    end: int = 0
    tier: int = PLAIN
    lines: list[_Line] = field(default_factory=list)
    overflow: deque[_Line] = field(default_factory=lambda: deque(maxlen=_BLOCK_OVERFLOW))
    since_error: int = 0
    frames_since_error: int = 0
    plain_run: int = 0
    gap: int = 0  # blank lines just seen inside the block

    def add(self, line: _Line) -> None:
        self.tier = max(self.tier, MEDIUM if line.kind == LEVEL else line.kind)
        self.end = line.index
        if len(self.lines) < _BLOCK_LINES:
            self.lines.append(line)
        elif line.kind >= MEDIUM:
            self.overflow.append(line)

    def candidates(self) -> list[_Line]:
        return [*self.lines, *self.overflow]

    def ranked(self) -> list[_Line]:
        """The lines worth choosing, best first (the earlier of equals)."""
        worth = [ln for ln in self.candidates() if ln.value >= _FILL_MIN]
        return sorted(worth, key=lambda ln: (-ln.value, ln.index))


def _continues(block: _Block, kind: int) -> bool:
    """Whether a line of this kind (not blank, not noise) goes on with the open block."""
    if kind in _OPENERS or kind in (FRAME, BOILER):
        return True
    if block.gap:
        return kind == INDENT  # after a blank line, only indented text goes on
    if kind == INDENT:
        return True
    return block.plain_run < _MAX_PLAIN_RUN and block.since_error <= _DETAIL_SPAN + 1


class _Collector:
    """The streaming state: the open block, the last closed blocks of each strength (bounded) and
    the last lines (for the fallback)."""

    def __init__(self, max_lines: int) -> None:
        keep = max(16, min(max_lines, 64))
        self.closed: dict[int, deque[_Block]] = {
            STRONG: deque(maxlen=keep),
            MEDIUM: deque(maxlen=keep),
            WEAK: deque(maxlen=keep),
        }
        self.block: _Block | None = None
        self.tail: deque[tuple[int, str]] = deque(maxlen=max(1, max_lines))
        self.tail_any: deque[tuple[int, str]] = deque(maxlen=max(1, max_lines))
        self.count = 0
        self.gradle_cause = False  # after Gradle's "* What went wrong:": "> ..." is the cause

    def close(self) -> None:
        block = self.block
        if block is not None and block.tier in self.closed:
            self.closed[block.tier].append(block)
        self.block = None

    def feed(self, index: int, text: str) -> None:
        self.count = index + 1
        kind = _classify(text)
        if self.gradle_cause:
            if text.startswith("> ") and kind in (PLAIN, INDENT):
                kind = MEDIUM
            elif kind == BLANK or text.startswith("* "):
                self.gradle_cause = False
        if kind == WEAK and (
            text.startswith("* What went wrong") or text.startswith("Execution failed for task")
        ):
            self.gradle_cause = True
        if text[:3] in _SECTION_STARTS and _SECTION.match(text):
            self.close()  # a new section
        if kind == BLANK:
            if self.block is not None:
                self.block.gap += 1
                if self.block.gap > 1:
                    self.close()
            return
        self.tail_any.append((index, text))
        if kind == NOISE:
            self.close()
            return
        if _WORDY.search(text):  # not a separator or a row of dots
            self.tail.append((index, text))
        block = self.block
        if block is not None and not _continues(block, kind):
            self.close()
            block = None
        if block is None:
            if kind not in _OPENERS:
                return
            block = self.block = _Block(start=index)
            if kind == LEVEL:
                kind = MEDIUM  # an error-level line that opens a block is its header
        block.gap = 0
        if kind in _OPENERS and kind != LEVEL:
            value = _VALUE[kind]
            block.frames_since_error = block.plain_run = 0
            if kind != WEAK:  # what follows a consequence is not its detail
                block.since_error = 0
            else:
                block.since_error += _DETAIL_SPAN
        else:
            block.since_error += 1
            near = block.since_error <= _DETAIL_SPAN
            if kind == FRAME:
                value = _FIRST_FRAMES_VALUE if block.frames_since_error < 2 else _FRAME_VALUE
                block.frames_since_error += 1
                block.plain_run = 0
            elif kind == BOILER:
                value = _VALUE[BOILER]
            elif kind == LEVEL:
                value = _DETAIL_VALUE if near else _LEVEL_VALUE
                block.plain_run = 0
            else:
                value = _DETAIL_VALUE if near else _FAR_VALUE
                block.plain_run = block.plain_run + 1 if kind == PLAIN else 0
        block.add(_Line(index, text, kind, value))

    def blocks(self) -> list[_Block]:
        """Every kept block, in log order."""
        self.close()
        found = [b for tier in (STRONG, MEDIUM, WEAK) for b in self.closed[tier]]
        found.sort(key=lambda b: b.start)
        return found


def _collect(lines: Iterable[str], max_lines: int) -> _Collector:
    collector = _Collector(max_lines)
    for index, raw in enumerate(lines):
        collector.feed(index, clean_line(raw))
    return collector


# --------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------

_CLUSTER_GAP = 150  # blocks closer than this to the last error block are its cluster


def _strength(block: _Block) -> tuple[int, int]:
    return (block.tier, block.start)


def _names_more(block: _Block) -> bool:
    """Whether a weak block holds a consequence (``ls: cannot access ...``), not only footers."""
    return any(ln.kind == WEAK and not is_footer(ln.text) for ln in block.candidates())


def _rank(blocks: list[_Block]) -> tuple[list[_Block], list[_Block]]:
    """Split the error blocks into the final cluster and the older ones, each best first: the
    strongest, then the latest. Weak blocks (consequences) count only when there is nothing else.
    """
    main = (
        [b for b in blocks if b.tier >= MEDIUM] or [b for b in blocks if _names_more(b)] or blocks
    )
    cluster = main[-1:]
    for block in reversed(main[:-1]):
        if cluster[-1].start - block.end > _CLUSTER_GAP:
            break
        cluster.append(block)
    older = main[: len(main) - len(cluster)]
    return sorted(cluster, key=_strength, reverse=True), sorted(older, key=_strength, reverse=True)


_KEY_PREFIX = re.compile(r"^(?:\[ERROR\]|E |npm ERR!|npm error|##\[error\])\s*")
_DIGITS = re.compile(r"\d+")


def _key_of(text: str) -> str:
    """What makes two error lines the same (Maven repeats each error under its summary)."""
    return " ".join(_DIGITS.sub("#", _KEY_PREFIX.sub("", text.strip())).split())


def _duplicates(blocks: Iterable[_Block]) -> set[int]:
    """Indexes of lines that repeat an earlier line: the first occurrence is the one kept."""
    seen: set[str] = set()
    repeated: set[int] = set()
    lines = sorted((ln for b in blocks for ln in b.candidates()), key=lambda ln: ln.index)
    for line in lines:
        key = _key_of(line.text)
        if key in seen:
            repeated.add(line.index)
        else:
            seen.add(key)
    return repeated


def _select(blocks: list[_Block], max_lines: int) -> list[_Line]:
    cluster, older = _rank(blocks)
    skip = _duplicates(blocks)
    chosen: dict[int, _Line] = {}

    def take(block: _Block, limit: int) -> None:
        taken = 0
        for line in block.ranked():
            if len(chosen) >= max_lines or taken >= limit:
                return
            if line.index not in chosen and line.index not in skip:
                chosen[line.index] = line
                taken += 1

    for position, block in enumerate(cluster):  # heads of the final cluster, best block first
        take(block, _HEAD if position == 0 else _HEAD - 1)
    for block in cluster:  # then their details
        take(block, max_lines)
    room = len(chosen) + max(2, max_lines // 8)
    for block in older:  # older errors, one line each, if room is left
        if len(chosen) >= room:
            break
        take(block, 1)
    footers = [
        b
        for b in blocks
        if b.tier == WEAK and b not in cluster and not b.lines[0].text.startswith("[INFO]")
    ]
    if footers and len(chosen) < max_lines:  # how the run ended, for the reader
        take(footers[-1], 1)
    return sorted(chosen.values(), key=lambda ln: ln.index)


def _fit(lines: list[_Line], max_chars: int) -> list[_Line]:
    """Drop the least valuable lines until the joined text fits in ``max_chars``."""
    size = sum(len(ln.text) for ln in lines) + max(0, len(lines) - 1)
    if size <= max_chars:
        return lines
    keep = list(lines)
    for victim in sorted(lines, key=lambda ln: (ln.value, -ln.index)):
        if size <= max_chars or len(keep) == 1:
            break
        keep.remove(victim)
        size -= len(victim.text) + 1
    if size > max_chars:  # one line left, still too long
        only = keep[0]
        keep = [_Line(only.index, only.text[:max_chars], only.kind, only.value)]
    return keep


def _excerpt(lines: list[_Line], total: int, *, fallback: bool) -> Excerpt:
    return Excerpt(
        lines=tuple(ln.text for ln in lines),
        line_numbers=tuple(ln.index for ln in lines),
        total_lines=total,
        fallback=fallback,
    )


def _fallback(collector: _Collector, max_lines: int, max_chars: int) -> Excerpt:
    """The last non-empty lines, preferring those that are neither noise nor separators."""
    tail = collector.tail or collector.tail_any
    picked = [_Line(i, t, PLAIN, 1.0) for i, t in list(tail)[-max_lines:]]
    return _excerpt(_fit(picked, max_chars) if picked else [], collector.count, fallback=True)


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def extract_lines(lines: Iterable[str], *, max_lines: int = 20, max_chars: int = 4000) -> Excerpt:
    """The excerpt of a log given line by line (a file object, a generator, a list).

    Reads the iterable once and keeps a bounded number of candidate lines, so a log of hundreds
    of megabytes can be streamed. ``line_numbers`` index the iterable's items.
    """
    if max_lines <= 0 or max_chars <= 0:
        return Excerpt((), ())
    collector = _collect(lines, max_lines)
    blocks = collector.blocks()
    if not blocks:
        return _fallback(collector, max_lines, max_chars)
    chosen = _fit(_select(blocks, max_lines), max_chars)
    return _excerpt(chosen, collector.count, fallback=False)


def extract(text: str, *, max_lines: int = 20, max_chars: int = 4000) -> Excerpt:
    """The excerpt of a failure message or a whole CI log.

    ``line_numbers`` are 0-based indexes into ``text.splitlines()``.
    """
    return extract_lines(iter_lines(text), max_lines=max_lines, max_chars=max_chars)


def extract_key(
    text: str | Iterable[str], *, max_lines: int = _KEY_LINES, max_chars: int = 2000
) -> Excerpt:
    """The few lines that identify the failure, for fingerprinting.

    They come from one block only, the best of the final cluster of errors (the strongest, then
    the latest), so that error-looking noise elsewhere in the log cannot change them: that block's
    strongest lines (repeats dropped), then the detail lines right after them. Falls back to the
    last non-empty lines, like :func:`extract`.
    """
    source = iter_lines(text) if isinstance(text, str) else text
    if max_lines <= 0 or max_chars <= 0:
        return Excerpt((), ())
    collector = _collect(source, max_lines)
    blocks = collector.blocks()
    if not blocks:
        return _fallback(collector, max_lines, max_chars)
    best = _rank(blocks)[0][0]
    picked: list[_Line] = []
    seen: set[str] = set()

    def pick(line: _Line) -> None:
        key = _key_of(line.text)
        if key and key not in seen and len(picked) < max_lines:
            seen.add(key)
            picked.append(line)

    candidates = best.candidates()
    tops = [i for i, line in enumerate(candidates) if line.kind == best.tier]
    for i in tops:
        pick(candidates[i])
    for i in tops:  # then the detail right after them: a message's second line, a diff
        for line in candidates[i + 1 : i + 1 + _KEY_DETAIL_SPAN]:
            if line.kind in (FRAME, BOILER, WEAK) or line.kind == best.tier:
                break
            if _WORDY.search(line.text):
                pick(line)
    picked.sort(key=lambda ln: ln.index)
    return _excerpt(_fit(picked, max_chars), collector.count, fallback=False)


def error_lines(text: str | Iterable[str], *, max_lines: int = _KEY_LINES) -> str:
    """The key error lines of a message or log, joined by newlines: what triagehub fingerprints
    (see :func:`extract_key`)."""
    return extract_key(text, max_lines=max_lines).text


LONG_MESSAGE_LINES = 10


def error_text(message: str, log: str = "") -> str:
    """The text triagehub fingerprints for one failure.

    The message without its footer lines (:mod:`triagehub.core.informative`: "Process completed
    with exit code 1.", "npm ERR! Test failed. See above for more details.", a runner's tally):
    as it is when short, its key error lines when long (a whole traceback or build output pasted
    as the message). A message that names no error at all is not trusted: the key error lines of
    the log are used instead, so that every failure of a repository does not land in one issue.
    Without a message, the key error lines of the log. So two logs of the same failure with
    different surrounding noise give the same text.
    """
    part = informative_part(message) if message.strip() else ""
    if part:
        if part.count("\n") < LONG_MESSAGE_LINES:
            return part
        return error_lines(part) or part
    if not log.strip():
        return message
    return error_lines(log) or message


# Lines that open an error but say nothing a human would quote as its cause.
_HEADER = re.compile(
    r"Traceback \(most recent call last\):?$"
    r"|(?:Runtime|Database|Compilation|Parsing|Dependency) Error in (?:model|test|seed|snapshot"
    r"|source|macro|unit_test|analysis|sql_operation|operation) \S+(?: \(.*\))?:?$"
    r"|_{3,} .+ _{3,}$|Failures:?$|\S+ > \S.* FAILED$|> Task \S+ FAILED$"
)
_TITLE_PREFIX = re.compile(r"^(?:E\s+|>\s+|##\[error\]\s*|::error[^:]*::\s*|\[ERROR\]\s+|\*\*\s+)")
_TITLE_RANK = {STRONG: 6, MEDIUM: 5, LEVEL: 4, PLAIN: 2, INDENT: 2, WEAK: 1}
# An exception or error named with its message: what a human quotes first.
_NAMED_ERROR = re.compile(
    r"^(?:E\s+|Caused by: |Exception in thread \S+ )?(?:[\w$]+[.:]{1,2})*[A-Z][\w$]*"
    r"(?:Error|Exception|Failure|Fault)(?: \[[\w-]+\])?: \S"
)
_CODE = re.compile(r"^(?:throw |raise |return |await |const |let |var |def |>\s)|[;{]\s*$")
_GRADLE_OPENER = re.compile(r"\* What went wrong|Execution failed for task|> Task \S+ FAILED$")
_GRADLE_NOT_CAUSE = ("> Task ", "> Run with", "> There were failing tests", "> Get more help")


def _title_rank(line: str, kind: int, gradle: bool) -> int:
    if kind == NOISE:
        return 0
    if gradle and line.startswith("> ") and not line.startswith(_GRADLE_NOT_CAUSE):
        return 7  # Gradle's cause, after "* What went wrong:"
    bare = _TITLE_PREFIX.sub("", line)
    if is_footer(line) or _HEADER.match(bare):
        return 1 if kind != WEAK else 0
    if kind in (PLAIN, INDENT) and line.startswith(_SETUP_PREFIXES):
        return 0
    if _NAMED_ERROR.match(line):
        return 8
    rank = _TITLE_RANK.get(kind, 0)
    if rank > 2 and _CODE.search(bare):  # a line of source code quoted by a traceback
        return 2
    return rank


def headline(text: str, *, limit: int = 160) -> str:
    """The line of an error text a human would quote as its cause, for a title.

    An exception or error with its message first, then the strongest line (an assertion, a
    compiler error, before generic markers and plain text), the first of equals; never a footer
    ("Process completed with exit code 1."), a header that only announces an error ("Traceback
    (most recent call last):", dbt's "Runtime Error in model ...", Gradle's "> Task :x FAILED"),
    a line of quoted source code, git or set-up noise ("Cloning into ...", "Looking in indexes:
    ..."), unless nothing else is there. Annotation and pytest ``E`` prefixes are removed.
    """
    best: tuple[int, str] | None = None
    fallback = ""
    gradle = False
    for raw in iter_lines(text):
        line = clean_line(raw).strip()
        if not line or not _WORDY.search(line):
            continue
        fallback = fallback or line
        rank = _title_rank(line, _classify(line), gradle)
        if _GRADLE_OPENER.match(line):
            gradle = True
        elif not line.startswith("> "):
            gradle = False
        if best is None or rank > best[0]:
            best = (rank, line)
    line = best[1] if best is not None and best[0] > 0 else fallback
    line = _TITLE_PREFIX.sub("", line).strip() or line
    return line if len(line) <= limit else line[: limit - 1] + "…"


_SETUP_PREFIXES = (
    "Looking in indexes",
    "Looking in links",
    "Cloning into",
    "Checking formatting",
    "Run ",
    "Running ",
    "> ",
    "$ ",
    "+ ",
)
