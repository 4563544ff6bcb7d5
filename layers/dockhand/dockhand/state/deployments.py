"""Deployments Dockhand started, keyed by ECS deploymentId, and holds on rolled-back digests.

The deployer writes a DeploymentRecord when UpdateService returns the new PRIMARY deployment; the watcher reads
it when an `ECS Deployment State Change` arrives (same deploymentId) and records the outcome. A circuit-breaker
rollback puts a hold on the digest: later pushes of it are skipped until a person releases it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dockhand.state.table import Table, now_iso, ttl_after

DeploymentStatus = Literal["IN_PROGRESS", "COMPLETED", "FAILED", "ROLLED_BACK"]
_DEPLOYMENT_TTL = 90 * 86400


class DeploymentRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    deployment_id: str
    service_arn: str
    cluster: str
    service: str
    repository: str
    tag: str
    digest: str
    image: str
    task_definition_arn: str
    previous_task_definition_arn: str
    target: str = ""
    status: DeploymentStatus = "IN_PROGRESS"
    started_at: str = ""
    finished_at: str | None = None
    reason: str | None = None
    push_event_id: str | None = None


class Deployments:
    def __init__(self, table: Table) -> None:
        self._t = table

    def record(self, rec: DeploymentRecord) -> None:
        item: dict[str, Any] = {
            "pk": f"DEPLOYMENT#{rec.deployment_id}",
            "sk": "META",
            **rec.model_dump(exclude_none=True),
            "started_at": rec.started_at or now_iso(),
            "expires_at": ttl_after(_DEPLOYMENT_TTL),
        }
        self._t.put(item)

    def get(self, deployment_id: str) -> DeploymentRecord | None:
        item = self._t.get(f"DEPLOYMENT#{deployment_id}", "META")
        return DeploymentRecord.model_validate(item) if item else None

    def finish(self, deployment_id: str, status: DeploymentStatus, reason: str | None) -> DeploymentRecord | None:
        """Record an outcome once: returns the updated record, or None if it was already final (duplicate event)."""
        item = self._t.update(
            f"DEPLOYMENT#{deployment_id}",
            "META",
            "SET #s = :s, finished_at = :f, reason = :r",
            values={":s": status, ":f": now_iso(), ":r": reason or "", ":inprog": "IN_PROGRESS"},
            names={"#s": "status"},
            condition="attribute_exists(pk) AND #s = :inprog",
        )
        return DeploymentRecord.model_validate(item) if item else None


class HoldRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    repository: str
    digest: str
    tag: str = ""
    reason: str = ""
    deployment_id: str = ""
    service_arn: str = ""
    created_at: str = ""


class Holds:
    def __init__(self, table: Table) -> None:
        self._t = table

    def hold(self, rec: HoldRecord) -> None:
        data = rec.model_dump()
        data["created_at"] = data["created_at"] or now_iso()
        self._t.put({"pk": f"HOLD#{rec.repository}", "sk": rec.digest, **data})

    def get(self, repository: str, digest: str) -> HoldRecord | None:
        item = self._t.get(f"HOLD#{repository}", digest)
        return HoldRecord.model_validate(item) if item else None

    def release(self, repository: str, digest: str) -> bool:
        if self.get(repository, digest) is None:
            return False
        self._t.delete(f"HOLD#{repository}", digest)
        return True

    def list(self) -> list[HoldRecord]:
        return [HoldRecord.model_validate(i) for i in self._t.scan_prefix("HOLD#")]
