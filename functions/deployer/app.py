"""Deployer: ECR push (via the FIFO deploy queue) → new pinned task-definition revision → UpdateService."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from dockhand import deps
from dockhand.aws.ecs import Ecs
from dockhand.deploy.service import Deployer, deploy_push
from dockhand.events import EcrImageAction
from dockhand.handling import dlq_parker, guarded, record_json
from dockhand.observability import logger, metrics
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
    return Deployer(
        ecs=Ecs(deps.client("ecs")),
        ledger=Ledger(table),
        holds=Holds(table),
        deployments=Deployments(table),
        notifier=deps.notifier(),
        section=deps.config().deploy,
        dry_run=settings().dry_run,
        deliveries=Deliveries(table),
    )


def handle_push(record: SQSRecord) -> None:
    push = EcrImageAction.model_validate(record_json(record.body))
    logger.set_correlation_id(push.id)
    deploy_push(push, deployer())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    handler = guarded(handle_push, what="ECR push event", park=dlq_parker(deps.client("sqs"), settings().dlq_url))
    return process_partial_response(event=event, record_handler=handler, processor=processor, context=context)
