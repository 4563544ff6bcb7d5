"""Batch: the batch queue (schedule payloads and STOPPED events of job tasks) → launch, deadline, completion."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from dockhand import deps
from dockhand.aws.ecs import Ecs
from dockhand.batch.context import BatchContext
from dockhand.batch.dispatch import route
from dockhand.errors import InvalidEvent
from dockhand.events import SchedulePayload, TaskStateChange, parse_event, parse_message
from dockhand.handling import dlq_parker, guarded, process_batch, record_json
from dockhand.observability import logger, metrics, traced
from dockhand.settings import settings
from dockhand.state.deliveries import Deliveries
from dockhand.state.runs import Runs

processor = BatchProcessor(event_type=EventType.SQS)
# When every record fails, answer with every record rather than raising: SQS retries the same, the logs stay clean.
processor.raise_on_entire_batch_failure = False


def queue_arn_from_url(url: str | None) -> str | None:
    """https://sqs.<region>.amazonaws.com/<account>/<name> → arn:aws:sqs:<region>:<account>:<name>."""
    if not url:
        return None
    parts = url.rstrip("/").split("/")
    host = parts[2].split(".")
    region = host[1] if len(host) > 2 and host[0] == "sqs" else settings().region
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    return f"arn:{partition}:sqs:{region}:{parts[-2]}:{parts[-1]}"


def batch_context() -> BatchContext:
    s = settings()
    ecs = Ecs(deps.client("ecs"))
    return BatchContext(
        config=deps.config(),
        ecs=ecs,
        runs=Runs(deps.table()),
        scheduler=deps.client("scheduler"),
        notifier=deps.notifier(),
        deliveries=Deliveries(deps.table()),
        group=s.schedule_group,
        queue_arn=s.batch_queue_arn or "",
        role_arn=s.scheduler_role_arn or "",
        dlq_arn=queue_arn_from_url(s.dlq_url),
        region=s.region,
        places=deps.places(ecs),
    )


def parse(body: dict[str, Any]) -> TaskStateChange | SchedulePayload:
    """The edge: a job task's ECS event or a schedule payload within its contract, or InvalidEvent (parked)."""
    if "detail-type" in body:
        return parse_event(body, TaskStateChange)
    if body.get("dockhand") == "job":
        return parse_message(SchedulePayload, body, "schedule payload")
    raise InvalidEvent("neither a Dockhand schedule payload nor an ECS Task State Change", reason="unknown_message")


def handle_record(record: SQSRecord) -> str:
    return route(parse(record_json(record.body)), batch_context())


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    handler = guarded(handle_record, what="batch message", park=dlq_parker(deps.client("sqs"), settings().dlq_url))
    return process_batch(event, handler, processor, context)
