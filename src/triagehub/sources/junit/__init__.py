"""JUnit/xUnit XML test reports as one ``RunReport``.

A pure translator (no database, no network, no classification), in four modules: :mod:`.reader`
(XML reading), :mod:`.cases` (one test case), :mod:`.text` (texts and check ids) and :mod:`.run`
(the run). :func:`parse_files` reads one or
more report files of the *same run* (the per-class ``TEST-*.xml`` files of Maven or Gradle, the
shards of a suite, the report of a retry) and returns a single report; :func:`sniff` tells a
JUnit/xUnit XML file from its first bytes.

Producers handled (each has a test): pytest ``--junitxml`` (``junit_family`` xunit1 and xunit2,
with ``junit_logging`` output and ``record_property`` properties), Maven Surefire/Failsafe
(including the rerun elements of ``rerunFailingTestsCount``), Gradle (also with
``junitXml.mergeReruns``), jest-junit, go-junit-report and Playwright's ``junit`` reporter. The
elements are read with `junitparser`'s model (``junitparser.xunit2``, which knows Surefire's rerun
elements); the XML itself is parsed by `defusedxml`.

**Check id.** ``"{classname}::{name}"`` of the ``<testcase>`` (whitespace runs collapsed to one
space), just ``name`` when there is no classname or when the classname repeats the name
(jest-junit's default templates). No line numbers, times or file paths of the report are part of
it, so the id of a test is the same in every run. Ids over 1000 characters are cut and end with
a digest of the whole id.

**Status.** A ``<failure>`` fails (``fail``), an ``<error>`` errors (``error``; a failure wins when
both are there, as with a pytest test that failed and then errored in teardown; of several, the
first that is not a bare time limit is the result's error, the others follow in its log),
``<skipped>`` (pytest's ``xfail`` included) is a skip, no result element is a pass. Surefire's
``<flakyFailure>``/``<flakyError>`` (failed, then passed on a rerun) give ``flaky`` with
``attempts`` = 1 + their number; ``<rerunFailure>``/``<rerunError>`` (failed on every rerun)
leave the final failure or error and count ``attempts`` the same way.

**Message and log.** The message is the result element's ``message`` attribute; when it is
missing or a placeholder (go-junit-report's ``Failed``, ``Skipped``), the first line of the
element's text. The ``type`` is put in front (``org.opentest4j.AssertionFailedError: ...``) when
given and not already in the message. The log of a failure is its text (the traceback or stack
trace), then each rerun's stack trace, then labelled, bounded excerpts of the test case's
``system-out``/``system-err`` (of its suite when the case has none; pytest's empty "Captured"
headers count as none) and of its ``<properties>``. Passing and skipped results carry no log.
Playwright's ``[[ATTACHMENT|path]]`` lines become ``links``; an ``owner`` property of the test case
(pytest ``record_property("owner", ...)``) becomes ``owner``.

**Times.** ``duration_s`` is the case's ``time`` (``1,234.5`` is accepted; a missing or invalid
time is unknown). The run starts at the earliest ``timestamp`` of its suites (naive timestamps are
UTC) and finishes at the latest suite start + suite ``time``.

**One run, several files.** The run id, unless given, is ``junit-`` + a digest of the digests of
all files (in any order), so ingesting the same set again is a no-op; a file given twice (same
bytes) is read once. A test case that appears more than once in the run (in two files, or twice
in one file as Gradle writes retries without ``mergeReruns``) gives one result: ``flaky`` when one
attempt passed and another failed, else the failure (``attempts`` = the number of attempts that
ran), else a pass. Files of one run are meant to be parts or retries of one suite: matrix legs of
the same suite (Python 3.11 and 3.12) belong in separate runs.

**Safety and limits.** DTDs are refused (so entity-expansion bombs and external entities are never
expanded or read); malformed or truncated XML, a wrong root element (not ``<testsuites>`` or
``<testsuite>``) or a file over the limits raise :class:`~triagehub.errors.InputError` naming the
file and the line and column. Reading is streamed: each test case is translated as soon as it is
complete and dropped, text is kept bounded while parsing (a head and a tail of every text node),
and messages and logs are cut to fixed sizes, so a report of any size is read in bounded memory
per test.
"""

from __future__ import annotations

from triagehub.sources.junit.reader import MAX_DEPTH
from triagehub.sources.junit.run import MAX_LOG_CHARS, SOURCE, parse_files
from triagehub.sources.junit.text import MAX_CHECK_CHARS, MAX_MESSAGE_CHARS, check_id
from triagehub.sources.sniff import junit as sniff

__all__ = [
    "MAX_CHECK_CHARS",
    "MAX_DEPTH",
    "MAX_LOG_CHARS",
    "MAX_MESSAGE_CHARS",
    "SOURCE",
    "check_id",
    "parse_files",
    "sniff",
]
