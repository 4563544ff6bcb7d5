"""What the promotion flows work with (handlers build the real ones; tests build moto-backed ones)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dockhand.aws.clients import reraise_retryable
from dockhand.aws.protocols import SqsClient
from dockhand.config import Approval, DockhandConfig, TrafficGate
from dockhand.events import PromoteAction, PromotionMessage
from dockhand.notify.delivery import deliver_or_retry
from dockhand.notify.model import Notification
from dockhand.notify.notifier import NotifierLike
from dockhand.state.deliveries import Deliveries
from dockhand.state.table import Table

if TYPE_CHECKING:
    from dockhand.aws.places import Places

MAX_DELAY = 900  # SQS DelaySeconds ceiling: a longer wait is a chain of delays (`not_before`)
GROUP = "promote"  # the deploy queue's message group of promotions (pushes keep theirs)


class PromotionQueues:
    """The promotion flow's own delayed messages (on the watcher's queue) and its releases (on the deploy queue)."""

    def __init__(self, sqs_client: SqsClient, watch_queue_url: str, deploy_queue_url: str | None) -> None:
        self._sqs = sqs_client
        self._watch, self._deploy = watch_queue_url, deploy_queue_url

    def later(self, action: PromoteAction, now: float) -> None:
        """`action` back on the watcher's queue when it is due (`not_before`, at most one SQS delay at a time)."""
        delay = max(0, min(MAX_DELAY, action.not_before - int(now)))
        body = json.dumps(action.model_dump(exclude_none=True))
        self._send(QueueUrl=self._watch, MessageBody=body, DelaySeconds=delay)

    def release(self, msg: PromotionMessage) -> None:
        """The promotion to the deployer: one message per promotion (deduplicated by its key)."""
        if not self._deploy:
            raise RuntimeError("no deploy queue to release the promotion to")
        dedup = hashlib.sha256(msg.key.encode()).hexdigest()
        body = msg.model_dump_json()
        self._send(QueueUrl=self._deploy, MessageBody=body, MessageGroupId=GROUP, MessageDeduplicationId=dedup)

    def _send(self, **kwargs: Any) -> None:
        try:
            self._sqs.send_message(**kwargs)
        except Exception as exc:
            reraise_retryable(exc, "sqs:SendMessage")
            raise


@dataclass(frozen=True)
class Gate:
    """What the promotion into a stage waits for: the conditions of every target of that stage, together."""

    from_stage: str
    bake_minutes: int
    alarms: tuple[str, ...]
    approval: Approval | None


@dataclass
class Promoter:
    config: DockhandConfig
    table: Table
    notifier: NotifierLike
    queues: PromotionQueues | None
    cloudwatch: Any | None = None  # reads the alarms a stage names
    places: Places | None = None  # the declared accounts: a stage's alarms are read where the stage runs
    clock: Callable[[], float] = time.time

    def send(self, key: str, n: Notification) -> None:
        """Deliver `n` on every routed channel that has not delivered it yet; any failure makes the message retry."""
        deliver_or_retry(self.notifier, Deliveries(self.table), key, n)

    def cloudwatch_in(self, account: str | None, region: str | None) -> Any | None:
        """The CloudWatch client of the declared account `account` (None: Dockhand's own) in `region`: through the
        account's role (its session `dockhand-alarms`), or this function's own client for its own account and
        Region."""
        if self.places is None or (account is None and region in (None, self.places.region)):
            return self.cloudwatch
        from dockhand.aws.places import session_name

        declared = self.config.accounts[account] if account else None
        return self.places.client("cloudwatch", declared, region or self.places.region, session_name("alarms"))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def gate(self, repository: str, stage: str) -> Gate | None:
        """The conditions of the promotion into `stage` (None when no target of it is promoted)."""
        targets = [t for t in self.config.deploy.stage_targets(repository, stage) if t.promote_from]
        if not targets:
            return None
        return Gate(
            from_stage=str(targets[0].promote_from),
            bake_minutes=max(t.bake_minutes for t in targets),
            alarms=tuple(dict.fromkeys(a for t in targets for a in t.alarms)),
            approval=next((t.approval for t in targets if t.approval is not None), None),
        )

    def traffic_gate(self, repository: str, stage: str) -> TrafficGate | None:
        """The traffic gate the lifecycle hook holds on `stage` (None when no target of it declares one): the
        conditions of every target of the stage together, like `gate`."""
        gates = [t.traffic_gate for t in self.config.deploy.stage_targets(repository, stage) if t.traffic_gate]
        if not gates:
            return None
        return TrafficGate(
            bake_minutes=max(g.bake_minutes for g in gates),
            alarms=list(dict.fromkeys(a for g in gates for a in g.alarms)),
            approval=next((g.approval for g in gates if g.approval is not None), None),
            callback_seconds=min(g.callback_seconds for g in gates),
        )

    def later(self, action: PromoteAction) -> str:
        """Send `action` to come back when due; returns what a claim records."""
        if self.queues is not None:
            self.queues.later(action, self.clock())
        return "queued"

    def not_due_yet(self, action: PromoteAction) -> bool:
        """True (and the message sent on) when a long wait is not over yet."""
        if action.not_before and self.clock() < action.not_before and self.queues is not None:
            self.queues.later(action, self.clock())
            return True
        return False
