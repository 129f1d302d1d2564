"""Deterministic demo data: 14 days of CI, dbt and Playwright runs in the generic event format.

``demo_events(end)`` returns one generic event per run (``source: generic``) for the 14 days
ending at ``end``, sorted by ``finished_at``. Everything comes from ``random.Random`` instances
seeded with fixed values, never from the global generator or the clock: the same ``end`` gives the
same events, and a different ``end`` gives the same runs, checks, ids and outcomes, only shifted
in time. Days below are counted 0..13 from the start of the window (day 13 ends at ``end``).

Three repositories (``DEMO_REPOSITORIES``), each with 2-5 runs a day, mostly green:

``acme/dbt_cloud`` (critical)
    A ``dbt build`` of a small DuckDB project (3 seeds, 6 models, 11 data tests; 20 checks named
    ``dbt build / <unique_id>``). Scheduled runs on ``main`` three times a day, plus CI runs on
    feature branches. ``dbt build`` semantics: everything downstream of an error or a failing test
    is skipped. Messages are the real ones from dbt-core 1.11 / dbt-duckdb.
``acme/roy_kent`` (high)
    A GitHub Actions workflow ``CI`` (jobs lint, test (3.11/3.12/3.13), integration, build; 26
    checks named ``CI / <job> / <step>``). A failing step skips the later steps of its job. Logs
    are Actions logs with ISO timestamp prefixes.
``acme/da-agent-hub`` (medium)
    A Playwright suite on chromium and firefox (16 checks named
    ``<project> › <file> › <title path>``). Messages keep Playwright's ANSI colour codes.

The scenarios (named in ``EXPECTED``):

1. **Repeated failure** (``repeated_check``): roy_kent's ``CI / test (3.11) / Run pytest`` fails
   on days 4, 7, 9, 11 and 13 with the same ``FileNotFoundError``, but every occurrence has a
   different pytest temp dir, file-name timestamp, pass count and duration. It must collapse into
   one issue (recurring). Each failing run has its own commit, so it never looks flaky.
2. **Data test failure** (``data_test_check``): dbt's ``unique_stg_customers_customer_id`` fails
   on days 1, 3, 6 and 8 with ``Got N results, configured to fail if != 0`` (N = 3, 5, 7, 4): one
   recurring data-quality issue once the number is masked. Its downstream nodes are skipped.
3. **Transient failure that heals** (``transient_check``): on day 8 the dependency install of
   roy_kent's test jobs cannot resolve ``github.com`` (two checks in the first run, one in the
   second: one environmental issue across checks), then passes in every later run, so it should
   auto-resolve. Its log leaks a GitHub token in a header (see 8).
4. **Flaky test** (``flaky_check``): da-agent-hub's ``chromium › tests/dashboard.spec.ts ›
   filters › applies the date range filter`` hits ``Test timeout of 30000ms exceeded.``: on days
   1, 5, 9 and 12 the run fails and a re-run (same run id, attempt 2, same commit) passes; on days
   3, 7 and 11 Playwright's own retry passes (status ``flaky``); on day 10 a run fails and the next
   run of the same commit passes.
5. **Persistent failure** (``persistent_check``): from the first run of day 9 on, dbt's
   ``model.jaffle.customer_ltv`` fails in every run of acme/dbt_cloud (18 runs) with the same
   ``Catalog Error: Table with name dim_customers does not exist!`` (the model hard-codes
   ``analytics.dim_customers`` and a commit moved the table to a custom schema). Never passes
   again.
6. **Infrastructure storm** (``storm_run``): on day 2 one roy_kent run loses its runner disk:
   24 of its 26 checks fail with ``No space left on device`` (each with a different temp path).
   It must roll up into one infrastructure issue and not count as flaky evidence (the next run,
   on the same commit, is green). Checks of the other scenarios fail in it too; tests look past it.
7. **One-off failures** (``one_off_checks``), each failing once (outside the storm): a dbt
   ``Binder Error`` on a feature branch (day 2), a ruff F841 (day 6) and a mypy ``[arg-type]``
   error (day 8) on feature branches, a pytest ``ValueError`` on main (day 10), an integration test
   that cannot log in to PostgreSQL (day 12, its log prints a ``postgresql://`` URL with a
   password), and a Playwright ``toHaveText`` failure on both browsers on a feature branch (day 6).
8. **Secrets** (``secrets``): an ``Authorization: Bearer ghp_...`` header (scenario 3) and a
   ``postgresql://roy:hunter2@...`` URL (scenario 7) appear in logs; redaction must remove them.

``DEMO_CONFIG_YAML`` is a ``triagehub.yaml`` for the three repositories.
"""

from triagehub.demo.scenario.data import (
    CI_REPO,
    DAYS,
    DBT_REPO,
    DEMO_CONFIG_YAML,
    DEMO_REPOSITORIES,
    EXPECTED,
    FAKE_DB_PASSWORD,
    FAKE_GITHUB_TOKEN,
    NETWORK_MARKER,
    SEED,
    STORM_MARKER,
    TIMEOUT_MARKER,
    WEB_REPO,
    Expected,
)
from triagehub.demo.scenario.events import demo_events

__all__ = [
    "CI_REPO",
    "DAYS",
    "DBT_REPO",
    "DEMO_CONFIG_YAML",
    "DEMO_REPOSITORIES",
    "EXPECTED",
    "FAKE_DB_PASSWORD",
    "FAKE_GITHUB_TOKEN",
    "NETWORK_MARKER",
    "SEED",
    "STORM_MARKER",
    "TIMEOUT_MARKER",
    "WEB_REPO",
    "Expected",
    "demo_events",
]
