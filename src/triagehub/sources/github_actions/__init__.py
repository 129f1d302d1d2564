"""GitHub Actions: job logs, run log archives and webhook / REST payloads, as ``RunReport``s.

A pure translator (no database, no network, no classification). Three parts, each its own
module (:mod:`.joblog` with :mod:`.annotations`, :mod:`.archive`, :mod:`.reports` with
:mod:`.payload`; the values in :mod:`.model`):

**Job logs.** :func:`parse_job_log` reads a job's log line by line, once, in bounded memory:

- the runner's ISO timestamp prefix (``2026-11-20T06:30:00.1234567Z ``), a byte-order mark, and the
  ``job<TAB>step<TAB>`` prefix of ``gh run view --log`` are stripped; ANSI codes are ignored;
- steps: in a per-job log (``GET .../actions/jobs/{id}/logs``) a step starts at its header group
  ``##[group]Run <command>`` (recognised when the next line is the header's body: the command in
  cyan, ``with:``, ``env:``, ``shell:`` or ``##[endgroup]``, so that a user's own ``::group::Run x``
  does not split a step), at ``Post job cleanup.`` (a post step), at ``Cleaning up orphan
  processes`` (``Complete job``) and at ``##[section]Starting: <name>``; what comes before the first
  header is ``Set up job``. In ``gh run view --log`` output the step column names the steps. In the
  run log archive each step is its own file: :func:`parse_log_archive` parses each as one step;
- ``##[error]``, ``##[warning]``, ``##[notice]`` lines and raw ``::error file=...,line=...::msg``
  workflow commands become :class:`Annotation`\\ s; ``Process completed with exit code N`` (and
  ``... failed with exit code N``) gives the step's exit code;
- the failing step is the first step that ended with a non-zero exit code, else the first
  main step with an error line, else the first step with one; its excerpt (the lines that carry
  the error, chosen by :mod:`triagehub.core.excerpt` over that step's lines only, the step's own
  header group left out) is kept. Every step's lines are streamed through the excerpt collector,
  and only the excerpts of the (at most four) candidates are kept.

**Run log archives.** :func:`parse_log_archive` reads the ZIP the REST API serves for a run
(``GET /repos/{owner}/{repo}/actions/runs/{id}/logs``) or a tar(.gz) of the same layout. Every
member's name, type and declared size is checked *before* any content is read: absolute paths,
``..`` components, drive letters, links, special files, too many members, a member or a total
over the caps: :class:`~triagehub.errors.InputError` naming the member, and nothing is returned.
Sizes are counted again while reading (a lying header cannot get past the caps).

**Payloads.** :func:`report_from_workflow_job`, :func:`report_from_workflow_run` and
:func:`report_from_check_run` translate ``workflow_job`` / ``workflow_run`` / ``check_run``
webhooks (and REST run and job objects) into a :class:`~triagehub.core.models.RunReport` with one
result per step, check key ``<workflow> / <job> / <step>``. Conclusions: ``success`` passes;
``failure`` and ``startup_failure`` fail; ``timed_out`` fails with a message saying it timed out;
``cancelled``, ``skipped``, ``neutral``, ``action_required`` and ``stale`` are skips (not
failures). The run id is the workflow run id and the attempt its ``run_attempt``, so a re-run
that passes is the same run at a higher attempt (flaky evidence). A payload with a missing field
or a wrong type raises ``InputError("github webhook", "<json path>", reason)``.
"""

from __future__ import annotations

from triagehub.sources.github_actions.archive import (
    MAX_MEMBER_BYTES,
    MAX_MEMBERS,
    MAX_RATIO,
    MAX_TOTAL_BYTES,
    job_logs,
    parse_log_archive,
)
from triagehub.sources.github_actions.joblog import combine_steps, parse_job_log, read_log_lines
from triagehub.sources.github_actions.model import (
    JOB_LOG,
    PREPARE_LOG,
    SOURCE,
    Annotation,
    JobLog,
    Step,
)
from triagehub.sources.github_actions.reports import (
    match_job_logs,
    report_from_check_run,
    report_from_event,
    report_from_workflow_job,
    report_from_workflow_run,
)

__all__ = [
    "JOB_LOG",
    "MAX_MEMBERS",
    "MAX_MEMBER_BYTES",
    "MAX_RATIO",
    "MAX_TOTAL_BYTES",
    "PREPARE_LOG",
    "SOURCE",
    "Annotation",
    "JobLog",
    "Step",
    "combine_steps",
    "job_logs",
    "match_job_logs",
    "parse_job_log",
    "parse_log_archive",
    "read_log_lines",
    "report_from_check_run",
    "report_from_event",
    "report_from_workflow_job",
    "report_from_workflow_run",
]
