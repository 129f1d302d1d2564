"""The dbt source: run artifacts, lineage and console logs, on real dbt 1.11 output."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.errors import InputError
from triagehub.sources import dbt

DATA = Path(__file__).parent / "data" / "dbt"
REPO = "acme/dbt_demo"
P = "triage_demo"
INVOCATION = "0ca893b5-1f69-49a2-ba12-150db53fb26a"

STG_ORDERS = f"model.{P}.stg_orders"
CUSTOMER_ORDERS = f"model.{P}.customer_orders"
STG_CUSTOMERS = f"model.{P}.stg_customers"
NOT_NULL_EMAIL = f"test.{P}.not_null_stg_customers_email.d7cf761533"
UNIQUE_ID_TEST = f"test.{P}.unique_stg_customers_customer_id.c7614daada"
WARN_TEST = f"test.{P}.email_not_null_warn.8a591e3269"
ACCEPTED_TEST = f"test.{P}.accepted_values_order_status_status__shipped__placed.54e16c103d"
SKIPPED_TEST = f"test.{P}.unique_customer_orders_customer_id.0e9f6da4ce"


def by_check(report: RunReport) -> dict[str, CheckResult]:
    return {r.check: r for r in report.results}


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / name).read_text())
    return doc


def target(tmp_path: Path, run_results: dict[str, Any], manifest: dict[str, Any] | None) -> Path:
    folder = tmp_path / "target"
    folder.mkdir()
    (folder / "run_results.json").write_text(json.dumps(run_results))
    if manifest is not None:
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def report() -> RunReport:
    return dbt.parse_artifacts(DATA, repository=REPO)


# ---------------------------------------------------------------------------------------------
# Artifacts: run metadata and status mapping
# ---------------------------------------------------------------------------------------------


def test_run_metadata_comes_from_the_artifact(report: RunReport) -> None:
    assert report.source == dbt.SOURCE == "dbt"
    assert report.repository == REPO
    assert report.run_id == INVOCATION
    assert report.finished_at is not None
    assert report.finished_at.isoformat() == "2026-11-21T23:19:00.397964+00:00"
    assert report.started_at is not None and report.started_at < report.finished_at
    assert report.status == "failure"
    assert len(report.results) == 13


def test_every_status_maps(report: RunReport) -> None:
    statuses = {c: r.status for c, r in by_check(report).items()}
    assert statuses[f"seed.{P}.raw_customers"] is Status.PASS
    assert statuses[STG_CUSTOMERS] is Status.PASS
    assert statuses[STG_ORDERS] is Status.ERROR
    assert statuses[CUSTOMER_ORDERS] is Status.SKIP
    assert statuses[SKIPPED_TEST] is Status.SKIP
    assert statuses[NOT_NULL_EMAIL] is Status.FAIL
    assert statuses[UNIQUE_ID_TEST] is Status.FAIL
    assert statuses[WARN_TEST] is Status.FAIL
    assert statuses[f"test.{P}.not_null_stg_customers_customer_id.e2cfb1f9aa"] is Status.PASS


def test_model_error_keeps_dbt_message_and_compiled_sql(report: RunReport) -> None:
    r = by_check(report)[STG_ORDERS]
    assert r.message.startswith("Runtime Error in model stg_orders (models/stg_orders.sql)")
    assert 'Referenced column "total_amount" not found' in r.message
    assert "total_amount" in r.log and "select" in r.log.lower()
    assert r.duration_s == pytest.approx(0.0198, abs=1e-3)


def test_failing_tests_carry_type_target_and_count(report: RunReport) -> None:
    results = by_check(report)
    not_null = results[NOT_NULL_EMAIL].message
    assert not_null.startswith("Got 1 result, configured to fail if != 0\n")
    assert "not_null test on stg_customers.email: 1 failing row" in not_null
    assert "unique test on stg_customers.customer_id: 1 failing row" in (
        results[UNIQUE_ID_TEST].message
    )
    assert results[UNIQUE_ID_TEST].log  # the compiled test query


def test_warn_tests_are_failures_marked_as_warnings(report: RunReport) -> None:
    for check in (WARN_TEST, ACCEPTED_TEST):
        r = by_check(report)[check]
        assert r.status is Status.FAIL
        assert r.message.startswith("Warning: Got 1 result, configured to warn if != 0")
    assert "accepted_values test on order_status.status" in by_check(report)[ACCEPTED_TEST].message


def test_warnings_are_classified_low_severity(report: RunReport) -> None:
    from triagehub.core.classify.rules import WARNING

    assert WARNING.search(by_check(report)[WARN_TEST].message)
    assert not WARNING.search(by_check(report)[NOT_NULL_EMAIL].message)


def test_skipped_and_passing_results_have_no_log(report: RunReport) -> None:
    for check in (CUSTOMER_ORDERS, SKIPPED_TEST, STG_CUSTOMERS):
        r = by_check(report)[check]
        assert r.log == ""
        assert not r.status.is_failure


def test_run_results_file_path_works_like_the_folder(report: RunReport) -> None:
    assert dbt.parse_artifacts(DATA / "run_results.json", repository=REPO) == report


@pytest.mark.parametrize("version", [4, 5])
def test_older_schema_versions_parse(version: int) -> None:
    old = dbt.parse_artifacts(DATA / f"v{version}", repository=REPO)
    assert old.run_id == INVOCATION
    results = by_check(old)
    assert results[STG_ORDERS].status is Status.ERROR
    assert results[NOT_NULL_EMAIL].status is Status.FAIL
    assert "1 failing row" in results[NOT_NULL_EMAIL].message  # no manifest: no test type
    assert results[WARN_TEST].message.startswith("Warning: ")
    assert results[CUSTOMER_ORDERS].status is Status.SKIP
    assert old.started_at is None  # invocation_started_at arrived in v6


def test_v4_has_no_compiled_code_so_no_log() -> None:
    old = dbt.parse_artifacts(DATA / "v4", repository=REPO)
    assert by_check(old)[STG_ORDERS].log == ""


# ---------------------------------------------------------------------------------------------
# Artifacts: repository
# ---------------------------------------------------------------------------------------------


def test_repository_from_project_mapping() -> None:
    got = dbt.parse_artifacts(DATA, project_repositories={P: "acme/warehouse"})
    assert got.repository == "acme/warehouse"


def test_repository_from_unique_id_prefix_without_manifest() -> None:
    got = dbt.parse_artifacts(DATA / "v5", project_repositories={P: "acme/warehouse"})
    assert got.repository == "acme/warehouse"


def test_missing_repository_says_to_pass_repo() -> None:
    with pytest.raises(InputError, match=r"--repo OWNER/NAME.*'triage_demo'"):
        dbt.parse_artifacts(DATA, project_repositories={"other": "acme/x"})


def test_bad_repository_is_rejected() -> None:
    with pytest.raises(InputError, match="expected OWNER/NAME"):
        dbt.parse_artifacts(DATA, repository="not a repo")


# ---------------------------------------------------------------------------------------------
# Artifacts: hostile and mismatched input
# ---------------------------------------------------------------------------------------------


def test_unknown_schema_version_names_it(tmp_path: Path) -> None:
    doc = load("run_results.json")
    doc["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/run-results/v99.json"
    folder = target(tmp_path, doc, None)
    with pytest.raises(InputError) as err:
        dbt.parse_artifacts(folder, repository=REPO)
    assert err.value.location == "metadata.dbt_schema_version"
    assert "unknown dbt schema version" in err.value.reason
    assert "run-results/v99.json" in err.value.reason
    assert "supported: run-results v1, v2, v3, v4, v5, v6" in err.value.reason
    assert err.value.source.endswith("run_results.json")


def test_truncated_json_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "target"
    folder.mkdir()
    text = (DATA / "run_results.json").read_text()
    (folder / "run_results.json").write_text(text[: len(text) // 2])
    with pytest.raises(InputError, match="malformed JSON") as err:
        dbt.parse_artifacts(folder, repository=REPO)
    assert err.value.source == str(folder / "run_results.json")


def test_wrong_field_type_names_the_json_path(tmp_path: Path) -> None:
    doc = load("run_results.json")
    doc["results"][3]["execution_time"] = "slow"
    with pytest.raises(InputError) as err:
        dbt.parse_artifacts(target(tmp_path, doc, None), repository=REPO)
    assert err.value.location == "results[3].execution_time"


def test_unknown_status_is_an_input_error(tmp_path: Path) -> None:
    doc = load("run_results.json")
    doc["results"][0]["status"] = "exploded"
    with pytest.raises(InputError) as err:
        dbt.parse_artifacts(target(tmp_path, doc, None), repository=REPO)
    assert err.value.location.startswith("results[0].status")


def test_fields_from_a_newer_dbt_are_tolerated_with_a_warning(tmp_path: Path) -> None:
    doc = load("run_results.json")
    doc["results"][0]["new_in_dbt_1_13"] = True
    got = dbt.parse_artifacts_full(target(tmp_path, doc, None), repository=REPO)
    assert len(got.report.results) == 13
    assert any("results[0].new_in_dbt_1_13" in w for w in got.warnings)


def test_not_a_dbt_artifact(tmp_path: Path) -> None:
    folder = target(tmp_path, {"results": []}, None)
    with pytest.raises(InputError, match="metadata"):
        dbt.parse_artifacts(folder, repository=REPO)


def test_a_manifest_instead_of_run_results_is_refused() -> None:
    with pytest.raises(InputError, match=r"manifest artifact; expected run_results\.json"):
        dbt.parse_artifacts(DATA / "manifest.json", repository=REPO)


def test_empty_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no run_results\.json"):
        dbt.parse_artifacts(tmp_path, repository=REPO)


def test_mismatched_manifest_still_gives_the_report_with_a_warning(tmp_path: Path) -> None:
    manifest = load("manifest.json")
    for uid in (STG_ORDERS, NOT_NULL_EMAIL):
        del manifest["nodes"][uid]
    got = dbt.parse_artifacts_full(
        target(tmp_path, load("run_results.json"), manifest), repository=REPO
    )
    assert len(got.report.results) == 13
    assert any("does not match" in w and "2 of 13" in w for w in got.warnings)
    assert STG_ORDERS not in got.lineage  # unknown to the manifest
    assert UNIQUE_ID_TEST in got.lineage
    message = by_check(got.report)[NOT_NULL_EMAIL].message
    assert "1 failing row" in message and "not_null" not in message.split("\n", 1)[1]


def test_an_invalid_manifest_only_loses_lineage(tmp_path: Path) -> None:
    manifest = load("manifest.json")
    manifest["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v99.json"
    got = dbt.parse_artifacts_full(
        target(tmp_path, load("run_results.json"), manifest), repository=REPO
    )
    assert got.lineage == {}
    assert any("manifest ignored" in w and "v99" in w for w in got.warnings)


def test_matching_artifacts_give_no_warnings() -> None:
    assert dbt.parse_artifacts_full(DATA, repository=REPO).warnings == ()


def test_run_id_is_stable_without_invocation_id(tmp_path: Path) -> None:
    doc = load("run_results.json")
    del doc["metadata"]["invocation_id"]
    first = dbt.parse_artifacts(target(tmp_path, doc, None), repository=REPO)
    again = dbt.parse_artifacts(tmp_path / "target", repository=REPO)
    assert first.run_id == again.run_id and first.run_id.startswith("dbt-")


# ---------------------------------------------------------------------------------------------
# Source freshness (sources.json)
# ---------------------------------------------------------------------------------------------


def _sources_json(invocation: str) -> dict[str, Any]:
    def result(table: str, status: str, age: float) -> dict[str, Any]:
        return {
            "unique_id": f"source.{P}.raw.{table}",
            "max_loaded_at": "2026-11-21T20:00:00+00:00",
            "snapshotted_at": "2026-11-21T23:19:00+00:00",
            "max_loaded_at_time_ago_in_s": age,
            "status": status,
            "criteria": {
                "warn_after": {"count": 1, "period": "hour"},
                "error_after": {"count": 2, "period": "hour"},
                "filter": None,
            },
            "adapter_response": {},
            "timing": [],
            "thread_id": "Thread-1",
            "execution_time": 0.01,
        }

    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json",
            "dbt_version": "1.11.16",
            "generated_at": "2026-11-21T23:19:00.397964Z",
            "invocation_id": invocation,
            "env": {},
        },
        "results": [
            result("orders", "pass", 60.0),
            result("customers", "warn", 5400.0),
            result("payments", "error", 11000.0),
            {
                "unique_id": f"source.{P}.raw.gone",
                "error": "table not found",
                "status": "runtime error",
            },
        ],
        "elapsed_time": 0.5,
    }


def test_source_freshness_maps_pass_warn_stale_and_runtime_error(tmp_path: Path) -> None:
    path = tmp_path / "sources.json"
    path.write_text(json.dumps(_sources_json("f00")))
    got = by_check(dbt.parse_artifacts(path, repository=REPO))
    assert got[f"source.{P}.raw.orders"].status is Status.PASS
    warn = got[f"source.{P}.raw.customers"]
    assert warn.status is Status.FAIL and warn.message.startswith("Warning: Source freshness")
    stale = got[f"source.{P}.raw.payments"]
    assert stale.status is Status.FAIL
    assert "max_loaded_at" in stale.message and "error_after 2 hour" in stale.message
    assert got[f"source.{P}.raw.gone"].status is Status.ERROR


def test_sources_json_of_another_invocation_is_ignored_with_a_warning(tmp_path: Path) -> None:
    folder = target(tmp_path, load("run_results.json"), None)
    (folder / "sources.json").write_text(json.dumps(_sources_json("another-run")))
    got = dbt.parse_artifacts_full(folder, repository=REPO)
    assert len(got.report.results) == 13
    assert any("another dbt invocation" in w for w in got.warnings)


def test_sources_json_of_the_same_invocation_is_merged(tmp_path: Path) -> None:
    folder = target(tmp_path, load("run_results.json"), None)
    (folder / "sources.json").write_text(json.dumps(_sources_json(INVOCATION)))
    got = dbt.parse_artifacts(folder, repository=REPO)
    assert len(got.results) == 17


# ---------------------------------------------------------------------------------------------
# Lineage
# ---------------------------------------------------------------------------------------------


def test_failing_model_lineage_lists_downstream_models() -> None:
    got = dbt.parse_artifacts_full(DATA, repository=REPO)
    lin = got.lineage[STG_ORDERS]
    assert lin.downstream_models == (CUSTOMER_ORDERS,)
    assert lin.affected_models == (CUSTOMER_ORDERS,)
    assert set(got.lineage) == {
        STG_ORDERS,
        NOT_NULL_EMAIL,
        UNIQUE_ID_TEST,
        WARN_TEST,
        ACCEPTED_TEST,
    }


def test_failing_test_lineage_names_the_tested_model_and_its_downstream() -> None:
    lin = dbt.lineage(load("manifest.json"), NOT_NULL_EMAIL)
    assert lin.tested_nodes == (STG_CUSTOMERS,)
    assert lin.downstream_models == (CUSTOMER_ORDERS,)
    assert lin.affected_models == (STG_CUSTOMERS, CUSTOMER_ORDERS)


def _owned_manifest() -> dict[str, Any]:
    manifest = load("manifest.json")
    manifest["nodes"][STG_CUSTOMERS]["config"]["meta"] = {"owner": "ana@acme.test"}
    manifest["nodes"][STG_ORDERS]["group"] = "finance"
    manifest["groups"] = {
        f"group.{P}.finance": {
            "name": "finance",
            "owner": {"name": "Finance data", "email": "fin@acme.test"},
        }
    }
    manifest["sources"][f"source.{P}.shop.orders"] = {"name": "orders", "source_name": "shop"}
    manifest["parent_map"][f"seed.{P}.raw_orders"] = [f"source.{P}.shop.orders"]
    manifest["exposures"][f"exposure.{P}.revenue"] = {"name": "revenue"}
    manifest["child_map"][CUSTOMER_ORDERS].append(f"exposure.{P}.revenue")
    return manifest


def test_owner_from_config_meta_applies_to_its_tests() -> None:
    manifest = _owned_manifest()
    assert dbt.lineage(manifest, STG_CUSTOMERS).owner == "ana@acme.test"
    assert dbt.lineage(manifest, NOT_NULL_EMAIL).owner == "ana@acme.test"


def test_owner_from_group_and_transitive_sources_and_exposures() -> None:
    lin = dbt.lineage(_owned_manifest(), STG_ORDERS)
    assert lin.group == "finance" and lin.team == "finance"
    assert lin.owner == "fin@acme.test" == lin.group_owner
    assert lin.upstream_sources == (f"source.{P}.shop.orders",)
    assert lin.downstream_exposures == (f"exposure.{P}.revenue",)


def test_lineage_for_report_can_include_passing_nodes() -> None:
    report = dbt.parse_artifacts(DATA, repository=REPO)
    every = dbt.lineage_for_report(load("manifest.json"), report, failing_only=False)
    assert len(every) == 13


def test_lineage_walk_is_bounded_on_a_huge_graph() -> None:
    n = dbt.MAX_LINEAGE_NODES + 50
    chain = [f"model.p.m{i}" for i in range(n)]
    manifest: dict[str, Any] = {
        "nodes": {uid: {"name": uid} for uid in chain},
        "child_map": {a: [b] for a, b in itertools.pairwise(chain)},
        "parent_map": {b: [a] for a, b in itertools.pairwise(chain)},
    }
    lin = dbt.lineage(manifest, chain[0])
    assert lin.truncated
    assert len(lin.downstream_models) == dbt.MAX_LINEAGE_NODES


def test_lineage_survives_a_cycle() -> None:
    manifest: dict[str, Any] = {
        "nodes": {"model.p.a": {}, "model.p.b": {}},
        "child_map": {"model.p.a": ["model.p.b"], "model.p.b": ["model.p.a"]},
        "parent_map": {"model.p.a": ["model.p.b"], "model.p.b": ["model.p.a"]},
    }
    assert dbt.lineage(manifest, "model.p.a").downstream_models == ("model.p.b",)


# ---------------------------------------------------------------------------------------------
# Console logs
# ---------------------------------------------------------------------------------------------

EXPECTED_CONSOLE = {
    f"seed.{P}.raw_customers": Status.PASS,
    STG_CUSTOMERS: Status.PASS,
    STG_ORDERS: Status.ERROR,
    CUSTOMER_ORDERS: Status.SKIP,
}


@pytest.mark.parametrize("name", ["build_console.txt", "build_console_nocolor.txt"])
def test_console_maps_per_node_lines(name: str) -> None:
    got = dbt.parse_console_log(DATA / name, repository=REPO)
    results = by_check(got)
    assert len(results) == 13
    for check, status in EXPECTED_CONSOLE.items():
        assert results[check].status is status
    assert results[f"test.{P}.not_null_stg_customers_email"].status is Status.FAIL
    assert results[f"test.{P}.email_not_null_warn"].message.startswith("Warning: Got 1 result")
    assert results[f"test.{P}.unique_customer_orders_customer_id"].status is Status.SKIP
    assert got.status == "failure" and got.run_id.startswith("dbtlog-")


def test_console_error_message_matches_the_artifact_message(report: RunReport) -> None:
    got = by_check(dbt.parse_console_log(DATA / "build_console.txt", repository=REPO))
    assert got[STG_ORDERS].message == by_check(report)[STG_ORDERS].message
    assert "\x1b" not in got[STG_ORDERS].message


def test_console_failure_carries_the_failure_count() -> None:
    got = by_check(dbt.parse_console_log(DATA / "build_console_nocolor.txt", repository=REPO))
    msg = got[f"test.{P}.unique_stg_customers_customer_id"].message
    assert msg == "Got 1 result, configured to fail if != 0\ntest: 1 failing row"


def test_console_with_manifest_gets_exact_test_ids_and_types() -> None:
    got = by_check(
        dbt.parse_console_log(
            DATA / "build_console.txt", repository=REPO, manifest=load("manifest.json")
        )
    )
    assert "unique test on stg_customers.customer_id" in got[UNIQUE_ID_TEST].message
    assert got[SKIPPED_TEST].status is Status.SKIP
    assert got[CUSTOMER_ORDERS].status is Status.SKIP


def test_console_run_id_is_content_derived() -> None:
    a = dbt.parse_console_log(DATA / "build_console.txt", repository=REPO)
    b = dbt.parse_console_log(
        (DATA / "build_console.txt").read_text().splitlines(), repository=REPO
    )
    assert a.run_id == b.run_id
    c = dbt.parse_console_log(DATA / "build_console_nocolor.txt", repository=REPO)
    assert c.run_id != a.run_id  # another run (other timestamps)


def test_json_log_uses_unique_ids_and_invocation_id(report: RunReport) -> None:
    got = dbt.parse_console_log(DATA / "build_log.jsonl", repository=REPO)
    assert got.run_id == INVOCATION
    assert got.finished_at is not None and got.started_at is not None
    results = by_check(got)
    assert set(results) == {r.check for r in report.results}
    for check, artifact in by_check(report).items():
        assert results[check].status is artifact.status, check
    assert results[STG_ORDERS].message == by_check(report)[STG_ORDERS].message
    assert results[NOT_NULL_EMAIL].message.endswith("1 failing row")
    assert "compiled code at target/compiled" in results[NOT_NULL_EMAIL].log


def test_json_log_with_a_truncated_last_line_still_parses(tmp_path: Path) -> None:
    text = (DATA / "build_log.jsonl").read_text()
    path = tmp_path / "cut.jsonl"
    path.write_text(text[: len(text) - 200])
    got = dbt.parse_console_log(path, repository=REPO)
    assert by_check(got)[STG_ORDERS].status is Status.ERROR


def test_compile_error_names_the_node() -> None:
    got = dbt.parse_console_log(DATA / "compile_error_console.txt", repository=REPO)
    (r,) = got.results
    assert r.check == f"model.{P}.bad_ref"
    assert r.status is Status.ERROR
    assert r.message.startswith("Compilation Error\n  Model 'model.triage_demo.bad_ref'")
    assert "depends on a node named 'does_not_exist'" in r.message
    assert got.status == "failure"


def test_jinja_error_keeps_the_error_block() -> None:
    got = dbt.parse_console_log(DATA / "jinja_error_console.txt", repository=REPO, project=P)
    (r,) = got.results
    assert r.check == f"model.{P}.bad_ref"
    assert r.message == textwrap.dedent(
        """\
        Compilation Error in model bad_ref (models/bad_ref.sql)
          unexpected 'end of print statement'
            line 1
              select {{ 1 + }}"""
    )


def test_jinja_error_without_project_uses_the_node_name() -> None:
    got = dbt.parse_console_log(DATA / "jinja_error_console.txt", repository=REPO)
    assert got.results[0].check == "model.bad_ref"


def test_error_without_a_node_gets_a_generic_check() -> None:
    lines = [
        "10:00:00  Running with dbt=1.11.16",
        "10:00:01  Encountered an error:",
        "Database Error",
        "  Connection refused: could not connect to server",
    ]
    (r,) = dbt.parse_console_log(lines, repository=REPO).results
    assert r.check == "dbt / database"
    assert r.message == "Database Error\n  Connection refused: could not connect to server"


def test_json_log_of_a_compile_error() -> None:
    got = dbt.parse_console_log(DATA / "compile_error_log.jsonl", repository=REPO)
    (r,) = got.results
    assert r.check == f"model.{P}.bad_ref" and r.status is Status.ERROR
    assert r.message.startswith("Compilation Error\n")
    assert "does_not_exist" in r.message
    assert (
        got.run_id
        == json.loads((DATA / "compile_error_log.jsonl").read_text().splitlines()[0])["info"][
            "invocation_id"
        ]
    )
    assert dbt.sniff_console(head("compile_error_log.jsonl"))


def test_json_main_encountered_error() -> None:
    event = {
        "data": {"exc": "Compilation Error in model bad_ref (models/bad_ref.sql)\n  boom"},
        "info": {
            "name": "MainEncounteredError",
            "msg": "Encountered an error:\nCompilation Error in model bad_ref ...",
            "invocation_id": "inv-1",
            "ts": "2026-11-21T23:19:11.000000Z",
            "level": "error",
        },
    }
    got = dbt.parse_console_log([json.dumps(event)], repository=REPO, project=P)
    assert got.run_id == "inv-1"
    (r,) = got.results
    assert r.check == f"model.{P}.bad_ref" and r.status is Status.ERROR


def test_not_a_dbt_log_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("hello\nworld\n")
    with pytest.raises(InputError, match="no dbt node results"):
        dbt.parse_console_log(path, repository=REPO)


def test_console_repository_from_project_mapping() -> None:
    got = dbt.parse_console_log(
        DATA / "build_log.jsonl", project_repositories={P: "acme/warehouse"}
    )
    assert got.repository == "acme/warehouse"


# ---------------------------------------------------------------------------------------------
# Sniffers
# ---------------------------------------------------------------------------------------------


def head(name: str) -> bytes:
    return (DATA / name).read_bytes()[:65536]


def test_sniff_artifacts() -> None:
    assert dbt.sniff_artifacts(head("run_results.json"))
    assert dbt.sniff_artifacts(head("v4/run_results.json"))
    assert not dbt.sniff_artifacts(head("manifest.json"))
    assert not dbt.sniff_artifacts(head("build_log.jsonl"))


@pytest.mark.parametrize(
    "name",
    [
        "build_console.txt",
        "build_console_nocolor.txt",
        "build_log.jsonl",
        "compile_error_console.txt",
        "jinja_error_console.txt",
    ],
)
def test_sniff_console(name: str) -> None:
    assert dbt.sniff_console(head(name))
    assert not dbt.sniff_artifacts(head(name))


def test_sniff_console_rejects_artifacts_and_events() -> None:
    assert not dbt.sniff_console(head("run_results.json"))
    assert not dbt.sniff_console(b'{"repository": "a/b", "check": "x"}')


# ---------------------------------------------------------------------------------------------
# Real dbt (slow): dbt lives in its own virtualenv (dbt-core 1.11 pins pathspec<0.13, which
# breaks mypy>=2 in the project venv), found through TRIAGEHUB_DBT or `dbt` on PATH.
# ---------------------------------------------------------------------------------------------


def _dbt_executable() -> str | None:
    explicit = os.environ.get("TRIAGEHUB_DBT")
    if explicit:
        return explicit
    return shutil.which("dbt")


@pytest.mark.slow
def test_real_dbt_build_artifacts_and_log_agree(tmp_path: Path) -> None:
    exe = _dbt_executable()
    if os.environ.get("TRIAGEHUB_DBT") and (exe is None or not Path(exe).exists()):
        pytest.fail(f"TRIAGEHUB_DBT={exe} is set but does not exist")  # declared: must run
    if exe is None:
        pytest.skip(
            "dbt not found: python -m venv /tmp/dbt && /tmp/dbt/bin/pip install "
            "'dbt-core>=1.11,<1.12' dbt-duckdb, then TRIAGEHUB_DBT=/tmp/dbt/bin/dbt"
        )
    project = tmp_path / "proj"
    (project / "models").mkdir(parents=True)
    (project / "seeds").mkdir()
    (project / "dbt_project.yml").write_text(
        "name: tiny\nversion: '1.0'\nprofile: tiny\nconfig-version: 2\n"
    )
    (project / "profiles.yml").write_text(
        "tiny:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {tmp_path / 'tiny.duckdb'}\n      threads: 1\n"
    )
    (project / "seeds" / "raw_people.csv").write_text("id,email\n1,a@x\n1,\n")
    (project / "models" / "people.sql").write_text("select * from {{ ref('raw_people') }}\n")
    (project / "models" / "broken.sql").write_text(
        "select missing_col from {{ ref('raw_people') }}\n"
    )
    (project / "models" / "after_broken.sql").write_text("select * from {{ ref('broken') }}\n")
    (project / "models" / "schema.yml").write_text(
        textwrap.dedent(
            """\
            version: 2
            models:
              - name: people
                config: {meta: {owner: ana@acme.test}}
                columns:
                  - name: id
                    data_tests: [unique]
                  - name: email
                    data_tests:
                      - not_null:
                          config: {severity: warn}
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
        [exe, "build", "--log-format", "json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    parsed = dbt.parse_artifacts_full(project / "target", repository=REPO)
    assert parsed.warnings == ()
    results = by_check(parsed.report)
    assert results["model.tiny.broken"].status is Status.ERROR
    assert results["model.tiny.after_broken"].status is Status.SKIP
    unique = next(r for c, r in results.items() if c.startswith("test.tiny.unique_people_id"))
    assert unique.status is Status.FAIL and "unique test on people.id: 1 failing row" in (
        unique.message
    )
    warn = next(r for c, r in results.items() if c.startswith("test.tiny.not_null_people_email"))
    assert warn.message.startswith("Warning: ")
    assert parsed.lineage[unique.check].owner == "ana@acme.test"
    assert parsed.lineage["model.tiny.broken"].downstream_models == ("model.tiny.after_broken",)
    log = dbt.parse_console_log(proc.stdout.splitlines(), repository=REPO)
    assert log.run_id == parsed.report.run_id
    assert {r.check: r.status for r in log.results} == {
        r.check: r.status for r in parsed.report.results
    }
