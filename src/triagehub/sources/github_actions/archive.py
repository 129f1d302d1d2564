"""Run log archives: the ZIP (or tar) of a run's logs, every member checked against the caps
before any is read, parsed into one :class:`JobLog` per step file."""

from __future__ import annotations

import io
import lzma
import re
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

from triagehub.errors import InputError
from triagehub.sources.github_actions.joblog import combine_steps, parse_job_log, read_log_lines
from triagehub.sources.github_actions.model import ARCHIVE, JOB_LOG, PREPARE_LOG, JobLog

MAX_MEMBER_BYTES = 1 << 30  # 1 GiB, uncompressed, per archive member
MAX_TOTAL_BYTES = 2 << 30  # 2 GiB, uncompressed, for a whole archive
MAX_MEMBERS = 10_000
# A zip bomb costs CPU long before it reaches the byte caps: the uncompressed bytes may be at
# most MAX_RATIO times the archive's own size (CI logs compress ~10:1; repetitive ones ~50:1),
# with RATIO_FLOOR_BYTES allowed whatever the archive's size.
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 64 << 20

_DRIVE = re.compile(r"^[A-Za-z]:")
_NUMBERED = re.compile(r"(\d{1,9})_(.+)", re.S)
_SPOOL_BYTES = 32 << 20


@dataclass(frozen=True, slots=True)
class _Member:
    name: str
    job: str
    step: str  # JOB_LOG for the job's whole log
    number: int
    size: int


def _unsafe(name: str) -> str | None:
    """Why a member name is refused, or None."""
    if not name or "\x00" in name:
        return "empty name or NUL byte in the name"
    if name.startswith(("/", "\\")):
        return "absolute path"
    if _DRIVE.match(name):
        return "drive letter in the path"
    if ".." in re.split(r"[/\\]", name):
        return "'..' component in the path"
    return None


def _place(name: str, size: int) -> _Member | None:
    """Where a member goes (job, step), or None for a member that is not a log."""
    parts = [p for p in re.split(r"[/\\]", name) if p and p != "."]
    if not parts or len(parts) > 2 or not parts[-1].endswith(".txt"):
        return None
    stem = parts[-1][: -len(".txt")]
    numbered = _NUMBERED.fullmatch(stem)
    number = int(numbered.group(1)) if numbered else 0
    label = numbered.group(2) if numbered else stem
    if len(parts) == 1:
        return _Member(name, label, JOB_LOG, number, size)
    return _Member(name, parts[0], label, number, size)


class _Budget:
    """Counts the bytes read, per member and in total, against the caps."""

    def __init__(self, origin: str, max_member: int, max_total: int) -> None:
        self.origin = origin
        self.max_member = max_member
        self.max_total = max_total
        self.why_total = "the total cap"
        self.total = 0
        self.member = ""
        self.member_bytes = 0

    def start(self, name: str) -> None:
        self.member = name
        self.member_bytes = 0

    def __call__(self, count: int) -> None:
        self.member_bytes += count
        self.total += count
        if self.member_bytes > self.max_member:
            raise InputError(
                self.origin,
                self.member,
                f"holds more than {self.max_member:,} bytes (the per-member cap); refused",
            )
        if self.total > self.max_total:
            raise InputError(
                self.origin,
                self.member,
                f"the archive holds more than {self.max_total:,} bytes ({self.why_total}); refused",
            )


def _check_sizes(origin: str, name: str, size: int, total: int, budget: _Budget) -> None:
    if size > budget.max_member:
        raise InputError(
            origin,
            name,
            f"declares {size:,} bytes; the per-member cap is {budget.max_member:,}; refused",
        )
    if total > budget.max_total:
        raise InputError(
            origin,
            name,
            f"the members declare {total:,} bytes in total; the cap is {budget.max_total:,} "
            f"({budget.why_total}); refused",
        )


def _seekable(data: bytes | IO[bytes], origin: str, max_total: int) -> IO[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(data))
    try:
        if data.seekable():
            return data
    except (OSError, ValueError):
        pass
    # Not a context manager: the spool is returned, and closed with the archive.
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
    copied = 0
    while True:
        chunk = data.read(1 << 20)
        if not chunk:
            break
        copied += len(chunk)
        if copied > max_total:
            spool.close()
            raise InputError(origin, "", f"more than {max_total:,} bytes; refused")
        spool.write(chunk)
    spool.seek(0)
    return spool


def _zip_members(
    origin: str, archive: zipfile.ZipFile, budget: _Budget, max_members: int
) -> list[tuple[_Member, zipfile.ZipInfo]]:
    infos = archive.infolist()
    if len(infos) > max_members:
        raise InputError(origin, "", f"{len(infos):,} members; the cap is {max_members:,}; refused")
    members: list[tuple[_Member, zipfile.ZipInfo]] = []
    total = 0
    for info in infos:
        name = info.filename
        reason = _unsafe(name)
        if reason is not None:
            raise InputError(origin, name, f"{reason}; refused")
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise InputError(origin, name, "is a symbolic link; refused")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise InputError(origin, name, "is not a regular file or directory; refused")
        if info.flag_bits & 0x1:
            raise InputError(origin, name, "is encrypted; refused")
        if info.compress_type not in _ZIP_METHODS:
            raise InputError(
                origin, name, f"uses ZIP compression method {info.compress_type}; refused"
            )
        if info.is_dir():
            continue
        total += info.file_size
        _check_sizes(origin, name, info.file_size, total, budget)
        member = _place(name, info.file_size)
        if member is not None:
            members.append((member, info))
    return members


def _tar_members(
    origin: str, archive: tarfile.TarFile, budget: _Budget, max_members: int
) -> list[tuple[_Member, tarfile.TarInfo]]:
    members: list[tuple[_Member, tarfile.TarInfo]] = []
    total = 0
    seen = 0
    while True:
        info = archive.next()
        if info is None:
            return members
        seen += 1
        name = info.name
        if seen > max_members:
            raise InputError(origin, name, f"more than {max_members:,} members; refused")
        reason = _unsafe(name)
        if reason is not None:
            raise InputError(origin, name, f"{reason}; refused")
        if info.issym():
            raise InputError(origin, name, "is a symbolic link; refused")
        if info.islnk():
            raise InputError(origin, name, "is a hard link; refused")
        if info.isdir():
            continue
        if not info.isreg():
            raise InputError(origin, name, "is a device, FIFO or other special file; refused")
        total += info.size
        _check_sizes(origin, name, info.size, total, budget)
        member = _place(name, info.size)
        if member is not None:
            members.append((member, info))


_SUFFIX = re.compile(r"(.+) \((\d{1,4})\)")


def _is_prepare(log: JobLog) -> bool:
    return bool(log.steps) and all(s.name.startswith("Prepare job") for s in log.steps)


def _collect(parsed: list[tuple[_Member, JobLog]]) -> dict[str, dict[str, JobLog]]:
    """Group the parsed members by job: step files in step order, the job's whole log under
    JOB_LOG, a "Prepare job" log under PREPARE_LOG.

    The archive names the top-level files after the jobs and, when two files would share a
    name (a job and its "Prepare job" log), adds " (1)" to one of them: a top-level
    ``<name> (k)`` joins the job folder ``<name>`` when there is no folder ``<name> (k)``.
    """
    folders = {m.job for m, _ in parsed if m.step != JOB_LOG}
    jobs: dict[str, list[tuple[str, int, JobLog]]] = {}
    order: dict[str, tuple[int, int]] = {}
    for member, log in parsed:
        job, key = member.job, member.step
        if key == JOB_LOG:
            suffixed = _SUFFIX.fullmatch(job)
            if suffixed is not None and job not in folders and suffixed.group(1) in folders:
                job = suffixed.group(1)
            if _is_prepare(log):
                key = PREPARE_LOG
        jobs.setdefault(job, []).append((key, member.number, log))
        rank = (0, member.number) if member.step == JOB_LOG else (1, 0)
        order[job] = min(order.get(job, rank), rank)
    special = {JOB_LOG: 0, PREPARE_LOG: 1}
    result: dict[str, dict[str, JobLog]] = {}
    for job in sorted(jobs, key=lambda j: (order[j], j)):
        entries = sorted(jobs[job], key=lambda e: (special.get(e[0], 2), e[1], e[0]))
        steps: dict[str, JobLog] = {}
        for key, _, log in entries:
            unique = key
            count = 1
            while unique in steps:
                count += 1
                unique = f"{key} ({count})"
            steps[unique] = log
        result[job] = steps
    return result


_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
)
# The ZIP compression methods Python reads; a member in any other is refused before reading.
_ZIP_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)


def parse_log_archive(
    data: bytes | IO[bytes],
    *,
    origin: str = ARCHIVE,
    max_member_bytes: int = MAX_MEMBER_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_members: int = MAX_MEMBERS,
    max_ratio: int = MAX_RATIO,
    ratio_floor_bytes: int = RATIO_FLOOR_BYTES,
) -> dict[str, dict[str, JobLog]]:
    """Parse a run's log archive: ``{job name: {step name: JobLog}}``.

    ``data`` is the ZIP the REST API serves (or a tar, tar.gz, tar.bz2, tar.xz of the same
    layout), as bytes or a binary file. ``<job>/<n>_<step>.txt`` members are parsed as one step
    each and keyed by step name in step order; a top-level ``<n>_<job>.txt`` (the job's whole
    log) goes under :data:`JOB_LOG`, or :data:`PREPARE_LOG` when it is the "Prepare job" log.
    Other members (not ``.txt``, nested deeper) are skipped.

    Every member is checked before any is read; an unsafe name, a link, a special file, too many
    members, or sizes over the caps raise :class:`InputError` naming the member, and nothing is
    returned. The uncompressed total is also capped at ``max_ratio`` times the archive's size
    (at least ``ratio_floor_bytes``): a small archive that expands enormously is refused after
    that many bytes, not after minutes of decompression.
    """
    budget = _Budget(origin, max_member_bytes, max_total_bytes)
    stream = _seekable(data, origin, max_total_bytes)
    parsed: list[tuple[_Member, JobLog]] = []
    try:
        start = stream.tell()
        packed = stream.seek(0, io.SEEK_END) - start
        stream.seek(start)
        by_ratio = max(ratio_floor_bytes, packed * max_ratio)
        if by_ratio < budget.max_total:
            budget.max_total = by_ratio
            budget.why_total = (
                f"{max_ratio} times the archive's {packed:,} bytes: the compression-ratio cap"
            )
        head = stream.read(4)
        stream.seek(start)
        if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            with zipfile.ZipFile(stream) as zipped:
                for member, info in _zip_members(origin, zipped, budget, max_members):
                    budget.start(member.name)
                    with zipped.open(info) as fh:
                        parsed.append((member, _parse_member(member, fh, budget)))
        else:
            with _open_tar(stream, origin) as tarred:
                for member, tinfo in _tar_members(origin, tarred, budget, max_members):
                    budget.start(member.name)
                    content = tarred.extractfile(tinfo)
                    if content is not None:
                        with content:
                            parsed.append((member, _parse_member(member, content, budget)))
    except _ARCHIVE_ERRORS as exc:
        raise InputError(origin, budget.member, f"unreadable archive: {exc}") from None
    finally:
        if stream is not data:
            stream.close()
    return _collect(parsed)


def _open_tar(stream: IO[bytes], origin: str) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=stream, mode="r:*")
    except tarfile.TarError:
        raise InputError(
            origin, "", "not a ZIP or tar archive (expected the run log archive)"
        ) from None


def _parse_member(member: _Member, fh: IO[bytes], budget: _Budget) -> JobLog:
    lines = read_log_lines(fh, on_bytes=budget)
    return parse_job_log(lines, step=member.step if member.step != JOB_LOG else None)


def job_logs(archive: Mapping[str, Mapping[str, JobLog]]) -> dict[str, JobLog]:
    """One :class:`JobLog` per job of a parsed archive: its step files combined
    (:func:`combine_steps`), else its whole log, else its "Prepare job" log."""
    result: dict[str, JobLog] = {}
    for job, entries in archive.items():
        steps = {n: log for n, log in entries.items() if not n.startswith(("/job", "/prepare"))}
        if steps:
            result[job] = combine_steps(steps)
        elif JOB_LOG in entries:
            result[job] = entries[JOB_LOG]
        elif PREPARE_LOG in entries:
            result[job] = entries[PREPARE_LOG]
    return result
