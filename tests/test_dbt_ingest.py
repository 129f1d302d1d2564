"""dbt artifacts through the whole pipeline: kinds, severities, runs, history."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.pipeline import IngestSummary, ingest_files
from triagehub.sources import ParseOptions, detect_format
from triagehub.store import tables as t
from triagehub.store.queries import list_issues

DBT = Path(__file__).parent / "data" / "dbt"
NOT_NULL = "test.triage_demo.not_null_stg_customers_email.d7cf761533"


def target(
    tmp_path: Path, name: str, invocation: str, passing: frozenset[str] = frozenset()
) -> Path:
    folder = tmp_path / name / "target"
    folder.mkdir(parents=True)
    shutil.copy(DBT / "manifest.json", folder / "manifest.json")
    results = json.loads((DBT / "run_results.json").read_text())
    results["metadata"]["invocation_id"] = invocation
    for r in results["results"]:
        if r["unique_id"] in passing:
            r["status"], r["failures"], r["message"] = "pass", 0, None
    (folder / "run_results.json").write_text(json.dumps(results))
    return folder


def ingest(engine: Engine, folder: Path) -> IngestSummary:
    summary = ingest_files(
        engine, [folder], Settings(), fmt=None, options=ParseOptions(repository="acme/dbt_cloud")
    )
    assert not summary.errors, summary.errors
    return summary


def test_a_target_folder_is_recognised_and_triaged(engine: Engine, tmp_path: Path) -> None:
    folder = target(tmp_path, "a", "11111111-1111-1111-1111-111111111111")
    assert detect_format(folder).name == "dbt"
    ingest(engine, folder)
    with Session(engine) as session:
        issues = {i.checks[0]: i for i in list_issues(session=session)}
    model = issues["model.triage_demo.stg_orders"]
    assert (model.kind, model.severity) == ("runtime", "high")
    test = issues[NOT_NULL]
    assert (test.kind, test.category) == ("data_test", "data_quality_issue")
    warn = issues["test.triage_demo.email_not_null_warn.8a591e3269"]
    assert warn.severity == "low"
    assert "model.triage_demo.customer_orders" not in issues  # skipped downstream: no failure


def test_the_same_failure_in_two_runs_is_one_issue_and_a_pass_updates_history(
    engine: Engine, tmp_path: Path
) -> None:
    ingest(engine, target(tmp_path, "a", "11111111-1111-1111-1111-111111111111"))
    ingest(engine, target(tmp_path, "b", "22222222-2222-2222-2222-222222222222"))
    ingest(
        engine,
        target(
            tmp_path, "c", "33333333-3333-3333-3333-333333333333", passing=frozenset({NOT_NULL})
        ),
    )
    again = ingest(engine, target(tmp_path, "c2", "33333333-3333-3333-3333-333333333333"))
    assert again.duplicate_runs == 1
    with Session(engine) as session:
        [issue] = [i for i in list_issues(session=session) if i.checks == [NOT_NULL]]
        stats = session.execute(
            select(
                t.check_stats.c.runs,
                t.check_stats.c.consecutive_failures,
                t.check_stats.c.last_status,
            )
            .join(t.checks, t.checks.c.id == t.check_stats.c.check_id)
            .where(t.checks.c.key == NOT_NULL)
        ).one()
    assert issue.occurrences == 2
    assert tuple(stats) == (3, 0, "pass")
