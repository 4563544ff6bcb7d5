"""The collaborators of the batch flows (the handler builds the real ones; tests build moto-backed ones).
Nothing in the batch wing builds a client or reads the environment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dockhand.aws.ecs import Ecs
from dockhand.aws.places import Places
from dockhand.aws.protocols import SchedulerClient
from dockhand.config import DockhandConfig, Job
from dockhand.errors import BadInputError, RetryableError
from dockhand.notify.notifier import NotifierLike
from dockhand.observability import logger
from dockhand.state.deliveries import Deliveries
from dockhand.state.runs import Runs

BATCH_SESSION = "dockhand-batch"  # the role session name of batch work in a workload account


@dataclass
class BatchContext:
    config: DockhandConfig
    ecs: Ecs
    runs: Runs
    scheduler: SchedulerClient
    notifier: NotifierLike
    deliveries: Deliveries | None
    group: str  # the schedule group of the stack
    queue_arn: str  # the batch queue: where one-time schedules send their payload
    role_arn: str  # the role Scheduler sends with
    dlq_arn: str | None = None
    region: str = "us-east-1"
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    places: Places | None = None  # the ECS clients of jobs in other accounts and Regions

    def ecs_of(self, job: Job) -> Ecs:
        """The ECS adapter of the job's account and Region (AccountUnreachable when its role cannot be assumed)."""
        if self.places is None or (job.account is None and job.region is None):
            return self.ecs
        return self.places.ecs(job.account, job.region, BATCH_SESSION)

    def ecs_for(self, arn: str) -> Ecs:
        """The ECS adapter of the account and Region a task's (or cluster's) ARN names."""
        return self.ecs if self.places is None else self.places.ecs_at(arn, BATCH_SESSION)

    def job(self, name: str) -> Job:
        """The declared job; a payload naming an undeclared one is bad input."""
        job = self.config.job(name)
        if job is None:
            raise BadInputError(f"job {name!r} is not declared in dockhand.yaml", reason="unknown_job", job=name)
        return job

    def stop_task(self, cluster: str, task_arn: str, reason: str) -> None:
        """StopTask; a task that is already gone is not an error (throttling still makes the message retry)."""
        try:
            self.ecs_for(task_arn).stop_task(cluster, task_arn, reason)
        except RetryableError:
            raise
        except Exception as exc:
            logger.warning(
                "StopTask failed; the task may already be gone", extra={"task_arn": task_arn, "error": str(exc)[:200]}
            )
