"""The collaborators of the batch flows (the handler builds the real ones; tests build moto-backed ones).
Nothing in the batch wing builds a client or reads the environment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dockhand.aws.ecs import Ecs
from dockhand.aws.protocols import SchedulerClient
from dockhand.config import DockhandConfig, Job
from dockhand.errors import BadInputError, RetryableError
from dockhand.notify.notifier import NotifierLike
from dockhand.observability import logger
from dockhand.state.deliveries import Deliveries
from dockhand.state.runs import Runs


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

    def job(self, name: str) -> Job:
        """The declared job; a payload naming an undeclared one is bad input."""
        job = self.config.job(name)
        if job is None:
            raise BadInputError(f"job {name!r} is not declared in dockhand.yaml", reason="unknown_job", job=name)
        return job

    def stop_task(self, cluster: str, task_arn: str, reason: str) -> None:
        """StopTask; a task that is already gone is not an error (throttling still makes the message retry)."""
        try:
            self.ecs.stop_task(cluster, task_arn, reason)
        except RetryableError:
            raise
        except Exception as exc:
            logger.warning(
                "StopTask failed; the task may already be gone", extra={"task_arn": task_arn, "error": str(exc)[:200]}
            )
