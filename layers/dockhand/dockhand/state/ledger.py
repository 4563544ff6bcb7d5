"""The deploy ledger: one row per service (pk LEDGER#<service arn>, sk CURRENT): what Dockhand deployed there.

The row holds what runs (digest, tag, push time, task definition, deployment id, the push event) and a `version`
that every write moves on by one, conditional on the version read. A push that deploys a service holds the claim
`deploy:<service arn>@<version>` (`state/claims.py`) while it works, and its last step writes the row at
version + 1; a push that fails for good moves the version on without changing what runs. So one version is taken
by one push at most, and a push older than what runs never overwrites it.

The row speaks for what runs only while the service runs the task definition the row names (`describes`): a
service someone else moved since is judged by the revision it runs (`deploy/running.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from dockhand.state.table import Table, now_iso


class LedgerRow(BaseModel):
    """What runs on one service, as far as Dockhand deployed it."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    service_arn: str
    version: int = 0
    digest: str | None = None
    tag: str | None = None
    pushed_at: str | None = None
    task_definition_arn: str | None = None
    deployment_id: str | None = None
    event_id: str | None = None
    updated_at: str | None = None

    @property
    def pushed_time(self) -> datetime | None:
        return datetime.fromisoformat(self.pushed_at) if self.pushed_at else None

    def describes(self, task_definition_arn: str | None) -> bool:
        """Does the row say what runs on a service that runs `task_definition_arn`?"""
        return self.digest is not None and self.task_definition_arn == task_definition_arn

    @property
    def claim_key(self) -> str:
        """The claim a push takes to move this row on from its version."""
        return f"{self.service_arn}@{self.version}"


def _key(service_arn: str) -> tuple[str, str]:
    return f"LEDGER#{service_arn}", "CURRENT"


def _row(service_arn: str, item: dict[str, Any] | None) -> LedgerRow:
    if not item:
        return LedgerRow(service_arn=service_arn)
    return LedgerRow.model_validate({**item, "service_arn": service_arn, "version": int(item.get("version", 0))})


class Ledger:
    def __init__(self, table: Table) -> None:
        self._t = table

    def read(self, service_arn: str) -> LedgerRow:
        return _row(service_arn, self._t.get(*_key(service_arn)))

    def read_many(self, service_arns: Iterable[str]) -> dict[str, LedgerRow]:
        """The rows of many services in one BatchGetItem per 100 (a push's reads do not grow per service)."""
        arns = list(dict.fromkeys(service_arns))
        items = self._t.get_many([_key(arn) for arn in arns])
        return {arn: _row(arn, items.get(_key(arn))) for arn in arns}

    def record(
        self,
        row: LedgerRow,
        *,
        digest: str,
        tag: str,
        pushed_at: str,
        task_definition_arn: str,
        deployment_id: str | None,
        event_id: str,
    ) -> bool:
        """What runs now, written at `row.version + 1` if nobody moved the row on since `row` was read."""
        return self._write(
            row,
            digest=digest,
            tag=tag,
            pushed_at=pushed_at,
            task_definition_arn=task_definition_arn,
            deployment_id=deployment_id or "",
            event_id=event_id,
            updated_at=now_iso(),
        )

    def move_on(self, row: LedgerRow) -> bool:
        """Take `row.version` without changing what runs (a push that failed for good, an abandoned one)."""
        return self._write(row, **row.model_dump(exclude={"service_arn", "version"}, exclude_none=True))

    def _write(self, row: LedgerRow, **state: Any) -> bool:
        pk, sk = _key(row.service_arn)
        item: dict[str, Any] = {"pk": pk, "sk": sk, "service_arn": row.service_arn, **state, "version": row.version + 1}
        if row.version == 0:
            return self._t.put(item, condition="attribute_not_exists(pk)")
        return self._t.put(item, condition="version = :v", values={":v": row.version})
