"""Crash-loop windows: per cluster + group + cause, spans of the stops' own time (`stoppedAt`).

A failure that no window covers opens one around its own stoppedAt (the window length either side, cut short where a
neighbour begins or ends, so windows never overlap) and alerts; every failure a window covers is only counted. Time
is the stops' own, so a backlog, a slow consumer or a redrive gives the answer live delivery gives.

Stops are counted from the stop history (one row per stop, keyed by the stop itself: `state/stops.py`), never by a
counter, so a stop delivered twice is counted once. A window closes in rounds: round 1 is its summary; a stop that
arrives after a round began asks for the next round (a follow-up), so nothing is lost. A round is marked begun
before it counts, and a stop reads its window only after its history row is written: so each stop lands in the
count of a round that begins after it, or sees the round begun and asks for the next.

All windows of one cluster + group + cause live in one item with a version (optimistic concurrency): openers and
late stops write it, the stops a window counts only read it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dockhand.errors import RetryableError
from dockhand.state.table import Table

Placement = Literal["opened", "counted", "late"]
KEEP_SECONDS = 2 * 86400  # a window opened longer ago than this is forgotten (its stops stay in the history)
_TRIES = 8


class Window(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    anchor: int  # stoppedAt (epoch seconds) of the stop that opened it: the window's name
    start: int
    end: int  # inclusive, like start
    opener: str  # the task that opened it (and alerted)
    family: str = ""
    service: str | None = None
    thread_key: str = ""
    opened_wall: int = 0  # when it was opened, on the watcher's clock
    begun: int = 0  # the last closing round that began counting
    pending: int = 0  # a round a late stop asked for, not begun yet
    pending_by: str = ""  # the stop that asked for it
    reported: int = 0  # stops counted by the rounds so far (the opener included)

    def covers(self, t: int) -> bool:
        return self.start <= t <= self.end


def place_window(t: int, half: int, others: list[Window]) -> tuple[int, int]:
    """(start, end) of a new window around `t`: `half` seconds either side, never overlapping another window."""
    start, end = t - half, t + half
    for w in others:
        if w.end < t:
            start = max(start, w.end + 1)
        elif w.start > t:
            end = min(end, w.start - 1)
    return start, end


class AlertWindows:
    """The windows of one cluster + group + cause."""

    def __init__(self, table: Table, cluster: str, group: str, cause: str, clock: Callable[[], float] = time.time):
        self._t = table
        self.cluster, self.group, self.cause = cluster, group, cause
        self._clock = clock

    @property
    def _key(self) -> tuple[str, str]:
        return f"ALERT#{self.cluster}#{self.group}", self.cause

    def thread_key(self, anchor: int) -> str:
        return f"crash/{self.cluster}/{self.group}/{self.cause}/{anchor}"

    def _load(self) -> tuple[int, dict[int, Window]]:
        item = self._t.get(*self._key) or {}
        windows = {int(k): Window.model_validate(v) for k, v in (item.get("windows") or {}).items()}
        return int(item.get("version", 0)), windows

    def _save(self, version: int, windows: dict[int, Window]) -> bool:
        """Write the windows if nobody else did since `version` was read; old windows are dropped."""
        now = int(self._clock())
        kept = {
            str(a): w.model_dump(exclude_none=True) for a, w in windows.items() if w.opened_wall > now - KEEP_SECONDS
        }
        pk, sk = self._key
        item = {"pk": pk, "sk": sk, "version": version + 1, "windows": kept, "expires_at": now + KEEP_SECONDS}
        return self._t.put(item, condition="attribute_not_exists(pk) OR version = :v", values={":v": version})

    def get(self, anchor: int) -> Window | None:
        return self._load()[1].get(anchor)

    def place(self, t: int, task_arn: str, minutes: int, family: str, service: str | None) -> tuple[Placement, Window]:
        """Where the failure of `task_arn`, stopped at `t`, goes: it opens a window, is counted by the one that
        covers it, or is late for it (a round already began: it asks for the next one, in `window.pending`).

        Safe to repeat for the same task: a window it opened, or a round it asked for, is found as its own."""
        for _ in range(_TRIES):
            version, windows = self._load()
            w = next((w for w in windows.values() if w.covers(t)), None)
            if w is None:
                start, end = place_window(t, minutes * 60, list(windows.values()))
                w = Window(
                    anchor=t,
                    start=start,
                    end=end,
                    opener=task_arn,
                    family=family,
                    service=service,
                    thread_key=self.thread_key(t),
                    opened_wall=int(self._clock()),
                )
                if self._save(version, windows | {t: w}):
                    return "opened", w
                continue
            if w.opener == task_arn:
                return "opened", w
            if w.pending > w.begun:  # a round is asked for and has not begun: it will count this stop
                return ("late" if w.pending_by == task_arn else "counted"), w
            if w.begun == 0:
                return "counted", w
            asked = w.model_copy(update={"pending": w.begun + 1, "pending_by": task_arn})
            if self._save(version, windows | {w.anchor: asked}):
                return "late", asked
        raise RetryableError(f"{self._key[0]} {self.cause}: too many concurrent writers, try again")

    def begin(self, anchor: int, round_: int) -> Window | None:
        """Round `round_` of the window begins counting (idempotent); None when the window is gone."""
        return self._change(anchor, lambda w: {"begun": max(w.begun, round_)} | _clear_pending(w, round_))

    def reported_upto(self, anchor: int, count: int) -> bool:
        """The rounds so far reported `count` stops (the next round reports only what came after)."""
        return self._change(anchor, lambda w: {"reported": max(w.reported, count)}) is not None

    def _change(self, anchor: int, update: Callable[[Window], dict[str, Any]]) -> Window | None:
        for _ in range(_TRIES):
            version, windows = self._load()
            w = windows.get(anchor)
            if w is None:
                return None
            changed = w.model_copy(update=update(w))
            if changed == w or self._save(version, windows | {anchor: changed}):
                return changed
        raise RetryableError(f"{self._key[0]} {self.cause}: too many concurrent writers, try again")


def _clear_pending(w: Window, round_: int) -> dict[str, Any]:
    return {"pending": 0, "pending_by": ""} if w.pending <= round_ else {}


def windows_since(table: Table, cluster: str, group: str, since: int) -> list[tuple[str, Window]]:
    """(cause, window) of every alert window of `group` opened by a stop at or after `since` (epoch seconds)."""
    found: list[tuple[str, Window]] = []
    for item in table.query(f"ALERT#{cluster}#{group}"):
        for value in (item.get("windows") or {}).values():
            w = Window.model_validate(value)
            if w.anchor >= since:
                found.append((str(item["sk"]), w))
    return sorted(found, key=lambda cw: cw[1].anchor)
