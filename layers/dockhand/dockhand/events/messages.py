"""The messages Dockhand sends itself or receives outside EventBridge: schedule payloads, the watcher's delayed
follow-ups, and CloudFormation's request to the schedule sync. Each model is the message's contract."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from dockhand.events.fields import (
    EcsNameOrEmpty,
    Epoch,
    GroupOrEmpty,
    Id,
    ImageDigest,
    ImageTagOrEmpty,
    JobName,
    Message,
    RepositoryName,
    RequiredAccount,
    RequiredRegion,
    ResponseUrl,
    RoleArn,
    RunId,
    ScheduledTime,
    SqsArn,
    SqsArnOrEmpty,
    StackArn,
    Timestamp,
)


class SchedulePayload(Message):
    """The Input of a Dockhand schedule (EventBridge Scheduler sends it as the message body, no envelope).

    action: `launch` (a scheduled or retried run), `deadline` (max runtime reached), `run_now` (a person).
    """

    dockhand: Literal["job"] = "job"
    action: Literal["launch", "deadline", "run_now"] = "launch"
    job: JobName
    scheduled_time: ScheduledTime | None = Field(None, description="<aws.scheduler.scheduled-time> or an ISO time")
    run_id: RunId | None = None
    attempt: int = Field(1, ge=1, le=100)
    execution_id: Id | None = Field(None, description="<aws.scheduler.execution-id>")


# ------------------------------------------------------------------------------ the watcher's own messages


class WatchAction(BaseModel):
    """A delayed message the watcher sends itself: close a crash-loop window, or launch a restart attempt."""

    model_config = ConfigDict(defer_build=True)

    dockhand: Literal["watch"]
    action: Literal["close_window", "restart"]
    cluster: EcsNameOrEmpty = ""
    group: GroupOrEmpty = ""
    cause: Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z0-9_]*$")] = ""
    opened_at: Epoch = Field(0, description="A crash-loop window's name: the stoppedAt of the stop that opened it")
    closes_at: Epoch = 0
    round: int = Field(1, ge=1, le=1000, description="A closing round of a window: 1 is its summary, then follow-ups")
    chain: Annotated[str, StringConstraints(max_length=128, pattern=r"^[A-Za-z0-9_.:-]*$")] = ""
    attempt: int = Field(0, ge=0, le=1000)
    not_before: Epoch = Field(0, description="Set when the wait exceeds one SQS delay (15 min): re-delay until then")

    @model_validator(mode="after")
    def _what_the_action_needs(self) -> WatchAction:
        """A window is found by cluster, group, cause and opening time; a restart by its chain and attempt."""
        if self.action == "close_window" and not (self.cluster and self.group and self.cause and self.opened_at):
            raise ValueError("close_window needs cluster, group, cause and opened_at")
        if self.action == "restart" and not (self.chain and self.attempt >= 1):
            raise ValueError("restart needs a chain and an attempt of 1 or more")
        return self

    @staticmethod
    def matches(body: dict[str, Any]) -> bool:
        return body.get("dockhand") == "watch"


# ----------------------------------------------------------------------- CloudFormation custom resource


class CustomResourceReply(Message):
    """Where a custom resource's answer goes: enough of a request to say FAILED even when the rest is wrong."""

    response_url: ResponseUrl = Field(alias="ResponseURL")
    stack_id: StackArn = Field(alias="StackId")
    request_id: Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[!-~]+$")] = Field(
        alias="RequestId"
    )
    logical_resource_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,255}$")] = Field(
        alias="LogicalResourceId"
    )
    physical_resource_id: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = Field(
        None, alias="PhysicalResourceId"
    )


class ScheduleSyncProperties(Message):
    schedule_group: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_.-]{1,64}$")] = Field(alias="ScheduleGroup")
    target_arn: SqsArn = Field(alias="TargetArn")
    role_arn: RoleArn = Field(alias="RoleArn")
    dead_letter_arn: SqsArnOrEmpty | None = Field(None, alias="DeadLetterArn")


class ScheduleSyncRequest(CustomResourceReply):
    """The `Custom::DockhandSchedules` request CloudFormation sends the schedule sync function."""

    request_type: Literal["Create", "Update", "Delete"] = Field(alias="RequestType")
    resource_properties: ScheduleSyncProperties = Field(alias="ResourceProperties")


# ------------------------------------------------------------------------------------------- promotion

StageName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Principal = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[!-~]+$")]


class PromoteAction(Message):
    """A message the promotion flow sends itself on the watcher's queue.

    end_bake: the bake window of a promotion ended (delayed); promote_now: a person skipped the bake
    (`dockhand promote`); decided: an approval was answered (Slack or `dockhand approve|reject`); expire: an
    approval request ran out (delayed)."""

    dockhand: Literal["promote"]
    action: Literal["end_bake", "promote_now", "decided", "expire"]
    repository: RepositoryName
    digest: ImageDigest
    stage: StageName
    by: Principal | None = Field(None, description="promote_now: who asked")
    request: Id | None = Field(None, description="promote_now: the request's own id (each request is its own claim)")
    not_before: Epoch = Field(0, description="Set when the wait exceeds one SQS delay (15 min): re-delay until then")

    @staticmethod
    def matches(body: dict[str, Any]) -> bool:
        return body.get("dockhand") == "promote"


class PromotionMessage(Message):
    """A verified (and approved) digest goes to the next stage: the deploy queue's message for the deployer."""

    dockhand: Literal["promotion"]
    repository: RepositoryName
    digest: ImageDigest
    tag: ImageTagOrEmpty = ""
    pushed_at: Timestamp
    stage: StageName
    from_stage: StageName
    account: RequiredAccount
    region: RequiredRegion

    @staticmethod
    def matches(body: dict[str, Any]) -> bool:
        return body.get("dockhand") == "promotion"

    @property
    def key(self) -> str:
        return f"{self.repository}@{self.digest}>{self.stage}"
