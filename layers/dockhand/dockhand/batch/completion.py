"""A job's task stopped: its exit decides the attempt (succeeded, retried later, or failed) by the job's exit
rules; the deadline goes; the outcome is recorded once and announced. A stop that arrives after the run was
decided (timed out, replaced) changes nothing but the stop details.

The attempt's exit claim carries the flow: `live` (the run is running this task; recorded first, so a
redelivery decides the same way), the deadline's removal, the outcome, the retry's schedule. A task whose
launch is not recorded yet (the launch's message is still being retried) is found by its tags and waits for it.
"""

from __future__ import annotations

from dockhand.batch import retries, spec
from dockhand.batch import task_results as results
from dockhand.batch.context import BatchContext
from dockhand.batch.followups import cancel_deadline, schedule_retry
from dockhand.batch.steps import finish, replay, transition_once
from dockhand.config import JobRetries
from dockhand.errors import RetryableError
from dockhand.events import TaskDetail, TaskStateChange
from dockhand.observability import count, logger
from dockhand.started_by import is_job_task
from dockhand.state.runs import RunRecord, Step

_STEP_OF: dict[str, Step] = {"succeeded": "succeed", "retry": "retry_exit", "failed": "fail_exit"}
_ANSWER_OF = {"succeeded": "succeeded", "retry": "retry_scheduled", "failed": "failed"}


def handle_stopped(event: TaskStateChange, ctx: BatchContext) -> str:
    detail = event.detail
    if detail.last_status != "STOPPED":
        return "not_stopped"
    found = ctx.runs.by_task(detail.task_arn) or _by_tags(ctx, detail)
    if found is None:
        logger.info("stopped task is not a known job run", extra={"task_arn": detail.task_arn})
        count("JobUnknownTask")
        return "unknown_task"
    job_name, run_id, attempt = found
    job = ctx.config.job(job_name)
    claim = ctx.runs.claims("exit").open(f"{job_name}#{run_id}#{attempt}")
    if claim.done:
        return replay(ctx, job, claim)
    run = ctx.runs.get(job_name, run_id)
    if run is not None and (run.status, run.attempt) == ("pending", attempt):
        raise RetryableError(f"job {job_name} run {run_id}: the launch of attempt {attempt} is not recorded yet")
    live = claim.once("live", lambda: _is_live(run, attempt, detail.task_arn))
    if not live or run is None or run.attempt != attempt:
        _late_stop(ctx, run, detail)
        return finish(ctx, job, claim, "already_decided")
    exit_code, reasons = results.exit_of(detail)
    decision = retries.evaluate_exit(job.retries if job else JobRetries(), attempt, exit_code, reasons)
    if job is not None and job.max_runtime_minutes:
        claim.once("deadline_cancelled", lambda: cancel_deadline(ctx, job_name, run_id, attempt))
    done = transition_once(
        ctx,
        claim,
        run,
        _STEP_OF[decision.verdict],
        reason=f"{decision.why} — {results.describe_stop(detail)}",
        exit_code=exit_code,
        stopped_at=detail.stopped_at.isoformat(timespec="seconds") if detail.stopped_at else None,
    )
    if done is None:
        return finish(ctx, job, claim, "already_decided")  # a deadline or a newer run decided it first
    logger.info(
        "job attempt finished",
        extra={"job": job_name, "run_id": run_id, "attempt": attempt, "verdict": decision.verdict, "exit": exit_code},
    )
    if decision.verdict == "retry" and job is not None:
        claim.once("retry", lambda: schedule_retry(ctx, job, done, attempt))
        return finish(ctx, job, claim, _ANSWER_OF["retry"])
    count("JobSucceeded" if decision.verdict == "succeeded" else "JobFailed", job=job_name)
    return finish(ctx, job, claim, _ANSWER_OF[decision.verdict], done)


def _by_tags(ctx: BatchContext, detail: TaskDetail) -> tuple[str, str, int] | None:
    """A job task whose launch could not record it yet: its run, from the tags RunTask gave it."""
    if not is_job_task(detail.started_by) or not detail.cluster_arn:
        return None
    tasks = ctx.ecs_for(detail.task_arn).describe_tasks(detail.cluster_arn, [detail.task_arn])
    tags = {t.get("key"): t.get("value") for task in tasks for t in task.get("tags", [])}
    job, run_id, attempt = tags.get(spec.TAG_JOB), tags.get(spec.TAG_RUN), tags.get(spec.TAG_ATTEMPT)
    if not (job and run_id and attempt and attempt.isdigit()):
        return None
    return str(job), str(run_id), int(attempt)


def _is_live(run: RunRecord | None, attempt: int, task_arn: str) -> bool:
    """The run is running this very task: its stop decides the attempt."""
    return run is not None and (run.status, run.attempt, run.task_arn) == ("running", attempt, task_arn)


def _late_stop(ctx: BatchContext, run: RunRecord | None, detail: TaskDetail) -> None:
    """The run was decided before its task's STOPPED event came: keep the stop's details when the run was
    ended by Dockhand (timed out, replaced)."""
    if run is not None and run.status in ("timed_out", "replaced"):
        exit_code, _ = results.exit_of(detail)
        stopped_at = detail.stopped_at.isoformat(timespec="seconds") if detail.stopped_at else None
        ctx.runs.note_stop(run.job, run.run_id, detail.task_arn, exit_code, stopped_at)
