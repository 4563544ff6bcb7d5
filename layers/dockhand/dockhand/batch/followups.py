"""One-time schedules that bring a run back to the batch queue later: its next attempt (a retry) and its
deadline (maximum runtime). Durable: no Lambda sleeps."""

from __future__ import annotations

from datetime import timedelta

from dockhand.batch import retries, schedules, spec
from dockhand.batch.context import BatchContext
from dockhand.config import Job
from dockhand.events import SchedulePayload
from dockhand.observability import count, logger
from dockhand.state.runs import RunRecord


def schedule_retry(ctx: BatchContext, job: Job, run: RunRecord, attempt: int) -> None:
    """The next attempt comes back through a one-time schedule, with the run's trigger and scheduled time."""
    delay = retries.backoff_seconds(job.retries, attempt)
    payload = SchedulePayload(
        action="run_now" if run.trigger == "run_now" else "launch",
        job=job.name,
        run_id=run.run_id,
        attempt=attempt + 1,
        scheduled_time=run.scheduled_time,
    )
    _once(ctx, spec.one_time_name("retry", run.run_id, job.name, attempt + 1), timedelta(seconds=delay), payload)
    count("JobRetryScheduled", job=job.name)
    logger.info(
        "retry scheduled", extra={"job": job.name, "run_id": run.run_id, "attempt": attempt + 1, "delay_seconds": delay}
    )


def schedule_deadline(ctx: BatchContext, job: Job, run_id: str, attempt: int) -> None:
    """When the job has a maximum runtime, the attempt's deadline comes back as a `deadline` payload."""
    if not job.max_runtime_minutes:
        return
    payload = SchedulePayload(action="deadline", job=job.name, run_id=run_id, attempt=attempt)
    name = spec.one_time_name("deadline", run_id, job.name, attempt)
    _once(ctx, name, timedelta(minutes=job.max_runtime_minutes), payload)


def cancel_deadline(ctx: BatchContext, job: Job | None, run_id: str, job_name: str, attempt: int) -> None:
    """The attempt finished: its deadline schedule (if the job has one) goes."""
    if job is not None and job.max_runtime_minutes:
        name = spec.one_time_name("deadline", run_id, job_name, attempt)
        schedules.delete_schedule(ctx.scheduler, ctx.group, name)


def _once(ctx: BatchContext, name: str, after: timedelta, payload: SchedulePayload) -> None:
    schedules.schedule_once(
        ctx.scheduler,
        group=ctx.group,
        name=name,
        when=ctx.clock() + after,
        payload=payload,
        target_arn=ctx.queue_arn,
        role_arn=ctx.role_arn,
        dlq_arn=ctx.dlq_arn,
    )
