"""The payload Amazon ECS sends a deployment lifecycle hook (blue/green, linear and canary deployments).

ECS invokes the function synchronously at each configured lifecycle stage:
`{executionId, lifecycleStage, resourceArn (the service deployment), executionDetails: {serviceArn,
targetServiceRevisionArn, testTrafficWeights, productionTrafficWeights}, hookDetails}`. The hook answers
`{"hookStatus": "SUCCEEDED" | "FAILED" | "IN_PROGRESS", "callBackDelay": seconds, "hookDetails": {...}}`; an
exception or an answer without `hookStatus` rolls the deployment back.

There is no rollback stage: during a rollback ECS calls the hooks of TEST_TRAFFIC_SHIFT and
PRODUCTION_TRAFFIC_SHIFT again, with the weights moving back to the old revision (the target revision at 0).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from dockhand.events.fields import EcsArn, Id, Label, Message, ServiceArn

# The stages whose hooks ECS calls again while rolling back (the target revision's weight falls to 0).
RECURRING = {"TEST_TRAFFIC_SHIFT": "test", "PRODUCTION_TRAFFIC_SHIFT": "production"}


class ExecutionDetails(Message):
    service_arn: ServiceArn = Field(alias="serviceArn")
    target_service_revision_arn: EcsArn = Field(alias="targetServiceRevisionArn")
    test_traffic_weights: dict[str, float] = Field(default_factory=dict, alias="testTrafficWeights")
    production_traffic_weights: dict[str, float] = Field(default_factory=dict, alias="productionTrafficWeights")


class HookInvocation(Message):
    """One call of the hook by ECS."""

    execution_id: Id = Field(alias="executionId")
    lifecycle_stage: Label = Field(alias="lifecycleStage")
    resource_arn: EcsArn | None = Field(None, alias="resourceArn")
    details: ExecutionDetails = Field(alias="executionDetails")
    hook_details: dict[str, Any] = Field(default_factory=dict, alias="hookDetails")

    @property
    def rolling_back(self) -> bool:
        """Traffic moves back to the old revision: the target revision weighs 0 and another revision more."""
        which = RECURRING.get(self.lifecycle_stage)
        if which is None:
            return False
        d = self.details
        weights = d.test_traffic_weights if which == "test" else d.production_traffic_weights
        target = weights.get(d.target_service_revision_arn)
        return target == 0 and any(w > 0 for arn, w in weights.items() if arn != d.target_service_revision_arn)


HookStatus = Literal["SUCCEEDED", "FAILED", "IN_PROGRESS"]
