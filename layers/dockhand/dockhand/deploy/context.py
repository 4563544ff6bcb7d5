"""What a deploy works with: the push, and the collaborators (handlers build the real ones, tests pass moto-backed
ones, the CLI's plan passes no notifier)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from dockhand import images
from dockhand.aws.ecr import Ecr
from dockhand.aws.ecs import Ecs
from dockhand.aws.places import Places, session_name
from dockhand.config import DeploySection, DeployTarget
from dockhand.events import EcrImageAction
from dockhand.notify.model import Notification
from dockhand.notify.notifier import NotifierLike
from dockhand.state.deliveries import Deliveries
from dockhand.state.deployments import Deployments, Holds
from dockhand.state.ledger import Ledger
from dockhand.state.table import Table


@dataclass(frozen=True, kw_only=True)
class Push:
    event_id: str
    repository: str
    tag: str
    digest: str
    pushed_at: datetime
    account: str
    region: str

    @classmethod
    def from_event(cls, event: EcrImageAction) -> Push:
        pushed = event.time if event.time.tzinfo else event.time.replace(tzinfo=UTC)
        return cls(
            event_id=event.id,
            repository=event.detail.repository_name,
            tag=event.detail.image_tag or "",
            digest=event.detail.image_digest,
            pushed_at=pushed,
            account=event.account,
            region=event.region,
        )

    @property
    def default_registry(self) -> str:
        return images.ecr_registry(self.account, self.region)

    @property
    def image(self) -> str:
        """`repository:tag`, as people name it."""
        return f"{self.repository}:{self.tag}"


@dataclass
class Deployer:
    ecs: Ecs
    ledger: Ledger | None
    holds: Holds | None
    deployments: Deployments | None
    notifier: NotifierLike | None
    section: DeploySection
    dry_run: bool = False
    deliveries: Deliveries | None = None
    table: Table | None = None  # where the deploy's claims are kept (with the ledger)
    ecr: Ecr | None = None  # dates a running image that Dockhand did not deploy
    # Queues a notification a channel failed (key, notification) for a retry of its own; without it the push fails.
    retry_later: Callable[[str, Notification], None] | None = None
    places: Places | None = None  # the ECS clients of the targets in other accounts and Regions
    _task_definitions: dict[str, tuple[dict[str, Any], list[dict[str, str]]]] = field(default_factory=dict)

    def dry(self, target: DeployTarget) -> bool:
        """Plan only: the run, the file's deploy section or the target says so."""
        return self.dry_run or self.section.dry_run or target.dry_run

    def at(self, target: DeployTarget, push: Push) -> Deployer:
        """This deployer, speaking to ECS in the target's account and Region (AccountUnreachable when its role
        cannot be assumed). The role's session is named after the push: `dockhand-<repository>-<digest>`."""
        if self.places is None or (target.account is None and target.region is None):
            return self
        session = session_name(push.repository, push.digest.removeprefix("sha256:")[:12])
        return replace(self, ecs=self.places.ecs(target.account, target.region, session))

    def task_definition(self, arn: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """DescribeTaskDefinition with its tags, once per revision (a revision never changes)."""
        if arn not in self._task_definitions:
            self._task_definitions[arn] = self.ecs.describe_task_definition(arn)
        return self._task_definitions[arn]
