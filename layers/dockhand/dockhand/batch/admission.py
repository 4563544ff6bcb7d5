"""The job's concurrency policy, asked by every attempt of every run before it launches.

As in a Kubernetes CronJob, a run is active until it is final, whatever attempt it is on: one that runs, one that
is being launched, and one waiting for its retry. Forbid skips the attempt while another run is active; Replace
ends the others (stops a running task, removes a waiting run's retry schedule) and goes on; Allow goes on.

What the policy decided is recorded on the attempt's claim before anything is done about it, so a redelivery
carries out the same decision.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from dockhand.batch.context import BatchContext
from dockhand.batch.followups import cancel_retry
from dockhand.batch.steps import stop_once, transition_once
from dockhand.config import Job
from dockhand.errors import RetryableError
from dockhand.observability import count, logger
from dockhand.state.claims import Claim
from dockhand.state.runs import RunRecord

PENDING_STALE_AFTER = timedelta(minutes=15)  # an attempt still without a task after this long lost its launch
Verdict = Literal["go", "skip"]


def admit(ctx: BatchContext, job: Job, run: RunRecord, claim: Claim) -> Verdict:
    """Decide (once) and carry out the policy for this attempt: `skip` (Forbid, another run is active) or `go`."""
    decided: dict[str, Any] = claim.once("admission", lambda: _decide(ctx, job, run))
    others = [RunRecord.model_validate(o) for o in decided["others"]]
    if decided["verdict"] == "skip":
        return "skip"
    for other in others:  # Replace
        _replace(ctx, job, claim, other, by=run)
    return "go"


_STANDING = {"running": "is still running", "retrying": "is waiting for its retry", "pending": "is being launched"}


def forbid_reason(others: list[RunRecord]) -> str:
    """Why Forbid skipped an attempt, naming each run in its way and what it is doing."""
    standing = "; ".join(f"run {r.run_id} {_STANDING.get(r.status, r.status)}" for r in others)
    return f"skipped: concurrency Forbid and {standing}"


def _decide(ctx: BatchContext, job: Job, run: RunRecord) -> dict[str, Any]:
    if job.concurrency == "Allow":
        return {"verdict": "go", "others": []}
    others = [r for r in ctx.runs.active(job.name) if r.run_id != run.run_id and _blocks(ctx, r, run)]
    verdict = "skip" if others and job.concurrency == "Forbid" else "go"
    return {"verdict": verdict, "others": [r.model_dump(exclude_none=True) for r in others]}


def _blocks(ctx: BatchContext, other: RunRecord, run: RunRecord) -> bool:
    """Whether another active run stands in this attempt's way.

    Waiting for its retry: yes. Running: yes, unless ECS says its task has stopped (its STOPPED event is late).
    Being launched: yes when it is older and its launch is recent; a newer one yields to this one (it will find
    this run active when it asks), so two launches at once never both give way."""
    if other.status == "retrying":
        return True
    if other.status == "running":
        return _task_still_running(ctx, other)
    since = _time(other.pending_since or other.created_at) or ctx.clock()
    return (other.created_at, other.run_id) < (run.created_at, run.run_id) and ctx.clock() - since < PENDING_STALE_AFTER


def _task_still_running(ctx: BatchContext, run: RunRecord) -> bool:
    if not run.task_arn or not run.cluster:
        return True
    try:
        tasks = ctx.ecs_for(run.task_arn).describe_tasks(run.cluster, [run.task_arn])
    except RetryableError:
        raise
    except Exception as exc:  # the record is the truth when ECS cannot say
        logger.warning("DescribeTasks failed; trusting the run record", extra={"error": str(exc)[:200]})
        return True
    return any(t.get("lastStatus") != "STOPPED" for t in tasks)


def _replace(ctx: BatchContext, job: Job, claim: Claim, other: RunRecord, by: RunRecord) -> None:
    """End another run for this one: recorded as replaced, then its task stopped or its retry schedule removed."""
    reason = f"Dockhand: replaced by run {by.run_id} (concurrency Replace)"
    replaced = transition_once(ctx, claim, other, "replace", reason=reason)
    if replaced is None:
        return  # it became final meanwhile: nothing to end
    if other.status == "retrying":
        claim.once(f"retry_cancelled:{other.run_id}", lambda: cancel_retry(ctx, job.name, other.run_id, other.attempt))
    elif other.task_arn and other.cluster:
        stop_once(ctx, claim, other.cluster, other.task_arn, reason)
    count("JobReplaced", job=job.name)
    logger.info(
        "run replaced", extra={"job": job.name, "run_id": other.run_id, "status": other.status, "by": by.run_id}
    )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
