"""The batch flows: launch a run (concurrency policy, exactly-once RunTask, launch retries), stop it at its
deadline, and decide it from its task's STOPPED event (success, durable retry, or failure).

Every collaborator comes in through `BatchContext`; nothing here builds a client or reads the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dockhand.arns import last_part
from dockhand.aws.ecs import Ecs
from dockhand.batch import launch as launching
from dockhand.batch import retries, schedules, spec
from dockhand.config import DockhandConfig, Job, JobRetries
from dockhand.errors import BadInputError, RetryableError
from dockhand.events import SchedulePayload, TaskStateChange
from dockhand.links import task_link
from dockhand.notify.delivery import deliver_or_retry
from dockhand.notify.model import Link, Notification
from dockhand.observability import count, logger
from dockhand.state.deliveries import Deliveries
from dockhand.state.runs import RunRecord, Runs, RunStatus

PENDING_STALE_AFTER = timedelta(minutes=15)  # a run still pending after this long lost its launch


@dataclass
class BatchContext:
    config: DockhandConfig
    ecs: Ecs
    runs: Runs
    scheduler: Any
    notifier: Any
    deliveries: Deliveries | None
    group: str
    queue_arn: str
    role_arn: str
    dlq_arn: str | None = None
    region: str = "us-east-1"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


# ------------------------------------------------------------------------------------------------ dispatch


def handle_message(body: dict[str, Any], ctx: BatchContext) -> str:
    """One batch-queue message: a schedule payload, or the STOPPED event of a job's task."""
    if body.get("detail-type") == "ECS Task State Change":
        return handle_stopped(TaskStateChange.model_validate(body), ctx)
    if body.get("dockhand") == "job":
        payload = SchedulePayload.model_validate(body)
        if payload.action == "deadline":
            return handle_deadline(payload, ctx)
        return handle_launch(payload, ctx)
    raise BadInputError("neither a Dockhand schedule payload nor an ECS Task State Change", reason="unknown_message")


def _job(ctx: BatchContext, name: str) -> Job:
    job = ctx.config.job(name)
    if job is None:
        raise BadInputError(f"job {name!r} is not declared in dockhand.yaml", reason="unknown_job", job=name)
    return job


def _parse_time(value: str | None) -> datetime | None:
    if not value or value.startswith("<aws."):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"scheduled_time {value!r} is not an ISO time", reason="malformed") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -------------------------------------------------------------------------------------------------- launch


def handle_launch(payload: SchedulePayload, ctx: BatchContext) -> str:
    job = _job(ctx, payload.job)
    scheduled = _parse_time(payload.scheduled_time)
    if payload.run_id:
        run_id = payload.run_id
    elif scheduled is not None:
        run_id = spec.run_id_for(job.name, scheduled)
    else:
        raise BadInputError("a launch needs a scheduled_time or a run_id", reason="malformed", job=job.name)
    attempt = payload.attempt
    trigger = "run_now" if payload.action == "run_now" else "schedule"
    if attempt == 1:
        run = ctx.runs.open_run(
            RunRecord(
                job=job.name,
                run_id=run_id,
                trigger=trigger,
                scheduled_time=(scheduled or ctx.clock()).isoformat(timespec="seconds"),
            ),
            history_days=job.history_days,
        )
        if run.status != "pending" or run.attempt != 1:
            return _duplicate(job, run_id, attempt, run.status, ctx, run)
        verdict = _apply_concurrency(job, run, ctx)
        if verdict is not None:
            return verdict
    else:
        begun = ctx.runs.begin_attempt(job.name, run_id, attempt)
        if begun is None:
            return _duplicate(job, run_id, attempt, "not awaiting this attempt", ctx, ctx.runs.get(job.name, run_id))
        run = begun
    return _run_task(job, run, attempt, ctx)


def _duplicate(job: Job, run_id: str, attempt: int, state: str, ctx: BatchContext, run: RunRecord | None = None) -> str:
    """A launch already handled. If it ended this attempt, its notification is delivered again where it failed."""
    if run is not None and run.attempt == attempt:
        _announce(ctx, job, run)
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


def _stop(ctx: BatchContext, cluster: str, task_arn: str, reason: str) -> None:
    """StopTask; a task that is already gone is not an error (throttling still makes the message retry)."""
    try:
        ctx.ecs.stop_task(cluster, task_arn, reason)
    except RetryableError:
        raise
    except Exception as exc:
        logger.warning(
            "StopTask failed; the task may already be gone", extra={"task_arn": task_arn, "error": str(exc)[:200]}
        )


def _apply_concurrency(job: Job, run: RunRecord, ctx: BatchContext) -> str | None:
    if job.concurrency == "Allow":
        return None
    others = [r for r in ctx.runs.active(job.name) if r.run_id != run.run_id and _still_running(r, ctx)]
    if not others:
        return None
    if job.concurrency == "Forbid":
        names = ", ".join(r.run_id for r in others)
        reason = f"skipped: concurrency Forbid and run {names} is still running"
        skipped = ctx.runs.transition(job.name, run.run_id, 1, "skipped", reason=reason, from_statuses=("pending",))
        count("JobSkipped", job=job.name)
        logger.info("run skipped", extra={"job": job.name, "run_id": run.run_id, "running": names})
        if skipped is not None:
            _announce(ctx, job, skipped)
        return "skipped"
    for other in others:  # Replace
        reason = f"Dockhand: replaced by run {run.run_id} (concurrency Replace)"
        if other.task_arn and other.cluster:
            _stop(ctx, other.cluster, other.task_arn, reason)
        ctx.runs.transition(job.name, other.run_id, other.attempt, "replaced", reason=reason)
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
        result = launching.from_response(*ctx.ecs.run_task(**request))
    except Exception as exc:
        result = launching.from_exception(exc)
    if not result.ok:
        return _launch_failed(job, run, attempt, result, ctx)
    task = result.task or {}
    task_arn = str(task.get("taskArn"))
    ctx.runs.started(job.name, run_id, attempt, task_arn, job.cluster, history_days=job.history_days)
    ctx.runs.claim_done(token, task_arn)
    count("JobLaunched", job=job.name)
    logger.info("job launched", extra={"job": job.name, "run_id": run_id, "attempt": attempt, "task_arn": task_arn})
    if job.max_runtime_minutes:
        schedules.schedule_once(
            ctx.scheduler,
            group=ctx.group,
            name=spec.one_time_name("deadline", run_id, job.name, attempt),
            when=ctx.clock() + timedelta(minutes=job.max_runtime_minutes),
            payload=SchedulePayload(action="deadline", job=job.name, run_id=run_id, attempt=attempt),
            target_arn=ctx.queue_arn,
            role_arn=ctx.role_arn,
            dlq_arn=ctx.dlq_arn,
        )
    return "launched"


def _launch_failed(job: Job, run: RunRecord, attempt: int, result: launching.LaunchResult, ctx: BatchContext) -> str:
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
        _schedule_retry(job, run, attempt, ctx)
        ctx.runs.transition(
            job.name, run_id, attempt, "retrying", reason=f"launch failed: {result.reason}", from_statuses=("pending",)
        )
        return "retry_scheduled"
    why = f"launch failed: {result.reason} (attempt {attempt} of {job.retries.attempts})"
    failed = ctx.runs.transition(job.name, run_id, attempt, "failed", reason=why, from_statuses=("pending",))
    count("JobFailed", job=job.name)
    if failed is not None:
        _announce(ctx, job, failed)
    return "launch_failed"


def _schedule_retry(job: Job, run: RunRecord, attempt: int, ctx: BatchContext) -> None:
    """The next attempt comes back through a one-time schedule, with the run's trigger and scheduled time."""
    delay = retries.backoff_seconds(job.retries, attempt)
    schedules.schedule_once(
        ctx.scheduler,
        group=ctx.group,
        name=spec.one_time_name("retry", run.run_id, job.name, attempt + 1),
        when=ctx.clock() + timedelta(seconds=delay),
        payload=SchedulePayload(
            action="run_now" if run.trigger == "run_now" else "launch",
            job=job.name,
            run_id=run.run_id,
            attempt=attempt + 1,
            scheduled_time=run.scheduled_time,
        ),
        target_arn=ctx.queue_arn,
        role_arn=ctx.role_arn,
        dlq_arn=ctx.dlq_arn,
    )
    count("JobRetryScheduled", job=job.name)
    logger.info(
        "retry scheduled", extra={"job": job.name, "run_id": run.run_id, "attempt": attempt + 1, "delay_seconds": delay}
    )


# ------------------------------------------------------------------------------------------------ deadline


def handle_deadline(payload: SchedulePayload, ctx: BatchContext) -> str:
    if not payload.run_id:
        raise BadInputError("a deadline needs a run_id", reason="malformed", job=payload.job)
    job = _job(ctx, payload.job)
    run = ctx.runs.get(job.name, payload.run_id)
    if run is not None and run.status == "timed_out" and run.attempt == payload.attempt:
        _announce(ctx, job, run)  # a redelivery: the stop is done, the notification may not be
        return "timed_out"
    if run is None or run.status != "running" or run.attempt != payload.attempt or not run.task_arn:
        return "finished_in_time"
    reason = f"Dockhand: maximum runtime of {job.max_runtime_minutes} minutes reached"
    _stop(ctx, run.cluster or job.cluster, run.task_arn, reason)
    timed_out = ctx.runs.transition(
        job.name, run.run_id, run.attempt, "timed_out", reason=reason, from_statuses=("running",)
    )
    if timed_out is None:
        return "finished_in_time"
    count("JobTimedOut", job=job.name)
    logger.warning("job timed out", extra={"job": job.name, "run_id": run.run_id, "task_arn": run.task_arn})
    _announce(ctx, job, timed_out)
    return "timed_out"


# ---------------------------------------------------------------------------------------------- completion

_STATUS_OF: dict[str, RunStatus] = {"succeeded": "succeeded", "retry": "retrying", "failed": "failed"}


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
    job_retries = job.retries if job else JobRetries()
    run = ctx.runs.get(job_name, run_id)
    stopped_at = detail.stopped_at.isoformat(timespec="seconds") if detail.stopped_at else None
    exit_code, reasons = launching.exit_of(detail)
    if run is None or run.status != "running" or run.attempt != attempt:
        if run is not None and run.status in ("timed_out", "replaced"):
            ctx.runs.note_stop(job_name, run_id, detail.task_arn, exit_code, stopped_at)
        elif run is not None and job is not None and run.attempt == attempt and run.task_arn == detail.task_arn:
            _announce(ctx, job, run)  # a redelivery: decided already, the notification may not be delivered
        return "already_decided"
    decision = retries.evaluate_exit(job_retries, attempt, exit_code, reasons)
    why = f"{decision.why} — {launching.describe_stop(detail)}"
    if job is not None and job.max_runtime_minutes:
        schedules.delete_schedule(ctx.scheduler, ctx.group, spec.one_time_name("deadline", run_id, job_name, attempt))
    if decision.verdict == "retry" and job is not None:
        _schedule_retry(job, run, attempt, ctx)
    status = _STATUS_OF[decision.verdict]
    done = ctx.runs.transition(
        job_name,
        run_id,
        attempt,
        status,
        reason=why,
        exit_code=exit_code,
        stopped_at=stopped_at,
        from_statuses=("running",),
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
            _announce(ctx, job, done)
    return {"succeeded": "succeeded", "retry": "retry_scheduled", "failed": "failed"}[decision.verdict]


# ------------------------------------------------------------------------------------------------- notify


# A finished run's notification: what it says comes from the run record alone, so a redelivered message
# announces exactly what the first delivery did (and only on the channels that missed it).
# run status → (notify_on entry, kind, severity, title after "Job <name>")
_ANNOUNCED: dict[str, tuple[str, Any, Any, str]] = {
    "succeeded": ("success", "job_succeeded", "info", " succeeded"),
    "failed": ("failure", "job_failed", "error", " failed"),
    "timed_out": ("failure", "job_timed_out", "error", " timed out"),
    "skipped": ("skipped", "job_skipped", "warning", ": run skipped"),
}


def _announce(ctx: BatchContext, job: Job, run: RunRecord) -> None:
    """Notify a finished attempt, if the job asks for it; a channel that fails makes the message retry."""
    if run.status not in _ANNOUNCED:
        return
    when, kind, severity, title = _ANNOUNCED[run.status]
    if when not in job.notify_on:
        return
    if run.status == "failed" and not run.task_arn:
        title = " could not start"
    fields = {"run": run.run_id, "attempt": f"{run.attempt} of {job.retries.attempts}", "cluster": job.cluster}
    if run.exit_code is not None and run.status in ("succeeded", "failed"):
        fields["exit code"] = str(run.exit_code)
    links = []
    if run.task_arn and run.status != "skipped":
        task_id = last_part(run.task_arn)
        fields["task"] = task_id
        links.append(Link(label="Task", url=task_link(job.cluster, task_id, ctx.region)))
    note = Notification(
        kind=kind,
        severity=severity,
        title=f"Job {job.name}{title}",
        text=run.reason or "",
        fields=fields,
        links=links,
        cluster=job.cluster,
        job=job.name,
        thread_key=f"job:{job.name}:{run.run_id}",
    )
    deliver_or_retry(ctx.notifier, ctx.deliveries, f"job/{job.name}/{run.run_id}/{run.attempt}/{run.status}", note)
