"""ECS ARNs read once, here: the id at the end, the cluster and service of a service ARN, a task definition's family.

`arn:aws:ecs:<region>:<account>:task/<cluster>/<id>`, `…:service/<cluster>/<service>` (the old short form
`…:service/<service>` has no cluster), `…:task-definition/<family>:<revision>`. Bare names pass through unchanged.
"""

from __future__ import annotations


def last_part(arn: str) -> str:
    """What follows the last `/`: a task id, a cluster or service name, `family:revision` of a task definition."""
    return arn.rsplit("/", 1)[-1]


def cluster_and_service(service_arn: str) -> tuple[str, str]:
    """(cluster, service) of a service ARN; the cluster is "" in the old short form."""
    parts = service_arn.split("/")
    return (parts[-2] if len(parts) >= 3 else ""), parts[-1]


def family(task_definition_arn: str) -> str:
    """The family of `…:task-definition/<family>:<revision>` (or of `family:revision`)."""
    return last_part(task_definition_arn).rsplit(":", 1)[0]


def revision(task_definition_arn: str) -> int | None:
    tail = task_definition_arn.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None
