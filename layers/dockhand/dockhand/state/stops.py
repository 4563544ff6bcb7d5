"""Task-event versions (drop duplicates and stale events) and the history of stops (outlives ECS's hour).

A task event is *claimed* by a conditional write on `TASK#<task arn>`: it goes through only when no newer or
equal version was finished before. Equal versions that were claimed but not finished (the Lambda failed half
way, a channel failed) are resumed: every later step is idempotent on its own.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dockhand.arns import last_part
from dockhand.state.table import Table, ttl_after

_TASK_TTL = 7 * 86400
Claim = Literal["new", "resume", "duplicate", "stale"]


class TaskEvents:
    def __init__(self, table: Table) -> None:
        self._t = table

    def claim(self, task_arn: str, version: int) -> tuple[Claim, dict[str, Any]]:
        """new: first sight of this version; resume: seen but unfinished; duplicate/stale: drop it."""
        item = {
            "pk": f"TASK#{task_arn}",
            "sk": "VERSION",
            "version": version,
            "state": "claimed",
            "expires_at": ttl_after(_TASK_TTL),
        }
        if self._t.put(item, condition="attribute_not_exists(pk) OR version < :v", values={":v": version}):
            return "new", item
        current = self._t.get(f"TASK#{task_arn}", "VERSION") or {}
        seen = int(current.get("version", 0))
        if seen > version:
            return "stale", current
        if current.get("state") == "done":
            return "duplicate", current
        return "resume", current

    def remember(self, task_arn: str, version: int, **values: Any) -> None:
        """Store a decision taken for this version (so a resumed event takes the same one)."""
        names = {f"#k{i}": k for i, k in enumerate(values)}
        sets = ", ".join(f"#k{i} = :v{i}" for i in range(len(values)))
        vals = {f":v{i}": v for i, v in enumerate(values.values())} | {":ver": version}
        self._t.update(
            f"TASK#{task_arn}", "VERSION", f"SET {sets}", values=vals, names=names, condition="version = :ver"
        )

    def done(self, task_arn: str, version: int) -> None:
        self.remember(task_arn, version, state="done")


class StopRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cluster: str
    group: str
    task_arn: str
    task_definition: str = ""
    cause: str
    summary: str = ""
    container: str | None = None
    exit_code: int | None = None
    reason: str = ""
    stop_code: str | None = None
    started_at: str | None = None
    stopped_at: str
    started_by: str | None = None
    alerted: bool = False


class StopHistory:
    def __init__(self, table: Table) -> None:
        self._t = table

    def record(self, stop: StopRecord, keep_days: int) -> None:
        task_id = last_part(stop.task_arn)
        item = {
            "pk": f"STOPS#{stop.cluster}#{stop.group}",
            "sk": f"{stop.stopped_at}#{task_id}",
            **stop.model_dump(exclude_none=True),
            "expires_at": ttl_after(keep_days * 86400),
        }
        self._t.put(item)  # same key on a redelivery: the same row again

    def recent(self, cluster: str, group: str, limit: int = 20) -> list[StopRecord]:
        items = self._t.query(f"STOPS#{cluster}#{group}", newest_first=True, limit=limit)
        return [StopRecord.model_validate(i) for i in items]

    def recent_anywhere(self, groups: Collection[str], limit: int = 20) -> list[StopRecord]:
        """Stops of any of `groups` in every cluster, newest first (one scan, for the CLI only)."""
        items = [i for i in self._t.scan_prefix("STOPS#") if i.get("group") in groups]
        items.sort(key=lambda i: str(i.get("sk", "")), reverse=True)
        return [StopRecord.model_validate(i) for i in items[:limit]]
