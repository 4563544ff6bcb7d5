"""Crash loops: the first failure of a cluster + group + cause that no window covers opens one and alerts; the
failures it covers are counted (`state/alerts.py`, from the stop history). A delayed message closes the window once
its span of stoppedAt time is over and no stop came for a while, and sends one summary of what it counted, in the
thread of the first alert in Slack bot mode. A stop that comes after its window's summary asks for a follow-up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dockhand.events import TaskDetail
from dockhand.notify.model import Notification
from dockhand.observability import count
from dockhand.state.alerts import AlertWindows, Placement, Window
from dockhand.state.claims import Claim, Claims
from dockhand.state.stops import StopHistory, StopRecord
from dockhand.watch.classify import StopCause, label_of
from dockhand.watch.context import Watch
from dockhand.watch.delayed import MAX_DELAY, WatchAction
from dockhand.watch.formats import duration, subject, subject_fields

SETTLE = 60  # a window is summed up once no stop of it came for this long (live: this long after its end)


def hit_window(task: TaskDetail, stop: StopCause, stopped: int, claim: Claim, watch: Watch) -> tuple[Placement, str]:
    """Steps of the task's claim: place the failure (open, counted, late) and send the close message a window
    opened or a late stop asked for. Returns the placement and the window's thread key."""
    windows = AlertWindows(watch.table, task.cluster_name, task.task_group, stop.cause.value, watch.clock)

    def place() -> dict[str, Any]:
        minutes = watch.config.watch.crash_loop_window_minutes
        placement, w = windows.place(stopped, task.task_arn, minutes, task.family, task.service_name)
        round_ = 1 if placement == "opened" else w.pending
        return {"placement": placement, "anchor": w.anchor, "end": w.end, "round": round_}

    placed = claim.once("window", place)
    placement: Placement = placed["placement"]
    if placement != "counted":
        claim.once("window_close_sent", lambda: _send_close(windows, placed, watch))
    return placement, windows.thread_key(int(placed["anchor"]))


def _send_close(windows: AlertWindows, placed: dict[str, Any], watch: Watch) -> bool:
    """The delayed message of one closing round: at the window's end (its first round), else now, plus SETTLE."""
    if watch.delayed is None:
        return False
    now = int(watch.clock())
    round_ = int(placed["round"])
    due = (max(int(placed["end"]), now) if round_ == 1 else now) + SETTLE
    close = WatchAction(
        dockhand="watch",
        action="close_window",
        cluster=windows.cluster,
        group=windows.group,
        cause=windows.cause,
        opened_at=int(placed["anchor"]),
        closes_at=int(placed["end"]),
        round=round_,
        not_before=due if due - now > MAX_DELAY else 0,
    )
    watch.delayed.send(close.model_dump(), due - now)
    return True


def close_window(action: WatchAction, watch: Watch) -> str:
    """One closing round of a window: once it has been quiet for SETTLE, one summary of what it counted (none when
    it stayed quiet); a follow-up round reports only the stops that came after the round before."""
    if watch.not_due_yet(action):
        return "window:waiting"
    windows = AlertWindows(watch.table, action.cluster, action.group, action.cause, watch.clock)
    w = windows.get(action.opened_at)
    if w is None:
        return "window:gone"
    history = StopHistory(watch.table)
    if _still_arriving(action, w, history, watch):
        return "window:settling"
    begun = windows.begin(w.anchor, action.round)  # before counting: a stop after this asks for the next round
    if begun is None:
        return "window:gone"
    counted = _tally(windows, begun, history)
    if int(counted["count"]) <= max(begun.reported, 1):
        return "window:quiet"  # nothing the rounds before did not report (or the opener's alert alone)
    key = f"{action.cluster}#{action.group}#{action.cause}#{w.anchor}#{action.round}"
    claim = Claims(watch.table, "crash-window").open(key)
    if claim.done:
        return "window:done"
    tally = claim.once("tally", lambda: counted)  # a resumed round reports what its first try counted
    more = int(tally["count"]) - max(int(tally["before"]), 1)
    summary = summary_notification(w, tally, more, action)
    watch.send(f"window/{windows.thread_key(w.anchor)}/{action.round}", summary)
    count("CrashLoopSummary")
    claim.once("reported", lambda: windows.reported_upto(w.anchor, int(tally["count"])))
    claim.finish({"more": more})
    return f"window:summary:{more}"


def _counted(rows: list[StopRecord], cause: str) -> list[StopRecord]:
    """The stops a window of `cause` counts: failures of that cause that alert through their window."""
    return [r for r in rows if r.cause == cause and r.alerted and not r.forced]


def _still_arriving(action: WatchAction, w: Window, history: StopHistory, watch: Watch) -> bool:
    """True (and the message sent on) while the window's last stop came less than SETTLE ago."""
    rows = _counted(history.between(action.cluster, action.group, w.start, w.end), action.cause)
    latest = max((r.recorded_at for r in rows), default=0)
    now = int(watch.clock())
    if latest + SETTLE <= now or watch.delayed is None:
        return False
    watch.delayed.send(action.model_dump() | {"not_before": 0}, latest + SETTLE - now)
    return True


def _tally(windows: AlertWindows, begun: Window, history: StopHistory) -> dict[str, Any]:
    """What the window counted so far: how many stops, their first and last stoppedAt, the latest one's summary,
    and how many the rounds before reported (as the window was when this round began)."""
    rows = _counted(history.between(windows.cluster, windows.group, begun.start, begun.end), windows.cause)
    rows.sort(key=lambda r: r.stopped_at)
    return {
        "count": len(rows),
        "first": rows[0].stopped_at if rows else "",
        "last": rows[-1].stopped_at if rows else "",
        "latest": rows[-1].summary if rows else "",
        "before": begun.reported,
    }


def _span(first: str, last: str) -> str:
    if not first or not last:
        return "under a second"
    seconds = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    return "under a second" if seconds < 1 else duration(seconds)


def summary_notification(w: Window, tally: dict[str, Any], more: int, action: WatchAction) -> Notification:
    """A window's summary (round 1), or a follow-up for stops that came after it: the alert's subject and cause."""
    label = label_of(action.cause)
    about = subject(action.group, w.family)
    total, span = int(tally["count"]), _span(str(tally["first"]), str(tally["last"]))
    if action.round <= 1:
        title = f"{about}: {more} more failure(s) in {span} ({label})"
        text = f"Crash loop: {total} stops in {span}, from {tally['first']} to {tally['last']}."
    else:
        title = f"{about}: {more} more failure(s) that arrived late ({label})"
        text = f"{more} stop(s) of this crash loop arrived after its summary: {total} stops in {span} in all."
    fields = subject_fields(action.cluster, action.group, w.family, label) | {
        "More failures": str(more),
        "Stops": str(total),
        "Span": f"{tally['first']} to {tally['last']} ({span})",
        "Latest": str(tally["latest"])[:500],
    }
    return Notification(
        kind="crash_loop",
        severity="error",
        title=title,
        text=f"{text} Latest: {tally['latest']}",
        fields=fields,
        cluster=action.cluster,
        service=w.service,
        thread_key=w.thread_key or None,
        role="follow_up",
    )
