"""Deployer: ECR push (via the FIFO deploy queue) → new pinned task-definition revision → UpdateService.

The deploy queue also carries notification retries (group `notify`): a channel that failed after a deploy is
retried there, never by failing the push (which would hold back every later push of the `ecr-push` group).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from dockhand import deps
from dockhand.aws.ecr import Ecr
from dockhand.aws.ecs import Ecs
from dockhand.deploy.promotion import deploy_promotion
from dockhand.deploy.push import Deployer, deploy_push
from dockhand.events import EcrImageAction, PromotionMessage, parse_event, parse_message
from dockhand.handling import dlq_parker, guarded, process_batch, record_json
from dockhand.notify.delivery import deliver_or_retry
from dockhand.notify.retry import NotificationRetry, RetryQueue
from dockhand.observability import logger, metrics, traced
from dockhand.settings import settings
from dockhand.state.deliveries import Deliveries
from dockhand.state.deployments import Deployments, Holds
from dockhand.state.ledger import Ledger

# A failed record fails the later records of its message group only (their order is kept); other groups go on.
processor = SqsFifoPartialProcessor(skip_group_on_error=True)
# When every record fails, answer with every record rather than raising: SQS retries the same, the logs stay clean.
processor.raise_on_entire_batch_failure = False


def deployer() -> Deployer:
    table = deps.table()
    queue_url = settings().deploy_queue_url
    ecs = Ecs(deps.client("ecs"))
    return Deployer(
        ecs=ecs,
        ledger=Ledger(table),
        holds=Holds(table),
        deployments=Deployments(table),
        notifier=deps.notifier(),
        section=deps.config().deploy,
        dry_run=settings().dry_run,
        deliveries=Deliveries(table),
        table=table,
        ecr=Ecr(deps.client("ecr")),
        retry_later=RetryQueue(deps.client("sqs"), queue_url) if queue_url else None,
        places=deps.places(ecs),
    )


def parse(body: dict[str, Any]) -> EcrImageAction | NotificationRetry | PromotionMessage:
    """The edge: an ECR push, a notification retry or a promotion within its contract, or InvalidEvent (parked)."""
    if NotificationRetry.matches(body):
        return parse_message(NotificationRetry, body, "notification retry")
    if PromotionMessage.matches(body):
        return parse_message(PromotionMessage, body, "promotion")
    return parse_event(body, EcrImageAction)


def handle_record(record: SQSRecord) -> None:
    message = parse(record_json(record.body))
    if isinstance(message, NotificationRetry):
        logger.set_correlation_id(message.key)
        deliver_or_retry(deps.notifier(), Deliveries(deps.table()), message.key, message.notification)
        return
    if isinstance(message, PromotionMessage):
        logger.set_correlation_id(message.key)
        deploy_promotion(message, deployer())
        return
    logger.set_correlation_id(message.id)
    deploy_push(message, deployer())


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    park = dlq_parker(deps.client("sqs"), settings().dlq_url)
    handler = guarded(handle_record, what="deploy queue message", park=park)
    return process_batch(event, handler, processor, context)
