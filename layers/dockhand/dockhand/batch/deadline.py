"""A run's deadline (maximum runtime): the one-time schedule arrives; a run still running at that attempt is
stopped, recorded as timed out and announced. A run that finished in time is left alone."""

from __future__ import annotations

from dockhand.batch.announce import announce
from dockhand.batch.context import BatchContext
from dockhand.errors import BadInputError
from dockhand.events import SchedulePayload
from dockhand.observability import count, logger


def handle_deadline(payload: SchedulePayload, ctx: BatchContext) -> str:
    if not payload.run_id:
        raise BadInputError("a deadline needs a run_id", reason="malformed", job=payload.job)
    job = ctx.job(payload.job)
    run = ctx.runs.get(job.name, payload.run_id)
    if run is not None and run.status == "timed_out" and run.attempt == payload.attempt:
        announce(ctx, job, run)  # a redelivery: the stop is done, the notification may not be
        return "timed_out"
    if run is None or run.status != "running" or run.attempt != payload.attempt or not run.task_arn:
        return "finished_in_time"
    reason = f"Dockhand: maximum runtime of {job.max_runtime_minutes} minutes reached"
    ctx.stop_task(run.cluster or job.cluster, run.task_arn, reason)
    timed_out = ctx.runs.transition(job.name, run.run_id, run.attempt, "time_out", reason=reason)
    if timed_out is None:
        return "finished_in_time"
    count("JobTimedOut", job=job.name)
    logger.warning("job timed out", extra={"job": job.name, "run_id": run.run_id, "task_arn": run.task_arn})
    announce(ctx, job, timed_out)
    return "timed_out"
