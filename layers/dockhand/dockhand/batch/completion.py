"""A job's task stopped: its exit decides the attempt (succeeded, retried later, or failed) by the job's exit
rules; the deadline goes; the outcome is recorded once and announced. A stop that arrives after the run was
decided (timed out, replaced, a duplicate) changes nothing but the stop details."""

from __future__ import annotations

from dockhand.batch import retries
from dockhand.batch import task_results as results
from dockhand.batch.announce import announce
from dockhand.batch.context import BatchContext
from dockhand.batch.followups import cancel_deadline, schedule_retry
from dockhand.config import Job, JobRetries
from dockhand.events import TaskDetail, TaskStateChange
from dockhand.observability import count, logger
from dockhand.state.runs import RunRecord, Step

_STEP_OF: dict[str, Step] = {"succeeded": "succeed", "retry": "retry_exit", "failed": "fail_exit"}
_ANSWER_OF = {"succeeded": "succeeded", "retry": "retry_scheduled", "failed": "failed"}


def handle_stopped(event: TaskStateChange, ctx: BatchContext) -> str:
    detail = event.detail
    if detail.last_status != "STOPPED":
        return "not_stopped"
    found = ctx.runs.by_task(detail.task_arn)
    if found is None:
        logger.info("stopped task is not a known job run", extra={"task_arn": detail.task_arn})
        count("JobUnknownTask")
        return "unknown_task"
    job_name, run_id, attempt = found
    job = ctx.config.job(job_name)
    run = ctx.runs.get(job_name, run_id)
    if run is None or run.status != "running" or run.attempt != attempt:
        _late_stop(ctx, job, run, attempt, detail)
        return "already_decided"
    return _decide(ctx, job, run, detail)


def _late_stop(ctx: BatchContext, job: Job | None, run: RunRecord | None, attempt: int, detail: TaskDetail) -> None:
    """The run was decided before its task's STOPPED event came (or this is a redelivery of it)."""
    if run is None:
        return
    if run.status in ("timed_out", "replaced"):
        exit_code, _ = results.exit_of(detail)
        stopped_at = detail.stopped_at.isoformat(timespec="seconds") if detail.stopped_at else None
        ctx.runs.note_stop(run.job, run.run_id, detail.task_arn, exit_code, stopped_at)
    elif job is not None and run.attempt == attempt and run.task_arn == detail.task_arn:
        announce(ctx, job, run)  # a redelivery: decided already, the notification may not be delivered


def _decide(ctx: BatchContext, job: Job | None, run: RunRecord, detail: TaskDetail) -> str:
    """Success, a retry or a failure, by the job's exit rules; recorded once, then announced."""
    job_name, run_id, attempt = run.job, run.run_id, run.attempt
    exit_code, reasons = results.exit_of(detail)
    decision = retries.evaluate_exit(job.retries if job else JobRetries(), attempt, exit_code, reasons)
    cancel_deadline(ctx, job, run_id, job_name, attempt)
    if decision.verdict == "retry" and job is not None:
        schedule_retry(ctx, job, run, attempt)
    done = ctx.runs.transition(
        job_name,
        run_id,
        attempt,
        _STEP_OF[decision.verdict],
        reason=f"{decision.why} — {results.describe_stop(detail)}",
        exit_code=exit_code,
        stopped_at=detail.stopped_at.isoformat(timespec="seconds") if detail.stopped_at else None,
    )
    if done is None:
        return "already_decided"
    logger.info(
        "job attempt finished",
        extra={
            "job": job_name,
            "run_id": run_id,
            "attempt": attempt,
            "verdict": decision.verdict,
            "exit_code": exit_code,
        },
    )
    if decision.verdict != "retry":
        count("JobSucceeded" if decision.verdict == "succeeded" else "JobFailed", job=job_name)
        if job is not None:
            announce(ctx, job, done)
    return _ANSWER_OF[decision.verdict]
