"""dbt artifacts through the whole pipeline: kinds, severities, runs, history."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.engine.ingest import IngestSummary, ingest_files
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


STG_ORDERS = "model.triage_demo.stg_orders"
STG_CUSTOMERS = "model.triage_demo.stg_customers"
CUSTOMER_ORDERS = "model.triage_demo.customer_orders"


def test_issues_carry_affected_models_and_the_dbt_owner_routes_them(
    engine: Engine, tmp_path: Path
) -> None:
    folder = target(tmp_path, "a", "44444444-4444-4444-4444-444444444444")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["nodes"][STG_CUSTOMERS]["config"]["meta"] = {"owner": "ana@acme.test"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    ingest(engine, folder)
    with Session(engine) as session:
        issues = {i.checks[0]: i for i in list_issues(session=session)}
    # The broken model reaches the skipped downstream model.
    assert issues[STG_ORDERS].affected_models == [CUSTOMER_ORDERS]
    # A failing test names the tested model and what is built from it; its owner is the expert.
    test = issues[NOT_NULL]
    assert test.affected_models == [STG_CUSTOMERS, CUSTOMER_ORDERS]
    assert test.expert == "ana@acme.test"
    assert "owner named by the dbt metadata" in test.rationale
    assert issues[STG_ORDERS].expert is None


def test_an_ownership_rule_wins_over_the_dbt_owner(engine: Engine, tmp_path: Path) -> None:
    folder = target(tmp_path, "a", "55555555-5555-5555-5555-555555555555")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["nodes"][STG_CUSTOMERS]["config"]["meta"] = {"owner": "ana@acme.test"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    settings = Settings.model_validate(
        {"ownership": [{"pattern": "test.triage_demo.*", "owner": "@acme/data-quality"}]}
    )
    summary = ingest_files(
        engine, [folder], settings, options=ParseOptions(repository="acme/dbt_cloud")
    )
    assert not summary.errors
    with Session(engine) as session:
        issues = {i.checks[0]: i for i in list_issues(session=session)}
    assert issues[NOT_NULL].expert == "@acme/data-quality"


def test_the_repository_comes_from_the_configured_dbt_project(
    engine: Engine, tmp_path: Path
) -> None:
    folder = target(tmp_path, "a", "66666666-6666-6666-6666-666666666666")
    settings = Settings.model_validate(
        {"repositories": {"acme/warehouse": {"dbt_project": "triage_demo"}}}
    )
    options = ParseOptions(project_repositories=settings.dbt_project_repositories())
    summary = ingest_files(engine, [folder], settings, options=options)
    assert not summary.errors, summary.errors
    with Session(engine) as session:
        repos = {i.repository for i in list_issues(session=session)}
    assert repos == {"acme/warehouse"}


def test_a_manifest_of_another_project_is_ingested_without_lineage_and_with_a_warning(
    engine: Engine, tmp_path: Path
) -> None:
    folder = target(tmp_path, "a", "77777777-7777-7777-7777-777777777777")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["nodes"] = {k: v for k, v in manifest["nodes"].items() if k != STG_ORDERS}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    summary = ingest(engine, folder)
    assert any("does not match" in w for w in summary.warnings), summary.warnings
    assert summary.as_dict()["warnings"] == summary.warnings
    with Session(engine) as session:
        issues = {i.checks[0]: i for i in list_issues(session=session)}
    assert issues[STG_ORDERS].affected_models == []  # no lineage for the node it lacks
    assert issues[STG_ORDERS].kind == "runtime"
