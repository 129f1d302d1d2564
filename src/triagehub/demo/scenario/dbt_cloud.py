"""acme/dbt_cloud's runs: a ``dbt build`` of a small DuckDB project (scenarios 2, 5 and a
one-off ``Binder Error``)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Final

from triagehub.demo.scenario.data import (
    DATA_TEST,
    DATA_TEST_COUNTS,
    DATA_TEST_DAYS,
    DAYS,
    DBT_PREFIX,
    DBT_REPO,
    PERSISTENT_DAY,
    PERSISTENT_NODE,
)
from triagehub.demo.scenario.plan import Result, Run, assign_commits, tag_run

# (unique_id, upstream nodes) in build order. Tests hang off the models they test.
_DBT_NODES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("seed.jaffle.raw_customers", ()),
    ("seed.jaffle.raw_orders", ()),
    ("seed.jaffle.raw_payments", ()),
    ("model.jaffle.stg_customers", ("seed.jaffle.raw_customers",)),
    ("model.jaffle.stg_orders", ("seed.jaffle.raw_orders",)),
    ("model.jaffle.stg_payments", ("seed.jaffle.raw_payments",)),
    (DATA_TEST, ("model.jaffle.stg_customers",)),
    ("test.jaffle.not_null_stg_customers_customer_id", ("model.jaffle.stg_customers",)),
    ("test.jaffle.not_null_stg_customers_email", ("model.jaffle.stg_customers",)),
    ("test.jaffle.unique_stg_orders_order_id", ("model.jaffle.stg_orders",)),
    ("test.jaffle.not_null_stg_orders_order_id", ("model.jaffle.stg_orders",)),
    (
        "test.jaffle.accepted_values_stg_orders_status__placed__shipped__completed__returned",
        ("model.jaffle.stg_orders",),
    ),
    ("test.jaffle.unique_stg_payments_payment_id", ("model.jaffle.stg_payments",)),
    ("model.jaffle.dim_customers", ("model.jaffle.stg_customers", "model.jaffle.stg_orders")),
    ("model.jaffle.fct_orders", ("model.jaffle.stg_orders", "model.jaffle.stg_payments")),
    ("test.jaffle.unique_dim_customers_customer_id", ("model.jaffle.dim_customers",)),
    ("test.jaffle.not_null_fct_orders_amount", ("model.jaffle.fct_orders",)),
    (
        "test.jaffle.relationships_fct_orders_customer_id__customer_id__ref_dim_customers_",
        ("model.jaffle.fct_orders", "model.jaffle.dim_customers"),
    ),
    (PERSISTENT_NODE, ("model.jaffle.dim_customers", "model.jaffle.fct_orders")),
    ("test.jaffle.not_null_customer_ltv_customer_id", (PERSISTENT_NODE,)),
)


def _dbt_blockers() -> dict[str, tuple[str, ...]]:
    """``dbt build`` skips a node when an upstream node, or a test on an upstream model, failed."""
    tests_on: dict[str, list[str]] = {}
    for uid, parents in _DBT_NODES:
        if uid.startswith("test."):
            for parent in parents:
                tests_on.setdefault(parent, []).append(uid)
    blockers: dict[str, tuple[str, ...]] = {}
    for uid, parents in _DBT_NODES:
        found = list(parents)
        if not uid.startswith("test."):
            for parent in parents:
                found.extend(tests_on.get(parent, []))
        blockers[uid] = tuple(found)
    return blockers


_DBT_BLOCKERS: Final = _dbt_blockers()

_BINDER_ERROR: Final = (
    "Runtime Error in model stg_orders (models/stg_orders.sql)\n"
    '  Binder Error: Referenced column "total_amount" not found in FROM clause!\n'
    '  Candidate bindings: "status"'
)
_CATALOG_ERROR: Final = (
    "Runtime Error in model customer_ltv (models/customer_ltv.sql)\n"
    "  Catalog Error: Table with name dim_customers does not exist!\n"
    '  Did you mean "analytics_marts.dim_customers"?\n'
    "  \n"
    "  LINE 9:     from analytics.dim_customers as c\n"
    "                   ^"
)


def _dbt_duration(rng: random.Random, uid: str) -> float:
    if uid.startswith("seed."):
        return round(rng.uniform(0.05, 0.4), 2)
    if uid.startswith("model."):
        return round(rng.uniform(0.2, 6.0), 2)
    return round(rng.uniform(0.03, 0.8), 2)


def _dbt_line(clock: str, position: int, total: int, left: str, right: str) -> str:
    text = f"{position} of {total} {left} "
    return f"{clock}  {text}{'.' * max(3, 78 - len(text))} {right}"


def _dbt_failure_log(
    rng: random.Random, run: Run, position: int, uid: str, message: str, duration: float
) -> str:
    """The console lines of ``dbt build`` around one failing node (as dbt-core 1.11 prints)."""
    total = len(_DBT_NODES)
    began = run.start + timedelta(seconds=rng.uniform(30, 90))
    node_at = began + timedelta(seconds=rng.uniform(2, 20))
    done_at = node_at + timedelta(seconds=duration + rng.uniform(1, 15))
    first, node, last = f"{began:%H:%M:%S}", f"{node_at:%H:%M:%S}", f"{done_at:%H:%M:%S}"
    name = uid.split(".")[2]
    lines = [
        f"{first}  Running with dbt=1.11.16",
        f"{first}  Registered adapter: duckdb=1.11.1",
        f"{first}  Found 6 models, 3 seeds, 11 data tests, 517 macros",
        f"{first}  ",
        f"{first}  Concurrency: 4 threads (target='prod')",
        f"{first}  ",
    ]
    if uid.startswith("test."):
        got = message.split()[1]
        lines += [
            _dbt_line(node, position, total, f"START test {name}", "[RUN]"),
            _dbt_line(
                node, position, total, f"FAIL {got} {name}", f"[FAIL {got} in {duration:.2f}s]"
            ),
        ]
        what, where = f"test {name} (models/schema.yml)", f"models/schema.yml/{name}.sql"
    else:
        relation = f"sql table model analytics.{name}"
        lines += [
            _dbt_line(node, position, total, f"START {relation}", "[RUN]"),
            _dbt_line(
                node, position, total, f"ERROR creating {relation}", f"[ERROR in {duration:.2f}s]"
            ),
        ]
        what, where = f"model {name} (models/{name}.sql)", f"models/{name}.sql"
    elapsed = (done_at - began).total_seconds()
    lines += [
        f"{last}  ",
        f"{last}  Finished running 3 seeds, 11 data tests, 6 table models in 0 hours 0 minutes "
        f"and {elapsed:.2f} seconds ({elapsed:.2f}s).",
        f"{last}  ",
        f"{last}  Completed with 1 error, 0 partial successes, and 0 warnings:",
        f"{last}  ",
        f"{last}  Failure in {what}",
        f"{last}    {message}",
        f"{last}  ",
        f"{last}    compiled code at target/compiled/jaffle/{where}",
    ]
    return "\n".join(lines)


def dbt_cloud_runs(rng: random.Random, origin: datetime) -> list[Run]:
    runs: list[Run] = []
    for day in range(DAYS):
        base = origin + timedelta(days=day)
        starts = [slot * 60 + rng.randint(0, 9) for slot in (2, 8, 14)]
        branches = ["main", "main", "main"]
        if day == 2:
            starts.append(rng.randrange(9 * 60, 19 * 60))
            branches.append("feature/order-amounts")
        elif rng.random() < 0.45:
            starts.append(rng.randrange(9 * 60, 19 * 60))
            branches.append(rng.choice(("fix/ltv-window", "chore/dbt-1.11", "feature/ltv-v2")))
        for minute, branch in sorted(zip(starts, branches, strict=True)):
            runs.append(Run(DBT_REPO, 0, day, base + timedelta(minutes=minute), branch=branch))
    for index, run in enumerate(runs):
        run.index = index

    for day in DATA_TEST_DAYS:
        tag_run(runs, day, "data_test", last=True, on_branch="main")
    tag_run(runs, 2, "binder", on_branch="feature/order-amounts")
    first_broken = tag_run(runs, PERSISTENT_DAY, "persistent_start", branch="main")
    for run in runs:
        if run.index > first_broken.index:
            run.tag = "persistent"

    assign_commits(rng, runs, lambda r: r.tag in ("data_test", "binder", "persistent_start"))

    data_counts = iter(DATA_TEST_COUNTS)
    for run in runs:
        failures: dict[str, tuple[str, str]] = {}
        if run.tag == "data_test":
            failures[DATA_TEST] = (
                "fail",
                f"Got {next(data_counts)} results, configured to fail if != 0",
            )
        elif run.tag == "binder":
            failures["model.jaffle.stg_orders"] = ("error", _BINDER_ERROR)
        elif run.tag in ("persistent_start", "persistent"):
            failures[PERSISTENT_NODE] = ("error", _CATALOG_ERROR)
        outcome: dict[str, str] = {}
        for position, (uid, _parents) in enumerate(_DBT_NODES, start=1):
            duration = _dbt_duration(rng, uid)
            if any(outcome[b] != "pass" for b in _DBT_BLOCKERS[uid]):
                result = Result(DBT_PREFIX + uid, "skip", duration_s=0.0)
            elif uid in failures:
                status, message = failures[uid]
                log = _dbt_failure_log(rng, run, position, uid, message, duration)
                result = Result(DBT_PREFIX + uid, status, message, log, duration)
            else:
                result = Result(DBT_PREFIX + uid, "pass", duration_s=duration)
            outcome[uid] = result.status
            run.results.append(result)
        elapsed = sum(r.duration_s for r in run.results) + rng.uniform(240, 600)
        run.finished = run.start + timedelta(seconds=round(elapsed))
    return runs
