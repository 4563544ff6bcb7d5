"""The deploy ledger: one row per service (pk LEDGER#<service arn>, sk CURRENT), changed only by conditional writes.

The row holds what runs (digest, tag, push time, task definition, deployment id) and, while a push is being
deployed, a claim on it. Every write is conditional on the row's `version`, so two deliveries of one push can never
both act, and a push older than what runs can never overwrite it. The claim records the task definition a push
registered, so a retry after a crash between RegisterTaskDefinition and UpdateService reuses it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from dockhand.state.table import Table, now_iso

CLAIM_LEASE = timedelta(minutes=10)  # longer than the deployer's timeout: a claim older than this was abandoned


class Claim(BaseModel):
    model_config = ConfigDict(extra="ignore")

    digest: str
    tag: str
    pushed_at: str
    event_id: str
    claimed_at: str
    registered_arn: str | None = None

    def expired(self, now: datetime) -> bool:
        return datetime.fromisoformat(self.claimed_at) + CLAIM_LEASE < now


class LedgerRow(BaseModel):
    """What runs on one service, as far as Dockhand knows, and the push in flight (if any)."""

    model_config = ConfigDict(extra="ignore")

    service_arn: str
    version: int = 0
    digest: str | None = None
    tag: str | None = None
    pushed_at: str | None = None
    task_definition_arn: str | None = None
    deployment_id: str | None = None
    event_id: str | None = None
    updated_at: str | None = None
    claim: Claim | None = None

    @property
    def pushed_time(self) -> datetime | None:
        return datetime.fromisoformat(self.pushed_at) if self.pushed_at else None


def _key(service_arn: str) -> tuple[str, str]:
    return f"LEDGER#{service_arn}", "CURRENT"


class Ledger:
    def __init__(self, table: Table) -> None:
        self._t = table

    def read(self, service_arn: str) -> LedgerRow:
        pk, sk = _key(service_arn)
        item = self._t.get(pk, sk)
        if not item:
            return LedgerRow(service_arn=service_arn)
        item["version"] = int(item.get("version", 0))
        return LedgerRow.model_validate(item)

    def claim(self, row: LedgerRow, claim: Claim) -> LedgerRow | None:
        """Claim the row for a push, if nobody changed it since `row` was read. None: someone did."""
        pk, sk = _key(row.service_arn)
        item: dict[str, Any] = {
            "pk": pk,
            "sk": sk,
            **row.model_dump(exclude_none=True, exclude={"claim", "version"}),
            "version": row.version + 1,
            "claim": claim.model_dump(exclude_none=True),
        }
        if row.version == 0:
            ok = self._t.put(item, condition="attribute_not_exists(pk)")
        else:
            ok = self._t.put(item, condition="version = :v", values={":v": row.version})
        return LedgerRow.model_validate({**item, "version": row.version + 1}) if ok else None

    def note_registered(self, service_arn: str, digest: str, task_definition_arn: str) -> bool:
        pk, sk = _key(service_arn)
        return (
            self._t.update(
                pk,
                sk,
                "SET claim.registered_arn = :a",
                values={":a": task_definition_arn, ":d": digest},
                condition="claim.digest = :d",
            )
            is not None
        )

    def finish(self, service_arn: str, claim: Claim, task_definition_arn: str, deployment_id: str | None) -> bool:
        """The claimed push runs now: it becomes the row's state; the claim goes."""
        pk, sk = _key(service_arn)
        values: dict[str, Any] = {
            ":d": claim.digest,
            ":t": claim.tag,
            ":p": claim.pushed_at,
            ":td": task_definition_arn,
            ":e": claim.event_id,
            ":u": now_iso(),
            ":one": 1,
            ":dep": deployment_id or "",
        }
        return (
            self._t.update(
                pk,
                sk,
                "SET digest = :d, tag = :t, pushed_at = :p, task_definition_arn = :td, deployment_id = :dep, "
                "event_id = :e, updated_at = :u, version = version + :one REMOVE claim",
                values=values,
                condition="claim.digest = :d",
            )
            is not None
        )

    def release(self, service_arn: str, digest: str) -> bool:
        """Drop the claim of a push that failed for good; what runs stays as it was."""
        pk, sk = _key(service_arn)
        return (
            self._t.update(
                pk,
                sk,
                "SET version = version + :one REMOVE claim",
                values={":one": 1, ":d": digest},
                condition="claim.digest = :d",
            )
            is not None
        )
