"""EventBridge Scheduler: one schedule per declared job (kept in step with dockhand.yaml), and one-time
schedules that bring a retry or a deadline back to the batch queue later (durable; no Lambda sleeps).

`sync_schedules` is what a deploy runs (the schedule-sync custom resource); it validates every job first,
so an invalid declaration changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dockhand.aws.clients import error_code, reraise_retryable
from dockhand.aws.protocols import SchedulerClient
from dockhand.batch import spec
from dockhand.config import DockhandConfig
from dockhand.events import SchedulePayload
from dockhand.observability import logger


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "created": self.created,
            "updated": self.updated,
            "disabled": self.disabled,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
        }


def sync_schedules(
    config: DockhandConfig,
    scheduler_client: SchedulerClient,
    group: str,
    target_arn: str,
    role_arn: str,
    dlq_arn: str | None,
) -> SyncReport:
    """Create new, update changed, disable suspended and delete removed jobs' schedules in `group`."""
    spec.check_jobs(config)
    report = SyncReport()
    existing = set(list_job_schedules(scheduler_client, group))
    for job in config.jobs:
        wanted = spec.schedule_request(job, group, target_arn, role_arn, dlq_arn)
        name = wanted["Name"]
        if name not in existing:
            _call(scheduler_client.create_schedule, name, **wanted)
            report.created.append(name)
            if job.suspend:
                report.disabled.append(name)
            continue
        current = _call(scheduler_client.get_schedule, name, Name=name, GroupName=group)
        if _same(current, wanted):
            report.unchanged.append(name)
            continue
        _call(scheduler_client.update_schedule, name, **wanted)
        if job.suspend and current.get("State") != "DISABLED":
            report.disabled.append(name)
        else:
            report.updated.append(name)
    declared = {spec.schedule_name(j) for j in config.jobs}
    for name in sorted(existing - declared):
        delete_schedule(scheduler_client, group, name)
        report.deleted.append(name)
    logger.info("schedules synced", extra={"group": group, "report": report.as_dict()})
    return report


def job_schedule_states(scheduler_client: SchedulerClient, group: str) -> dict[str, str]:
    """Name → State (ENABLED / DISABLED) of the job schedules in the group (one-time retry/deadline schedules
    are not jobs), from ListSchedules: one call per page, whatever the number of jobs."""
    states: dict[str, str] = {}
    kwargs: dict[str, Any] = {"GroupName": group}
    while True:
        page = _call(scheduler_client.list_schedules, group, **kwargs)
        for s in page.get("Schedules", []):
            if not s["Name"].startswith(spec.ONE_TIME_PREFIX):
                states[s["Name"]] = str(s.get("State", ""))
        token = page.get("NextToken")
        if not token:
            return states
        kwargs["NextToken"] = token


def list_job_schedules(scheduler_client: SchedulerClient, group: str) -> list[str]:
    """Names of the job schedules in the group."""
    return list(job_schedule_states(scheduler_client, group))


def delete_schedule(scheduler_client: SchedulerClient, group: str, name: str) -> None:
    try:
        scheduler_client.delete_schedule(Name=name, GroupName=group)
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return
        reraise_retryable(exc, f"scheduler:DeleteSchedule {name}")
        raise


def schedule_once(
    scheduler_client: SchedulerClient,
    *,
    group: str,
    name: str,
    when: datetime,
    payload: SchedulePayload,
    target_arn: str,
    role_arn: str,
    dlq_arn: str | None,
) -> bool:
    """A one-time schedule that sends `payload` to the batch queue at `when` (UTC) and then deletes itself.

    Returns False when a schedule of that name already exists (the same retry asked for twice).
    """
    target: dict[str, Any] = {
        "Arn": target_arn,
        "RoleArn": role_arn,
        "Input": json.dumps(payload.model_dump(exclude_none=True), sort_keys=True),
        "RetryPolicy": dict(spec.TARGET_RETRY_POLICY),
    }
    if dlq_arn:
        target["DeadLetterConfig"] = {"Arn": dlq_arn}
    try:
        scheduler_client.create_schedule(
            Name=name,
            GroupName=group,
            ScheduleExpression=spec.at_expression(when),
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Description=f"Dockhand {payload.action} of job {payload.job}, run {payload.run_id}",
            Target=target,
        )
    except Exception as exc:
        if error_code(exc) == "ConflictException":
            return False
        reraise_retryable(exc, f"scheduler:CreateSchedule {name}")
        raise
    return True


def render_input(template: str, scheduled_time: datetime, execution_id: str) -> str:
    """The body Scheduler sends: the schedule's Input with its context attributes filled in.

    The local runtime and the tests fire schedules with it, exactly as Scheduler would.
    """
    stamp = scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return template.replace(spec.SCHEDULED_TIME, stamp).replace(spec.EXECUTION_ID, execution_id)


def _same(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    keys = ("ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "State", "Description")
    if any(_norm(current.get(k)) != _norm(wanted.get(k)) for k in keys):
        return False
    have, want = current.get("Target", {}), wanted["Target"]
    target_keys = ("Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig")
    return all(_norm(have.get(k)) == _norm(want.get(k)) for k in target_keys)


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value) if value.startswith("{") else value
        except json.JSONDecodeError:
            return value
    return value


def _call(method: Callable[..., Any], what: str, **kwargs: Any) -> Any:
    try:
        return method(**kwargs)
    except Exception as exc:
        reraise_retryable(exc, f"scheduler {what}")
        raise
