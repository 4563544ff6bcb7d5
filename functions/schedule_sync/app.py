"""Schedule sync: the `Custom::DockhandSchedules` resource. On every deploy that changes dockhand.yaml (the config
layer gets a new version, so CloudFormation sends Update) the job schedules are made to match the file.

Create/Update → sync_schedules (an invalid job fails the deploy with the field named, before any schedule
changes); Delete → every job schedule of the group is removed. The answer goes to CloudFormation's ResponseURL.
A request that breaks its contract (`dockhand.events.ScheduleSyncRequest`) changes nothing: it is answered FAILED
with the field named, or, when it has no usable ResponseURL, logged and dropped (never raised, so never retried).
"""

from __future__ import annotations

import json
from typing import Any

import urllib3
from aws_lambda_powertools.utilities.typing import LambdaContext

from dockhand import deps
from dockhand.batch.schedules import SyncReport, delete_schedule, list_job_schedules, sync_schedules
from dockhand.errors import InvalidEvent
from dockhand.events import CustomResourceReply, ScheduleSyncRequest, parse_message
from dockhand.handling import check_tree
from dockhand.observability import count, logger, metrics, traced

# Connection errors and 5xx/429 answers are retried 4 times, backing off 0, 2, 4, 8 s (about 90 s at worst, well
# inside the function's timeout and the resource's ServiceTimeout).
RESPONSE_RETRIES = urllib3.Retry(
    total=4,
    backoff_factor=1,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods={"PUT"},
    raise_on_status=False,
)


def parse(event: Any) -> ScheduleSyncRequest:
    """The edge: the request within its contract (and the size, depth and number limits), or InvalidEvent."""
    check_tree(event)
    return parse_message(ScheduleSyncRequest, event, "CloudFormation request")


def apply(request: ScheduleSyncRequest) -> SyncReport:
    props = request.resource_properties
    scheduler = deps.client("scheduler")
    if request.request_type == "Delete":
        report = SyncReport()
        for name in list_job_schedules(scheduler, props.schedule_group):
            delete_schedule(scheduler, props.schedule_group, name)
            report.deleted.append(name)
        return report
    return sync_schedules(
        deps.config(),
        scheduler,
        group=props.schedule_group,
        target_arn=props.target_arn,
        role_arn=props.role_arn,
        dlq_arn=props.dead_letter_arn or None,
    )


def respond(reply: CustomResourceReply, status: str, reason: str, data: dict[str, Any], group: str | None) -> None:
    """PUT the answer on CloudFormation's pre-signed ResponseURL, retried: a lost answer hangs the stack until the
    resource's ServiceTimeout."""
    body = {
        "Status": status,
        "Reason": reason[:3000],
        "PhysicalResourceId": reply.physical_resource_id or f"{group or 'dockhand'}-job-schedules",
        "StackId": reply.stack_id,
        "RequestId": reply.request_id,
        "LogicalResourceId": reply.logical_resource_id,
        "Data": data,
    }
    payload = json.dumps(body).encode()
    http = urllib3.PoolManager(retries=RESPONSE_RETRIES, timeout=urllib3.Timeout(connect=5, read=15))
    response = http.request(
        "PUT", reply.response_url, body=payload, headers={"Content-Type": "", "Content-Length": str(len(payload))}
    )
    if response.status >= 400:
        raise RuntimeError(f"CloudFormation refused the {status} answer: HTTP {response.status}")


def refuse(event: Any, exc: InvalidEvent) -> dict[str, Any]:
    """A request that breaks its contract changes nothing; CloudFormation hears FAILED when it can be answered."""
    logger.error(
        "bad input: not retried", extra={"what": "CloudFormation request", "reason": exc.reason, "error": str(exc)}
    )
    count("BadInput", reason=exc.reason)
    try:
        reply = CustomResourceReply.model_validate(event)
    except ValueError:  # no usable ResponseURL or ids: nobody to answer, and a retry would be refused the same way
        logger.error("CloudFormation request cannot be answered", extra={"error": str(exc)})
        return {"Status": "FAILED", "Reason": str(exc)}
    respond(reply, "FAILED", f"{exc.reason}: {exc}", {}, None)
    return {"Status": "FAILED", "Reason": str(exc)}


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = parse(event)
    except InvalidEvent as exc:
        return refuse(event, exc)
    group = request.resource_properties.schedule_group
    try:
        report = apply(request)
    except Exception as exc:  # CloudFormation must always get an answer, or the stack hangs for an hour
        logger.exception("schedule sync failed", extra={"request_type": request.request_type})
        respond(request, "FAILED", str(exc) or type(exc).__name__, {}, group)
        return {"Status": "FAILED"}
    data = {k: ",".join(v)[:1000] for k, v in report.as_dict().items()}
    respond(request, "SUCCESS", "job schedules match dockhand.yaml", data, group)
    return {"Status": "SUCCESS", **report.as_dict()}
