"""Sample events: one events/ folder feeds `sam local invoke`, the tests and the local runtime."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / (name if name.endswith(".json") else f"{name}.json")).read_text())


def with_detail(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(event)
    out["detail"].update(changes)
    return out


def sqs_event(*bodies: Any, queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:q") -> dict[str, Any]:
    """An SQS → Lambda event carrying these bodies (dicts are JSON-encoded, strings go as they are)."""
    records = []
    for i, body in enumerate(bodies):
        records.append(
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"rh-{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def job_task_stopped(
    task: dict[str, Any], exit_code: int | None, reason: str, stop_code: str, container_reason: str | None = None
) -> dict[str, Any]:
    """The STOPPED event ECS emits for a job task (`task` as DescribeTasks gives it; no exit code: none reported)."""
    event = load_event("ecs-task-stopped-job")
    container: dict[str, Any] = {"name": "main", "lastStatus": "STOPPED", "image": "busybox"}
    if exit_code is not None:
        container["exitCode"] = exit_code
    if container_reason:
        container["reason"] = container_reason
    event["resources"] = [task["taskArn"]]
    event["detail"].update(
        taskArn=task["taskArn"],
        clusterArn=task["clusterArn"],
        taskDefinitionArn=task["taskDefinitionArn"],
        startedBy=task.get("startedBy", ""),
        group=task.get("group"),
        lastStatus="STOPPED",
        stoppedReason=reason,
        stopCode=stop_code,
        containers=[container],
    )
    return event
