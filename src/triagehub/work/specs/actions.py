"""Writing to OpenSpec projects: create a change, archive a change.

``create_change`` scaffolds exactly what ``openspec new change <id>`` does (``.openspec.yaml`` with
the project's schema and today's date, ``specs/`` and ``changes/archive/`` present, a minimal
``config.yaml`` when there is none, ``README.md`` with a description), plus, from a
:class:`ChangeDraft`, a proposal, tasks and a delta spec. ``archive_change`` delegates to the
``openspec`` CLI when it is installed (``$TRIAGEHUB_OPENSPEC``, ``openspec`` on PATH, or
``./node_modules/.bin/openspec``) and otherwise does what ``openspec archive -y`` does: validate,
apply the deltas to the main specs, move the folder to ``changes/archive/YYYY-MM-DD-<id>/``.
Every write holds a per-project file lock (``filelock``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import yaml
from filelock import FileLock
from filelock import Timeout as LockTimeout

from triagehub.clock import Clock
from triagehub.errors import ExternalServiceError, InputError
from triagehub.work.specs import markdown as md
from triagehub.work.specs.errors import ConflictError, NotFoundError
from triagehub.work.specs.load import discover_spec_files, read_text
from triagehub.work.specs.merge import MergeError, build_updated_spec
from triagehub.work.specs.model import Project
from triagehub.work.specs.paths import ARCHIVE_PREFIX, check_capability_id, check_change_id, inside
from triagehub.work.specs.validate import change_issues, spec_content_issues

log = logging.getLogger(__name__)

OPENSPEC_ENV = "TRIAGEHUB_OPENSPEC"
DEFAULT_SCHEMA = "spec-driven"
CLI_TIMEOUT_S = 120.0
LOCK_TIMEOUT_S = 30.0


def find_openspec_cli(cwd: Path | None = None) -> str | None:
    """The ``openspec`` executable: ``$TRIAGEHUB_OPENSPEC`` (``none`` turns the CLI off), else
    ``openspec`` on PATH, else ``./node_modules/.bin/openspec``; None when there is none."""
    env = os.environ.get(OPENSPEC_ENV, "").strip()
    if env:
        if env.lower() in ("none", "off", "0", "false"):
            return None
        found = shutil.which(env)
        if found is None:
            raise InputError(
                OPENSPEC_ENV, env, "not an executable (expected the path of the openspec CLI)"
            )
        return found
    found = shutil.which("openspec")
    if found:
        return found
    local = (cwd or Path.cwd()) / "node_modules" / ".bin" / "openspec"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return None


def cli_environment() -> dict[str, str]:
    return {**os.environ, "OPENSPEC_TELEMETRY": "0", "NO_COLOR": "1"}


@contextmanager
def project_lock(project: Project, lock_dir: Path | None = None) -> Iterator[None]:
    """The project's write lock (a lock file under the user cache dir, not in the project)."""
    folder = lock_dir or Path(platformdirs.user_cache_dir("triagehub", appauthor=False)) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(str(project.path.resolve()).encode()).hexdigest()[:24]
    lock = FileLock(str(folder / f"openspec-{name}.lock"), timeout=LOCK_TIMEOUT_S)
    try:
        with lock:
            yield
    except LockTimeout:
        raise ConflictError(
            f"project {project.id}",
            str(project.path),
            f"another write to this project held its lock for {LOCK_TIMEOUT_S:.0f} s; try again",
        ) from None


def local_date(clock: Clock) -> str:
    """Today in the local time zone (as the CLI names archive folders and ``created:``)."""
    return clock.now().astimezone().date().isoformat()


def project_schema(project: Project) -> str:
    """The project's workflow schema (``openspec/config.yaml``'s ``schema:``), checked."""
    schema = DEFAULT_SCHEMA
    for name in ("config.yaml", "config.yml"):
        path = project.openspec_dir / name
        if not path.is_file():
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            break  # the CLI falls back to the default too
        if isinstance(data, dict) and isinstance(data.get("schema"), str):
            schema = data["schema"]
        break
    if schema != DEFAULT_SCHEMA:
        local = project.openspec_dir / "schemas"
        available = [DEFAULT_SCHEMA]
        if local.is_dir():
            available += sorted(p.name for p in local.iterdir() if p.is_dir())
        if schema not in available:
            raise InputError(
                str(project.openspec_dir / "config.yaml"),
                "schema",
                f"Unknown schema '{schema}'. Available: {', '.join(available)}",
            )
    return schema


@dataclass(frozen=True, slots=True)
class ScenarioDraft:
    name: str
    when: str
    then: str


@dataclass(frozen=True, slots=True)
class ChangeDraft:
    """The content a new change starts with: proposal, tasks and one ADDED requirement."""

    why: str
    what_changes: tuple[str, ...]
    impact: str
    capability: str
    capability_summary: str
    purpose: str
    requirement: str
    requirement_text: str
    scenarios: tuple[ScenarioDraft, ...]
    tasks: tuple[tuple[str, tuple[str, ...]], ...] = field(default_factory=tuple)
    new_capability: bool = True

    def proposal_md(self) -> str:
        what = "\n".join(f"- {line}" for line in self.what_changes)
        new = f"- `{self.capability}`: {self.capability_summary}" if self.new_capability else ""
        modified = (
            "" if self.new_capability else f"- `{self.capability}`: {self.capability_summary}"
        )
        return (
            f"# Proposal\n\n## Why\n\n{self.why}\n\n## What Changes\n\n{what}\n\n"
            f"## Capabilities\n\n### New Capabilities\n{new}\n\n### Modified Capabilities\n"
            f"{modified}\n\n## Impact\n\n{self.impact}\n"
        )

    def tasks_md(self) -> str:
        out = ["# Tasks", ""]
        for n, (group, items) in enumerate(self.tasks, start=1):
            out += [f"## {n}. {group}", ""]
            out += [f"- [ ] {n}.{i} {item}" for i, item in enumerate(items, start=1)]
            out.append("")
        return "\n".join(out)

    def spec_md(self) -> str:
        purpose = f"## Purpose\n{self.purpose}\n\n" if self.new_capability else ""
        scenarios = "\n\n".join(
            f"#### Scenario: {s.name}\n- **WHEN** {s.when}\n- **THEN** {s.then}"
            for s in self.scenarios
        )
        return (
            f"# Spec Delta\n\n{purpose}## ADDED Requirements\n\n"
            f"### Requirement: {self.requirement}\n{self.requirement_text}\n\n{scenarios}\n"
        )


def _changes_dir(project: Project) -> Path:
    return inside(project.path, "openspec", "changes", source=f"project {project.id}")


def create_change(
    project: Project,
    change_id: str,
    *,
    clock: Clock,
    description: str | None = None,
    draft: ChangeDraft | None = None,
    proposal: str | None = None,
    lock_dir: Path | None = None,
) -> Path:
    """Create ``openspec/changes/<change_id>/`` as ``openspec new change`` does; returns it.
    ``draft`` adds a proposal, tasks and a delta spec; ``proposal`` (without a draft) the
    ``proposal.md`` alone."""
    check_change_id(change_id)
    if change_id == "archive":
        raise InputError("change id", change_id, "'archive' is the archive folder's name")
    if draft is not None:
        check_capability_id(draft.capability, source="capability")
    schema = project_schema(project)
    with project_lock(project, lock_dir):
        changes = _changes_dir(project)
        target = changes / change_id
        if os.path.lexists(target):
            raise ConflictError(
                f"project {project.id}",
                change_id,
                f"Change '{change_id}' already exists at {target}",
            )
        changes.mkdir(parents=True, exist_ok=True)
        inside(project.path, "openspec", "specs", source=f"project {project.id}").mkdir(
            parents=True, exist_ok=True
        )
        (changes / "archive").mkdir(exist_ok=True)
        if (
            not (project.openspec_dir / "config.yaml").exists()
            and not (project.openspec_dir / "config.yml").exists()
        ):
            (project.openspec_dir / "config.yaml").write_text(f"schema: {DEFAULT_SCHEMA}\n")
        staging = Path(tempfile.mkdtemp(prefix=f".{change_id}.", dir=changes))
        try:
            (staging / ".openspec.yaml").write_text(
                f"schema: {schema}\ncreated: {local_date(clock)}\n", encoding="utf-8"
            )
            if description:
                (staging / "README.md").write_text(
                    f"# {change_id}\n\n{description}\n", encoding="utf-8"
                )
            if proposal is not None and draft is None:
                (staging / "proposal.md").write_text(proposal, encoding="utf-8")
            if draft is not None:
                (staging / "proposal.md").write_text(draft.proposal_md(), encoding="utf-8")
                if draft.tasks:
                    (staging / "tasks.md").write_text(draft.tasks_md(), encoding="utf-8")
                spec_dir = staging.joinpath("specs", *draft.capability.split("/"))
                spec_dir.mkdir(parents=True)
                (spec_dir / "spec.md").write_text(draft.spec_md(), encoding="utf-8")
            staging.chmod(0o755)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    log.info("created OpenSpec change", extra={"project": project.id, "change": change_id})
    return target


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    change: str
    archived_as: str
    path: Path
    specs_updated: bool
    totals: dict[str, int]
    via: str  # "openspec" (the CLI) or "triagehub"
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "archived_as": self.archived_as,
            "path": str(self.path),
            "specs_updated": self.specs_updated,
            "totals": dict(self.totals),
            "via": self.via,
            "warnings": list(self.warnings),
        }


def _active_change_dir(project: Project, change_id: str) -> Path:
    check_change_id(change_id)
    folder = project.changes_dir / change_id
    if change_id == "archive" or not os.path.lexists(folder):
        archived = sorted(
            p.name
            for p in (project.archive_dir.iterdir() if project.archive_dir.is_dir() else [])
            if p.name == change_id or p.name[11:] == change_id
        )
        if archived:
            raise ConflictError(
                f"project {project.id}", change_id, f"already archived as {archived[-1]}"
            )
        raise NotFoundError(f"project {project.id}", change_id, "no such active change")
    inside(project.changes_dir, change_id, source=f"project {project.id}")
    if folder.is_symlink() or not folder.is_dir():
        raise InputError(
            f"project {project.id}", change_id, "not a change folder (a file or a symbolic link)"
        )
    return folder


def _parse_cli_json(stdout: str) -> dict[str, Any] | None:
    start = stdout.find("{")
    if start < 0:
        return None
    try:
        data = json.loads(stdout[start:])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _archive_with_cli(cli: str, project: Project, change_id: str) -> ArchiveResult:
    try:
        proc = subprocess.run(
            [cli, "archive", change_id, "-y", "--json"],
            cwd=project.path,
            env=cli_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExternalServiceError("openspec", None, f"could not run {cli}: {exc}") from None
    data = _parse_cli_json(proc.stdout)
    if data is None:
        tail = (proc.stderr or proc.stdout).strip()[-500:]
        raise ExternalServiceError("openspec", proc.returncode, f"no JSON from archive: {tail}")
    archive = data.get("archive")
    if isinstance(archive, dict):
        totals = archive.get("totals") if isinstance(archive.get("totals"), dict) else {}
        return ArchiveResult(
            change=str(archive.get("change", change_id)),
            archived_as=str(archive.get("archivedAs", "")),
            path=Path(str(archive.get("path", ""))),
            specs_updated=bool(archive.get("specsUpdated")),
            totals={k: int(v) for k, v in (totals or {}).items() if isinstance(v, int)},
            via="openspec",
        )
    statuses = data.get("status") if isinstance(data.get("status"), list) else []
    messages = [
        " ".join(str(s.get(k, "")) for k in ("message", "fix") if s.get(k))
        for s in statuses or []
        if isinstance(s, dict)
    ]
    reason = "; ".join(m for m in messages if m) or f"exit status {proc.returncode}"
    raise InputError("openspec archive", change_id, reason)


def _has_delta_specs(change_dir: Path, project_root: Path) -> bool:
    specs = change_dir / "specs"
    if (specs / "spec.md").is_file():
        return True
    files, _ = discover_spec_files(specs, project_root)
    for _, path in files:
        text = read_text(path, project_root, path.name).text
        if text is not None and md.has_delta_header(text):
            return True
    return (
        any(
            p.suffix.lower() == ".md"
            and p.name != "spec.md"
            and md.has_delta_header(p.read_text("utf-8", "replace"))
            for p in specs.rglob("*.md")
            if p.is_file() and not p.is_symlink()
        )
        if specs.is_dir()
        else False
    )


def _archive_here(
    project: Project, change_dir: Path, change_id: str, clock: Clock
) -> ArchiveResult:
    if _has_delta_specs(change_dir, project.path):
        errors = [
            i
            for i in change_issues(change_dir, project.path, check_tasks=False)
            if i.level == "ERROR"
        ]
        if errors:
            shown = "; ".join(f"{i.path}: {i.message}" for i in errors[:3])
            more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
            raise InputError(
                "archive",
                change_id,
                f"Validation failed for change '{change_id}': {shown}{more}. Fix the errors "
                "(triagehub specs show / openspec validate) and archive again.",
            )
    name = change_id if ARCHIVE_PREFIX.match(change_id) else f"{local_date(clock)}-{change_id}"
    archive_dir = inside(
        project.path, "openspec", "changes", "archive", source=f"project {project.id}"
    )
    destination = archive_dir / name
    if os.path.lexists(destination):
        raise ConflictError(
            f"project {project.id}",
            change_id,
            f"Archive '{name}' already exists. Rename or remove it before archiving again.",
        )
    files, refused = discover_spec_files(change_dir / "specs", project.path)
    if refused:
        raise InputError("archive", change_id, "; ".join(refused))
    prepared: list[tuple[Path, str]] = []
    totals = {"added": 0, "modified": 0, "removed": 0, "renamed": 0}
    warnings: list[str] = []
    for spec_id, path in files:
        delta = read_text(path, project.path, f"specs/{spec_id}/spec.md")
        if delta.text is None:
            raise InputError("archive", change_id, delta.problem or f"cannot read {path}")
        target = inside(
            project.path, "openspec", "specs", *spec_id.split("/"), "spec.md", source="main spec"
        )
        current = read_text(target, project.path, f"openspec/specs/{spec_id}/spec.md")
        if current.problem:
            raise InputError("archive", change_id, current.problem)
        try:
            merged = build_updated_spec(delta.text, current.text, spec_id, change_id)
        except MergeError as exc:
            raise InputError("archive", change_id, str(exc)) from None
        errors = [i for i in spec_content_issues(spec_id, merged.rebuilt) if i.level == "ERROR"]
        if errors:
            raise InputError(
                "archive",
                change_id,
                f"the updated spec {spec_id} would be invalid: "
                + "; ".join(i.message.split("\n")[0] for i in errors[:3]),
            )
        prepared.append((target, merged.rebuilt))
        warnings.extend(merged.warnings)
        for key in totals:
            totals[key] += getattr(merged, key)
    for target, text in prepared:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    archive_dir.mkdir(parents=True, exist_ok=True)
    change_dir.rename(destination)
    return ArchiveResult(
        change=change_id,
        archived_as=name,
        path=destination,
        specs_updated=bool(prepared),
        totals=totals,
        via="triagehub",
        warnings=tuple(warnings),
    )


def archive_change(
    project: Project,
    change_id: str,
    *,
    clock: Clock,
    use_cli: bool | None = None,
    lock_dir: Path | None = None,
) -> ArchiveResult:
    """Archive an active change: with the ``openspec`` CLI when found (``use_cli`` None), or
    always / never with it (True / False)."""
    change_dir = _active_change_dir(project, change_id)
    cli = find_openspec_cli() if use_cli is not False else None
    if use_cli is True and cli is None:
        raise InputError(
            "openspec", "", f"the openspec CLI was not found (set {OPENSPEC_ENV} or install it)"
        )
    with project_lock(project, lock_dir):
        if cli is not None:
            result = _archive_with_cli(cli, project, change_id)
        else:
            result = _archive_here(project, change_dir, change_id, clock)
    log.info(
        "archived OpenSpec change",
        extra={"project": project.id, "change": change_id, "via": result.via},
    )
    return result
