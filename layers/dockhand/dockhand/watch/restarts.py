"""Restarts of standalone tasks: a failed task of an opted-in family is run again after an exponential backoff,
up to `max_attempts`, through a delayed message.

Scheduling is a step of the stopped task's claim: the attempt's parameters are stored (`state/restarts.py`) and its
delayed message sent. Launching is the attempt's own claim: RunTask is a recorded step, and a resumed attempt first
looks for the task an earlier try launched but could not record (ListTasks by the attempt's `startedBy`, running or
stopped), so a duplicate or redelivered message never launches twice; then the launch is announced, and a lost
announcement is sent again by the redelivery."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from dockhand import arns
from dockhand.arns import last_part
from dockhand.backoff import exponential
from dockhand.config import RestartPolicy
from dockhand.errors import AccountUnreachable, BadInputError
from dockhand.events import TaskDetail
from dockhand.notify.model import Notification
from dockhand.observability import count
from dockhand.state.claims import Claim, Claims
from dockhand.state.restarts import RestartAttempt, Restarts, chain_id, client_token, parse_started_by, started_by
from dockhand.watch.classify import StopCause
from dockhand.watch.context import Watch
from dockhand.watch.delayed import MAX_DELAY, WatchAction
from dockhand.watch.formats import duration, subject

_RUN_TASK_OVERRIDE_KEYS = (
    "containerOverrides",
    "cpu",
    "memory",
    "taskRoleArn",
    "executionRoleArn",
    "ephemeralStorage",
    "inferenceAcceleratorOverrides",
)


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
        "group": task.task_group,
        "startedBy": started_by(chain, attempt),
        "clientToken": client_token(chain, attempt),
        "count": 1,
    }
    overrides = {k: v for k, v in task.overrides.items() if k in _RUN_TASK_OVERRIDE_KEYS and v}
    if overrides:
        params["overrides"] = overrides
    params |= _placement(task)
    tags = [t for t in task.tags if not str(t.get("key", "")).startswith("aws:")]
    if tags:
        params["tags"] = tags
    if (taskdef or {}).get("networkMode") == "awsvpc":
        params["networkConfiguration"] = _network(policy)
    return params


def _placement(task: TaskDetail) -> dict[str, Any]:
    """Launch type (or capacity provider) and platform version, as the stopped task had them."""
    out: dict[str, Any] = {}
    if task.launch_type in ("FARGATE", "EC2", "EXTERNAL"):
        out["launchType"] = task.launch_type
    elif task.capacity_provider_name:
        out["capacityProviderStrategy"] = [{"capacityProvider": task.capacity_provider_name, "weight": 1}]
    if task.platform_version and task.launch_type == "FARGATE":
        out["platformVersion"] = task.platform_version
    return out


def _network(policy: RestartPolicy) -> dict[str, Any]:
    if policy.network is None:
        raise BadInputError(
            "an awsvpc task can only be restarted with watch.restart.network set", reason="restart_network"
        )
    return {
        "awsvpcConfiguration": {
            "subnets": list(policy.network.subnets),
            "securityGroups": list(policy.network.security_groups),
            "assignPublicIp": "ENABLED" if policy.network.assign_public_ip else "DISABLED",
        }
    }


def _chain_of(task: TaskDetail, policy: RestartPolicy) -> tuple[str, int] | None:
    """(chain, restarts done so far) of a task the policy restarts; None for every other task."""
    if task.service_name is not None:
        return None  # ECS replaces service tasks itself
    chained = parse_started_by(task.started_by)
    if chained is not None:
        return chained
    if task.family in policy.families:
        return chain_id(task.task_arn), 0
    return None


def maybe_restart(
    task: TaskDetail, stop: StopCause, taskdef: dict[str, Any] | None, claim: Claim, watch: Watch
) -> tuple[str | None, bool]:
    """Schedule the next attempt if the policy says so (a step of the stopped task's claim). Returns the note for the
    alert and whether the alert must be sent on its own (a restart that gave up or cannot be made)."""
    policy = watch.config.watch.restart
    chained = _chain_of(task, policy)
    if chained is None or not stop.failure:
        return None, False
    chain, done = chained
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
    claim.once("restart_scheduled", lambda: _schedule(task, chain, attempt, params, delay, watch))
    return f"attempt {attempt} of {policy.max_attempts} in {duration(delay)}", False


def _schedule(task: TaskDetail, chain: str, attempt: int, params: dict[str, Any], delay: int, watch: Watch) -> bool:
    """Store the attempt and send its delayed launch message (or launch now when there is no wait). Run again by a
    resumed stop, it stores the same attempt and sends a second message, which finds the launch claimed."""
    now = int(watch.clock())
    Restarts(watch.table).schedule(
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
    return True


def launch_restart(action: WatchAction, watch: Watch) -> str:
    """The delayed message of one attempt: RunTask once (found again, never redone), then say how it went."""
    chain, attempt = action.chain, action.attempt
    rec = Restarts(watch.table).get(chain, attempt)
    if rec is None:
        raise BadInputError(f"no restart {chain}#{attempt} is scheduled", reason="unknown_restart")
    if watch.not_due_yet(action):
        return "restart:waiting"
    claim = Claims(watch.table, "restart").open(f"{chain}#{attempt}")
    if claim.done:
        count("RestartDuplicate")
        return "restart:duplicate"
    launched = claim.once("launch", lambda: _run(rec, watch), lambda: _find(rec, watch))
    key = f"restart/{chain}/{attempt}"
    if launched.get("task_arn"):
        count("TaskRestarted")
        watch.send(key, restarted_notification(rec, str(launched["task_arn"])))
        outcome = f"restart:launched:{attempt}"
    else:
        count("RestartFailed")
        watch.send(key, launch_failed_notification(rec, list(launched.get("failures") or [])))
        outcome = "restart:failed"
    claim.finish({"outcome": outcome, **launched})
    return outcome


def _run(rec: RestartAttempt, watch: Watch) -> dict[str, Any]:
    """RunTask: the task launched, or the failures ECS gave (a retryable error raises: the message retries)."""
    try:
        tasks, failures = watch.ecs_for(str(rec.params["cluster"])).run_task(**rec.params)
    except ClientError as exc:
        failures = [{"reason": exc.response["Error"]["Code"], "detail": exc.response["Error"].get("Message", "")}]
        tasks = []
    except AccountUnreachable as exc:  # told as the launch's failure, not retried
        failures, tasks = [{"reason": exc.reason, "detail": str(exc)}], []
    if failures or not tasks:
        return {"failures": [{k: str(v) for k, v in f.items()} for f in failures] or [{"reason": "no task"}]}
    return {"task_arn": tasks[0]["taskArn"]}


def _find(rec: RestartAttempt, watch: Watch) -> dict[str, Any] | None:
    """The task an earlier try of this attempt launched, by its `startedBy` (running, or stopped already)."""
    for status in ("RUNNING", "STOPPED"):
        cluster = str(rec.params["cluster"])
        found = watch.ecs_for(cluster).list_tasks(cluster, startedBy=rec.params["startedBy"], desiredStatus=status)
        if found:
            return {"task_arn": found[0]}
    return None


def _subject(rec: RestartAttempt) -> str:
    return subject(rec.group, arns.family(str(rec.params.get("taskDefinition", ""))))


def launch_failed_notification(rec: RestartAttempt, failures: list[dict[str, Any]]) -> Notification:
    reason = "; ".join(f"{f.get('reason', '')} {f.get('detail', '') or ''}".strip() for f in failures)
    return Notification(
        kind="task_restarted",
        severity="error",
        title=f"{_subject(rec)}: restart {rec.attempt} failed to launch",
        text=reason or "RunTask returned no task",
        fields={"Cluster": rec.cluster, "Group": rec.group, "Attempt": str(rec.attempt)},
        cluster=rec.cluster,
    )


def restarted_notification(rec: RestartAttempt, task_arn: str) -> Notification:
    return Notification(
        kind="task_restarted",
        severity="info",
        title=f"{_subject(rec)}: restarted (attempt {rec.attempt})",
        fields={
            "Cluster": rec.cluster,
            "Group": rec.group,
            "Attempt": str(rec.attempt),
            "Task": last_part(task_arn),
            "Replaces": last_part(rec.origin_task_arn),
        },
        cluster=rec.cluster,
    )
