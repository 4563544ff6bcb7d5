"""Launching an attempt of a run: a schedule (or a retry, or a person) asks for it, and the attempt's claim
carries it through its steps, each done once across redeliveries:

1. begun     — the run is opened (attempt 1) or moved to this attempt (a retry); a run that is final or past this
               attempt is not launched again;
2. admission — the job's concurrency policy (`admission.py`), for every attempt;
3. task      — RunTask. A launch that may have happened without being recorded is found by the attempt's
               `startedBy` (ListTasks, both desired statuses), never launched twice. Throttling and 5xx make the
               message retry; a launch that fails (failures[], no capacity, a refused request) is the attempt's
               outcome;
4. running   — the task is indexed and the run is running; the deadline is scheduled from the task's start.

A failed launch schedules the next attempt while the job's budget lasts, else fails the run and says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dockhand.batch import retries, spec
from dockhand.batch import task_results as results
from dockhand.batch.admission import admit, forbid_reason
from dockhand.batch.context import BatchContext
from dockhand.batch.followups import schedule_deadline, schedule_retry
from dockhand.batch.steps import finish, replay, stop_once, transition_once
from dockhand.config import Job
from dockhand.errors import BadInputError, RetryableError
from dockhand.events import SchedulePayload
from dockhand.observability import count, logger
from dockhand.state.claims import Claim
from dockhand.state.runs import RunRecord


def handle_launch(payload: SchedulePayload, ctx: BatchContext) -> str:
    job = ctx.job(payload.job)
    scheduled = _parse_time(payload.scheduled_time)
    run_id = payload.run_id or (spec.run_id_for(job.name, scheduled) if scheduled is not None else None)
    if run_id is None:
        raise BadInputError("a launch needs a scheduled_time or a run_id", reason="malformed", job=job.name)
    claim = ctx.runs.claims("launch").open(f"{job.name}#{run_id}#{payload.attempt}")
    if claim.done:
        return _duplicate(ctx, job, claim, run_id, payload.attempt)
    begun = claim.once("begun", lambda: _begin(ctx, job, payload, run_id, scheduled))
    if not begun:
        return finish(ctx, job, claim, "duplicate")  # final, or already past this attempt
    run = RunRecord.model_validate(begun)
    if admit(ctx, job, run, claim) == "skip":
        return _skip(ctx, job, run, claim)
    launched: dict[str, Any] = claim.once("task", lambda: _run_task(ctx, job, run), lambda: _find_task(ctx, job, run))
    if "task_arn" not in launched:
        return _launch_failed(ctx, job, run, claim, launched)
    return _running(ctx, job, run, claim, launched)


def _parse_time(value: str | None) -> datetime | None:
    if not value or value.startswith("<aws."):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"scheduled_time {value!r} is not an ISO time", reason="malformed") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _begin(
    ctx: BatchContext, job: Job, payload: SchedulePayload, run_id: str, scheduled: datetime | None
) -> dict[str, Any]:
    """The run at this attempt, pending (as a record), or {} when this attempt is not the run's to launch."""
    if payload.attempt > 1:
        begun = ctx.runs.begin_attempt(job.name, run_id, payload.attempt)
    else:
        opened = ctx.runs.open_run(
            RunRecord(
                job=job.name,
                run_id=run_id,
                trigger="run_now" if payload.action == "run_now" else "schedule",
                scheduled_time=(scheduled or ctx.clock()).isoformat(timespec="seconds"),
            ),
            history_days=job.history_days,
        )
        begun = opened if (opened.status, opened.attempt) == ("pending", 1) else None
    return begun.model_dump(exclude_none=True) if begun else {}


def _duplicate(ctx: BatchContext, job: Job, claim: Claim, run_id: str, attempt: int) -> str:
    """A launch already handled: what it announced goes again to the channels that missed it."""
    replay(ctx, job, claim)
    logger.info("duplicate launch ignored", extra={"job": job.name, "run_id": run_id, "attempt": attempt})
    count("JobDuplicateLaunch")
    return "duplicate"


def _skip(ctx: BatchContext, job: Job, run: RunRecord, claim: Claim) -> str:
    decided = claim.get("admission") or {}
    others = [RunRecord.model_validate(o) for o in decided.get("others", [])]
    skipped = transition_once(ctx, claim, run, "skip", reason=forbid_reason(others))
    count("JobSkipped", job=job.name)
    logger.info("run skipped", extra={"job": job.name, "run_id": run.run_id, "attempt": run.attempt})
    return finish(ctx, job, claim, "skipped", skipped)


def _run_task(ctx: BatchContext, job: Job, run: RunRecord) -> dict[str, Any]:
    """RunTask: the task it started, or why it started none. Throttling and 5xx raise (the message retries:
    the next delivery looks for the task first, and RunTask's clientToken makes a repeat return the same one)."""
    try:
        result = results.from_response(*ctx.ecs_of(job).run_task(**spec.run_task_request(job, run.run_id, run.attempt)))
    except RetryableError:
        raise
    except Exception as exc:
        result = results.from_exception(exc)
    if result.task is not None:
        return _launched(result.task, ctx.clock())
    return {"failed": result.reason, "retryable": result.retryable}


def _find_task(ctx: BatchContext, job: Job, run: RunRecord) -> dict[str, Any] | None:
    """The task an earlier delivery of this attempt launched but could not record, by its startedBy."""
    started_by = spec.started_by(job.name, run.run_id, run.attempt)
    arns = [
        arn
        for status in ("RUNNING", "STOPPED")
        for arn in ctx.ecs_of(job).list_tasks(job.cluster, startedBy=started_by, desiredStatus=status)
    ]
    if not arns:
        return None
    tasks = ctx.ecs_of(job).describe_tasks(job.cluster, arns[:1])
    logger.info("found the attempt's task launched earlier", extra={"job": job.name, "task_arn": arns[0]})
    return _launched(tasks[0], ctx.clock()) if tasks else None


def _launched(task: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What the task step records: the task, and when it was created (its deadline counts from then)."""
    created = task.get("createdAt")
    when = created.astimezone(UTC) if isinstance(created, datetime) else now
    return {"task_arn": str(task["taskArn"]), "created_at": when.isoformat(timespec="seconds")}


def _running(ctx: BatchContext, job: Job, run: RunRecord, claim: Claim, launched: dict[str, Any]) -> str:
    """Index the task and mark the run running; its deadline counts from the task's start. A run that was
    replaced while it was being launched does not keep its task."""
    task_arn, started = launched["task_arn"], launched["created_at"]
    # Both writes are idempotent, so the step needs no record of its own: a redelivery finds the run holding the
    # task already, or writes them again.
    held = claim.state == "resumed" and _holds(ctx, run, task_arn)
    now_running = held or (
        ctx.runs.started(job.name, run.run_id, run.attempt, task_arn, job.cluster, started, job.history_days)
        is not None
    )
    if not now_running:
        reason = f"Dockhand: run {run.run_id} was ended before its task started"
        stop_once(ctx, claim, job.cluster, task_arn, reason)
        return finish(ctx, job, claim, "ended_before_start")
    if job.max_runtime_minutes:
        claim.once(
            "deadline",
            lambda: schedule_deadline(ctx, job, run.run_id, run.attempt, datetime.fromisoformat(started)),
        )
    count("JobLaunched", job=job.name)
    logger.info(
        "job launched", extra={"job": job.name, "run_id": run.run_id, "attempt": run.attempt, "task_arn": task_arn}
    )
    return finish(ctx, job, claim, "launched")


def _holds(ctx: BatchContext, run: RunRecord, task_arn: str) -> bool:
    now = ctx.runs.get(run.job, run.run_id)
    return now is not None and now.attempt == run.attempt and now.task_arn == task_arn


def _launch_failed(ctx: BatchContext, job: Job, run: RunRecord, claim: Claim, failure: dict[str, Any]) -> str:
    reason, attempt = str(failure["failed"]), run.attempt
    count("JobLaunchFailed", job=job.name)
    logger.warning(
        "job launch failed",
        extra={
            "job": job.name,
            "run_id": run.run_id,
            "attempt": attempt,
            "reason": reason,
            "retryable": failure.get("retryable"),
        },
    )
    if failure.get("retryable") and retries.can_retry(job.retries, attempt):
        retrying = transition_once(ctx, claim, run, "retry_launch", reason=f"launch failed: {reason}")
        if retrying is not None:  # else a newer run replaced it meanwhile: no next attempt
            claim.once("retry", lambda: schedule_retry(ctx, job, retrying, attempt))
        return finish(ctx, job, claim, "retry_scheduled")
    why = f"launch failed: {reason} (attempt {attempt} of {job.retries.attempts})"
    failed = transition_once(ctx, claim, run, "fail_launch", reason=why)
    count("JobFailed", job=job.name)
    return finish(ctx, job, claim, "launch_failed", failed)
