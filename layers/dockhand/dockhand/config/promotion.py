"""Stages and promotion: a target may be a stage that a digest reaches only from an earlier stage, once that stage
deployed it, baked it and (optionally) a person approved it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from dockhand.config.base import FileModel

# A Slack user (U…/W…) or user group (S…) id, or an IAM principal ARN (a user, a role, an assumed-role session).
Approver = Annotated[
    str,
    StringConstraints(
        pattern=r"^([UWS][A-Z0-9]{2,20}|arn:aws[a-z-]*:(iam|sts)::\d{12}:(user|role|assumed-role)/[A-Za-z0-9+=,.@_/*-]+)$"
    ),
]


class Approval(FileModel):
    """A person approves the promotion into this stage: in Slack (the buttons), or with `dockhand approve`."""

    approvers: list[Approver] = Field(
        min_length=1,
        description="Slack user ids (U…), user group ids (S…) and IAM principal ARNs (for `dockhand approve`)",
    )
    expires_minutes: int = Field(
        1440, ge=1, le=10080, description="An unanswered request expires after this (default one day)"
    )

    def allows(self, who: str, groups: tuple[str, ...] = ()) -> bool:
        """Is `who` (a Slack user id or an IAM principal ARN), or one of the Slack groups they are in, declared?"""
        if who in self.approvers or any(g in self.approvers for g in groups):
            return True
        # An assumed-role session approves as its role: arn:aws:sts::1:assumed-role/Role/session → role/Role.
        return any(_same_role(who, a) for a in self.approvers)


class TrafficGate(FileModel):
    """For services on ECS blue/green deployments: the gate holds the green revision on test traffic (Dockhand's
    deployment lifecycle hook, at POST_TEST_TRAFFIC_SHIFT) until it passes, instead of holding the deploy."""

    bake_minutes: int = Field(
        0, ge=0, le=1440, description="Test traffic on the new revision this long with no failure alert of the service"
    )
    alarms: list[str] = Field(
        default_factory=list, description="CloudWatch alarms that must not be in ALARM while the gate holds (names)"
    )
    approval: Approval | None = Field(None, description="A person lets production traffic in (Slack or the CLI)")
    callback_seconds: int = Field(
        60, ge=10, le=900, description="How soon ECS asks the hook again while the gate holds"
    )

    @model_validator(mode="after")
    def _holds_something(self) -> TrafficGate:
        if self.bake_minutes == 0 and not self.alarms and self.approval is None:
            raise ValueError("traffic_gate holds nothing: declare bake_minutes above 0, alarms or an approval")
        return self


def _same_role(who: str, declared: str) -> bool:
    if ":assumed-role/" not in who or ":role/" not in declared:
        return False
    role = who.split(":assumed-role/", 1)[1].split("/", 1)[0]
    return declared.split(":")[4] == who.split(":")[4] and declared.rsplit("/", 1)[-1] == role
