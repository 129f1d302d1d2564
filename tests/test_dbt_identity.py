"""One identity per dbt node: a dbt console log and the same run's artifacts name each model and
test the same way, so ingesting both (in either order) gives no duplicate issues (SQLite and
PostgreSQL, on real dbt output)."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.core.templates import same_dbt_test
from triagehub.engine.ingest import ingest_files
from triagehub.sources import ParseOptions
from triagehub.sources.dbt import node_identity, parse_console_log
from triagehub.store import tables as t

DATA = Path(__file__).parent / "data" / "dbt"
REPO = "acme/dbt_demo"


def _ingest(engine: Engine, paths: Sequence[Path]) -> None:
    for path in paths:
        summary = ingest_files(engine, [path], Settings(), options=ParseOptions(repository=REPO))
        assert not summary.errors, summary.errors


def _issues_and_checks(engine: Engine) -> tuple[dict[str, int], int]:
    """Occurrences per issue, by the one check of each issue; and the number of checks."""
    with Session(engine) as s:
        rows = s.execute(
            select(t.issues.c.id, t.checks.c.key, t.issues.c.occurrences)
            .join(t.occurrences, t.occurrences.c.issue_id == t.issues.c.id)
            .join(t.checks, t.checks.c.id == t.occurrences.c.check_id)
            .distinct()
        ).all()
        checks = s.execute(select(func.count()).select_from(t.checks)).scalar_one()
    keys = [key for _, key, _ in rows]
    assert len(keys) == len(set(keys)), rows  # no node has two issues
    assert len({issue for issue, _, _ in rows}) == len(rows), rows  # no issue has two nodes
    return {key: n for _, key, n in rows}, checks


def test_node_identity_drops_only_a_generic_tests_hash() -> None:
    assert node_identity("test.p.unique_orders_id.c7614daada") == "test.p.unique_orders_id"
    assert node_identity("test.p.assert_total_positive") == "test.p.assert_total_positive"
    assert node_identity("model.p.orders.v2") == "model.p.orders.v2"
    assert node_identity("model.p.c7614daada.c7614daada") == "model.p.c7614daada.c7614daada"


def test_a_console_test_message_joins_the_artifacts_one_but_not_another_test() -> None:
    console = "Got <n> result, configured to fail if != <n>\ntest: <n> failing row"
    artifact = (
        "Got <n> result, configured to fail if != <n>\n"
        "not_null test on orders.email: <n> failing row"
    )
    assert same_dbt_test(console, artifact) and same_dbt_test(artifact, console)
    other_type = artifact.replace("not_null test", "unique test")
    assert not same_dbt_test(artifact, other_type)
    assert not same_dbt_test(console.replace("fail if", "warn if"), artifact)
    assert not same_dbt_test("Runtime Error\ntest", "Compilation Error\ntest")


@pytest.mark.parametrize("log", ["build_console.txt", "build_console_nocolor.txt"])
@pytest.mark.parametrize("log_first", [False, True], ids=["artifacts-first", "log-first"])
def test_console_log_and_artifacts_of_one_build_give_one_issue_per_node(
    engine: Engine, log: str, log_first: bool
) -> None:
    files = [DATA / "run_results.json", DATA / log]
    _ingest(engine, files[::-1] if log_first else files)
    by_check, checks = _issues_and_checks(engine)
    # The build: 1 failing model and 4 failing tests, 13 nodes in all (manifest and log alike).
    assert checks == 13
    assert len(by_check) == 5
    assert set(by_check.values()) == {2}  # every failure seen twice, in the one issue of its node
    hashed = {k for k in by_check if k.startswith("test.")}
    keys_from = "log" if log_first else "artifacts"
    assert all((k.count(".") == 3) == (keys_from == "artifacts") for k in hashed), hashed


def test_a_console_log_sent_again_after_the_artifacts_is_the_same_run(engine: Engine) -> None:
    options = ParseOptions(repository=REPO)
    _ingest(engine, [DATA / "run_results.json", DATA / "build_console.txt"])
    again = ingest_files(engine, [DATA / "build_console.txt"], Settings(), options=options)
    assert (again.runs, again.duplicate_runs, again.warnings) == (0, 1, [])


# ---------------------------------------------------------------------------------------------
# Real dbt (slow): a plain `dbt build` console log and that build's target/ artifacts.
# ---------------------------------------------------------------------------------------------


def _dbt() -> str:
    exe = os.environ.get("TRIAGEHUB_DBT") or shutil.which("dbt")
    local = Path(__file__).parent.parent / ".venv-dbt" / "bin" / "dbt"
    if exe is None and local.exists():
        exe = str(local)
    if exe is None or not Path(exe).exists():
        if os.environ.get("TRIAGEHUB_DBT"):
            pytest.fail(f"TRIAGEHUB_DBT={exe} is set but does not exist")
        pytest.skip(
            "dbt not found: python -m venv /tmp/dbt && /tmp/dbt/bin/pip install "
            "'dbt-core>=1.11,<1.12' dbt-duckdb, then TRIAGEHUB_DBT=/tmp/dbt/bin/dbt"
        )
    return exe


@pytest.fixture(scope="module")
def real_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(console log, target folder) of one real `dbt build` with a failing model and tests."""
    exe = _dbt()
    root = tmp_path_factory.mktemp("dbt_identity")
    project = root / "proj"
    (project / "models").mkdir(parents=True)
    (project / "seeds").mkdir()
    (project / "dbt_project.yml").write_text(
        "name: shop\nversion: '1.0'\nprofile: shop\nconfig-version: 2\n"
    )
    (project / "profiles.yml").write_text(
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {root / 'shop.duckdb'}\n      threads: 1\n"
    )
    (project / "seeds" / "raw_people.csv").write_text("id,email,status\n1,a@x,new\n1,,odd\n")
    (project / "models" / "people.sql").write_text("select * from {{ ref('raw_people') }}\n")
    (project / "models" / "broken.sql").write_text(
        "select missing_col from {{ ref('raw_people') }}\n"
    )
    (project / "models" / "schema.yml").write_text(
        textwrap.dedent(
            """\
            version: 2
            models:
              - name: people
                columns:
                  - name: id
                    data_tests: [unique, not_null]
                  - name: email
                    data_tests:
                      - not_null:
                          config: {severity: warn}
                  - name: status
                    data_tests:
                      - accepted_values:
                          arguments: {values: [new, done]}
            """
        )
    )
    env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(project),
        "NO_COLOR": "1",
    }
    proc = subprocess.run(
        [exe, "build"], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    log = root / "dbt_build.txt"
    log.write_text(proc.stdout)
    return log, project / "target"


@pytest.mark.slow
@pytest.mark.parametrize("log_first", [False, True], ids=["artifacts-first", "log-first"])
def test_real_dbt_build_log_and_artifacts_give_no_duplicate_issues(
    engine: Engine, real_build: tuple[Path, Path], log_first: bool
) -> None:
    log, target = real_build
    _ingest(engine, [log, target] if log_first else [target, log])
    by_check, _ = _issues_and_checks(engine)
    names = {node_identity(k) for k in by_check}
    assert names == {
        "model.shop.broken",
        "test.shop.unique_people_id",
        "test.shop.not_null_people_email",
        "test.shop.accepted_values_people_status__new__done",
    }, by_check
    assert set(by_check.values()) == {2}, by_check


def test_a_console_failure_block_keeps_the_blank_lines_of_the_database_message() -> None:
    # The shape of the real dbt 1.11 + duckdb output above (ANSI codes removed): the error
    # quotes the SQL after an untimestamped whitespace-only line.
    lines = [
        "19:35:53  Running with dbt=1.11.2",
        "19:35:54  2 of 7 ERROR creating sql view model main.broken ....... [ERROR in 0.05s]",
        "19:35:54  Failure in model broken (models/broken.sql)",
        "19:35:54    Runtime Error in model broken (models/broken.sql)",
        '  Binder Error: Referenced column "missing_col" not found in FROM clause!',
        "  ",
        '  LINE 5:     select missing_col from "shop"."main"."raw_people"',
        "19:35:54  ",
        "19:35:54    compiled code at target/compiled/shop/models/broken.sql",
        "19:35:54  ",
    ]
    report = parse_console_log(lines, repository=REPO)
    (broken,) = (r for r in report.results if r.check == "model.shop.broken")
    assert broken.message.endswith(
        '\n  \n  LINE 5:     select missing_col from "shop"."main"."raw_people"'
    )
