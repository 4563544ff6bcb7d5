"""The AWS events Dockhand consumes, as pydantic models with AWS spelling as aliases.

Unknown fields and new enum values are tolerated; optional fields that AWS sometimes leaves out
(`exitCode`, `containers`, `reason`) are None or empty, never a KeyError.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dockhand import arns


class _Event(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class Envelope(_Event):
    """The EventBridge envelope every AWS event shares."""

    version: str = "0"
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str = ""
    time: datetime
    region: str = ""
    resources: list[str] = Field(default_factory=list)
    detail: dict[str, Any] = Field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- ECR push


class EcrImageActionDetail(_Event):
    result: str
    repository_name: str = Field(alias="repository-name", min_length=1)
    image_digest: str = Field(alias="image-digest", pattern=r"^sha256:[0-9a-f]{8,64}$")
    action_type: str = Field(alias="action-type")
    image_tag: str | None = Field(None, alias="image-tag")
    manifest_media_type: str | None = Field(None, alias="manifest-media-type")
    artifact_media_type: str | None = Field(None, alias="artifact-media-type")


class EcrImageAction(Envelope):
    detail_type: Literal["ECR Image Action"] = Field(alias="detail-type")
    source: Literal["aws.ecr"]
    detail: EcrImageActionDetail  # type: ignore[assignment]


# -------------------------------------------------------------------------------------------- ECS tasks


class Container(_Event):
    name: str = ""
    image: str | None = None
    image_digest: str | None = Field(None, alias="imageDigest")
    exit_code: int | None = Field(None, alias="exitCode")
    reason: str | None = None
    last_status: str | None = Field(None, alias="lastStatus")
    container_arn: str | None = Field(None, alias="containerArn")
    runtime_id: str | None = Field(None, alias="runtimeId")


class TaskDetail(_Event):
    task_arn: str = Field(alias="taskArn")
    cluster_arn: str = Field("", alias="clusterArn")
    task_definition_arn: str = Field("", alias="taskDefinitionArn")
    last_status: str = Field("", alias="lastStatus")
    desired_status: str | None = Field(None, alias="desiredStatus")
    group: str | None = None
    started_by: str | None = Field(None, alias="startedBy")
    stop_code: str | None = Field(None, alias="stopCode")
    stopped_reason: str | None = Field(None, alias="stoppedReason")
    containers: list[Container] = Field(default_factory=list)
    launch_type: str | None = Field(None, alias="launchType")
    capacity_provider_name: str | None = Field(None, alias="capacityProviderName")
    platform_version: str | None = Field(None, alias="platformVersion")
    created_at: datetime | None = Field(None, alias="createdAt")
    started_at: datetime | None = Field(None, alias="startedAt")
    stopping_at: datetime | None = Field(None, alias="stoppingAt")
    stopped_at: datetime | None = Field(None, alias="stoppedAt")
    version: int = 0
    overrides: dict[str, Any] = Field(default_factory=dict)
    cpu: str | None = None
    memory: str | None = None
    availability_zone: str | None = Field(None, alias="availabilityZone")
    tags: list[dict[str, str]] = Field(default_factory=list)

    @property
    def task_id(self) -> str:
        return arns.last_part(self.task_arn)

    @property
    def cluster_name(self) -> str:
        return arns.last_part(self.cluster_arn)

    @property
    def service_name(self) -> str | None:
        if self.group and self.group.startswith("service:"):
            return self.group.split(":", 1)[1]
        return None

    @property
    def task_group(self) -> str:
        """The task's group; a task started without one is grouped by its family, as ECS does."""
        return self.group or f"family:{self.family}"

    @property
    def family(self) -> str:
        """Task-definition family (from the ARN: .../task-definition/family:rev)."""
        return arns.family(self.task_definition_arn)

    @property
    def revision(self) -> int | None:
        return arns.revision(self.task_definition_arn)


class TaskStateChange(Envelope):
    detail_type: Literal["ECS Task State Change"] = Field(alias="detail-type")
    source: Literal["aws.ecs"]
    detail: TaskDetail  # type: ignore[assignment]


# --------------------------------------------------------------------------------- deployments, services


class DeploymentDetail(_Event):
    event_type: str = Field(alias="eventType")
    event_name: str = Field(alias="eventName")
    deployment_id: str = Field(alias="deploymentId")
    updated_at: datetime | None = Field(None, alias="updatedAt")
    reason: str | None = None


class DeploymentStateChange(Envelope):
    detail_type: Literal["ECS Deployment State Change"] = Field(alias="detail-type")
    source: Literal["aws.ecs"]
    detail: DeploymentDetail  # type: ignore[assignment]

    @property
    def service_arn(self) -> str:
        return self.resources[0] if self.resources else ""


class ServiceActionDetail(_Event):
    event_type: str = Field(alias="eventType")
    event_name: str = Field(alias="eventName")
    cluster_arn: str = Field("", alias="clusterArn")
    created_at: datetime | None = Field(None, alias="createdAt")
    reason: str | None = None
    capacity_provider_arns: list[str] = Field(default_factory=list, alias="capacityProviderArns")


class ServiceAction(Envelope):
    detail_type: Literal["ECS Service Action"] = Field(alias="detail-type")
    source: Literal["aws.ecs"]
    detail: ServiceActionDetail  # type: ignore[assignment]

    @property
    def service_arn(self) -> str:
        return self.resources[0] if self.resources else ""


# --------------------------------------------------------------------------------------------- schedule


class SchedulePayload(_Event):
    """The Input of a Dockhand schedule (EventBridge Scheduler sends it as the message body, no envelope).

    action: `launch` (a scheduled or retried run), `deadline` (max runtime reached), `run_now` (a person).
    """

    dockhand: Literal["job"] = "job"
    action: Literal["launch", "deadline", "run_now"] = "launch"
    job: str = Field(min_length=1)
    scheduled_time: str | None = Field(None, description="<aws.scheduler.scheduled-time> or an ISO time")
    run_id: str | None = None
    attempt: int = Field(1, ge=1)
    execution_id: str | None = Field(None, description="<aws.scheduler.execution-id>")
