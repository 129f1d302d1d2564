"""Small helpers the benchmarks share (kept free of heavy imports: children measure memory)."""

from __future__ import annotations

from pathlib import Path


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
