"""Console links every notification may carry: an ECS task or service page, a container's CloudWatch log stream."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


def _console(region: str) -> str:
    return f"https://{region}.console.aws.amazon.com"


def task_link(cluster: str, task_id: str, region: str, *, tab: str | None = None) -> str:
    """The task's page in the ECS console; with `tab`, that tab of it (and the region in the query)."""
    url = f"{_console(region)}/ecs/v2/clusters/{cluster}/tasks/{task_id}"
    return f"{url}/{tab}?region={region}" if tab else url


def service_link(cluster: str, service: str, tab: str, region: str) -> str:
    return f"{_console(region)}/ecs/v2/clusters/{cluster}/services/{service}/{tab}?region={region}"


def _cw(text: str) -> str:
    """CloudWatch console fragment encoding: URL-encode twice, then '%' → '$'."""
    return quote(quote(text, safe=""), safe="").replace("%", "$")


def log_link(taskdef: dict[str, Any], container: str, task_id: str, region: str) -> str | None:
    """The container's awslogs stream (`prefix/container/taskId`) in the CloudWatch console."""
    for c in taskdef.get("containerDefinitions", []):
        if c.get("name") != container:
            continue
        conf = c.get("logConfiguration") or {}
        if conf.get("logDriver") != "awslogs":
            return None
        opts = conf.get("options") or {}
        group = opts.get("awslogs-group")
        if not group:
            return None
        reg = opts.get("awslogs-region") or region
        base = f"{_console(reg)}/cloudwatch/home?region={reg}#logsV2:log-groups/log-group/{_cw(group)}"
        prefix = opts.get("awslogs-stream-prefix")
        if not prefix:
            return base  # without a prefix the stream is named after the container id: link the group
        return f"{base}/log-events/{_cw(f'{prefix}/{container}/{task_id}')}"
    return None
