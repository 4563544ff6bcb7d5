"""The field types of the contract: what ids, keys, names, ARNs, tags, digests and timestamps may be.

Each is a constrained `str` / `int` / datetime (pydantic), so a model states its contract by its annotations and
a broken field is named with what was expected.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from dockhand import arns

SCHEDULED_TIME_PLACEHOLDER = "<aws.scheduler.scheduled-time>"


class Message(BaseModel):
    """A message Dockhand receives: AWS spelling by alias, unknown fields ignored, never changed once read."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True, defer_build=True)


# An id or key: visible ASCII, no spaces (EventBridge event ids, deployment ids, SQS deduplication ids all are).
Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[!-~]+$")]
Label = Annotated[str, StringConstraints(max_length=255)]  # a status, a code, a type: short text


def _key_bytes(value: str) -> str:
    if len(value.encode("utf-8", "surrogatepass")) > 1024:
        raise ValueError("longer than 1024 bytes (a DynamoDB sort key's limit; partition keys take 2048)")
    return value


# A key Dockhand stores under (a notification key): no control characters, at most 1024 bytes of UTF-8.
Key = Annotated[str, StringConstraints(min_length=1, pattern=r"^[^\x00-\x1f\x7f]+$"), AfterValidator(_key_bytes)]
EcsNameOrEmpty = Annotated[str, StringConstraints(max_length=255, pattern=r"^[A-Za-z0-9_-]*$")]
# A task group (`service:<name>`, `family:<name>` or a RunTask group) and the names derived from it.
Group = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9_.:/-]+$")]
GroupOrEmpty = Annotated[str, StringConstraints(max_length=512, pattern=r"^[A-Za-z0-9_.:/-]*$")]
# OCI distribution / ECR: a tag is [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} ("" is an untagged push); a digest is
# sha256 + 64 lowercase hex.
ImageTagOrEmpty = Annotated[str, StringConstraints(pattern=r"^(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?$")]
ImageDigest = Annotated[str, StringConstraints(pattern=r"^sha256:[a-f0-9]{64}$")]
# ECR repository names: lowercase path components separated by `/`, 2 to 256 characters.
RepositoryName = Annotated[
    str,
    StringConstraints(
        min_length=2, max_length=256, pattern=r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$"
    ),
]
JobName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
RunId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:+=@/-]+$")]
Account = Annotated[str, StringConstraints(pattern=r"^(?:[0-9]{12})?$")]
RequiredAccount = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
Epoch = Annotated[int, Field(ge=0, lt=2**40)]  # seconds


def _region(value: str) -> str:
    return arns.check_region(value) if value else value


def _in_range(value: datetime) -> datetime:
    """A time zone is required (AwareDatetime); the instant must also exist in UTC within 1970-9998."""
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        raise ValueError("timestamp is out of range") from None
    if not 1970 <= year <= 9998:
        raise ValueError(f"timestamp year {year} is out of range (1970-9998)")
    return value


def _ecs(kind: str, *, or_empty: bool = False) -> AfterValidator:
    def check(value: str) -> str:
        if not (or_empty and value == ""):
            arns.ecs_arn(value, kind)
        return value

    return AfterValidator(check)


def _arn_of(service: str, resource_prefix: str, *, regional: bool = True, or_empty: bool = False) -> AfterValidator:
    def check(value: str) -> str:
        if or_empty and value == "":
            return value
        arn = arns.parse_arn(value, service, regional=regional)
        if not arn.resource.startswith(resource_prefix):
            raise ValueError(f"expected an ARN of a {service} {resource_prefix.rstrip('/:')}, got {value[:120]!r}")
        return value

    return AfterValidator(check)


Region = Annotated[str, StringConstraints(max_length=32, pattern=r"^[a-z0-9-]*$"), AfterValidator(_region)]
RequiredRegion = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[a-z0-9-]+$"), AfterValidator(_region)
]
Timestamp = Annotated[AwareDatetime, AfterValidator(_in_range)]
TaskArn = Annotated[str, _ecs("task")]
ClusterArn = Annotated[str, _ecs("cluster")]
ServiceArn = Annotated[str, _ecs("service")]
TaskDefinitionArnOrEmpty = Annotated[str, _ecs("task-definition", or_empty=True)]
ClusterArnOrEmpty = Annotated[str, _ecs("cluster", or_empty=True)]
EcsArn = Annotated[str, _arn_of("ecs", "")]
SqsArn = Annotated[str, _arn_of("sqs", "")]
SqsArnOrEmpty = Annotated[str, _arn_of("sqs", "", or_empty=True)]
RoleArn = Annotated[str, _arn_of("iam", "role/", regional=False)]
StackArn = Annotated[str, _arn_of("cloudformation", "stack/")]


# What Scheduler and Dockhand write (fromisoformat alone takes stray characters before the zone).
_ISO_TIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?$"
)


def _scheduled_time(value: str) -> str:
    """The placeholder (a schedule's template) or an ISO time with a time zone; kept as the string it was."""
    if value == SCHEDULED_TIME_PLACEHOLDER:
        return value
    match = _ISO_TIME.match(value)
    if match is None:
        raise ValueError(f"expected an ISO time such as 2026-11-29T01:00:00Z, got {value[:80]!r}")
    if not match.group("zone"):
        raise ValueError(f"scheduled time {value[:80]!r} has no time zone (add Z or an offset)")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"scheduled time {value[:80]!r} is no date and time") from None
    _in_range(parsed)
    return value


def _response_url(value: str) -> str:
    """CloudFormation's pre-signed S3 URL is https; plain http is taken only on loopback (tests, local runs)."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return value
    raise ValueError("expected an https URL (or http on loopback)")


ResponseUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[!-~]+$"), AfterValidator(_response_url)
]


ScheduledTime = Annotated[str, StringConstraints(max_length=64), AfterValidator(_scheduled_time)]
