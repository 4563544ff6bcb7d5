"""A stopped task: classified, recorded in the stop history, restarted if the policy says so, and alerted once
per crash loop.

The event is claimed by taskArn + version (older versions and finished duplicates are dropped before any ECS
read; an unfinished one is resumed), and the alert decision is stored with the claim so a resumed event takes
the same one.
"""

from __future__ import annotations

from typing import Any

from dockhand.events import TaskDetail, TaskStateChange
from dockhand.images import parse_image
from dockhand.links import log_link, task_link
from dockhand.notify.model import Link, Notification
from dockhand.observability import count
from dockhand.started_by import is_job_task
from dockhand.state.stops import Claim, StopHistory, StopRecord, TaskEvents
from dockhand.watch import crash_loops, restarts
from dockhand.watch.classify import StopCause, classify_stop, should_alert
from dockhand.watch.context import Watch
from dockhand.watch.formats import duration, iso


def handle_task_stop(event: TaskStateChange, watch: Watch) -> str:
    task = event.detail
    if task.last_status != "STOPPED":
        count("TaskEventIgnored", reason="not_stopped")
        return "ignored:not_stopped"
    if is_job_task(task.started_by):
        return "ignored:job"  # the batch wing owns its runs
    events = TaskEvents(watch.table)
    claim, record = events.claim(task.task_arn, task.version)
    if claim in ("duplicate", "stale"):  # dropped before any ECS read: a redelivery costs no rate-limited call
        count("TaskEventDropped", reason=claim)
        return f"dropped:{claim}"
    taskdef = watch.task_definition(task.task_definition_arn)
    stop = classify_stop(task, _essential(taskdef))
    count("TaskStopped", cause=stop.cause.value)
    restart_note, force_alert = restarts.maybe_restart(task, stop, taskdef, watch)
    alert = should_alert(stop, watch.config.watch) or force_alert
    _record(event, stop, alert, watch)
    if not alert:
        events.done(task.task_arn, task.version)
        return f"recorded:{stop.cause.value}"
    decision, thread_key = _alert_decision(task, stop, force_alert, (claim, record), events, watch)
    if decision == "counted":
        count("CrashLoopSuppressed", cause=stop.cause.value)
        events.done(task.task_arn, task.version)
        return f"counted:{stop.cause.value}"
    n = stop_notification(task, stop, taskdef, watch.region, restart_note, thread_key or None)
    watch.send(f"task/{task.task_arn}/{task.version}", n)
    events.done(task.task_arn, task.version)
    return f"alerted:{stop.cause.value}"


def _record(event: TaskStateChange, stop: StopCause, alerted: bool, watch: Watch) -> None:
    task = event.detail
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
            stopped_at=iso(task.stopped_at) or iso(event.time) or "",
            started_by=task.started_by,
            alerted=alerted,
        ),
        watch.config.watch.history_days,
    )


def _alert_decision(
    task: TaskDetail,
    stop: StopCause,
    forced: bool,
    claimed: tuple[Claim, dict[str, Any]],
    events: TaskEvents,
    watch: Watch,
) -> tuple[str, str]:
    """(decision, thread key): the one stored with a resumed claim, else a new one, stored before anything is sent.

    `forced` alerts stand alone; the others open a crash-loop window ("opened") or are counted into one."""
    claim, record = claimed
    stored = record.get("decision") if claim == "resume" else None
    if stored is not None:
        return str(stored), str(record.get("thread_key") or "")
    if forced:
        decision, thread_key = "forced", ""
    else:
        decision, thread_key = crash_loops.hit_window(task, stop, watch)
    if decision == "counted":
        events.remember(task.task_arn, task.version, decision=decision, state="done")
    else:
        events.remember(task.task_arn, task.version, decision=decision, thread_key=thread_key)
    return decision, thread_key


def stop_notification(
    task: TaskDetail,
    stop: StopCause,
    taskdef: dict[str, Any] | None,
    region: str,
    restart_note: str | None = None,
    thread_key: str | None = None,
) -> Notification:
    service = task.service_name
    subject = service or task.family or task.task_id
    fields = _stop_fields(task, stop, subject)
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
        title=f"{subject}: {stop.label}{exit_part}",
        text=stop.summary(),
        fields=fields,
        links=links,
        cluster=task.cluster_name,
        service=service,
        thread_key=thread_key,
    )


def _stop_fields(task: TaskDetail, stop: StopCause, subject: str) -> dict[str, str]:
    """What stopped and why: the blamed container, its exit and reason, the image and the times."""
    fields: dict[str, str] = {
        "Service" if task.service_name else "Task family": subject,
        "Cluster": task.cluster_name,
        "Cause": stop.label,
    }
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
