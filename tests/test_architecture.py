"""The shape of the code (docs/architecture.md): imports point one way, and no room is too big to
live in. The import contracts are import-linter's, configured in pyproject.toml and also run by
`make test` (`lint-imports`); here they are checked on the real tree, and shown to fail on a copy
of the tree with a forbidden import added.

`python tests/test_architecture.py` prints the largest modules and the longest functions."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "triagehub"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
# Long but flat: tables and schemas read top to bottom, where splitting would only scatter them.
# Each entry says why it may stay long.
FLAT_FUNCTIONS: dict[str, str] = {
    "store/migrations/versions/0001_initial_schema.py:upgrade": "the first schema, table by table",
}
FLAT_MODULES: dict[str, str] = {}


def lint_imports(project: Path, src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    return subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("core/models.py", "import triagehub.store.db"),  # core imports nothing above it
        ("store/tables.py", "import triagehub.engine.ingest"),  # store never imports engine
        ("sources/events.py", "import triagehub.config"),  # sources are pure translators
        ("work/evidence.py", "import triagehub.api.app"),  # nothing below imports an interface
    ],
)
def test_a_forbidden_import_breaks_a_contract(tmp_path: Path, module: str, forbidden: str) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(PACKAGE, tmp_path / "src" / "triagehub", ignore=shutil.ignore_patterns("*.pyc"))
    target = tmp_path / "src" / "triagehub" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{forbidden}  # noqa\n", "utf-8")
    result = lint_imports(tmp_path, tmp_path / "src")
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
    assert forbidden.split()[-1] in result.stdout


def _sizes() -> tuple[dict[str, int], dict[str, int]]:
    modules: dict[str, int] = {}
    functions: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        text = path.read_text(encoding="utf-8")
        modules[name] = len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                key = f"{name}:{node.name}"
                functions[key] = max(functions.get(key, 0), length)
    return modules, functions


def test_no_module_is_too_big_to_read() -> None:
    modules, _ = _sizes()
    large = {n: lines for n, lines in modules.items() if lines > MAX_MODULE_LINES}
    assert set(large) <= set(FLAT_MODULES), f"modules over {MAX_MODULE_LINES} lines: {large}"


def test_no_function_is_too_long_to_follow() -> None:
    _, functions = _sizes()
    long = {n: lines for n, lines in functions.items() if lines > MAX_FUNCTION_LINES}
    assert set(long) <= set(FLAT_FUNCTIONS), f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_allowances_are_still_needed() -> None:
    """An allowance that no longer applies is removed, so the list never hides a new long one."""
    modules, functions = _sizes()
    for name in FLAT_MODULES:
        assert modules.get(name, 0) > MAX_MODULE_LINES, name
    for name in FLAT_FUNCTIONS:
        assert functions.get(name, 0) > MAX_FUNCTION_LINES, name


if __name__ == "__main__":
    sizes, lengths = _sizes()
    print(
        f"{len(sizes)} modules, {sum(n > MAX_MODULE_LINES for n in sizes.values())} over "
        f"{MAX_MODULE_LINES} lines; {sum(n > MAX_FUNCTION_LINES for n in lengths.values())} "
        f"functions over {MAX_FUNCTION_LINES} lines"
    )
    for title, table in (("largest modules", sizes), ("longest functions", lengths)):
        print(f"{title}:")
        for name, lines in sorted(table.items(), key=lambda item: -item[1])[:10]:
            print(f"  {lines:5d}  {name}")
