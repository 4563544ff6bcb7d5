"""The messages Dockhand consumes, as pydantic models with AWS spelling as aliases — and their contract.

AWS events (ECR push, ECS task / deployment / service action: `aws`), the schedule payloads, the watcher's own
delayed messages and the schedule sync's CloudFormation request (`messages`). Each model is the contract of its
message: what a handler accepts at the edge, once, before any AWS call (`parse_event`, `parse_message`). A message
that breaks it raises InvalidEvent naming the field and what was expected, and is parked, never retried.

The contract (`fields`): ARNs have their shape (`dockhand.arns`: the partition of the region, a 12-digit account,
the ECS resource type); ids and keys are non-empty, bounded, visible ASCII (they become DynamoDB keys: 2048 bytes
partition, 1024 sort); a pushed tag is an OCI/ECR tag and a digest is `sha256:` + 64 hex; timestamps carry a time
zone (AWS always sends one: a timestamp without one is refused, never guessed); integers fit the fields they
feed. Size, depth and number limits of the whole body are `handling.record_json`'s.

Unknown fields and new enum values are tolerated; optional fields that AWS sometimes leaves out (`exitCode`,
`containers`, `reason`) are None or empty, never a KeyError.
"""

from __future__ import annotations

from dockhand.events.aws import (
    Container,
    DeploymentDetail,
    DeploymentStateChange,
    EcrImageAction,
    EcrImageActionDetail,
    Envelope,
    ServiceAction,
    ServiceActionDetail,
    TaskDetail,
    TaskStateChange,
)
from dockhand.events.edge import describe_validation, parse_event, parse_message
from dockhand.events.fields import SCHEDULED_TIME_PLACEHOLDER, Key
from dockhand.events.messages import (
    CustomResourceReply,
    PromoteAction,
    PromotionMessage,
    SchedulePayload,
    ScheduleSyncProperties,
    ScheduleSyncRequest,
    WatchAction,
)

__all__ = [
    "SCHEDULED_TIME_PLACEHOLDER",
    "Container",
    "CustomResourceReply",
    "DeploymentDetail",
    "DeploymentStateChange",
    "EcrImageAction",
    "EcrImageActionDetail",
    "Envelope",
    "Key",
    "PromoteAction",
    "PromotionMessage",
    "SchedulePayload",
    "ScheduleSyncProperties",
    "ScheduleSyncRequest",
    "ServiceAction",
    "ServiceActionDetail",
    "TaskDetail",
    "TaskStateChange",
    "WatchAction",
    "describe_validation",
    "parse_event",
    "parse_message",
]
