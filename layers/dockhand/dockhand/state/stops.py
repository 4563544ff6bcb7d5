"""The history of stops (it outlives ECS's hour): one row per stop, keyed by its cluster + group, then its own
`stoppedAt` and task id, so a redelivered stop writes the same row again and a span of stoppedAt time is one query
(crash-loop windows count their stops here: `state/alerts.py`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from dockhand.arns import last_part
from dockhand.state.table import Table, ttl_after


class StopRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

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
    alerted: bool = False  # a failure worth an alert (its own, or its crash-loop window's)
    forced: bool = False  # alerted on its own whatever window covers it (a restart that gave up)
    recorded_at: int = 0  # when the watcher wrote it (its clock): a window still receiving stops waits


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

    def between(self, cluster: str, group: str, start: int, end: int) -> list[StopRecord]:
        """Stops of one cluster + group whose stoppedAt falls in [start, end] (epoch seconds, inclusive)."""
        low, high = _second(start), _second(end) + "~"  # "~" sorts after any fraction, "Z" or "#" of that second
        items = self._t.query(f"STOPS#{cluster}#{group}", sk_between=(low, high))
        return [StopRecord.model_validate(i) for i in items]

    def recent(self, cluster: str, group: str, limit: int = 20) -> list[StopRecord]:
        items = self._t.query(f"STOPS#{cluster}#{group}", newest_first=True, limit=limit)
        return [StopRecord.model_validate(i) for i in items]

    def recent_anywhere(self, groups: Collection[str], limit: int = 20) -> list[StopRecord]:
        """Stops of any of `groups` in every cluster, newest first (one scan, for the CLI only)."""
        items = [i for i in self._t.scan_prefix("STOPS#") if i.get("group") in groups]
        items.sort(key=lambda i: str(i.get("sk", "")), reverse=True)
        return [StopRecord.model_validate(i) for i in items[:limit]]


def _second(epoch: int) -> str:
    """An epoch second as the history's stoppedAt keys begin (`2026-11-02T09:00:05`)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "")
