"""Task checkboxes and their group headings (the CLI's task progress)."""

from __future__ import annotations

from dataclasses import dataclass

from triagehub.work.specs.markdown.text import TASK_LINE, normalize

# -- tasks (utils/task-progress) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedTask:
    done: bool
    description: str
    line: int  # 1-based
    group: str | None


def parse_tasks(text: str) -> list[ParsedTask]:
    """Every checkbox line, wherever it is (the CLI counts fenced ones too), with its ``##``
    group heading."""
    tasks: list[ParsedTask] = []
    group: str | None = None
    for i, line in enumerate(normalize(text).split("\n")):
        if line.startswith("## "):
            group = line[3:].strip() or None
        if "[" in line and (m := TASK_LINE.match(line)):  # (a task line holds its checkbox)
            tasks.append(
                ParsedTask((m.group(1) or "").lower() == "x", m.group(2).strip(), i + 1, group)
            )
    return tasks
