"""The GitHub Actions source: job logs, run log archives, webhook and REST payloads.

Fixtures are real (tests/data/github/README.md says where each comes from). Hostile archives are
the real step files under hostile names or headers.
"""

from __future__ import annotations

import copy
import io
import json
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triagehub.core.classify import detect_kind
from triagehub.core.fingerprint import normalize
from triagehub.core.history import CheckHistory
from triagehub.core.models import Kind, Status
from triagehub.errors import InputError
from triagehub.sources.github_actions import (
    JOB_LOG,
    PREPARE_LOG,
    SOURCE,
    Annotation,
    JobLog,
    combine_steps,
    job_logs,
    match_job_logs,
    parse_job_log,
    parse_log_archive,
    read_log_lines,
    report_from_check_run,
    report_from_event,
    report_from_workflow_job,
    report_from_workflow_run,
)

DATA = Path(__file__).resolve().parent / "data" / "github"
SHARED_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "ghalogs" / "log.tar.gz"
JOB = "Test 3.9 x64 wheels for ubuntu-latest"
STEP_FILES = [
    "1_Set up job.txt",
    "2_Run actionsdownload-artifact@v3.txt",
    "3_Install Python 3.9.txt",
    "4_Install tables on 3.9.txt",
    "5_Run tests on 3.9.txt",
    "10_Post Install Python 3.9.txt",
    "11_Complete job.txt",
]


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return data


def log_of(name: str) -> JobLog:
    with (DATA / name).open("rb") as fh:
        return parse_job_log(read_log_lines(fh))


def raw_lines(name: str) -> list[str]:
    with (DATA / name).open("rb") as fh:
        return list(read_log_lines(fh))


def slice_members() -> dict[str, bytes]:
    """The real members of the archive slice: name -> bytes (files only)."""
    members: dict[str, bytes] = {}
    with tarfile.open(DATA / "ghalogs_test39_ubuntu.tar.gz") as tar:
        for info in tar.getmembers():
            fh = tar.extractfile(info)
            if fh is not None:
                members[info.name] = fh.read()
    return members


def make_zip(members: list[tuple[str, bytes]], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as zf:
        for name, content in members:
            zf.writestr(name, content)
    return buffer.getvalue()


def make_tar(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                name, content = member
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def step_file(name: str = "5_Run tests on 3.9.txt") -> bytes:
    return slice_members()[f"{JOB}/{name}"]


# ---------------------------------------------------------------------------------------------
# Job logs
# ---------------------------------------------------------------------------------------------


def test_per_job_log_is_split_into_steps_at_run_headers() -> None:
    log = log_of("cidiff_57_fail.log")
    assert [(s.name, s.first_line, s.last_line) for s in log.steps] == [
        ("Set up job", 1, 41),
        ("Run actions/checkout@v2", 42, 423),
        ("Run actions/setup-java@v2", 424, 452),
        ("Run ./gradlew build", 453, 577),
        ("Post job cleanup", 578, 578),
        ("Post job cleanup", 579, 590),
        ("Complete job", 591, 592),
    ]
    assert log.lines == 592


def test_failing_step_and_exit_code_come_from_the_runner_marker() -> None:
    log = log_of("cidiff_57_fail.log")
    assert log.failed_step == "Run ./gradlew build"
    assert log.exit_code == 1
    failing = [s for s in log.steps if s.had_error]
    assert [(s.name, s.exit_code) for s in failing] == [("Run ./gradlew build", 1)]


def test_runner_error_line_is_an_annotation_of_its_step() -> None:
    log = log_of("cidiff_57_fail.log")
    assert log.annotations == (
        Annotation(
            level="error",
            message="Process completed with exit code 1.",
            step="Run ./gradlew build",
        ),
    )


def test_excerpt_holds_the_failing_steps_error_lines_without_timestamps() -> None:
    log = log_of("cidiff_57_fail.log")
    lines = log.excerpt.splitlines()
    assert 3 <= len(lines) <= 20
    assert any("NoSuchFileException: ../data/astor_399.log" in line for line in lines)
    assert any("ConsoleClientTest > testClassicParsing() FAILED" in line for line in lines)
    assert not any(line.startswith("2022-05-30T") or "\r" in line for line in lines)


def test_gh_run_view_log_takes_step_names_from_the_step_column() -> None:
    log = log_of("cidiff_11_fail.log")
    assert [s.name for s in log.steps] == [
        "Set up job",
        "checkout cidiff",
        "Run actions/setup-java@v2",
        "build cidiff",
        "Post Run actions/setup-java@v2",
        "Post checkout cidiff",
        "Complete job",
    ]
    assert log.failed_step == "build cidiff"
    assert log.exit_code == 1
    assert "LogDifferTest > testGithubParsing() FAILED" in log.excerpt
    assert "\t" not in log.excerpt.replace("\tat ", "")  # no "job<TAB>step<TAB>" prefix left


def test_log_without_failure_marker_excerpts_the_last_main_step_with_errors() -> None:
    log = log_of("cv_45_fail.log")
    assert log.failed_step is None
    assert log.exit_code is None
    assert [s.name for s in log.steps][-3:] == [
        "Run xu-cheng/latex-action@v2",
        "Post job cleanup",
        "Complete job",
    ]
    assert "fatal: unsafe repository ('/github/workspace' is owned by someone else)" in log.excerpt


def test_passing_step_file_has_no_failure_and_no_excerpt() -> None:
    lines = read_log_lines(io.BytesIO(step_file()))
    log = parse_job_log(lines, step="Run tests on 3.9")
    assert [s.name for s in log.steps] == ["Run tests on 3.9"]
    assert log.failed_step is None and log.exit_code is None
    assert log.excerpt == ""
    assert log.lines == len(step_file().splitlines())


def spliced(extra: list[str], before: int = 577) -> list[str]:
    """The real cidiff_57 log with lines inserted before line ``before`` (1-based), each with
    the timestamp of the line it precedes."""
    lines = raw_lines("cidiff_57_fail.log")
    stamp = lines[before - 1][:29]
    return lines[: before - 1] + [stamp + line for line in extra] + lines[before - 1 :]


def test_workflow_commands_become_annotations_with_file_and_line() -> None:
    # The commands of GitHub's "Workflow commands" documentation, printed by the failing step.
    log = parse_job_log(
        spliced(
            [
                "::error file=app.js,line=1,col=5,endColumn=7,title=YOUR-TITLE::Missing semicolon",
                "::warning file=app.js,line=1,col=5,endColumn=7::Missing semicolon",
                "::notice::Deployment finished%0Aon two lines",
                "##[warning]Node.js 16 actions are deprecated.",
                "\x1b[31m##[error]Tests failed\x1b[0m",
            ]
        )
    )
    notes = [(a.level, a.message, a.file, a.line, a.title) for a in log.annotations]
    assert notes == [
        ("error", "Missing semicolon", "app.js", 1, "YOUR-TITLE"),
        ("warning", "Missing semicolon", "app.js", 1, None),
        ("notice", "Deployment finished\non two lines", None, None, None),
        ("warning", "Node.js 16 actions are deprecated.", None, None, None),
        ("error", "Tests failed", None, None, None),
        ("error", "Process completed with exit code 1.", None, None, None),
    ]
    assert {a.step for a in log.annotations} == {"Run ./gradlew build"}
    assert log.failed_step == "Run ./gradlew build"


def test_a_users_group_named_run_does_not_start_a_step() -> None:
    log = parse_job_log(spliced(["##[group]Run integration suite", "starting 3 workers"], 520))
    assert [s.name for s in log.steps] == [s.name for s in log_of("cidiff_57_fail.log").steps]


def test_step_header_group_is_left_out_of_the_excerpt() -> None:
    # An env block whose values look like errors must not reach the excerpt.
    lines = raw_lines("cidiff_57_fail.log")
    stamp = lines[453][:29]
    header_env = [stamp + "  FAIL_MESSAGE: ERROR: deployment failed, see FATAL errors"]
    log = parse_job_log(lines[:455] + header_env + lines[455:])
    assert "FAIL_MESSAGE" not in log.excerpt
    assert "NoSuchFileException" in log.excerpt


def test_first_failing_step_wins_over_later_ones() -> None:
    lines = raw_lines("cidiff_57_fail.log")
    # The post steps of the real log, as if one of them had failed too.
    post = [lines[577][:29] + "##[error]Process completed with exit code 2."]
    log = parse_job_log(lines[:590] + post + lines[590:])
    assert log.failed_step == "Run ./gradlew build"
    assert log.exit_code == 1


def test_read_log_lines_cuts_overlong_lines_and_counts_bytes() -> None:
    content = step_file()[:200] + b"x" * 10_000 + b"\n" + step_file()[:100]
    counted: list[int] = []
    lines = list(read_log_lines(io.BytesIO(content), max_line_bytes=1000, on_bytes=counted.append))
    assert sum(counted) == len(content)
    assert all(len(line) <= 1000 for line in lines)
    assert len(lines) == content.count(b"\n") + 1


MARKERS = [
    "##[group]Run pytest",
    "##[group]Run ",
    "##[endgroup]",
    "##[error]Process completed with exit code 1.",
    "##[error]Process completed with exit code 99999999999999999999.",
    "##[error]",
    "##[warning]",
    "##[notice]x",
    "##[section]Starting: Prepare job",
    "##[",
    "::error file=a.py,line=x,col=::m%0A%25",
    "::error::",
    "::warning ::",
    "Post job cleanup.",
    "Cleaning up orphan processes",
    "\x1b[36;1mpython -m pytest\x1b[0m",
    "with:",
    "\ufeff",
    "job\tstep\t2026-11-20T06:30:00.1234567Z x",
    "Traceback (most recent call last):",
    "E   AssertionError",
]
STAMPS = ["", "2026-11-20T06:30:00.1234567Z ", "\ufeff2026-11-20T06:30:00Z ", "2026-11-20T"]
LINES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(MARKERS),
    st.builds(
        lambda a, b, c: a + b + c,
        st.sampled_from(STAMPS),
        st.sampled_from(MARKERS),
        st.text(max_size=20),
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, max_size=60), st.sampled_from([None, "Run tests"]))
def test_log_parser_never_crashes_and_steps_cover_every_line(
    lines: list[str], step: str | None
) -> None:
    log = parse_job_log(lines, step=step)
    assert log.lines == len(lines)
    expected = 1
    for s in log.steps:
        assert s.first_line == expected and s.last_line >= s.first_line
        expected = s.last_line + 1
    assert expected == len(lines) + 1
    assert len(log.excerpt.splitlines()) <= 20
    assert log.failed_step is None or log.failed_step in {s.name for s in log.steps}


# ---------------------------------------------------------------------------------------------
# Run log archives
# ---------------------------------------------------------------------------------------------


def test_tar_archive_slice_gives_the_job_log_and_its_steps_in_order() -> None:
    archive = parse_log_archive((DATA / "ghalogs_test39_ubuntu.tar.gz").read_bytes())
    assert list(archive) == [JOB]
    entries = archive[JOB]
    assert list(entries) == [
        JOB_LOG,
        "Set up job",
        "Run actionsdownload-artifact@v3",
        "Install Python 3.9",
        "Install tables on 3.9",
        "Run tests on 3.9",
        "Post Install Python 3.9",
        "Complete job",
    ]
    whole = entries[JOB_LOG]
    assert whole.lines == 138
    assert whole.steps[0].name == "Set up job"
    assert [s.name for s in whole.steps][-2:] == ["Post job cleanup", "Complete job"]
    assert all(log.failed_step is None for log in entries.values())


def test_zip_archive_parses_like_the_tar() -> None:
    members = slice_members()
    data = make_zip(list(members.items()))
    assert parse_log_archive(data) == parse_log_archive(
        (DATA / "ghalogs_test39_ubuntu.tar.gz").read_bytes()
    )


def test_archive_from_an_unseekable_stream() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def readinto(self, buffer: Any) -> int:
            chunk = self._inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    data = make_zip(list(slice_members().items()))
    archive = parse_log_archive(io.BufferedReader(Pipe(data)))
    assert list(archive[JOB])[1:3] == ["Set up job", "Run actionsdownload-artifact@v3"]


def test_job_logs_combine_the_step_files() -> None:
    archive = parse_log_archive((DATA / "ghalogs_test39_ubuntu.tar.gz").read_bytes())
    combined = job_logs(archive)[JOB]
    steps = {k: v for k, v in archive[JOB].items() if k != JOB_LOG}
    assert [s.name for s in combined.steps] == list(steps)
    assert combined.lines == sum(log.lines for log in steps.values())
    assert combined.steps[4].first_line == 1 + sum(log.lines for log in list(steps.values())[:4])


def test_combined_steps_pick_the_failing_step_file() -> None:
    passing = parse_job_log(read_log_lines(io.BytesIO(step_file())), step="Run tests on 3.9")
    failing = log_of("cidiff_57_fail.log")
    combined = combine_steps({"Run tests on 3.9": passing, "Build": failing})
    assert combined.failed_step == "Run ./gradlew build"
    assert combined.exit_code == 1
    assert combined.excerpt == failing.excerpt


def test_match_job_logs_by_exact_then_loose_name() -> None:
    archive = parse_log_archive((DATA / "ghalogs_test39_ubuntu.tar.gz").read_bytes())
    logs = job_logs(archive)
    jobs = [
        {"id": 17, "name": JOB},
        {"id": 18, "name": "test 3.9 / x64 wheels for ubuntu-latest"},  # "/" dropped in archive
        {"id": 19, "name": "lint"},
    ]
    matched = match_job_logs(logs, jobs)
    assert set(matched) == {17, 18}
    assert matched[17] is logs[JOB]


@pytest.mark.skipif(not SHARED_ARCHIVE.exists(), reason=f"{SHARED_ARCHIVE} is absent")
def test_whole_real_archive_groups_jobs_and_prepare_logs() -> None:
    with SHARED_ARCHIVE.open("rb") as fh:
        archive = parse_log_archive(fh)
    assert len(archive) == 21  # 18 job folders and 3 matrix "Prepare job" logs
    assert list(archive["Twine check"])[:2] == [JOB_LOG, PREPARE_LOG]
    sdist = archive["Build source distribution"]
    assert list(sdist)[:3] == [JOB_LOG, PREPARE_LOG, "Set up job"]
    assert sdist[PREPARE_LOG].steps[0].name == "Prepare job build_sdist"
    assert "Build source distribution (1)" not in archive  # joined its folder's job
    assert list(archive["test_wheels"]) == [PREPARE_LOG]
    logs = job_logs(archive)
    assert all(log.failed_step is None for log in logs.values())
    assert sum(log.lines for log in logs.values()) > 40_000


def evil_zip(evil: str) -> bytes:
    return make_zip([(f"{JOB}/1_Set up job.txt", step_file("1_Set up job.txt")), (evil, b"x\n")])


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../../etc/cron.d/evil.txt", "'..' component"),
        (f"{JOB}/../../evil.txt", "'..' component"),
        ("..\\..\\evil.txt", "'..' component"),
        ("/etc/passwd", "absolute path"),
        ("\\Windows\\evil.txt", "absolute path"),
        ("C:/Users/evil.txt", "drive letter"),
        ("c:evil.txt", "drive letter"),
    ],
)
def test_zip_with_unsafe_member_name_is_refused(name: str, reason: str) -> None:
    with pytest.raises(InputError) as err:
        parse_log_archive(evil_zip(name))
    assert err.value.source == "log archive"
    assert err.value.location == name
    assert reason in err.value.reason


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt", "C:/evil.txt"])
def test_tar_with_unsafe_member_name_is_refused(name: str) -> None:
    data = make_tar([(f"{JOB}/1_Set up job.txt", step_file("1_Set up job.txt")), (name, b"x\n")])
    with pytest.raises(InputError) as err:
        parse_log_archive(data)
    assert err.value.location == name


def test_names_are_checked_before_any_member_is_read() -> None:
    # A stored member with one byte flipped fails its CRC check when read; the traversal name
    # after it is refused first, so nothing was read.
    content = step_file("1_Set up job.txt")
    good = make_zip([(f"{JOB}/1_Set up job.txt", content)], method=zipfile.ZIP_STORED)
    corrupt = good.replace(content[100:140], content[100:139] + b"#")
    with pytest.raises(InputError) as unreadable:
        parse_log_archive(corrupt)
    assert "unreadable" in unreadable.value.reason
    both = make_zip(
        [(f"{JOB}/1_Set up job.txt", content), ("../evil.txt", b"x\n")],
        method=zipfile.ZIP_STORED,
    )
    with pytest.raises(InputError) as refused:
        parse_log_archive(both.replace(content[100:140], content[100:139] + b"#"))
    assert refused.value.location == "../evil.txt"


def test_zip_symlink_member_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"{JOB}/1_Set up job.txt", step_file("1_Set up job.txt"))
        link = zipfile.ZipInfo(f"{JOB}/2_Run tests.txt")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(InputError) as err:
        parse_log_archive(buffer.getvalue())
    assert err.value.location == f"{JOB}/2_Run tests.txt"
    assert "symbolic link" in err.value.reason


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (tarfile.SYMTYPE, "symbolic link"),
        (tarfile.LNKTYPE, "hard link"),
        (tarfile.FIFOTYPE, "special file"),
        (tarfile.CHRTYPE, "special file"),
    ],
)
def test_tar_link_or_special_member_is_refused(kind: bytes, reason: str) -> None:
    info = tarfile.TarInfo(f"{JOB}/2_Run tests.txt")
    info.type = kind
    info.linkname = "/etc/passwd"
    data = make_tar([(f"{JOB}/1_Set up job.txt", step_file("1_Set up job.txt")), info])
    with pytest.raises(InputError) as err:
        parse_log_archive(data)
    assert err.value.location == f"{JOB}/2_Run tests.txt"
    assert reason in err.value.reason


def test_oversize_member_is_refused_from_its_declared_size() -> None:
    # A zip bomb in miniature: 20 MB of one repeated real log line compress to a few kB.
    line = step_file().splitlines(keepends=True)[20]
    bomb = line * (20_000_000 // len(line))
    data = make_zip([(f"{JOB}/5_Run tests on 3.9.txt", bomb)])
    assert len(data) < 200_000
    with pytest.raises(InputError) as err:
        parse_log_archive(data, max_member_bytes=10_000_000)
    assert err.value.location == f"{JOB}/5_Run tests on 3.9.txt"
    assert "per-member cap" in err.value.reason


def test_an_archive_expanding_past_the_compression_ratio_cap_is_refused() -> None:
    line = step_file().splitlines(keepends=True)[20]
    bomb = line * (20_000_000 // len(line))
    data = make_zip([(f"{JOB}/5_Run tests on 3.9.txt", bomb)])
    with pytest.raises(InputError) as err:
        parse_log_archive(data, max_ratio=50, ratio_floor_bytes=1_000_000)
    assert "compression-ratio cap" in err.value.reason
    # The same bytes in an archive that does not lie about the ratio are read.
    small = make_zip([(f"{JOB}/5_Run tests on 3.9.txt", line * 1000)])
    assert parse_log_archive(small, max_ratio=50, ratio_floor_bytes=1_000_000)


def test_total_size_and_member_count_are_capped() -> None:
    data = (DATA / "ghalogs_test39_ubuntu.tar.gz").read_bytes()
    with pytest.raises(InputError) as total:
        parse_log_archive(data, max_total_bytes=20_000)
    assert "total" in total.value.reason
    with pytest.raises(InputError) as count:
        parse_log_archive(data, max_members=5)
    assert "members" in count.value.reason


def test_member_bigger_than_its_header_says_is_refused_while_reading() -> None:
    # The counting while reading does not trust the header: caps apply to the bytes read.
    data = make_zip(list(slice_members().items()))
    with pytest.raises(InputError):
        parse_log_archive(data, max_member_bytes=5_000, max_total_bytes=10**9)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an archive at all\n",
        (DATA / "ghalogs_test39_ubuntu.tar.gz").read_bytes()[:2000],  # truncated gzip
        make_zip(list(slice_members().items()))[:3000],  # truncated zip
    ],
)
def test_unreadable_archive_is_an_input_error(data: bytes) -> None:
    with pytest.raises(InputError):
        parse_log_archive(data)


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------


def test_workflow_job_failure_gives_one_result_per_step() -> None:
    report = report_from_workflow_job(load("workflow_job.completed_failure.1.json"))
    assert report is not None
    assert report.source == SOURCE == "github-actions"
    assert report.repository == "Codertocat/Hello-World"
    assert (report.run_id, report.attempt) == ("2202229078/linters", 1)
    assert report.commit == "3484a3fb816e0859fd6e1cea078d76385ff50625"
    assert report.branch == "main"
    assert report.url == "https://github.com/octo-org/octo-repo/runs/1291536064"
    assert report.started_at == datetime(2021, 8, 5, 10, 34, 58, tzinfo=UTC)
    assert report.finished_at == datetime(2021, 8, 5, 10, 38, 16, tzinfo=UTC)
    assert report.status == "failure"
    assert len(report.results) == 12
    by_check = {r.check: r for r in report.results}
    failed = by_check["CodeQL / linters / Run yarn run format-check"]
    assert failed.status is Status.FAIL
    assert failed.message == (
        "Step 'Run yarn run format-check' failed in job 'linters' (conclusion: failure)"
    )
    assert failed.duration_s == 1.0
    assert by_check["CodeQL / linters / Post Run actions/cache@v2"].status is Status.SKIP
    assert by_check["CodeQL / linters / Set up job"].status is Status.PASS
    assert [r.check for r in report.results if r.status.is_failure] == [failed.check]


def test_workflow_job_failure_with_its_log_carries_the_excerpt() -> None:
    log = log_of("cidiff_57_fail.log")
    report = report_from_workflow_job(load("workflow_job.completed_failure.1.json"), log)
    assert report is not None
    failed = next(r for r in report.results if r.status.is_failure)
    assert failed.check == "CodeQL / linters / Run yarn run format-check"
    assert failed.log == log.excerpt
    assert "NoSuchFileException" in failed.message
    assert len(failed.message.splitlines()) <= 5
    assert failed.exit_code == 1


def test_workflow_job_success_passes_every_step() -> None:
    report = report_from_workflow_job(load("workflow_job.completed_success.2.json"))
    assert report is not None
    assert report.status == "success"
    assert {r.status for r in report.results} == {Status.PASS}
    assert [r.check for r in report.results][:2] == [
        "CodeQL / linters / Set up job",
        "CodeQL / linters / Checkout Repo",
    ]


def test_workflow_job_that_is_not_completed_gives_nothing() -> None:
    assert report_from_workflow_job(load("workflow_job.queued_None.5.json")) is None
    in_progress = load("workflow_job.completed_failure.1.json") | {"action": "in_progress"}
    assert report_from_workflow_job(in_progress) is None


def test_each_job_of_a_run_is_a_run_of_its_own_with_its_own_checks() -> None:
    first = load("workflow_job.completed_failure.1.json")
    second = copy.deepcopy(first)
    second["workflow_job"]["name"] = "linters (windows)"
    second["workflow_job"]["id"] += 1
    a = report_from_workflow_job(first)
    b = report_from_workflow_job(second)
    assert a is not None and b is not None
    # One webhook per job: the pipeline stores a run once, so each job is a run of its own.
    assert a.run_id != b.run_id and a.run_id.split("/")[0] == b.run_id.split("/")[0]
    assert not {r.check for r in a.results} & {r.check for r in b.results}
    # A re-run of the same job keeps its run id, with the next attempt: flaky evidence.
    rerun = copy.deepcopy(first)
    rerun["workflow_job"]["id"] += 100
    rerun["workflow_job"]["run_attempt"] = 2
    c = report_from_workflow_job(rerun)
    assert c is not None and (c.run_id, c.attempt) == (a.run_id, 2)


def test_workflow_name_can_come_from_the_caller() -> None:
    payload = load("workflow_job.completed_failure.1.json")
    del payload["workflow_job"]["workflow_name"]
    with pytest.raises(InputError) as err:
        report_from_workflow_job(payload)
    assert err.value.location == "workflow_job.workflow_name"
    report = report_from_workflow_job(payload, workflow_name="CI")
    assert report is not None
    assert report.results[0].check == "CI / linters / Set up job"


def with_step_conclusion(conclusion: str) -> dict[str, Any]:
    payload = load("workflow_job.completed_failure.1.json")
    payload["workflow_job"]["steps"][7]["conclusion"] = conclusion
    payload["workflow_job"]["conclusion"] = conclusion
    return payload


@pytest.mark.parametrize(
    "conclusion", ["cancelled", "skipped", "neutral", "action_required", "stale"]
)
def test_cancelled_and_skipped_steps_are_not_failures(conclusion: str) -> None:
    report = report_from_workflow_job(with_step_conclusion(conclusion))
    assert report is not None
    step = report.results[7]
    assert step.status is Status.SKIP
    assert not any(r.status.is_failure for r in report.results)


def test_timed_out_step_fails_with_a_message_that_classifies_as_a_timeout() -> None:
    report = report_from_workflow_job(with_step_conclusion("timed_out"))
    assert report is not None
    step = report.results[7]
    assert step.status is Status.FAIL
    assert step.message == (
        "Step 'Run yarn run format-check' timed out in job 'linters' (conclusion: timed_out)"
    )
    assert detect_kind(SOURCE, step.check, normalize(step.message)).kind is Kind.TIMEOUT


def test_timed_out_step_keeps_its_timeout_message_with_a_log() -> None:
    log = log_of("cidiff_57_fail.log")
    report = report_from_workflow_job(with_step_conclusion("timed_out"), log)
    assert report is not None
    step = report.results[7]
    assert "timed out" in step.message
    assert step.log == log.excerpt


def test_startup_failure_fails_and_unknown_conclusion_is_an_error() -> None:
    started = report_from_workflow_job(with_step_conclusion("startup_failure"))
    assert started is not None and started.results[7].status is Status.FAIL
    unknown = report_from_workflow_job(with_step_conclusion("exploded"))
    assert unknown is not None and unknown.results[7].status is Status.ERROR


def test_failed_job_without_steps_is_one_job_result() -> None:
    payload = load("workflow_job.completed_failure.1.json")
    payload["workflow_job"]["steps"] = []
    report = report_from_workflow_job(payload)
    assert report is not None
    assert [(r.check, r.status) for r in report.results] == [("CodeQL / linters", Status.FAIL)]
    assert report.results[0].message == "Job 'linters' failed (conclusion: failure)"


def test_rerun_keeps_the_run_id_with_a_higher_attempt_and_is_flaky_evidence() -> None:
    failed = report_from_workflow_job(load("workflow_job.completed_failure.1.json"))
    rerun_payload = load("workflow_job.completed_success.2.json")
    rerun_payload["workflow_job"]["run_attempt"] = 2
    rerun_payload["workflow_job"]["steps"] = load("workflow_job.completed_failure.1.json")[
        "workflow_job"
    ]["steps"]
    for step in rerun_payload["workflow_job"]["steps"]:
        step["conclusion"] = "success"
    rerun = report_from_workflow_job(rerun_payload)
    assert failed is not None and rerun is not None
    assert (failed.run_id, failed.attempt) == (rerun.run_id, 1)
    assert rerun.attempt == 2
    check = "CodeQL / linters / Run yarn run format-check"
    history = CheckHistory()
    evidence = []
    for report in (failed, rerun):
        result = next(r for r in report.results if r.check == check)
        evidence.append(
            history.apply(
                result.status,
                at=report.occurred_at,
                commit=None,  # not the same-commit rule: the retry rule
                run_key=f"{report.source}:{report.run_id}",
                attempt=report.attempt,
                flaky_clean_runs=5,
            )
        )
    assert evidence == [False, True]


def test_workflow_run_success_without_jobs_is_one_workflow_result() -> None:
    report = report_from_workflow_run(load("workflow_run.completed_success.1.json"))
    assert report is not None
    assert report.repository == "octo-org/octo-repo"
    assert (report.run_id, report.attempt) == ("289782451", 1)
    assert report.commit == "3484a3fb816e0859fd6e1cea078d76385ff50625"
    assert report.branch == "master"
    assert report.url == "https://github.com/octo-org/octo-repo/actions/runs/289782451"
    assert report.started_at == datetime(2020, 10, 5, 16, 33, 49, tzinfo=UTC)
    assert report.finished_at == datetime(2020, 10, 5, 16, 33, 49, tzinfo=UTC)
    # workflow_run.name is empty in this payload: the workflow's name comes from `workflow`.
    assert [(r.check, r.status) for r in report.results] == [("test", Status.PASS)]


def test_workflow_run_failure_without_jobs_fails_the_workflow() -> None:
    report = report_from_workflow_run(load("workflow_run.completed_failure.edited.json"))
    assert report is not None
    assert report.status == "failure"
    assert [(r.check, r.status, r.message) for r in report.results] == [
        ("test", Status.FAIL, "Workflow 'test' failed (conclusion: failure)")
    ]


def test_workflow_run_with_jobs_and_logs_gives_step_results() -> None:
    job = load("workflow_job.completed_failure.1.json")["workflow_job"]
    log = log_of("cidiff_57_fail.log")
    report = report_from_workflow_run(
        load("workflow_run.completed_failure.edited.json"), jobs=[job], logs={job["id"]: log}
    )
    assert report is not None
    assert len(report.results) == 12
    failed = [r for r in report.results if r.status.is_failure]
    assert [r.check for r in failed] == ["test / linters / Run yarn run format-check"]
    assert failed[0].log == log.excerpt


def test_workflow_run_leaves_out_jobs_of_other_attempts() -> None:
    run = load("workflow_run.completed_failure.edited.json")
    run["workflow_run"]["run_attempt"] = 2
    job = load("workflow_job.completed_failure.1.json")["workflow_job"]  # run_attempt 1, not re-run
    report = report_from_workflow_run(run, jobs=[job])
    assert report is not None
    assert report.attempt == 2
    assert [r.check for r in report.results] == ["test"]


def test_rest_run_object_maps_every_field() -> None:
    report = report_from_workflow_run(load("ghalogs_run_200.json"))
    assert report is not None
    assert report.repository == "PyTables/PyTables"
    assert (report.run_id, report.attempt) == ("6261949618", 1)
    assert report.commit == "a2033260f6ef6be0fc072af6208e2920bd9ff41e"
    assert report.branch == "releases/v3.9.0"
    assert report.url == "https://github.com/PyTables/PyTables/actions/runs/6261949618"
    assert report.started_at == datetime(2023, 9, 21, 12, 55, 26, tzinfo=UTC)
    assert report.finished_at == datetime(2023, 9, 21, 17, 30, 42, tzinfo=UTC)
    assert report.status == "success"
    assert [(r.check, r.status) for r in report.results] == [("Wheels", Status.PASS)]


@pytest.mark.parametrize(
    ("conclusion", "status"),
    [
        ("success", Status.PASS),
        ("failure", Status.FAIL),
        ("startup_failure", Status.FAIL),
        ("timed_out", Status.FAIL),
        ("cancelled", Status.SKIP),
        ("skipped", Status.SKIP),
        ("neutral", Status.SKIP),
        ("action_required", Status.SKIP),
        ("stale", Status.SKIP),
    ],
)
def test_run_conclusions_map_to_statuses(conclusion: str, status: Status) -> None:
    run = load("ghalogs_run_200.json") | {"conclusion": conclusion}
    report = report_from_workflow_run(run)
    assert report is not None
    assert report.results[0].status is status
    if conclusion == "timed_out":
        assert "timed out" in report.results[0].message


def test_rest_run_in_progress_gives_nothing() -> None:
    run = load("ghalogs_run_200.json") | {"status": "in_progress", "conclusion": None}
    assert report_from_workflow_run(run) is None


def test_check_run_failure_maps_app_and_name() -> None:
    report = report_from_check_run(load("check_run.completed_failure.1.json"))
    assert report is not None
    assert report.repository == "Codertocat/Hello-World"
    assert report.run_id == "128620228"
    assert report.commit == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert report.branch == "changes"
    assert report.url == "https://github.com/Codertocat/Hello-World/runs/128620228"
    [result] = report.results
    assert result.check == "octocoders-linter / Octocoders-linter"
    assert result.status is Status.FAIL
    assert result.message == "Check run 'Octocoders-linter' failed (conclusion: failure)"


def test_check_run_message_comes_from_its_output() -> None:
    payload = load("check_run.completed_failure.1.json")
    payload["check_run"]["output"]["title"] = "3 lint errors"
    payload["check_run"]["output"]["summary"] = "src/app.py:12:1: E501 line too long"
    payload["check_run"]["output"]["text"] = "full report"
    report = report_from_check_run(payload)
    assert report is not None
    assert report.results[0].message == "3 lint errors\nsrc/app.py:12:1: E501 line too long"
    assert report.results[0].log == "full report"


def test_report_from_event_dispatches_by_event_name() -> None:
    assert report_from_event("workflow_job", load("workflow_job.completed_failure.1.json"))
    assert report_from_event("workflow_run", load("workflow_run.completed_failure.edited.json"))
    assert report_from_event("check_run", load("check_run.completed_failure.1.json"))
    assert report_from_event("push", load("check_run.completed_failure.1.json")) is None


_DELETE = object()  # a value that means: remove the field
_EVENTS = {
    "workflow_job": "workflow_job.completed_failure.1.json",
    "workflow_run": "workflow_run.completed_failure.edited.json",
    "check_run": "check_run.completed_failure.1.json",
}


def _json_path(location: str) -> list[str | int]:
    """``workflow_job.steps[7].name`` -> ``["workflow_job", "steps", 7, "name"]``."""
    keys: list[str | int] = []
    for part in location.split("."):
        name, *indexes = part.split("[")
        keys.append(name)
        keys.extend(int(i.rstrip("]")) for i in indexes)
    return keys


@pytest.mark.parametrize(
    ("event", "location", "value"),
    [
        ("workflow_job", "workflow_job.run_id", None),
        ("workflow_job", "workflow_job.run_id", "12"),
        ("workflow_job", "workflow_job.run_attempt", True),
        ("workflow_job", "workflow_job.run_attempt", 0),
        ("workflow_job", "workflow_job.steps", "all"),
        ("workflow_job", "workflow_job.steps[7]", 8),
        ("workflow_job", "workflow_job.steps[7].name", 3),
        ("workflow_job", "workflow_job.steps[7].conclusion", ["failure"]),
        ("workflow_job", "workflow_job.name", "x" * 5000),
        ("workflow_job", "workflow_job.started_at", "yesterday"),
        ("workflow_job", "workflow_job.conclusion", _DELETE),
        ("workflow_job", "workflow_job", []),
        ("workflow_job", "repository", None),
        ("workflow_job", "repository.full_name", "../../etc"),
        ("workflow_job", "action", 1),
        ("workflow_run", "workflow_run.id", 1.5),
        ("workflow_run", "workflow_run.head_sha", {}),
        ("workflow_run", "workflow_run.updated_at", 12.5),
        ("check_run", "check_run.output.title", 7),
        ("check_run", "check_run.name", ""),
        ("check_run", "check_run.id", None),
    ],
)
def test_hostile_payload_is_an_input_error_with_its_json_path(
    event: str, location: str, value: Any
) -> None:
    payload = load(_EVENTS[event])
    path = _json_path(location)
    holder: Any = payload
    for key in path[:-1]:
        holder = holder[key]
    if value is _DELETE:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value
    with pytest.raises(InputError) as err:
        report_from_event(event, payload)
    assert err.value.source == "github webhook"
    assert err.value.location == location


@pytest.mark.parametrize("payload", [[], "workflow_job", None, 3])
def test_payload_that_is_not_an_object_is_an_input_error(payload: Any) -> None:
    for mapper in (report_from_workflow_job, report_from_workflow_run, report_from_check_run):
        with pytest.raises(InputError) as err:
            mapper(payload)
        assert err.value.location == ""


def test_jobs_that_are_not_an_array_are_an_input_error() -> None:
    run = load("workflow_run.completed_failure.edited.json")
    with pytest.raises(InputError) as err:
        report_from_workflow_run(run, jobs={"jobs": []})  # type: ignore[arg-type]
    assert err.value.location == "jobs"
    job = load("workflow_job.completed_failure.1.json")["workflow_job"]
    job["steps"][0]["conclusion"] = 1
    with pytest.raises(InputError) as step:
        report_from_workflow_run(run, jobs=[job])
    assert step.value.location == "jobs[0].steps[0].conclusion"


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*prefix, i)
            yield from paths(item, (*prefix, i))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
FIXTURES = sorted(_EVENTS.items())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FIXTURES), st.data())
def test_mutated_payloads_give_a_report_none_or_an_input_error(
    fixture: tuple[str, str], data: st.DataObject
) -> None:
    event, name = fixture
    payload = load(name)
    for _ in range(data.draw(st.integers(1, 3))):
        choices = [p for p in paths(payload) if len(p) <= 4]
        if not choices:
            break
        path = data.draw(st.sampled_from(choices))
        holder: Any = payload
        for key in path[:-1]:
            holder = holder[key]
        if data.draw(st.booleans()) and isinstance(holder, dict):
            del holder[path[-1]]
        else:
            holder[path[-1]] = data.draw(JSON)
    try:
        report = report_from_event(event, payload)
    except InputError:
        return
    assert report is None or report.results
    if event == "workflow_job" and report is not None:
        log = log_of("cidiff_57_fail.log")
        assert report_from_workflow_job(payload, log) is not None


def test_step_file_header_group_is_left_out_of_the_excerpt() -> None:
    # The real "Run tests" step file, its env block given a value that looks like an error.
    lines = list(read_log_lines(io.BytesIO(step_file())))
    assert lines[10].endswith("##[endgroup]")
    env = lines[9][:29] + "  FAIL_MESSAGE: ERROR: deployment failed, see FATAL errors"
    failing = [lines[-1][:29] + "##[error]Process completed with exit code 1."]
    log = parse_job_log([*lines[:10], env, *lines[10:], *failing], step="Run tests on 3.9")
    assert log.failed_step == "Run tests on 3.9"
    assert "FAIL_MESSAGE" not in log.excerpt
    assert "Process completed with exit code 1." in log.excerpt


def test_long_names_are_shortened_to_fit_a_check_key() -> None:
    payload = load("workflow_job.completed_failure.1.json")
    payload["workflow_job"]["name"] = "build (" + ", ".join(["ubuntu-latest"] * 60) + ")"
    payload["workflow_job"]["steps"][7]["name"] = "Run " + "x" * 900
    report = report_from_workflow_job(payload)
    assert report is not None
    keys = [r.check for r in report.results]
    assert max(len(k) for k in keys) <= 1000
    assert len(set(keys)) == len(keys)
    assert keys[0].startswith("CodeQL / build (ubuntu-latest, ")


def test_zip_member_in_an_unreadable_compression_method_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("build/1_Set up job.txt", "2026-11-20T06:30:00.0000000Z hello\n")
    data = bytearray(buffer.getvalue())
    # Method 99 (AES) in the local header (offset 8) and the central directory (offset 10).
    data[8:10] = (99).to_bytes(2, "little")
    central = data.index(b"PK\x01\x02")
    data[central + 10 : central + 12] = (99).to_bytes(2, "little")
    with pytest.raises(InputError, match="compression method 99"):
        parse_log_archive(bytes(data))
