"""One-time schedules that bring a run back to the batch queue later: its next attempt (a retry) and its
deadline (maximum runtime). Durable: no Lambda sleeps.

Each is named after the run's attempt, so asking twice makes one schedule (Scheduler answers the second
CreateSchedule with a conflict), and cancelling one that is gone is not an error.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dockhand.batch import retries, schedules, spec
from dockhand.batch.context import BatchContext
from dockhand.config import Job
from dockhand.events import SchedulePayload
from dockhand.observability import count, logger
from dockhand.state.runs import RunRecord


def schedule_retry(ctx: BatchContext, job: Job, run: RunRecord, attempt: int) -> str:
    """The next attempt comes back through a one-time schedule, with the run's trigger and scheduled time.
    Returns the schedule's name."""
    delay = retries.backoff_seconds(job.retries, attempt)
    payload = SchedulePayload(
        action="run_now" if run.trigger == "run_now" else "launch",
        job=job.name,
        run_id=run.run_id,
        attempt=attempt + 1,
        scheduled_time=run.scheduled_time,
    )
    name = retry_name(job.name, run.run_id, attempt)
    _once(ctx, name, ctx.clock() + timedelta(seconds=delay), payload)
    count("JobRetryScheduled", job=job.name)
    logger.info(
        "retry scheduled", extra={"job": job.name, "run_id": run.run_id, "attempt": attempt + 1, "delay_seconds": delay}
    )
    return name


def cancel_retry(ctx: BatchContext, job_name: str, run_id: str, attempt: int) -> str:
    """The run waiting after `attempt` will not be tried again: its retry schedule goes. Returns its name."""
    name = retry_name(job_name, run_id, attempt)
    schedules.delete_schedule(ctx.scheduler, ctx.group, name)
    return name


def schedule_deadline(ctx: BatchContext, job: Job, run_id: str, attempt: int, started: datetime) -> str:
    """When the job has a maximum runtime, the attempt's deadline comes back as a `deadline` payload, counted
    from when its task was created (a launch recorded late does not give the task more time). Returns the
    schedule's name ("" when the job has no maximum runtime)."""
    if not job.max_runtime_minutes:
        return ""
    payload = SchedulePayload(action="deadline", job=job.name, run_id=run_id, attempt=attempt)
    name = spec.one_time_name("deadline", run_id, job.name, attempt)
    soonest = ctx.clock() + timedelta(seconds=retries.MIN_DELAY_SECONDS)  # a deadline already past: in a minute
    _once(ctx, name, max(started + timedelta(minutes=job.max_runtime_minutes), soonest), payload)
    return name


def cancel_deadline(ctx: BatchContext, job_name: str, run_id: str, attempt: int) -> str:
    """The attempt finished before its deadline: the deadline's schedule goes. Returns its name."""
    name = spec.one_time_name("deadline", run_id, job_name, attempt)
    schedules.delete_schedule(ctx.scheduler, ctx.group, name)
    return name


def retry_name(job_name: str, run_id: str, attempt: int) -> str:
    """The schedule that brings attempt + 1 of the run."""
    return spec.one_time_name("retry", run_id, job_name, attempt + 1)


def _once(ctx: BatchContext, name: str, when: datetime, payload: SchedulePayload) -> None:
    schedules.schedule_once(
        ctx.scheduler,
        group=ctx.group,
        name=name,
        when=when,
        payload=payload,
        target_arn=ctx.queue_arn,
        role_arn=ctx.role_arn,
        dlq_arn=ctx.dlq_arn,
    )
