"""Launching a run: a schedule (or a retry, or a person) asks for a run; the run is opened once, the job's
concurrency policy is applied, the RunTask clientToken is claimed, RunTask is called, and the outcome is recorded:
running (with its deadline), a retry scheduled, or failed and announced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dockhand.batch import retries, spec
from dockhand.batch import task_results as results
from dockhand.batch.announce import announce
from dockhand.batch.context import BatchContext
from dockhand.batch.followups import schedule_deadline, schedule_retry
from dockhand.config import Job
from dockhand.errors import BadInputError, RetryableError
from dockhand.events import SchedulePayload
from dockhand.observability import count, logger
from dockhand.state.runs import RunRecord

PENDING_STALE_AFTER = timedelta(minutes=15)  # a run still pending after this long lost its launch


def handle_launch(payload: SchedulePayload, ctx: BatchContext) -> str:
    job = ctx.job(payload.job)
    scheduled = _parse_time(payload.scheduled_time)
    run_id = payload.run_id or (spec.run_id_for(job.name, scheduled) if scheduled is not None else None)
    if run_id is None:
        raise BadInputError("a launch needs a scheduled_time or a run_id", reason="malformed", job=job.name)
    attempt = payload.attempt
    if attempt > 1:
        begun = ctx.runs.begin_attempt(job.name, run_id, attempt)
        if begun is None:
            return _duplicate(job, run_id, attempt, "not awaiting this attempt", ctx, ctx.runs.get(job.name, run_id))
        return _run_task(job, begun, attempt, ctx)
    run = ctx.runs.open_run(
        RunRecord(
            job=job.name,
            run_id=run_id,
            trigger="run_now" if payload.action == "run_now" else "schedule",
            scheduled_time=(scheduled or ctx.clock()).isoformat(timespec="seconds"),
        ),
        history_days=job.history_days,
    )
    if run.status != "pending" or run.attempt != 1:
        return _duplicate(job, run_id, attempt, run.status, ctx, run)
    verdict = _apply_concurrency(job, run, ctx)
    if verdict is not None:
        return verdict
    return _run_task(job, run, attempt, ctx)


def _parse_time(value: str | None) -> datetime | None:
    if not value or value.startswith("<aws."):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"scheduled_time {value!r} is not an ISO time", reason="malformed") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _duplicate(job: Job, run_id: str, attempt: int, state: str, ctx: BatchContext, run: RunRecord | None = None) -> str:
    """A launch already handled. If it ended this attempt, its notification is delivered again where it failed."""
    if run is not None and run.attempt == attempt:
        announce(ctx, job, run)
    logger.info(
        "duplicate launch ignored", extra={"job": job.name, "run_id": run_id, "attempt": attempt, "state": state}
    )
    count("JobDuplicateLaunch")
    return "duplicate"


def _still_running(run: RunRecord, ctx: BatchContext) -> bool:
    """A run record says running; confirm with DescribeTasks (a stopped or vanished task no longer counts)."""
    if not run.task_arn or not run.cluster:
        # Another delivery is launching it right now, unless that launch died long ago (then it holds nothing).
        created = datetime.fromisoformat(run.created_at) if run.created_at else ctx.clock()
        return run.status == "pending" and ctx.clock() - created < PENDING_STALE_AFTER
    try:
        tasks = ctx.ecs.describe_tasks(run.cluster, [run.task_arn])
    except RetryableError:
        raise
    except Exception as exc:  # the record is the truth when ECS cannot say
        logger.warning("DescribeTasks failed; trusting the run record", extra={"error": str(exc)[:200]})
        return True
    return any(t.get("lastStatus") != "STOPPED" for t in tasks)


def _apply_concurrency(job: Job, run: RunRecord, ctx: BatchContext) -> str | None:
    """Forbid skips this run while another runs; Replace stops the others; Allow (or nothing running) goes on."""
    if job.concurrency == "Allow":
        return None
    others = [r for r in ctx.runs.active(job.name) if r.run_id != run.run_id and _still_running(r, ctx)]
    if not others:
        return None
    if job.concurrency == "Forbid":
        names = ", ".join(r.run_id for r in others)
        reason = f"skipped: concurrency Forbid and run {names} is still running"
        skipped = ctx.runs.transition(job.name, run.run_id, 1, "skip", reason=reason)
        count("JobSkipped", job=job.name)
        logger.info("run skipped", extra={"job": job.name, "run_id": run.run_id, "running": names})
        if skipped is not None:
            announce(ctx, job, skipped)
        return "skipped"
    for other in others:  # Replace
        reason = f"Dockhand: replaced by run {run.run_id} (concurrency Replace)"
        if other.task_arn and other.cluster:
            ctx.stop_task(other.cluster, other.task_arn, reason)
        ctx.runs.transition(job.name, other.run_id, other.attempt, "replace", reason=reason)
        count("JobReplaced", job=job.name)
        logger.info("run replaced", extra={"job": job.name, "run_id": other.run_id, "by": run.run_id})
    return None


def _run_task(job: Job, run: RunRecord, attempt: int, ctx: BatchContext) -> str:
    run_id = run.run_id
    request = spec.run_task_request(job, run_id, attempt)
    token = request["clientToken"]
    if ctx.runs.claim(token, job.name, run_id, attempt) == "duplicate":
        return _duplicate(job, run_id, attempt, "claimed", ctx)
    try:
        result = results.from_response(*ctx.ecs.run_task(**request))
    except Exception as exc:
        result = results.from_exception(exc)
    if not result.ok:
        return _launch_failed(job, run, attempt, result, ctx)
    task_arn = str((result.task or {}).get("taskArn"))
    ctx.runs.started(job.name, run_id, attempt, task_arn, job.cluster, history_days=job.history_days)
    ctx.runs.claim_done(token, task_arn)
    count("JobLaunched", job=job.name)
    logger.info("job launched", extra={"job": job.name, "run_id": run_id, "attempt": attempt, "task_arn": task_arn})
    schedule_deadline(ctx, job, run_id, attempt)
    return "launched"


def _launch_failed(job: Job, run: RunRecord, attempt: int, result: results.LaunchResult, ctx: BatchContext) -> str:
    run_id = run.run_id
    count("JobLaunchFailed", job=job.name)
    logger.warning(
        "job launch failed",
        extra={
            "job": job.name,
            "run_id": run_id,
            "attempt": attempt,
            "reason": result.reason,
            "retryable": result.retryable,
        },
    )
    if result.retryable and retries.can_retry(job.retries, attempt):
        schedule_retry(ctx, job, run, attempt)
        ctx.runs.transition(job.name, run_id, attempt, "retry_launch", reason=f"launch failed: {result.reason}")
        return "retry_scheduled"
    why = f"launch failed: {result.reason} (attempt {attempt} of {job.retries.attempts})"
    failed = ctx.runs.transition(job.name, run_id, attempt, "fail_launch", reason=why)
    count("JobFailed", job=job.name)
    if failed is not None:
        announce(ctx, job, failed)
    return "launch_failed"
