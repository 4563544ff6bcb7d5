"""Crash loops: the first failure of a cluster + group + cause opens a window and alerts; later ones are counted
atomically (`state/alerts.py`); a delayed message closes the window and sends one summary, in the thread of the
first alert in Slack bot mode."""

from __future__ import annotations

from dockhand.events import TaskDetail
from dockhand.notify.model import Notification
from dockhand.observability import count
from dockhand.state.alerts import AlertWindows, Opened
from dockhand.watch.classify import StopCause
from dockhand.watch.context import Watch
from dockhand.watch.delayed import MAX_DELAY, WatchAction


def hit_window(task: TaskDetail, stop: StopCause, watch: Watch) -> tuple[Opened, str]:
    """Open the window of this failure (and send its close message) or count the failure into the open one.

    Returns what happened and the window's thread key (where its summary goes)."""
    cause = stop.cause.value
    opened, window = AlertWindows(watch.table, watch.clock).hit(
        task.cluster_name,
        task.task_group,
        cause,
        watch.config.watch.crash_loop_window_minutes,
        stop.summary(),
        task.task_arn,
    )
    if opened == "opened" and watch.delayed is not None:
        wait = window.closes_at - int(watch.clock()) + 1
        close = WatchAction(
            dockhand="watch",
            action="close_window",
            cluster=task.cluster_name,
            group=task.task_group,
            cause=cause,
            opened_at=window.opened_at,
            closes_at=window.closes_at,
            thread_key=window.thread_key,
            service=task.service_name,
            not_before=window.closes_at if wait > MAX_DELAY else 0,
        )
        watch.delayed.send(close.model_dump(), wait)
    return opened, window.thread_key


def close_window(action: WatchAction, watch: Watch) -> str:
    """The window's time is up: one summary of the failures counted in it (none when it stayed quiet)."""
    now = int(watch.clock())
    if watch.not_due_yet(action):
        return "window:waiting"
    final_count, window_latest = AlertWindows(watch.table, watch.clock).tally(
        action.cluster, action.group, action.cause, action.opened_at
    )
    if final_count <= 0:
        return "window:quiet"
    watch.send(
        f"window/{action.cluster}/{action.group}/{action.cause}/{action.opened_at}",
        summary_notification(action, final_count, window_latest, now),
    )
    count("CrashLoopSummary")
    return f"window:summary:{final_count}"


def summary_notification(action: WatchAction, final_count: int, latest: str, now: int) -> Notification:
    minutes = max(1, round((min(now, action.closes_at) - action.opened_at) / 60))
    subject = action.service or action.group.split(":", 1)[-1]
    return Notification(
        kind="crash_loop",
        severity="error",
        title=f"{subject}: {final_count} more failure(s) in {minutes} min ({action.cause})",
        text=f"Crash loop: {final_count + 1} stops in {minutes} min in total. Latest: {latest}",
        fields={
            "Cluster": action.cluster,
            "Group": action.group,
            "Cause": action.cause,
            "More failures": str(final_count),
            "Window": f"{minutes} min",
            "Latest": latest[:500],
        },
        cluster=action.cluster,
        service=action.service,
        thread_key=action.thread_key or None,
        role="follow_up",
    )
