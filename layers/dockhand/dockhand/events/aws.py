"""The AWS events Dockhand consumes: the EventBridge envelope, ECR pushes, ECS task state changes, deployment state
changes and service actions. Each model is the event's contract (its field types: `dockhand.events.fields`)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints, model_validator

from dockhand import arns
from dockhand.events.fields import (
    Account,
    ClusterArn,
    ClusterArnOrEmpty,
    EcsArn,
    Group,
    Id,
    ImageDigest,
    ImageTagOrEmpty,
    Label,
    Message,
    Region,
    RepositoryName,
    RequiredAccount,
    RequiredRegion,
    TaskArn,
    TaskDefinitionArnOrEmpty,
    Timestamp,
)


class Envelope(Message):
    """The EventBridge envelope every AWS event shares."""

    DETAIL_TYPE: ClassVar[str] = ""

    version: Label = "0"
    id: Id  # the exactly-once key of a push
    detail_type: Label = Field(alias="detail-type")
    source: Label
    account: Account = ""
    time: Timestamp
    region: Region = ""
    resources: list[Annotated[str, StringConstraints(max_length=2048)]] = Field(default_factory=list, max_length=100)
    detail: dict[str, Any] = Field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- ECR push


class EcrImageActionDetail(Message):
    result: Label
    repository_name: RepositoryName = Field(alias="repository-name")
    image_digest: ImageDigest = Field(alias="image-digest")
    action_type: Label = Field(alias="action-type")
    # None or "" is an untagged push (an index's child manifest); anything else is a tag ECR could have made.
    image_tag: ImageTagOrEmpty | None = Field(None, alias="image-tag")
    manifest_media_type: Label | None = Field(None, alias="manifest-media-type")
    artifact_media_type: Label | None = Field(None, alias="artifact-media-type")


class EcrImageAction(Envelope):
    DETAIL_TYPE: ClassVar[str] = "ECR Image Action"

    detail_type: Literal["ECR Image Action"] = Field(alias="detail-type")
    source: Literal["aws.ecr"]
    account: RequiredAccount  # with the region, the registry a pushed image is pinned to
    region: RequiredRegion
    detail: EcrImageActionDetail  # type: ignore[assignment]


# -------------------------------------------------------------------------------------------- ECS tasks


class Container(Message):
    name: Label = ""
    image: Annotated[str, StringConstraints(max_length=1024)] | None = None
    image_digest: ImageDigest | None = Field(None, alias="imageDigest")
    exit_code: Annotated[int, Field(ge=-(2**31), lt=2**32)] | None = Field(None, alias="exitCode")
    reason: str | None = None
    last_status: Label | None = Field(None, alias="lastStatus")
    container_arn: EcsArn | None = Field(None, alias="containerArn")
    runtime_id: Label | None = Field(None, alias="runtimeId")


class TaskDetail(Message):
    task_arn: TaskArn = Field(alias="taskArn")
    cluster_arn: ClusterArn = Field(alias="clusterArn")
    task_definition_arn: TaskDefinitionArnOrEmpty = Field("", alias="taskDefinitionArn")
    last_status: Label = Field("", alias="lastStatus")
    desired_status: Label | None = Field(None, alias="desiredStatus")
    group: Group | None = None
    started_by: Annotated[str, StringConstraints(max_length=128, pattern=r"^[A-Za-z0-9_./:-]*$")] | None = Field(
        None, alias="startedBy"
    )
    stop_code: Label | None = Field(None, alias="stopCode")
    stopped_reason: str | None = Field(None, alias="stoppedReason")
    containers: list[Container] = Field(default_factory=list, max_length=100)
    launch_type: Label | None = Field(None, alias="launchType")
    capacity_provider_name: Label | None = Field(None, alias="capacityProviderName")
    platform_version: Label | None = Field(None, alias="platformVersion")
    created_at: Timestamp | None = Field(None, alias="createdAt")
    started_at: Timestamp | None = Field(None, alias="startedAt")
    stopping_at: Timestamp | None = Field(None, alias="stoppingAt")
    stopped_at: Timestamp | None = Field(None, alias="stoppedAt")
    version: Annotated[int, Field(ge=0, lt=2**63)] = 0
    overrides: dict[str, Any] = Field(default_factory=dict)
    cpu: Label | None = None
    memory: Label | None = None
    availability_zone: Label | None = Field(None, alias="availabilityZone")
    tags: list[dict[Annotated[str, StringConstraints(max_length=128)], Label]] = Field(
        default_factory=list, max_length=50
    )

    @model_validator(mode="after")
    def _one_cluster(self) -> TaskDetail:
        """A task ARN that names its cluster names the event's cluster, in the same account and Region."""
        task, cluster = arns.ecs_arn(self.task_arn, "task"), arns.ecs_arn(self.cluster_arn, "cluster")
        if task.part("cluster") and task.part("cluster") != cluster.part("cluster"):
            named = (task.part("cluster"), cluster.part("cluster"))
            raise ValueError(f"taskArn is in cluster {named[0]!r}, clusterArn names {named[1]!r}")
        if (task.account, task.region) != (cluster.account, cluster.region):
            raise ValueError("taskArn and clusterArn are in different accounts or Regions")
        return self

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
    DETAIL_TYPE: ClassVar[str] = "ECS Task State Change"

    detail_type: Literal["ECS Task State Change"] = Field(alias="detail-type")
    source: Literal["aws.ecs"]
    detail: TaskDetail  # type: ignore[assignment]


# --------------------------------------------------------------------------------- deployments, services


class _ServiceEvent(Envelope):
    """An event about one service: `resources[0]` is its ARN (the alert names it)."""

    @model_validator(mode="after")
    def _names_a_service(self) -> _ServiceEvent:
        if not self.resources:
            raise ValueError("resources is empty: expected the service ARN first")
        arns.ecs_arn(self.resources[0], "service")
        return self

    @property
    def service_arn(self) -> str:
        return self.resources[0] if self.resources else ""


class DeploymentDetail(Message):
    event_type: Label = Field(alias="eventType")
    event_name: Label = Field(alias="eventName")
    deployment_id: Id = Field(alias="deploymentId")
    updated_at: Timestamp | None = Field(None, alias="updatedAt")
    reason: str | None = None


class DeploymentStateChange(_ServiceEvent):
    DETAIL_TYPE: ClassVar[str] = "ECS Deployment State Change"

    detail_type: Literal["ECS Deployment State Change"] = Field(alias="detail-type")
    source: Literal["aws.ecs"]
    detail: DeploymentDetail  # type: ignore[assignment]


class ServiceActionDetail(Message):
    event_type: Label = Field(alias="eventType")
    event_name: Label = Field(alias="eventName")
    cluster_arn: ClusterArnOrEmpty = Field("", alias="clusterArn")
    created_at: Timestamp | None = Field(None, alias="createdAt")
    reason: str | None = None
    capacity_provider_arns: list[EcsArn] = Field(default_factory=list, alias="capacityProviderArns", max_length=100)


class ServiceAction(_ServiceEvent):
    DETAIL_TYPE: ClassVar[str] = "ECS Service Action"

    detail_type: Literal["ECS Service Action"] = Field(alias="detail-type")
    source: Literal["aws.ecs"]
    detail: ServiceActionDetail  # type: ignore[assignment]
