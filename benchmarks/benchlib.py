"""Small helpers the benchmarks share (kept free of heavy imports: children measure memory)."""

from __future__ import annotations

import atexit
import importlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType


def vm_hwm_kib() -> int | None:
    """This process image's peak RSS (``VmHWM``, KiB), or None where there is no /proc."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


REPO_ROOT = Path(__file__).resolve().parent.parent


def load_core_at(rev: str) -> ModuleType:
    """``triagehub.core`` as it was at git revision ``rev``, for a benchmark to measure an older
    version beside the current one in the same run.

    The sources come from ``git archive`` into a temporary directory (removed at exit), as the
    package ``triagehub_at_<rev>`` (``triagehub.core`` renamed in them; ``core`` imports nothing
    else of triagehub). Raises SystemExit with the reason when git cannot give them.
    """
    name = "triagehub_at_" + re.sub(r"\W", "_", rev)
    if name in sys.modules:
        return importlib.import_module(f"{name}.core")
    try:
        archive = subprocess.run(
            ["git", "archive", rev, "src/triagehub/core"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"cannot read src/triagehub/core at {rev} with git: {exc}") from exc
    folder = Path(tempfile.mkdtemp(prefix="triagehub-baseline-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder)  # our own repository's archive
    package = folder / name
    (folder / "src" / "triagehub").rename(package)
    (package / "__init__.py").write_text("")
    for path in package.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"\btriagehub\.core\b", f"{name}.core", source), encoding="utf-8")
    sys.path.insert(0, str(folder))
    return importlib.import_module(f"{name}.core")
