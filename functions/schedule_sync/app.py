"""Schedule sync: the `Custom::DockhandSchedules` resource. On every deploy that changes dockhand.yaml (the config
layer gets a new version, so CloudFormation sends Update) the job schedules are made to match the file.

Create/Update → sync_schedules (an invalid job fails the deploy with the field named, before any schedule
changes); Delete → every job schedule of the group is removed. The answer goes to CloudFormation's ResponseURL.
"""

from __future__ import annotations

import json
from typing import Any

import urllib3
from aws_lambda_powertools.utilities.typing import LambdaContext

from dockhand import deps
from dockhand.batch.schedules import SyncReport, delete_schedule, list_job_schedules, sync_schedules
from dockhand.observability import logger, metrics, traced

# Connection errors and 5xx/429 answers are retried 4 times, backing off 0, 2, 4, 8 s (about 90 s at worst, well
# inside the function's timeout and the resource's ServiceTimeout).
RESPONSE_RETRIES = urllib3.Retry(
    total=4,
    backoff_factor=1,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods={"PUT"},
    raise_on_status=False,
)


def apply(event: dict[str, Any]) -> SyncReport:
    props = event.get("ResourceProperties", {})
    group = str(props["ScheduleGroup"])
    scheduler = deps.client("scheduler")
    if event["RequestType"] == "Delete":
        report = SyncReport()
        for name in list_job_schedules(scheduler, group):
            delete_schedule(scheduler, group, name)
            report.deleted.append(name)
        return report
    return sync_schedules(
        deps.config(),
        scheduler,
        group=group,
        target_arn=str(props["TargetArn"]),
        role_arn=str(props["RoleArn"]),
        dlq_arn=props.get("DeadLetterArn") or None,
    )


def respond(event: dict[str, Any], status: str, reason: str, data: dict[str, Any]) -> None:
    """PUT the answer on CloudFormation's pre-signed ResponseURL, retried: a lost answer hangs the stack until the
    resource's ServiceTimeout."""
    body = {
        "Status": status,
        "Reason": reason[:3000],
        "PhysicalResourceId": event.get("PhysicalResourceId")
        or f"{event.get('ResourceProperties', {}).get('ScheduleGroup', 'dockhand')}-job-schedules",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }
    payload = json.dumps(body).encode()
    http = urllib3.PoolManager(retries=RESPONSE_RETRIES, timeout=urllib3.Timeout(connect=5, read=15))
    response = http.request(
        "PUT", event["ResponseURL"], body=payload, headers={"Content-Type": "", "Content-Length": str(len(payload))}
    )
    if response.status >= 400:
        raise RuntimeError(f"CloudFormation refused the {status} answer: HTTP {response.status}")


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        report = apply(event)
    except Exception as exc:  # CloudFormation must always get an answer, or the stack hangs for an hour
        logger.exception("schedule sync failed", extra={"request_type": event.get("RequestType")})
        respond(event, "FAILED", str(exc) or type(exc).__name__, {})
        return {"Status": "FAILED"}
    data = {k: ",".join(v)[:1000] for k, v in report.as_dict().items()}
    respond(event, "SUCCESS", "job schedules match dockhand.yaml", data)
    return {"Status": "SUCCESS", **report.as_dict()}
