"""The steps the run flows share, each done once on the flow's claim (`dockhand.state.claims`).

A run flow (an attempt's launch, its task's exit, its deadline) opens a claim named after the run's attempt and
does its steps through it: a step that is recorded is not done again, and on a redelivery a step that an earlier
delivery did but could not record is found (a run already in the step's status, a task already stopping) instead
of done twice. The flow ends with `finish`: its answer and the run as it was announced are stored, so a later
delivery (`replay`) announces again only to the channels that missed it, and does nothing else.
"""

from __future__ import annotations

from typing import Any

from dockhand.batch.announce import announce
from dockhand.batch.context import BatchContext
from dockhand.config import Job
from dockhand.state.claims import Claim
from dockhand.state.runs import TRANSITIONS, RunRecord, Step


def transition_once(ctx: BatchContext, claim: Claim, run: RunRecord, step: Step, **details: Any) -> RunRecord | None:
    """Take `step` of the run's state machine at the run's current attempt, once; the run as it became, or None
    when the run was not in a status the step may leave (another flow decided it first)."""
    job, run_id, attempt = run.job, run.run_id, run.attempt

    def take() -> dict[str, Any]:
        done = ctx.runs.transition(job, run_id, attempt, step, **details)
        return _dump(done) if done else {}

    def taken_before() -> dict[str, Any] | None:
        now = ctx.runs.get(job, run_id)
        return _dump(now) if now and now.attempt == attempt and now.status == TRANSITIONS[step].to else None

    value = claim.once(f"{step}:{run_id}", take, taken_before)
    return RunRecord.model_validate(value) if value else None


def stop_once(ctx: BatchContext, claim: Claim, cluster: str, task_arn: str, reason: str) -> None:
    """StopTask, once: a task already stopping (an earlier delivery stopped it) is not stopped again."""

    def stop() -> bool:
        ctx.stop_task(cluster, task_arn, reason)
        return True

    def stopping() -> bool | None:
        tasks = ctx.ecs_for(task_arn).describe_tasks(cluster, [task_arn])
        return True if any(t.get("desiredStatus") == "STOPPED" for t in tasks) else None

    claim.once(f"stopped:{task_arn}", stop, stopping)


def finish(ctx: BatchContext, job: Job | None, claim: Claim, answer: str, announced: RunRecord | None = None) -> str:
    """The flow is done: store its answer and what it announces, then announce it (a channel that fails makes
    the message retry; the redelivery finds the claim done and announces again where it failed)."""
    claim.finish({"answer": answer, "announced": _dump(announced) if announced else None})
    if job is not None and announced is not None:
        announce(ctx, job, announced)
    return answer


def replay(ctx: BatchContext, job: Job | None, claim: Claim) -> str:
    """A flow delivered again after it finished: announce what it announced, to the channels that missed it."""
    result: dict[str, Any] = claim.result or {}
    if job is not None and result.get("announced"):
        announce(ctx, job, RunRecord.model_validate(result["announced"]))
    return str(result.get("answer", "duplicate"))


def _dump(run: RunRecord) -> dict[str, Any]:
    return run.model_dump(exclude_none=True)
