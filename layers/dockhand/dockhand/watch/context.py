"""The collaborators of the watch flows (handlers build the real ones; tests build moto-backed ones)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dockhand.aws.ecs import Ecs
from dockhand.aws.places import Places
from dockhand.config import DockhandConfig
from dockhand.errors import AccountUnreachable
from dockhand.notify.delivery import deliver_or_retry
from dockhand.notify.model import Notification
from dockhand.notify.notifier import NotifierLike
from dockhand.observability import logger
from dockhand.state.deliveries import Deliveries
from dockhand.state.deployments import DeploymentRecord
from dockhand.state.table import Table
from dockhand.watch.delayed import DelayedMessages, WatchAction, wait_more

TASKDEF_CACHE_SIZE = 256
WATCH_SESSION = "dockhand-watch"  # the role session name of the watcher's work in a workload account


@dataclass
class Watch:
    config: DockhandConfig
    ecs: Ecs
    table: Table
    notifier: NotifierLike
    delayed: DelayedMessages | None
    region: str
    dry_run: bool = False
    clock: Callable[[], float] = time.time
    taskdef_cache: OrderedDict[str, dict[str, Any] | None] = field(default_factory=OrderedDict)
    # A completed deployment of a stage's target starts the bakes of the stages promoted from it (the promotion
    # wing's, handed in by the handler: a wing never imports another).
    stage_completed: Callable[[DeploymentRecord, datetime], list[str]] | None = None
    places: Places | None = None  # the ECS clients of the workload accounts whose events Dockhand's bus receives

    def ecs_for(self, arn: str) -> Ecs:
        """The ECS adapter of the account and Region `arn` names: a declared workload account's through its role
        (AccountUnreachable when that cannot be assumed), Dockhand's own otherwise."""
        return self.ecs if self.places is None else self.places.ecs_at(arn, WATCH_SESSION)

    def send(self, key: str, n: Notification) -> None:
        """Deliver `n` on every routed channel that has not delivered it yet; any failure makes the message retry."""
        deliver_or_retry(self.notifier, Deliveries(self.table), key, n)

    def not_due_yet(self, action: WatchAction) -> bool:
        """True (and the message sent on) when a long wait is not over yet."""
        return wait_more(action, self.delayed, self.clock)

    def task_definition(self, arn: str) -> dict[str, Any] | None:
        """DescribeTaskDefinition, cached per ARN for the life of the container (revisions are immutable)."""
        if not arn:
            return None
        if arn in self.taskdef_cache:
            return self.taskdef_cache[arn]
        from botocore.exceptions import ClientError

        try:
            taskdef, _ = self.ecs_for(arn).describe_task_definition(arn, with_tags=False)
        except ClientError as exc:  # deregistered or not visible: report without it
            logger.info("task definition not readable", extra={"arn": arn, "error": exc.response["Error"]["Code"]})
            taskdef = None
        except AccountUnreachable as exc:  # the stop is still told, without what its task definition would add
            logger.warning("task definition not readable", extra={"arn": arn, "error": str(exc)})
            return None
        self.taskdef_cache[arn] = taskdef
        while len(self.taskdef_cache) > TASKDEF_CACHE_SIZE:
            self.taskdef_cache.popitem(last=False)
        return taskdef
