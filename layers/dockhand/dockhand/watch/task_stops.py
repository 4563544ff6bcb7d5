"""A stopped task: classified, recorded in the stop history, restarted if the policy says so, and alerted once
per crash loop.

The task's stop is one claim (keyed by its task ARN: a task stops once), and each side effect is a recorded step:
the restart it schedules, the crash-loop window it opens or is counted by (and the window's close message), the
alert. A redelivery resumes at the first step not done; a finished stop delivered again (the same version, an
older or a newer one) is dropped before any ECS read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dockhand.events import TaskDetail, TaskStateChange
from dockhand.images import parse_image
from dockhand.links import log_link, task_link
from dockhand.notify.model import Link, Notification
from dockhand.observability import count
from dockhand.started_by import is_job_task
from dockhand.state.claims import Claim, Claims
from dockhand.state.stops import StopHistory, StopRecord
from dockhand.watch import crash_loops, restarts
from dockhand.watch.classify import StopCause, classify_stop, should_alert
from dockhand.watch.context import Watch
from dockhand.watch.formats import duration, iso, subject, subject_fields


def handle_task_stop(event: TaskStateChange, watch: Watch) -> str:
    task = event.detail
    if task.last_status != "STOPPED":
        count("TaskEventIgnored", reason="not_stopped")
        return "ignored:not_stopped"
    if is_job_task(task.started_by):
        return "ignored:job"  # the batch wing owns its runs
    claim = Claims(watch.table, "task-stop").open(task.task_arn)
    if claim.done:  # dropped before any ECS read: a redelivery costs no rate-limited call
        dropped = "stale" if task.version < int((claim.result or {}).get("version", 0)) else "duplicate"
        count("TaskEventDropped", reason=dropped)
        return f"dropped:{dropped}"
    outcome = _handle(event, claim, watch)
    claim.finish({"outcome": outcome, "version": task.version})
    return outcome


def _handle(event: TaskStateChange, claim: Claim, watch: Watch) -> str:
    task = event.detail
    taskdef = watch.task_definition(task.task_definition_arn)
    stop = classify_stop(task, _essential(taskdef))
    count("TaskStopped", cause=stop.cause.value)
    restart_note, forced = restarts.maybe_restart(task, stop, taskdef, claim, watch)
    alert = should_alert(stop, watch.config.watch) or forced
    stopped = _stopped_at(event, watch)
    _record(task, stop, stopped, alert, forced, watch)
    if not alert:
        return f"recorded:{stop.cause.value}"
    thread_key = None
    if not forced:
        placement, thread_key = crash_loops.hit_window(task, stop, int(stopped.timestamp()), claim, watch)
        if placement != "opened":
            count("CrashLoopSuppressed", cause=stop.cause.value)
            return f"counted:{stop.cause.value}"
    n = stop_notification(task, stop, taskdef, event.region or watch.region, restart_note, thread_key)
    watch.send(f"task/{task.task_arn}", n)
    return f"alerted:{stop.cause.value}"


def _stopped_at(event: TaskStateChange, watch: Watch) -> datetime:
    """When the task stopped, as ECS says (else when the event was sent, else now): crash-loop windows and the
    stop history are on this time, whenever the event arrives."""
    when = event.detail.stopped_at or event.time or datetime.fromtimestamp(watch.clock(), UTC)
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _record(task: TaskDetail, stop: StopCause, stopped: datetime, alerted: bool, forced: bool, watch: Watch) -> None:
    StopHistory(watch.table).record(
        StopRecord(
            cluster=task.cluster_name,
            group=task.task_group,
            task_arn=task.task_arn,
            task_definition=_td_label(task),
            cause=stop.cause.value,
            summary=stop.summary(),
            container=stop.container,
            exit_code=stop.exit_code,
            reason=stop.reason,
            stop_code=task.stop_code,
            started_at=iso(task.started_at),
            stopped_at=iso(stopped) or "",
            started_by=task.started_by,
            alerted=alerted,
            forced=forced,
            recorded_at=int(watch.clock()),
        ),
        watch.config.watch.history_days,
    )


def stop_notification(
    task: TaskDetail,
    stop: StopCause,
    taskdef: dict[str, Any] | None,
    region: str,
    restart_note: str | None = None,
    thread_key: str | None = None,
) -> Notification:
    about = subject(task.task_group, task.family) or task.task_id
    fields = _stop_fields(task, stop)
    if restart_note:
        fields["Restart"] = restart_note
    fields["Task"] = task.task_id
    links = []
    if taskdef and stop.container and (url := log_link(taskdef, stop.container, task.task_id, region)):
        links.append(Link(label="Container logs", url=url))
    links.append(Link(label="ECS console", url=task_link(task.cluster_name, task.task_id, region, tab="configuration")))
    exit_part = f" (exit {stop.exit_code})" if stop.exit_code is not None else ""
    return Notification(
        kind="task_failed",
        severity=stop.severity,
        title=f"{about}: {stop.label}{exit_part}",
        text=stop.summary(),
        fields=fields,
        links=links,
        cluster=task.cluster_name,
        service=task.service_name,
        thread_key=thread_key,
    )


def _stop_fields(task: TaskDetail, stop: StopCause) -> dict[str, str]:
    """What stopped and why: the blamed container, its exit and reason, the image and the times."""
    fields = subject_fields(task.cluster_name, task.task_group, task.family, stop.label)
    if stop.container:
        fields["Container"] = stop.container
    if stop.exit_code is not None:
        fields["Exit code"] = str(stop.exit_code)
    if stop.reason:
        fields["Reason"] = stop.reason[:500]
    if task.stop_code:
        fields["Stop code"] = task.stop_code
    if task.task_definition_arn:
        fields["Task definition"] = _td_label(task)
    fields |= _image_fields(task, stop)
    fields |= _time_fields(task)
    return fields


def _image_fields(task: TaskDetail, stop: StopCause) -> dict[str, str]:
    container = next((c for c in task.containers if c.name == stop.container), None)
    fields: dict[str, str] = {}
    if container and container.image:
        fields["Image"] = container.image
        ref = parse_image(container.image)
        if ref.tag and ref.digest is None:  # an image pinned by digest has no tag worth showing
            fields["Tag"] = ref.tag
    if container and container.image_digest:
        fields["Digest"] = container.image_digest
    return fields


def _time_fields(task: TaskDetail) -> dict[str, str]:
    fields: dict[str, str] = {}
    if task.started_at:
        fields["Started"] = iso(task.started_at) or ""
    if task.stopped_at:
        fields["Stopped"] = iso(task.stopped_at) or ""
    if task.started_at and task.stopped_at:
        fields["Run time"] = duration((task.stopped_at - task.started_at).total_seconds())
    return fields


def _essential(taskdef: dict[str, Any] | None) -> set[str] | None:
    if not taskdef:
        return None
    return {c["name"] for c in taskdef.get("containerDefinitions", []) if c.get("essential", True)}


def _td_label(task: TaskDetail) -> str:
    return f"{task.family}:{task.revision}" if task.revision is not None else task.family
