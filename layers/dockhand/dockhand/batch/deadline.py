"""A run's deadline (maximum runtime): the one-time schedule arrives; a run still running at that attempt is
recorded as timed out, its task is stopped, and that is announced. A run that finished in time is left alone.

The attempt's deadline claim carries the flow: `live` (recorded first), the outcome, then StopTask (a task
already stopping is not stopped again). The outcome is written before the stop, so the task's own STOPPED event
finds the run decided and only notes the stop.
"""

from __future__ import annotations

from dockhand.batch.context import BatchContext
from dockhand.batch.steps import finish, replay, stop_once, transition_once
from dockhand.errors import BadInputError
from dockhand.events import SchedulePayload
from dockhand.observability import count, logger


def handle_deadline(payload: SchedulePayload, ctx: BatchContext) -> str:
    if not payload.run_id:
        raise BadInputError("a deadline needs a run_id", reason="malformed", job=payload.job)
    job = ctx.job(payload.job)
    claim = ctx.runs.claims("deadline").open(f"{job.name}#{payload.run_id}#{payload.attempt}")
    if claim.done:
        return replay(ctx, job, claim)
    run = ctx.runs.get(job.name, payload.run_id)
    live = claim.once(
        "live",
        lambda: run is not None and (run.status, run.attempt) == ("running", payload.attempt) and bool(run.task_arn),
    )
    if not live or run is None or run.attempt != payload.attempt or not run.task_arn:
        return finish(ctx, job, claim, "finished_in_time")
    reason = f"Dockhand: maximum runtime of {job.max_runtime_minutes} minutes reached"
    timed_out = transition_once(ctx, claim, run, "time_out", reason=reason)
    if timed_out is None:
        return finish(ctx, job, claim, "finished_in_time")  # its task's exit was decided first
    stop_once(ctx, claim, run.cluster or job.cluster, run.task_arn, reason)
    count("JobTimedOut", job=job.name)
    logger.warning("job timed out", extra={"job": job.name, "run_id": run.run_id, "task_arn": run.task_arn})
    return finish(ctx, job, claim, "timed_out", timed_out)
