"""Watcher: ECS task, deployment and service events (and its own delayed messages) → notifications and actions."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from dockhand import deps
from dockhand.aws.ecs import Ecs
from dockhand.events import (
    DeploymentStateChange,
    Envelope,
    PromoteAction,
    ServiceAction,
    TaskStateChange,
    WatchAction,
    parse_event,
    parse_message,
)
from dockhand.handling import dlq_parker, guarded, process_batch, record_json
from dockhand.observability import logger, metrics, traced
from dockhand.promote.bake import stage_completed
from dockhand.promote.context import Promoter, PromotionQueues
from dockhand.promote.dispatch import handle_promote
from dockhand.settings import settings
from dockhand.watch.context import Watch
from dockhand.watch.delayed import DelayedMessages
from dockhand.watch.dispatch import route

if TYPE_CHECKING:  # made on the first record that needs it (deps.places)
    from dockhand.aws.places import Places

# Report the failed records only, even when all of them failed (no exception, no noisy stack trace).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# Task-definition revisions never change: one DescribeTaskDefinition per revision for the container's life.
_TASKDEFS: OrderedDict[str, dict[str, Any] | None] = OrderedDict()


def promoter(places: Places | None = None) -> Promoter:
    s = settings()
    queues = None
    if s.watch_queue_url and s.deploy_queue_url:
        queues = PromotionQueues(deps.client("sqs"), s.watch_queue_url, s.deploy_queue_url)
    return Promoter(
        config=deps.config(),
        table=deps.table(),
        notifier=deps.notifier(),
        queues=queues,
        cloudwatch=deps.client("cloudwatch"),
        places=places,
    )


def watch() -> Watch:
    s = settings()
    queue = DelayedMessages(deps.client("sqs"), s.watch_queue_url) if s.watch_queue_url else None
    ecs = Ecs(deps.client("ecs"))
    p = promoter(deps.places(ecs))
    return Watch(
        config=deps.config(),
        ecs=ecs,
        table=deps.table(),
        notifier=deps.notifier(),
        delayed=queue,
        region=s.region,
        dry_run=s.dry_run,
        taskdef_cache=_TASKDEFS,
        stage_completed=lambda rec, at: stage_completed(rec, p, at),
        places=p.places,
    )


def parse(body: dict[str, Any]) -> Envelope | WatchAction | PromoteAction:
    """The edge: an ECS event or one of the watcher's own messages within its contract, or InvalidEvent (parked)."""
    if WatchAction.matches(body):
        return parse_message(WatchAction, body, "watcher message")
    if PromoteAction.matches(body):
        return parse_message(PromoteAction, body, "promotion message")
    return parse_event(body, TaskStateChange, DeploymentStateChange, ServiceAction)


def handle_record(record: SQSRecord) -> None:
    message = parse(record_json(record.body))
    if isinstance(message, PromoteAction):
        outcome = handle_promote(message, promoter(deps.places(Ecs(deps.client("ecs")))))
    else:
        if isinstance(message, Envelope):
            logger.set_correlation_id(message.id)
        outcome = route(message, watch())
    logger.info("watch event handled", extra={"outcome": outcome, "message_id": record.message_id})


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    handler = guarded(handle_record, what="watch event", park=dlq_parker(deps.client("sqs"), settings().dlq_url))
    return process_batch(event, handler, processor, context)
