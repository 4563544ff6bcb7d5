"""What one job declaration becomes in AWS: its schedule, its RunTask request, and the names that tie them together.

Everything here is pure: a Job (from dockhand.yaml) in, plain dicts and strings out.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from dockhand.config import DockhandConfig, Job
from dockhand.errors import ConfigError
from dockhand.events import SchedulePayload
from dockhand.schedule_expressions import CronError, check_expression
from dockhand.started_by import JOB_PREFIX

ONE_TIME_PREFIX = "dockhand-"  # retry and deadline schedules; job names may not start with it
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
EXECUTION_ID = "<aws.scheduler.execution-id>"
TAG_JOB, TAG_RUN, TAG_ATTEMPT = "dockhand:job", "dockhand:run-id", "dockhand:attempt"

# How Scheduler delivers to the queue: its own retries (then BatchDLQ) for the SendMessage call only.
TARGET_RETRY_POLICY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 3600}


def check_jobs(config: DockhandConfig, source: str = "dockhand.yaml") -> None:
    """Refuse declarations that the models accept but AWS would not; the message names the field."""
    problems = []
    for i, job in enumerate(config.jobs):
        try:
            check_expression(job.schedule, job.timezone)
        except CronError as exc:
            problems.append(f"  {source}: jobs.{i}.schedule: {exc} (given: {job.schedule!r})")
        if job.name.startswith(ONE_TIME_PREFIX):
            problems.append(f"  {source}: jobs.{i}.name: names starting with {ONE_TIME_PREFIX!r} are reserved")
        if job.launch_type == "FARGATE" and job.network and not job.network.security_groups:
            problems.append(f"  {source}: jobs.{i}.network.security_groups: a FARGATE job needs a security group")
    if problems:
        raise ConfigError(f"{source}: {len(problems)} problem(s)\n" + "\n".join(problems))


# ---------------------------------------------------------------------------------------------- schedule


def schedule_name(job: Job) -> str:
    return job.name  # the Name pattern of a job is also a valid schedule name (≤64, [A-Za-z0-9_.-])


def schedule_input(job: Job) -> str:
    payload = SchedulePayload(action="launch", job=job.name, scheduled_time=SCHEDULED_TIME, execution_id=EXECUTION_ID)
    return json.dumps(payload.model_dump(exclude_none=True), sort_keys=True)


def schedule_request(job: Job, group: str, target_arn: str, role_arn: str, dlq_arn: str | None) -> dict[str, Any]:
    """The CreateSchedule / UpdateSchedule request of one job, made only from its declaration."""
    target: dict[str, Any] = {
        "Arn": target_arn,
        "RoleArn": role_arn,
        "Input": schedule_input(job),
        "RetryPolicy": dict(TARGET_RETRY_POLICY),
    }
    if dlq_arn:
        target["DeadLetterConfig"] = {"Arn": dlq_arn}
    window: dict[str, Any] = (
        {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": job.flexible_window_minutes}
        if job.flexible_window_minutes
        else {"Mode": "OFF"}
    )
    request: dict[str, Any] = {
        "Name": schedule_name(job),
        "GroupName": group,
        "ScheduleExpression": job.schedule,
        "ScheduleExpressionTimezone": job.timezone,
        "FlexibleTimeWindow": window,
        "State": "DISABLED" if job.suspend else "ENABLED",
        "Description": f"Dockhand job {job.name} (managed from dockhand.yaml; edits here are overwritten)",
        "Target": target,
    }
    if job.schedule.startswith("at("):
        request["ActionAfterCompletion"] = "NONE"  # kept, so the history and `jobs list` still see it
    return request


def attempt_digest(job: str, run_id: str, attempt: int) -> str:
    """One attempt of one run, as hex: what its one-time schedules, RunTask token and startedBy are named by."""
    return hashlib.sha256(f"{job}|{run_id}|{attempt}".encode()).hexdigest()


def one_time_name(kind: str, run_id: str, job: str, attempt: int) -> str:
    return f"{ONE_TIME_PREFIX}{kind}-{attempt_digest(job, run_id, attempt)[:40]}"[:64]


def at_expression(when: datetime) -> str:
    return f"at({when.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


# ---------------------------------------------------------------------------------------------- run task


def run_id_for(job: str, scheduled_time: datetime) -> str:
    """A run of a scheduled invocation: the same scheduled time always gives the same run id."""
    digest = hashlib.sha256(f"{job}|{scheduled_time.isoformat()}".encode()).hexdigest()[:6]
    return f"{scheduled_time.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{digest}"


def client_token(job: str, run_id: str, attempt: int) -> str:
    """RunTask idempotency token (≤64 chars): one per job, scheduled time and attempt."""
    return "dh-" + attempt_digest(job, run_id, attempt)[:48]


STARTED_BY_LIMIT = 36  # RunTask allows more today; 36 is what every ECS API and console has accepted
_ATTEMPT_DIGEST = 8


def started_by(job: str, run_id: str, attempt: int) -> str:
    """`dockhand-job/<job>/<digest of run and attempt>`: the batch rule routes on the prefix, the local runtime
    reads the job from it, and a launch that could not record its task finds it again by it (ListTasks
    startedBy=…). At most 36 characters of [A-Za-z0-9-_/]: a long job name is cut, the digest never is."""
    name = re.sub(r"[^A-Za-z0-9\-_]", "-", job)[: STARTED_BY_LIMIT - len(JOB_PREFIX) - 1 - _ATTEMPT_DIGEST]
    return f"{JOB_PREFIX}{name}/{attempt_digest(job, run_id, attempt)[:_ATTEMPT_DIGEST]}"


def run_task_request(job: Job, run_id: str, attempt: int) -> dict[str, Any]:
    tags = {**job.tags, TAG_JOB: job.name, TAG_RUN: run_id, TAG_ATTEMPT: str(attempt)}
    request: dict[str, Any] = {
        "cluster": job.cluster,
        "taskDefinition": job.task_definition,
        "count": 1,
        "startedBy": started_by(job.name, run_id, attempt),
        "clientToken": client_token(job.name, run_id, attempt),
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
        "propagateTags": "TASK_DEFINITION",
        "enableECSManagedTags": True,
    }
    if job.overrides:
        request["overrides"] = {"containerOverrides": [_container_override(o) for o in job.overrides]}
    if job.capacity_provider_strategy:
        request["capacityProviderStrategy"] = [
            {"capacityProvider": c.capacity_provider, "weight": c.weight, "base": c.base}
            for c in job.capacity_provider_strategy
        ]
    elif job.launch_type:
        request["launchType"] = job.launch_type
    if job.network:
        request["networkConfiguration"] = {
            "awsvpcConfiguration": {
                "subnets": list(job.network.subnets),
                "securityGroups": list(job.network.security_groups),
                "assignPublicIp": "ENABLED" if job.network.assign_public_ip else "DISABLED",
            }
        }
    if job.platform_version:
        request["platformVersion"] = job.platform_version
    return request


def _container_override(o: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": o.name}
    if o.command is not None:
        out["command"] = list(o.command)
    if o.environment:
        out["environment"] = [{"name": k, "value": v} for k, v in o.environment.items()]
    if o.cpu is not None:
        out["cpu"] = o.cpu
    if o.memory is not None:
        out["memory"] = o.memory
    return out
