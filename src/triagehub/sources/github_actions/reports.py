"""Webhook and REST payloads (``workflow_job``, ``workflow_run``, ``check_run``) as
``RunReport``\\ s: one result per step, the failing step given its log's excerpt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from triagehub.core.excerpt import error_lines
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.sanitize import INT32_MAX
from triagehub.sources.github_actions.model import SOURCE, WEBHOOK, JobLog
from triagehub.sources.github_actions.payload import Node, items_of, repository_of

MAX_CHECK_CHARS = 1_000  # a check key (the store's column); longer keys are shortened
MAX_TEXT_CHARS = 1 << 20  # check-run output title / summary / text


def _loose(name: str) -> str:
    """A name as the archive spells it, loosely: the archive drops ``/`` and other characters
    that file names cannot hold."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def match_job_logs(
    logs: Mapping[str, JobLog], jobs: Sequence[Mapping[str, Any]], *, origin: str = WEBHOOK
) -> dict[int, JobLog]:
    """Key job logs by job id (for :func:`report_from_workflow_run`): each REST job is matched
    by name, exactly, else loosely when only one log matches loosely."""
    loose: dict[str, list[str]] = {}
    for name in logs:
        loose.setdefault(_loose(name), []).append(name)
    result: dict[int, JobLog] = {}
    for job in items_of(jobs, "jobs", origin):
        job_id = job.integer("id", required=True)
        job_name = job.text("name", required=True)
        assert job_id is not None and job_name is not None
        if job_name in logs:
            result[job_id] = logs[job_name]
            continue
        candidates = loose.get(_loose(job_name), [])
        if len(candidates) == 1:
            result[job_id] = logs[candidates[0]]
    return result


_SKIPPED = frozenset({"cancelled", "skipped", "neutral", "action_required", "stale"})
_FAILING = frozenset({"failure", "startup_failure", "timed_out"})


def _outcome(conclusion: str, subject: str, context: str = "") -> tuple[Status, str]:
    """The status of a conclusion and the message a failure gets without a log."""
    if conclusion == "success":
        return Status.PASS, ""
    if conclusion == "failure":
        return Status.FAIL, f"{subject} failed{context} (conclusion: failure)"
    if conclusion == "startup_failure":
        return Status.FAIL, f"{subject} failed to start{context} (conclusion: startup_failure)"
    if conclusion == "timed_out":
        return Status.FAIL, f"{subject} timed out{context} (conclusion: timed_out)"
    if conclusion in _SKIPPED:
        return Status.SKIP, f"conclusion: {conclusion}"
    return Status.ERROR, f"{subject} ended{context} with an unexpected conclusion {conclusion!r}"


def _check_key(*parts: str) -> str:
    """``workflow / job / step``, each part shortened alike when the key would be too long."""
    key = " / ".join(parts)
    if len(key) <= MAX_CHECK_CHARS:
        return key
    room = (MAX_CHECK_CHARS - 3 * (len(parts) - 1)) // len(parts)
    return " / ".join(p if len(p) <= room else p[: room - 1] + "…" for p in parts)


def _duration(node: Node, start: str, end: str) -> float | None:
    began, ended = node.time(start), node.time(end)
    if began is None or ended is None:
        return None
    return max(0.0, (ended - began).total_seconds())


def _job_results(
    workflow: str, job: Node, log: JobLog | None
) -> tuple[str | None, list[CheckResult]]:
    """The results of one job: one per step (names made unique), or one for the whole job when
    it has no steps or failed without a failing step. Returns the job's conclusion too."""
    name = job.text("name", required=True, empty=False)
    assert name is not None
    name = name.strip()
    conclusion = job.text("conclusion")
    results: list[CheckResult] = []
    seen: dict[str, int] = {}
    failing_steps: list[tuple[int, str]] = []  # (result index, step name)
    for step in job.items("steps"):
        step_name = step.text("name", required=True, empty=False)
        assert step_name is not None
        step_name = step_name.strip()
        step.integer("number")
        step_conclusion = step.text("conclusion")
        seen[step_name] = seen.get(step_name, 0) + 1
        label = step_name if seen[step_name] == 1 else f"{step_name} ({seen[step_name]})"
        if step_conclusion is None:
            status, message = Status.SKIP, "the step did not finish"
        else:
            status, message = _outcome(step_conclusion, f"Step {step_name!r}", f" in job {name!r}")
        if status.is_failure:
            failing_steps.append((len(results), step_name))
        results.append(
            CheckResult(
                check=_check_key(workflow, name, label),
                status=status,
                message=message,
                duration_s=_duration(step, "started_at", "completed_at"),
            )
        )
    job_failed = conclusion in _FAILING
    if conclusion is not None and (not results or (job_failed and not failing_steps)):
        status, message = _outcome(conclusion, f"Job {name!r}")
        if status.is_failure:
            failing_steps.append((len(results), ""))
        results.append(
            CheckResult(
                check=_check_key(workflow, name),
                status=status,
                message=message,
                duration_s=_duration(job, "started_at", "completed_at"),
            )
        )
    if log is not None and failing_steps:
        wanted = _loose(log.failed_step or "")
        index = next((i for i, s in failing_steps if s and _loose(s) == wanted), None)
        if index is None:
            index = failing_steps[0][0]
        results[index] = _with_log(results[index], log)
    return conclusion, results


def _with_log(result: CheckResult, log: JobLog) -> CheckResult:
    """A failing result with the log's excerpt: the message becomes the excerpt's key error
    lines (a timeout keeps its message, so that it classifies as one)."""
    if not log.excerpt:
        return replace(result, exit_code=log.exit_code)
    message = result.message
    if "(conclusion: timed_out)" not in message:
        message = error_lines(log.excerpt) or message
    return replace(result, message=message, log=log.excerpt, exit_code=log.exit_code)


# --------------------------------------------------------------------------------------------
# Payloads
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RunFields:
    """What a run, a job and a check run say alike about themselves, read (and validated) in
    this order before the results that share their times."""

    commit: str | None
    branch: str | None
    url: str | None
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def read(
        cls, node: Node, *, branch_from: Node | None, started: str, finished: str
    ) -> _RunFields:
        return cls(
            commit=node.text("head_sha"),
            branch=branch_from.text("head_branch") if branch_from is not None else None,
            url=node.text("html_url", max_chars=2000),
            started_at=node.time(started),
            finished_at=node.time(finished),
        )

    def report(
        self,
        *,
        repository: str,
        run_id: str,
        attempt: int,
        conclusion: str,
        results: Sequence[CheckResult],
    ) -> RunReport:
        return RunReport(
            source=SOURCE,
            repository=repository,
            run_id=run_id,
            attempt=attempt,
            commit=self.commit,
            branch=self.branch,
            url=self.url,
            started_at=self.started_at,
            finished_at=self.finished_at,
            status=conclusion,
            results=tuple(results),
        )


def _completed(payload: Mapping[str, Any], origin: str, key: str) -> tuple[Node, Node] | None:
    """The root and the ``key`` object of a ``completed`` webhook (None for other actions); the
    object must say its conclusion."""
    root = Node.root(payload, origin)
    if root.text("action", required=True) != "completed":
        return None
    node = root.node(key)
    assert node is not None
    if not node.has("conclusion"):
        raise node.error("conclusion", "missing required field")
    return root, node


def report_from_workflow_job(
    payload: Mapping[str, Any],
    log: JobLog | None = None,
    *,
    workflow_name: str | None = None,
    origin: str = WEBHOOK,
) -> RunReport | None:
    """A ``workflow_job`` webhook as a report: one result per step of the job, check key
    ``<workflow> / <job> / <step>``; run id = the workflow run id, attempt = ``run_attempt``.

    ``log`` (the job's parsed log) gives the failing step its message and excerpt.
    ``workflow_name`` is used when the payload lacks ``workflow_job.workflow_name`` (older GitHub
    Enterprise Server). None for an action other than ``completed`` or a null conclusion.
    """
    found = _completed(payload, origin, "workflow_job")
    if found is None:
        return None
    root, job = found
    run_id = job.integer("run_id", required=True, minimum=1)
    attempt = job.integer("run_attempt", minimum=1, maximum=INT32_MAX) or 1
    workflow = (job.text("workflow_name") or workflow_name or "").strip()
    if not workflow:
        raise job.error(
            "workflow_name",
            "missing required field (payloads from older GitHub Enterprise Server lack it: "
            "pass workflow_name=)",
        )
    conclusion, results = _job_results(workflow, job, log)
    repository = repository_of(root)
    if conclusion is None:
        return None
    # One webhook arrives per job: the job is the unit of a run here, so that the jobs of one
    # workflow run are distinct runs to the pipeline (which stores a run once). The job name,
    # unlike the job id, stays the same when the job is re-run, so a pass on a later attempt is
    # still seen as flaky evidence.
    job_name = (job.text("name") or "").strip() or "job"
    fields = _RunFields.read(job, branch_from=job, started="started_at", finished="completed_at")
    return fields.report(
        repository=repository,
        run_id=f"{run_id}/{job_name}"[:200],
        attempt=attempt,
        conclusion=conclusion,
        results=results,
    )


def _workflow_name(run: Node, workflow: Node | None) -> str:
    name = (run.text("name") or "").strip()
    if not name and workflow is not None:
        name = (workflow.text("name") or "").strip()
    if not name:
        path = (run.text("path", max_chars=2000) or "").strip()
        name = path.rsplit("/", 1)[-1]
    if not name:
        raise run.error("name", "missing required field (the workflow's name)")
    return name


def _completed_run(root: Node) -> tuple[Node, Node | None, bool] | None:
    """The run object of a ``workflow_run`` webhook or a REST run, the webhook's ``workflow``
    and whether it is a webhook; None while the run is not completed."""
    if root.has("workflow_run") or root.has("action"):
        if root.text("action", required=True) != "completed":
            return None
        run = root.node("workflow_run")
        assert run is not None
        return run, root.node("workflow", required=False), True
    status = root.text("status")
    if status is not None and status != "completed":
        return None
    return root, None, False


def _attempt_results(
    workflow: str,
    attempt: int,
    jobs: Sequence[Mapping[str, Any]],
    logs: Mapping[int, JobLog] | None,
    origin: str,
) -> list[CheckResult]:
    """The results of the jobs of this attempt (jobs of earlier attempts are left out)."""
    results: list[CheckResult] = []
    for job in items_of(jobs, "jobs", origin):
        job_attempt = job.integer("run_attempt", minimum=1, maximum=INT32_MAX)
        if job_attempt is not None and job_attempt != attempt:
            continue
        job_id = job.integer("id")
        log = logs.get(job_id) if logs is not None and job_id is not None else None
        results.extend(_job_results(workflow, job, log)[1])
    return results


def report_from_workflow_run(
    payload: Mapping[str, Any],
    jobs: Sequence[Mapping[str, Any]] | None = None,
    logs: Mapping[int, JobLog] | None = None,
    *,
    origin: str = WEBHOOK,
) -> RunReport | None:
    """A ``workflow_run`` webhook, or a REST run object (``GET .../actions/runs/{id}``), as a
    report.

    With ``jobs`` (the ``jobs`` array of ``GET .../actions/runs/{id}/jobs``) there is one result
    per step of each job of this attempt (jobs of earlier attempts that were not re-run are left
    out), and ``logs`` (job id → parsed log) give failing steps their message and excerpt. Without
    jobs, one result for the whole workflow, check ``<workflow name>``. None while the run is not
    completed (or has a null conclusion).
    """
    root = Node.root(payload, origin)
    found = _completed_run(root)
    if found is None:
        return None
    run, workflow_node, webhook = found
    if not run.has("conclusion"):
        raise run.error("conclusion", "missing required field")
    run_id = run.integer("id", required=True, minimum=1)
    attempt = run.integer("run_attempt", minimum=1, maximum=INT32_MAX) or 1
    workflow = _workflow_name(run, workflow_node)
    conclusion = run.text("conclusion")
    repository = repository_of(run, root if webhook else None)
    results = _attempt_results(workflow, attempt, jobs, logs, origin) if jobs is not None else []
    if conclusion is None:
        return None
    if not results:
        status, message = _outcome(conclusion, f"Workflow {workflow!r}")
        results.append(
            CheckResult(
                check=_check_key(workflow),
                status=status,
                message=message,
                duration_s=_duration(run, "run_started_at", "updated_at"),
            )
        )
    fields = _RunFields.read(run, branch_from=run, started="run_started_at", finished="updated_at")
    return fields.report(
        repository=repository,
        run_id=str(run_id),
        attempt=attempt,
        conclusion=conclusion,
        results=results,
    )


def _check_run_app(check_run: Node, suite: Node | None) -> str:
    """The name of the app behind a check run (its suite's, else its own)."""
    app = suite.node("app", required=False) if suite is not None else None
    if app is None:
        app = check_run.node("app", required=False)
    if app is None:
        raise check_run.error("check_suite.app", "missing required field (the app's name)")
    app_name = app.text("name", required=True, empty=False)
    assert app_name is not None
    return app_name


def report_from_check_run(payload: Mapping[str, Any], *, origin: str = WEBHOOK) -> RunReport | None:
    """A ``check_run`` webhook as a report with one result, check key
    ``<check suite app name> / <check run name>``, message from ``output.title`` and
    ``output.summary``, log from ``output.text``; run id = the check run id. None for an action
    other than ``completed`` or a null conclusion."""
    found = _completed(payload, origin, "check_run")
    if found is None:
        return None
    root, check_run = found
    run_id = check_run.integer("id", required=True, minimum=1)
    name = check_run.text("name", required=True, empty=False)
    assert name is not None
    name = name.strip()
    suite = check_run.node("check_suite", required=False)
    app_name = _check_run_app(check_run, suite)
    output = check_run.node("output", required=False)
    title = summary = text = None
    if output is not None:
        title = output.text("title", max_chars=MAX_TEXT_CHARS)
        summary = output.text("summary", max_chars=MAX_TEXT_CHARS)
        text = output.text("text", max_chars=MAX_TEXT_CHARS)
    conclusion = check_run.text("conclusion")
    repository = repository_of(root)
    if conclusion is None:
        return None
    status, message = _outcome(conclusion, f"Check run {name!r}")
    log = text or ""
    if status.is_failure:
        detail = "\n".join(s.strip() for s in (title, summary) if s and s.strip())
        if conclusion == "timed_out":
            log = "\n".join(s for s in (detail, log) if s)
        elif detail:
            message = detail
    fields = _RunFields.read(
        check_run, branch_from=suite, started="started_at", finished="completed_at"
    )
    result = CheckResult(
        check=_check_key(app_name.strip(), name),
        status=status,
        message=message,
        log=log if status.is_failure else "",
        duration_s=_duration(check_run, "started_at", "completed_at"),
    )
    return fields.report(
        repository=repository,
        run_id=str(run_id),
        attempt=1,
        conclusion=conclusion,
        results=[result],
    )


def report_from_event(
    event: str, payload: Mapping[str, Any], *, origin: str = WEBHOOK
) -> RunReport | None:
    """Dispatch a webhook by its ``X-GitHub-Event`` name; None for events that carry no run."""
    if event == "workflow_job":
        return report_from_workflow_job(payload, origin=origin)
    if event == "workflow_run":
        return report_from_workflow_run(payload, origin=origin)
    if event == "check_run":
        return report_from_check_run(payload, origin=origin)
    return None
