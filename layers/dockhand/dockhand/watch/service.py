"""The watch flow: stopped tasks, deployment outcomes and service actions become notifications and actions.

One entry point, `handle_message(body, watch)`, takes an SQS message body: an ECS event from EventBridge, or
one of the watcher's own delayed messages (`{"dockhand": "watch", "action": "close_window" | "restart"}`).
Everything here is safe to run twice for the same message:

- a task event is claimed by taskArn + version (older versions and finished duplicates are dropped; an
  unfinished one is resumed), and the decisions taken for it are stored with the claim;
- restarts are claimed per attempt, and launched by a conditional state change;
- each notification remembers which channels delivered it: a redelivered message retries only the failed
  ones, and a failed channel makes the message fail (SQS retries it, then parks it in the DLQ).

Crash loops never sleep: the first failure of a cluster + group + cause opens a window and alerts; later ones
are counted atomically; a delayed message (SQS DelaySeconds ≤ 900, re-delayed for longer windows) closes the
window and sends one summary, in the thread of the first alert in Slack bot mode.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from dockhand import arns
from dockhand.arns import last_part
from dockhand.aws.ecs import Ecs
from dockhand.backoff import exponential
from dockhand.config import DockhandConfig, RestartPolicy
from dockhand.errors import BadInputError, RetryableError
from dockhand.events import DeploymentStateChange, Envelope, ServiceAction, TaskDetail, TaskStateChange
from dockhand.images import parse_image
from dockhand.links import log_link, service_link, task_link
from dockhand.notify.delivery import deliver_or_retry
from dockhand.notify.model import Link, Notification
from dockhand.observability import count, logger
from dockhand.started_by import is_job_task
from dockhand.state.alerts import AlertWindows
from dockhand.state.deliveries import Deliveries
from dockhand.state.deployments import DeploymentRecord, Deployments, HoldRecord, Holds
from dockhand.state.restarts import (
    RestartAttempt,
    Restarts,
    chain_id,
    client_token,
    parse_started_by,
    started_by,
)
from dockhand.state.stops import StopHistory, StopRecord, TaskEvents
from dockhand.state.table import Table
from dockhand.watch.classify import StopCause, classify_stop, should_alert

MAX_DELAY = 900  # SQS DelaySeconds ceiling
_RUN_TASK_OVERRIDE_KEYS = (
    "containerOverrides",
    "cpu",
    "memory",
    "taskRoleArn",
    "executionRoleArn",
    "ephemeralStorage",
    "inferenceAcceleratorOverrides",
)


class DelayedMessages:
    """Sends the watcher's own follow-up messages to its queue, delayed (no Lambda ever sleeps)."""

    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._url = queue_url

    def send(self, body: dict[str, Any], delay_seconds: int) -> None:
        from dockhand.aws.clients import reraise_retryable

        try:
            self._sqs.send_message(
                QueueUrl=self._url,
                MessageBody=json.dumps(body),
                DelaySeconds=max(0, min(MAX_DELAY, int(delay_seconds))),
            )
        except Exception as exc:
            reraise_retryable(exc, "sqs:SendMessage")
            raise


@dataclass
class Watch:
    """The collaborators of the watch flow (handlers build real ones; tests build moto-backed ones)."""

    config: DockhandConfig
    ecs: Ecs
    table: Table
    notifier: Any
    delayed: DelayedMessages | None
    region: str
    dry_run: bool = False
    clock: Callable[[], float] = time.time
    taskdef_cache: OrderedDict[str, dict[str, Any] | None] = field(default_factory=OrderedDict)

    # ---------------------------------------------------------------------------------------- plumbing
    def send(self, key: str, n: Notification) -> None:
        """Deliver `n` on every routed channel that has not delivered it yet; any failure makes the message retry."""
        deliver_or_retry(self.notifier, Deliveries(self.table), key, n)

    def task_definition(self, arn: str) -> dict[str, Any] | None:
        """DescribeTaskDefinition, cached per ARN for the life of the container (revisions are immutable)."""
        if not arn:
            return None
        if arn in self.taskdef_cache:
            return self.taskdef_cache[arn]
        from botocore.exceptions import ClientError

        try:
            taskdef, _ = self.ecs.describe_task_definition(arn, with_tags=False)
        except ClientError as exc:  # deregistered or not visible: report without it
            logger.info("task definition not readable", extra={"arn": arn, "error": exc.response["Error"]["Code"]})
            taskdef = None
        self.taskdef_cache[arn] = taskdef
        while len(self.taskdef_cache) > 256:
            self.taskdef_cache.popitem(last=False)
        return taskdef


# --------------------------------------------------------------------------------------------- dispatch


class WatchAction(BaseModel):
    dockhand: Literal["watch"]
    action: Literal["close_window", "restart"]
    cluster: str = ""
    group: str = ""
    cause: str = ""
    opened_at: int = 0
    closes_at: int = 0
    thread_key: str = ""
    service: str | None = None
    chain: str = ""
    attempt: int = 0
    not_before: int = Field(0, description="Set when the wait exceeds one SQS delay (15 min): re-delay until then")


def handle_message(body: dict[str, Any], watch: Watch) -> str:
    """Route one message; returns what happened (for logs and tests)."""
    if body.get("dockhand") == "watch":
        action = WatchAction.model_validate(body)
        if action.action == "close_window":
            return close_window(action, watch)
        return launch_restart(action, watch)
    envelope = Envelope.model_validate(body)
    if envelope.detail_type == "ECS Task State Change":
        return handle_task_stop(TaskStateChange.model_validate(body), watch)
    if envelope.detail_type == "ECS Deployment State Change":
        return handle_deployment(DeploymentStateChange.model_validate(body), watch)
    if envelope.detail_type == "ECS Service Action":
        return handle_service_action(ServiceAction.model_validate(body), watch)
    raise BadInputError(f"the watcher does not handle {envelope.detail_type!r} events", reason="unexpected_event")


# ------------------------------------------------------------------------------------------- task stops


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
    group = task.group or f"family:{task.family}"
    cluster = task.cluster_name

    restart_note, force_alert = _maybe_restart(task, stop, taskdef, watch)
    alert = should_alert(stop, watch.config.watch) or force_alert
    StopHistory(watch.table).record(
        StopRecord(
            cluster=cluster,
            group=group,
            task_arn=task.task_arn,
            task_definition=_td_label(task),
            cause=stop.cause.value,
            summary=stop.summary(),
            container=stop.container,
            exit_code=stop.exit_code,
            reason=stop.reason,
            stop_code=task.stop_code,
            started_at=_iso(task.started_at),
            stopped_at=_iso(task.stopped_at) or _iso(event.time) or "",
            started_by=task.started_by,
            alerted=alert,
        ),
        watch.config.watch.history_days,
    )
    if not alert:
        events.done(task.task_arn, task.version)
        return f"recorded:{stop.cause.value}"

    decision = record.get("decision") if claim == "resume" else None
    thread_key = str(record.get("thread_key") or "")
    if decision is None:
        if force_alert:
            decision, thread_key = "forced", ""
        else:
            opened, window = AlertWindows(watch.table, watch.clock).hit(
                cluster,
                group,
                stop.cause.value,
                watch.config.watch.crash_loop_window_minutes,
                stop.summary(),
                task.task_arn,
            )
            decision, thread_key = opened, window.thread_key
            if opened == "opened" and watch.delayed is not None:
                wait = window.closes_at - int(watch.clock()) + 1
                watch.delayed.send(
                    WatchAction(
                        dockhand="watch",
                        action="close_window",
                        cluster=cluster,
                        group=group,
                        cause=stop.cause.value,
                        opened_at=window.opened_at,
                        closes_at=window.closes_at,
                        thread_key=window.thread_key,
                        service=task.service_name,
                        not_before=window.closes_at if wait > MAX_DELAY else 0,
                    ).model_dump(),
                    wait,
                )
        if decision == "counted":
            events.remember(task.task_arn, task.version, decision=decision, state="done")
        else:
            events.remember(task.task_arn, task.version, decision=decision, thread_key=thread_key)
    if decision == "counted":
        count("CrashLoopSuppressed", cause=stop.cause.value)
        events.done(task.task_arn, task.version)
        return f"counted:{stop.cause.value}"

    n = stop_notification(task, stop, taskdef, watch.region, restart_note, thread_key or None)
    watch.send(f"task/{task.task_arn}/{task.version}", n)
    events.done(task.task_arn, task.version)
    return f"alerted:{stop.cause.value}"


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
    container = next((c for c in task.containers if c.name == stop.container), None)
    image = container.image if container else None
    fields: dict[str, str] = {
        "Service" if service else "Task family": subject,
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
    if image:
        fields["Image"] = image
        if tag := _image_tag(image):
            fields["Tag"] = tag
    if container and container.image_digest:
        fields["Digest"] = container.image_digest
    if task.started_at:
        fields["Started"] = _iso(task.started_at) or ""
    if task.stopped_at:
        fields["Stopped"] = _iso(task.stopped_at) or ""
    if task.started_at and task.stopped_at:
        fields["Run time"] = _duration((task.stopped_at - task.started_at).total_seconds())
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


def close_window(action: WatchAction, watch: Watch) -> str:
    now = int(watch.clock())
    if _wait_more(action, watch):
        return "window:waiting"
    final_count, window_latest = AlertWindows(watch.table, watch.clock).tally(
        action.cluster, action.group, action.cause, action.opened_at
    )
    key = f"window/{action.cluster}/{action.group}/{action.cause}/{action.opened_at}"
    if final_count <= 0:
        return "window:quiet"
    minutes = max(1, round((min(now, action.closes_at) - action.opened_at) / 60))
    subject = action.service or action.group.split(":", 1)[-1]
    n = Notification(
        kind="crash_loop",
        severity="error",
        title=f"{subject}: {final_count} more failure(s) in {minutes} min ({action.cause})",
        text=f"Crash loop: {final_count + 1} stops in {minutes} min in total. Latest: {window_latest}",
        fields={
            "Cluster": action.cluster,
            "Group": action.group,
            "Cause": action.cause,
            "More failures": str(final_count),
            "Window": f"{minutes} min",
            "Latest": window_latest[:500],
        },
        cluster=action.cluster,
        service=action.service,
        thread_key=action.thread_key or None,
        role="follow_up",
    )
    watch.send(key, n)
    count("CrashLoopSummary")
    return f"window:summary:{final_count}"


# --------------------------------------------------------------------------------------------- restarts


def backoff_seconds(policy: RestartPolicy, attempt: int) -> int:
    """Delay before restart `attempt` (1-based): exponential, capped."""
    return exponential(policy.backoff_seconds, policy.backoff_multiplier, attempt, cap=policy.max_backoff_seconds)


def restart_params(
    task: TaskDetail, taskdef: dict[str, Any] | None, policy: RestartPolicy, chain: str, attempt: int
) -> dict[str, Any]:
    """RunTask input that reruns `task`: the event's launch parameters, the task definition's network mode.

    The event has no security groups (and DescribeTasks forgets a stopped task after about an hour), so an
    awsvpc task is relaunched into `watch.restart.network`; BadInputError when that is missing.
    """
    params: dict[str, Any] = {
        "cluster": task.cluster_arn or task.cluster_name,
        "taskDefinition": task.task_definition_arn,
        "group": task.group or f"family:{task.family}",
        "startedBy": started_by(chain, attempt),
        "clientToken": client_token(chain, attempt),
        "count": 1,
    }
    overrides = {k: v for k, v in task.overrides.items() if k in _RUN_TASK_OVERRIDE_KEYS and v}
    if overrides:
        params["overrides"] = overrides
    if task.launch_type in ("FARGATE", "EC2", "EXTERNAL"):
        params["launchType"] = task.launch_type
    elif task.capacity_provider_name:
        params["capacityProviderStrategy"] = [{"capacityProvider": task.capacity_provider_name, "weight": 1}]
    if task.platform_version and task.launch_type == "FARGATE":
        params["platformVersion"] = task.platform_version
    tags = [t for t in task.tags if not str(t.get("key", "")).startswith("aws:")]
    if tags:
        params["tags"] = tags
    if (taskdef or {}).get("networkMode") == "awsvpc":
        if policy.network is None:
            raise BadInputError(
                "an awsvpc task can only be restarted with watch.restart.network set", reason="restart_network"
            )
        params["networkConfiguration"] = {
            "awsvpcConfiguration": {
                "subnets": list(policy.network.subnets),
                "securityGroups": list(policy.network.security_groups),
                "assignPublicIp": "ENABLED" if policy.network.assign_public_ip else "DISABLED",
            }
        }
    return params


def _maybe_restart(
    task: TaskDetail, stop: StopCause, taskdef: dict[str, Any] | None, watch: Watch
) -> tuple[str | None, bool]:
    """Schedule the next attempt if the policy says so. Returns (note for the alert, force an alert)."""
    if task.service_name is not None:
        return None, False  # ECS replaces service tasks itself
    policy = watch.config.watch.restart
    chained = parse_started_by(task.started_by)
    if chained is not None:
        chain, done = chained
    elif task.family in policy.families:
        chain, done = chain_id(task.task_arn), 0
    else:
        return None, False
    if not stop.failure:
        return None, False
    if stop.cause.value in policy.never_retry:
        count("RestartSkipped", reason="never_retry")
        return f"not restarted: {stop.cause.value} is never retried", False
    attempt = done + 1
    if attempt > policy.max_attempts:
        count("RestartGaveUp")
        return f"gave up after {policy.max_attempts} restart(s)", True
    try:
        params = restart_params(task, taskdef, policy, chain, attempt)
    except BadInputError as exc:
        count("RestartSkipped", reason=exc.reason)
        return f"not restarted: {exc}", True
    delay = backoff_seconds(policy, attempt)
    now = int(watch.clock())
    restarts = Restarts(watch.table)
    claimed = restarts.claim(
        RestartAttempt(
            chain=chain,
            attempt=attempt,
            origin_task_arn=task.task_arn,
            cluster=task.cluster_name,
            group=params["group"],
            params=params,
            not_before=now + delay,
        )
    )
    # A resumed event (the first try failed half way) schedules again while the attempt is not launched yet:
    # the launch itself is claimed, so a second message launches nothing twice.
    existing = None if claimed else restarts.get(chain, attempt)
    if claimed or (existing is not None and existing.state == "scheduled"):
        if claimed:
            count("RestartScheduled")
        action = WatchAction(
            dockhand="watch",
            action="restart",
            chain=chain,
            attempt=attempt,
            not_before=now + delay if delay > MAX_DELAY else 0,
        )
        if delay <= 0 or watch.delayed is None:
            launch_restart(action, watch)
        else:
            watch.delayed.send(action.model_dump(exclude_defaults=True) | {"dockhand": "watch"}, delay)
    return f"attempt {attempt} of {policy.max_attempts} in {_duration(delay)}", False


def _wait_more(action: WatchAction, watch: Watch) -> bool:
    """A wait longer than one SQS delay (15 min) is a chain of delays: send the message on until it is due.

    Shorter waits trust the queue's delay: the message arriving is the moment it is due.
    """
    now = int(watch.clock())
    if action.not_before and now < action.not_before and watch.delayed is not None:
        watch.delayed.send(action.model_dump(), action.not_before - now)
        return True
    return False


def launch_restart(action: WatchAction, watch: Watch) -> str:
    from botocore.exceptions import ClientError

    chain, attempt = action.chain, action.attempt
    restarts = Restarts(watch.table)
    rec = restarts.get(chain, attempt)
    if rec is None:
        raise BadInputError(f"no restart {chain}#{attempt} is scheduled", reason="unknown_restart")
    if rec.state == "scheduled" and _wait_more(action, watch):
        return "restart:waiting"
    if restarts.begin_launch(chain, attempt) is None:
        count("RestartDuplicate")
        return "restart:duplicate"
    subject = rec.group.split(":", 1)[-1]
    key = f"restart/{chain}/{attempt}"
    try:
        tasks, failures = watch.ecs.run_task(**rec.params)
    except RetryableError:
        restarts.undo_launch(chain, attempt)
        raise
    except ClientError as exc:
        failures = [{"reason": exc.response["Error"]["Code"], "detail": exc.response["Error"].get("Message", "")}]
        tasks = []
    if failures or not tasks:
        restarts.finish_launch(chain, attempt, None, state="failed")
        count("RestartFailed")
        reason = "; ".join(f"{f.get('reason', '')} {f.get('detail', '') or ''}".strip() for f in failures)
        watch.send(
            key,
            Notification(
                kind="task_restarted",
                severity="error",
                title=f"{subject}: restart {attempt} failed to launch",
                text=reason or "RunTask returned no task",
                fields={"Cluster": rec.cluster, "Group": rec.group, "Attempt": str(attempt)},
                cluster=rec.cluster,
            ),
        )
        return "restart:failed"
    arn = tasks[0]["taskArn"]
    restarts.finish_launch(chain, attempt, arn)
    count("TaskRestarted")
    watch.send(
        key,
        Notification(
            kind="task_restarted",
            severity="info",
            title=f"{subject}: restarted (attempt {attempt})",
            fields={
                "Cluster": rec.cluster,
                "Group": rec.group,
                "Attempt": str(attempt),
                "Task": last_part(arn),
                "Replaces": last_part(rec.origin_task_arn),
            },
            cluster=rec.cluster,
        ),
    )
    return f"restart:launched:{attempt}"


# ------------------------------------------------------------------------------------------ deployments

_DEPLOY_KIND = {"COMPLETED": "deploy_completed", "ROLLED_BACK": "deploy_rolled_back", "FAILED": "deploy_failed"}


def deployment_outcome(event_name: str, reason: str | None) -> Literal["COMPLETED", "ROLLED_BACK"] | None:
    text = (reason or "").lower()
    if event_name == "SERVICE_DEPLOYMENT_COMPLETED":
        return "COMPLETED"
    if event_name == "SERVICE_DEPLOYMENT_FAILED":
        return "ROLLED_BACK"
    if event_name == "SERVICE_DEPLOYMENT_IN_PROGRESS" and "circuit breaker" in text and "rolling back" in text:
        return "ROLLED_BACK"
    return None


def handle_deployment(event: DeploymentStateChange, watch: Watch) -> str:
    detail = event.detail
    status = deployment_outcome(detail.event_name, detail.reason)
    if status is None:
        return "deploy:ignored"
    deployments = Deployments(watch.table)
    rec = deployments.get(detail.deployment_id)
    if rec is None and detail.event_name == "SERVICE_DEPLOYMENT_IN_PROGRESS":
        # The rollback deployment itself: the failure it answers was already reported by its FAILED event.
        count("DeployEventDropped", reason="rollback_deployment")
        return "deploy:rollback_in_progress"
    if rec is not None:
        finished = deployments.finish(detail.deployment_id, status, detail.reason)
        if finished is None:
            rec = deployments.get(detail.deployment_id) or rec
            if rec.status != status:
                count("DeployEventDropped", reason="already_final")
                return f"deploy:already:{rec.status}"
        else:
            rec = finished
        if status == "ROLLED_BACK":
            Holds(watch.table).hold(
                HoldRecord(
                    repository=rec.repository,
                    digest=rec.digest,
                    tag=rec.tag,
                    reason=detail.reason or "rolled back",
                    deployment_id=rec.deployment_id,
                    service_arn=rec.service_arn,
                )
            )
            count("DigestHeld")
        elif status == "COMPLETED":
            prune_revisions(rec, watch)
    count("DeployOutcome", status=status)
    watch.send(f"deploy/{detail.deployment_id}/{status}", deploy_notification(event, status, rec, watch.region))
    return f"deploy:{status}"


def deploy_notification(
    event: DeploymentStateChange, status: str, rec: DeploymentRecord | None, region: str
) -> Notification:
    cluster, service = (rec.cluster, rec.service) if rec else arns.cluster_and_service(event.service_arn)
    what = f"{rec.repository}:{rec.tag}" if rec else "deployment"
    verb = {"COMPLETED": "completed", "ROLLED_BACK": "rolled back (circuit breaker)"}.get(status, status.lower())
    fields = {"Cluster": cluster, "Service": service, "Deployment": event.detail.deployment_id, "Outcome": verb}
    if rec:
        fields |= {
            "Image": rec.image,
            "Digest": rec.digest,
            "Task definition": last_part(rec.task_definition_arn),
            "Previous": last_part(rec.previous_task_definition_arn),
        }
        if status == "ROLLED_BACK":
            fields["Hold"] = (
                f"{rec.repository}@{rec.digest} is held; release it with "
                f"`dockhand holds release {rec.repository} {rec.digest}`"
            )
    if event.detail.reason:
        fields["Reason"] = event.detail.reason
    region = event.region or region
    return Notification(
        kind=_DEPLOY_KIND.get(status, "deploy_failed"),  # type: ignore[arg-type]
        severity="info" if status == "COMPLETED" else "error",
        title=f"{service}: deploy of {what} {verb}",
        text=event.detail.reason or "",
        fields=fields,
        links=[Link(label="ECS console", url=service_link(cluster, service, "deployments", region))],
        cluster=cluster,
        service=service,
        update_key=f"deploy/{event.detail.deployment_id}",
        role="update",
    )


def prune_revisions(rec: DeploymentRecord, watch: Watch) -> list[str]:
    """Deregister old revisions of the deployed family, keeping the newest N and every one in use."""
    family = arns.family(rec.task_definition_arn)
    if not family:
        return []
    target = next((t for t in watch.config.deploy.targets if rec.target in (t.name, t.label)), None)
    keep = (target.keep_revisions if target and target.keep_revisions else None) or watch.config.deploy.keep_revisions
    revisions = watch.ecs.list_task_definitions(family)  # oldest first
    candidates = revisions[:-keep] if len(revisions) > keep else []
    if not candidates:
        return []
    in_use = revisions_in_use(watch.ecs, rec.cluster) | {rec.task_definition_arn, rec.previous_task_definition_arn}
    removed = []
    for arn in candidates:
        if arn in in_use:
            continue
        if watch.dry_run or watch.config.deploy.dry_run:
            logger.info("dry run: would deregister", extra={"task_definition": arn})
            continue
        watch.ecs.deregister_task_definition(arn)
        removed.append(arn)
    if removed:
        count("RevisionsDeregistered", value=len(removed))
        logger.info("old revisions deregistered", extra={"family": family, "removed": removed, "kept": keep})
    return removed


def revisions_in_use(ecs: Ecs, cluster: str) -> set[str]:
    used: set[str] = set()
    services = ecs.list_services(cluster)
    found, _ = ecs.describe_services(cluster, services) if services else ([], [])
    for svc in found:
        used.add(svc.get("taskDefinition", ""))
        used |= {d.get("taskDefinition", "") for d in svc.get("deployments", [])}
    for status in ("RUNNING", "PENDING"):
        arns = ecs.list_tasks(cluster, desiredStatus=status)
        if arns:
            used |= {t.get("taskDefinitionArn", "") for t in ecs.describe_tasks(cluster, arns)}
    used.discard("")
    return used


# ---------------------------------------------------------------------------------------- service events

_SERVICE_EVENT_TITLES = {
    "SERVICE_TASK_PLACEMENT_FAILURE": "cannot place tasks",
    "SERVICE_TASK_START_IMPAIRED": "tasks keep failing to start",
    "SERVICE_TASK_CONFIGURATION_FAILURE": "task configuration failure",
    "ECS_OPERATION_THROTTLED": "ECS throttled the service's operations",
    "SERVICE_DISCOVERY_INSTANCE_UNHEALTHY": "service discovery instance unhealthy",
}


def handle_service_action(event: ServiceAction, watch: Watch) -> str:
    detail = event.detail
    if detail.event_type not in ("WARN", "ERROR"):
        return "service:ignored"
    arn_cluster, service = arns.cluster_and_service(event.service_arn)
    cluster = last_part(detail.cluster_arn) or arn_cluster
    label = _SERVICE_EVENT_TITLES.get(detail.event_name, detail.event_name.replace("_", " ").lower())
    fields = {"Cluster": cluster, "Service": service, "Event": detail.event_name}
    if detail.reason:
        fields["Reason"] = detail.reason
    if detail.capacity_provider_arns:
        fields["Capacity providers"] = ", ".join(last_part(a) for a in detail.capacity_provider_arns)
    region = event.region or watch.region
    n = Notification(
        kind="service_event",
        severity="error" if detail.event_type == "ERROR" else "warning",
        title=f"{service}: {label}",
        text=detail.reason or "",
        fields=fields,
        links=[Link(label="ECS console", url=service_link(cluster, service, "events", region))],
        cluster=cluster,
        service=service,
    )
    count("ServiceEvent", event=detail.event_name)
    watch.send(f"event/{event.id}", n)
    return f"service:{detail.event_name}"


# ---------------------------------------------------------------------------------------------- helpers


def _essential(taskdef: dict[str, Any] | None) -> set[str] | None:
    if not taskdef:
        return None
    return {c["name"] for c in taskdef.get("containerDefinitions", []) if c.get("essential", True)}


def _td_label(task: TaskDetail) -> str:
    return f"{task.family}:{task.revision}" if task.revision is not None else task.family


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {sec}s" if sec else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"


def _image_tag(image: str) -> str | None:
    """The tag of an image reference that is not pinned by digest."""
    ref = parse_image(image)
    return ref.tag if ref.digest is None else None
