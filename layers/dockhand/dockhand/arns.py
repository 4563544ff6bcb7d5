"""ARNs read once, here: the parts the flows use, and the shapes the edge checks.

Reading (bare names pass through unchanged): the id at the end, the cluster and service of a service ARN
(`…:service/<cluster>/<service>`; the old short form `…:service/<service>` has no cluster), a task definition's
family and revision (`…:task-definition/<family>:<revision>`).

Checking (`parse_arn`, `ecs_arn`): `arn:<partition>:<service>:<region>:<account>:<resource>`, with the partition
botocore's table gives the region (`arn:aws-cn:…:us-east-1:…` is no ARN AWS ever sent), a 12-digit account, and
each ECS resource type its own shape (`task/<cluster>/<id>`, `cluster/<name>`, `service/<cluster>/<name>`,
`task-definition/<family>:<revision>`). Every check raises ValueError saying what was expected, so a pydantic
validator can use it as it is.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

_ARN = re.compile(
    r"^arn:(?P<partition>[a-z][a-z-]{1,19}):(?P<service>[a-z0-9-]{1,64}):(?P<region>[a-z0-9-]{0,32}):"
    r"(?P<account>[0-9]{0,12}):(?P<resource>[!-~]{1,1600})$"
)
_ACCOUNT = re.compile(r"^[0-9]{12}$")

# ECS names (cluster, service, family) are up to 255 letters, digits, hyphens and underscores.
_NAME = r"[A-Za-z0-9_-]{1,255}"
ECS_RESOURCES: dict[str, re.Pattern[str]] = {
    "task": re.compile(rf"^task/(?:(?P<cluster>{_NAME})/)?(?P<id>[A-Za-z0-9-]{{1,64}})$"),
    "cluster": re.compile(rf"^cluster/(?P<cluster>{_NAME})$"),
    "service": re.compile(rf"^service/(?:(?P<cluster>{_NAME})/)?(?P<service>{_NAME})$"),
    "task-definition": re.compile(rf"^task-definition/(?P<family>{_NAME}):(?P<revision>[1-9][0-9]{{0,8}})$"),
}


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


class Arn(NamedTuple):
    partition: str
    service: str
    region: str
    account: str
    resource: str
    parts: dict[str, str]  # the named parts of a checked resource shape (cluster, id, service, family, revision)

    def part(self, name: str) -> str:
        return self.parts.get(name) or ""


@lru_cache(maxsize=1)
def _partitions() -> list[dict[str, Any]]:
    import botocore.loaders

    data: dict[str, Any] = botocore.loaders.create_loader().load_data("partitions")
    return list(data["partitions"])


def partition_of(region: str) -> str | None:
    """The partition a region belongs to (botocore's table: its region lists, then its region patterns)."""
    partitions = _partitions()
    for p in partitions:
        if region in p.get("regions", {}):
            return str(p["id"])
    for p in partitions:
        if re.match(p["regionRegex"], region):
            return str(p["id"])
    return None


def check_region(region: str) -> str:
    if partition_of(region) is None:
        raise ValueError(f"expected an AWS Region such as us-east-1, got {region[:80]!r}")
    return region


def parse_arn(text: str, service: str | None = None, *, regional: bool = True) -> Arn:
    """Split and check an ARN: known partition that matches its region, 12-digit account (when present)."""
    match = _ARN.match(text)
    if match is None:
        raise ValueError(f"expected an ARN (arn:partition:service:region:account:resource), got {text[:120]!r}")
    partition, svc, region, account, resource = match.group("partition", "service", "region", "account", "resource")
    if service is not None and svc != service:
        raise ValueError(f"expected an ARN of service {service!r}, got {svc!r}")
    if regional or region:
        expected = partition_of(region)
        if expected is None:
            raise ValueError(f"ARN region {region!r} is not an AWS Region")
        if partition != expected:
            raise ValueError(f"ARN partition {partition!r} does not match region {region!r} (partition {expected!r})")
    elif partition not in {p["id"] for p in _partitions()}:
        raise ValueError(f"ARN partition {partition!r} is not an AWS partition")
    if account and not _ACCOUNT.match(account):
        raise ValueError(f"ARN account {account!r} is not 12 digits")
    return Arn(partition, svc, region, account, resource, {})


def ecs_arn(text: str, kind: str) -> Arn:
    """An ECS ARN of one resource type (task, cluster, service, task-definition), its named parts filled in."""
    arn = parse_arn(text, "ecs")
    if not arn.account:
        raise ValueError(f"ECS {kind} ARN has no account: {text[:120]!r}")
    match = ECS_RESOURCES[kind].match(arn.resource)
    if match is None:
        raise ValueError(f"expected an ECS {kind} ARN (…:{kind}/…), got {text[:120]!r}")
    return arn._replace(parts={k: v for k, v in match.groupdict().items() if v})
