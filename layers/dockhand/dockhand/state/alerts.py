"""Crash-loop windows: per cluster + group + cause, the first failure alerts, later ones are only counted.

A window opens with a conditional put (exactly one opener wins, even under concurrency); later failures inside
it are counted with an atomic ADD. A window is never deleted: once past `closes_at` the next failure replaces
it, leaving a `CLOSED#` marker with the final count, so the delayed message that reports the window reads its
count from either (`tally`).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dockhand.aws.clients import reraise_retryable
from dockhand.state.table import Table, _is_condition_failure

Opened = Literal["opened", "counted"]


class AlertWindow(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cluster: str
    group: str
    cause: str
    opened_at: int
    closes_at: int
    count: int = 0  # failures after the first
    latest_summary: str = ""
    latest_task_arn: str = ""
    latest_at: int = 0
    thread_key: str = ""


class AlertWindows:
    def __init__(self, table: Table, clock: Any = time.time) -> None:
        self._t = table
        self._clock = clock

    @staticmethod
    def _key(cluster: str, group: str, cause: str) -> tuple[str, str]:
        return f"ALERT#{cluster}#{group}", cause

    def hit(
        self, cluster: str, group: str, cause: str, minutes: int, summary: str, task_arn: str
    ) -> tuple[Opened, AlertWindow]:
        """Open the window (first failure) or count this failure into the open one."""
        now = int(self._clock())
        pk, sk = self._key(cluster, group, cause)
        window = AlertWindow(
            cluster=cluster,
            group=group,
            cause=cause,
            opened_at=now,
            closes_at=now + minutes * 60,
            latest_summary=summary,
            latest_task_arn=task_arn,
            latest_at=now,
            thread_key=f"crash/{cluster}/{group}/{cause}/{now}",
        )
        item = {"pk": pk, "sk": sk, **window.model_dump(), "expires_at": int(window.closes_at + 86400)}
        # The common case in a storm is an open window: count first, open only when there is none.
        updated = self._t.update(
            pk,
            sk,
            "ADD #c :one SET latest_summary = :s, latest_task_arn = :t, latest_at = :now",
            values={":one": 1, ":s": summary, ":t": task_arn, ":now": now},
            names={"#c": "count"},
            condition="attribute_exists(pk) AND closes_at >= :now",
        )
        if updated is not None:
            return "counted", AlertWindow.model_validate(updated)
        if self._open(item, now):
            return "opened", window
        return self.hit(cluster, group, cause, minutes, summary, task_arn)  # another failure opened it just now

    def _open(self, item: dict[str, Any], now: int) -> bool:
        """Conditional put; an expired window it replaces leaves a CLOSED# marker with its final count."""
        try:
            out = self._t.raw.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR closes_at < :now",
                ExpressionAttributeValues={":now": now},
                ReturnValues="ALL_OLD",
            )
        except Exception as exc:
            if _is_condition_failure(exc):
                return False
            reraise_retryable(exc, f"PutItem {item['pk']}")
            raise
        old = out.get("Attributes")
        if old and int(old.get("count", 0)) > 0:
            self._t.put(
                {
                    "pk": item["pk"],
                    "sk": f"CLOSED#{old['sk']}#{int(old['opened_at'])}",
                    "count": int(old["count"]),
                    "latest_summary": old.get("latest_summary", ""),
                    "expires_at": int(now + 86400),
                }
            )
        return True

    def get(self, cluster: str, group: str, cause: str) -> AlertWindow | None:
        item = self._t.get(*self._key(cluster, group, cause))
        return AlertWindow.model_validate(item) if item else None

    def tally(self, cluster: str, group: str, cause: str, opened_at: int) -> tuple[int, str]:
        """(failures after the first, latest summary) of the window opened at `opened_at`.

        Read from the window while it is the current one, else from the marker its replacement left.
        """
        window = self.get(cluster, group, cause)
        if window is not None and window.opened_at == opened_at:
            return window.count, window.latest_summary
        pk, _ = self._key(cluster, group, cause)
        marker = self._t.get(pk, f"CLOSED#{cause}#{opened_at}")
        return (int(marker["count"]), str(marker.get("latest_summary", ""))) if marker else (0, "")
