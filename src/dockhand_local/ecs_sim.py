"""What ECR and ECS emit on AWS and moto does not: push events, deployments that complete or roll back, and
task stops (injected ones, and job tasks that end with a scripted exit code).

Events go onto moto's default bus (`Runtime.emit`), so the template's rules route them as in production.
"""

from __future__ import annotations

import copy
import re
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dockhand.batch.spec import TAG_JOB
from dockhand.started_by import JOB_PREFIX, is_job_task
from dockhand_local.clock import iso
from dockhand_local.stack import ACCOUNT

if TYPE_CHECKING:
    from dockhand_local.runtime import Runtime

CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: task failed to start."
SIGTERM_EXIT_CODE = 143  # what a container that StopTask's SIGTERM ends usually exits with
_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in `90s`, `20m`, `2h`, `1h30m` or `1d`; ValueError says what was expected."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"the duration {text!r} should read like 90s, 20m, 2h or 1h30m")
    return float(sum(int(n) * _UNIT[u] for n, u in parts))


@dataclass(frozen=True)
class JobExit:
    """How a job's next task ends: its exit code, after `run_seconds` of the local clock (None: at once)."""

    code: int
    run_seconds: float | None = None

    @classmethod
    def parse(cls, text: str) -> JobExit:
        """`CODE` or `CODE:DURATION` (`1`, `0:90s`, `1:20m`, `3:1h30m`); ValueError says what was expected."""
        code, _, duration = str(text).partition(":")
        if not code.strip().lstrip("-").isdigit():
            raise ValueError(f"{text!r}: expected EXIT_CODE or EXIT_CODE:DURATION such as 1 or 1:20m")
        if not duration:
            return cls(int(code))
        try:
            return cls(int(code), parse_duration(duration))
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None

    def __str__(self) -> str:
        after = "shortly" if self.run_seconds is None else f"after {self.run_seconds / 60:g} min"
        return f"exit {self.code} {after}"


def _deployment_id() -> str:
    return f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"


class EcsSimulator:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._fail_next: dict[str, int] = {}
        self._job_exits: dict[str, list[JobExit]] = {}
        self._planned_stops: dict[str, int] = {}  # task ARN -> timer of its scripted end
        self._stopped: set[str] = set()  # task ARNs whose STOPPED event was emitted

    @property
    def _ecs(self) -> Any:
        from moto.ecs.models import ecs_backends

        return ecs_backends[ACCOUNT][self.rt.region]

    # -------------------------------------------------------------------------------------------- ECR
    def on_push(self, repository: str, digest: str, tag: str) -> None:
        """`ECR Image Action` PUSH/SUCCESS, as ECR sends it for any client's PutImage."""
        detail = {
            "result": "SUCCESS",
            "repository-name": repository,
            "image-digest": digest,
            "action-type": "PUSH",
            "image-tag": tag,
        }
        self.rt.note(
            "ecr",
            f"image pushed: {repository}:{tag or '<untagged>'} {digest[:19]}…",
            repository=repository,
            tag=tag,
            digest=digest,
        )
        self.rt.emit("aws.ecr", "ECR Image Action", detail)

    # ------------------------------------------------------------------------------------- deployments
    def fail_next_deploy(self, service: str, count: int = 1) -> None:
        with self.rt.lock:
            self._fail_next[service] = self._fail_next.get(service, 0) + count
        self.rt.note("control", f"the next {count} deployment(s) of {service} will fail (circuit breaker)")

    def on_update(self, service: Any, previous_td: str, previous: list[dict[str, Any]]) -> None:
        """moto keeps the old deployment: give the service a new PRIMARY one, then let it complete or fail."""
        now = datetime.now(UTC)
        deployment_id = _deployment_id()
        template = previous[0] if previous else {}
        primary = {
            **copy.deepcopy(template),
            "id": deployment_id,
            "status": "PRIMARY",
            "taskDefinition": service.task_definition,
            "createdAt": now,
            "updatedAt": now,
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
            "runningCount": 0,
            "pendingCount": service.desired_count,
            "failedTasks": 0,
            "desiredCount": service.desired_count,
        }
        service.deployments = [primary, *[{**d, "status": "ACTIVE"} for d in previous[:1]]]
        self.rt.note(
            "ecs",
            f"service {service.cluster_name}/{service.name} updated → "
            f"{service.task_definition.rsplit('/', 1)[-1]} ({deployment_id})",
            service=service.name,
            deployment_id=deployment_id,
            task_definition=service.task_definition,
        )
        in_progress = f"ECS deployment {deployment_id} in progress."
        self.rt.timers.after(
            0.05,
            lambda: self._deployment_event(
                service.arn, "INFO", "SERVICE_DEPLOYMENT_IN_PROGRESS", deployment_id, in_progress
            ),
        )
        with self.rt.lock:
            fail = self._fail_next.get(service.name, 0) > 0
            if fail:
                self._fail_next[service.name] -= 1
        if fail:
            self.rt.timers.after(
                self.rt.options.deploy_delay, lambda: self._roll_back(service, primary, template, previous_td)
            )
        else:
            self.rt.timers.after(self.rt.options.deploy_delay, lambda: self._complete(service, primary))

    def _complete(self, service: Any, primary: dict[str, Any]) -> None:
        deployment_id = primary["id"]
        primary.update(
            rolloutState="COMPLETED",
            updatedAt=datetime.now(UTC),
            runningCount=service.desired_count,
            pendingCount=0,
            rolloutStateReason=f"ECS deployment {deployment_id} completed.",
        )
        service.deployments = [primary]
        self.rt.note("ecs", f"deployment {deployment_id} completed", service=service.name, deployment_id=deployment_id)
        self._deployment_event(
            service.arn,
            "INFO",
            "SERVICE_DEPLOYMENT_COMPLETED",
            deployment_id,
            f"ECS deployment {deployment_id} completed.",
        )

    def _roll_back(self, service: Any, primary: dict[str, Any], template: dict[str, Any], previous_td: str) -> None:
        """What ECS does with `deploymentCircuitBreaker.rollback`: FAILED, back to the previous revision."""
        done = datetime.now(UTC)
        deployment_id, rollback_id = primary["id"], _deployment_id()
        service.task_definition = previous_td
        primary.update(
            status="INACTIVE", rolloutState="FAILED", updatedAt=done, rolloutStateReason=CIRCUIT_BREAKER_REASON
        )
        rollback = {
            **copy.deepcopy(template),
            "id": rollback_id,
            "status": "PRIMARY",
            "taskDefinition": previous_td,
            "createdAt": done,
            "updatedAt": done,
            "rolloutState": "COMPLETED",
            "rolloutStateReason": f"ECS deployment {rollback_id} completed.",
        }
        service.deployments = [rollback]
        self.rt.note(
            "ecs",
            f"deployment {deployment_id} failed: circuit breaker rolled {service.name} back to "
            f"{previous_td.rsplit('/', 1)[-1]}",
            service=service.name,
            deployment_id=deployment_id,
        )
        self._deployment_event(service.arn, "ERROR", "SERVICE_DEPLOYMENT_FAILED", deployment_id, CIRCUIT_BREAKER_REASON)
        self._deployment_event(
            service.arn,
            "INFO",
            "SERVICE_DEPLOYMENT_IN_PROGRESS",
            rollback_id,
            f"ECS deployment circuit breaker: rolling back to deploymentId {template.get('id', '')}.",
        )

    def _deployment_event(self, service_arn: str, event_type: str, name: str, deployment_id: str, reason: str) -> None:
        detail = {
            "eventType": event_type,
            "eventName": name,
            "deploymentId": deployment_id,
            "updatedAt": iso(self.rt.clock.now()),
            "reason": reason,
        }
        self.rt.emit("aws.ecs", "ECS Deployment State Change", detail, [service_arn])

    # ------------------------------------------------------------------------------------------- jobs
    def plan_job_exits(self, job: str, exits: list[JobExit]) -> None:
        with self.rt.lock:
            self._job_exits.setdefault(job, []).extend(exits)
        self.rt.note("control", f"job {job}'s next task(s): {', '.join(map(str, exits))}")

    def on_run_task(self, task: Any) -> None:
        """A job task (startedBy `dockhand-job/…`) runs for its scripted time, then stops with its exit code."""
        if not is_job_task(task.started_by):
            return
        # The job's name is its task's dockhand:job tag (startedBy holds at most 36 characters: a long name is cut).
        tags = {t.get("key"): t.get("value") for t in task.tags or []}
        job = tags.get(TAG_JOB) or task.started_by[len(JOB_PREFIX) :].split("/")[0]
        with self.rt.lock:
            plan = self._job_exits.get(job) or []
            planned = plan.pop(0) if plan else JobExit(0)
        self.rt.note("ecs", f"job {job}: task started ({task.task_arn.rsplit('/', 1)[-1][:8]}), {planned}", job=job)

        def stop() -> None:
            with self.rt.lock:
                if task.task_arn in self._stopped:  # stopped by a StopTask meanwhile: it ended there
                    return
                self._stopped.add(task.task_arn)
                self._planned_stops.pop(task.task_arn, None)
            with suppress(Exception):
                task.last_status = "STOPPED"
                task.desired_status = "STOPPED"
                task.stopped_reason = "Essential container in task exited"
            self.rt.note("ecs", f"job {job}: task stopped, exit code {planned.code}", job=job, exit_code=planned.code)
            self._emit_stopped(task, planned.code, "")

        if planned.run_seconds is None:
            handle = self.rt.timers.after(self.rt.options.job_delay, stop)
        else:
            handle = self.rt.timers.at(self.rt.clock.now() + timedelta(seconds=planned.run_seconds), stop)
        with self.rt.lock:
            self._planned_stops[task.task_arn] = handle

    def on_stop_task(self, task: Any, was_running: bool, reason: str) -> None:
        """StopTask by any client: the task ends there, as ECS ends it (SIGTERM, stop code UserInitiated); its
        scripted end never comes. A task that had stopped already emits nothing again."""
        with self.rt.lock:
            if not was_running or task.task_arn in self._stopped:
                return
            self._stopped.add(task.task_arn)
            handle = self._planned_stops.pop(task.task_arn, None)
        if handle is not None:
            self.rt.timers.cancel(handle)
        self.rt.note("ecs", f"task {task.task_arn.rsplit('/', 1)[-1][:8]} stopped by StopTask: {reason}")
        self._emit_stopped(task, SIGTERM_EXIT_CODE, reason, stop_code="UserInitiated", stopped_reason=reason)

    def _emit_stopped(
        self, task: Any, exit_code: int, reason: str, *, stop_code: str = "", stopped_reason: str = ""
    ) -> None:
        td = self._ecs.describe_task_definition(task.task_definition_arn)
        detail = self.task_detail(
            task.cluster_arn,
            task.task_arn,
            td,
            exit_code,
            reason,
            group=task.group or f"family:{td.family}",
            started_by=task.started_by,
        )
        if stop_code:
            detail["stopCode"] = stop_code
        if stopped_reason:
            detail["stoppedReason"] = stopped_reason
        self.rt.emit("aws.ecs", "ECS Task State Change", detail, [task.task_arn])

    # ------------------------------------------------------------------------------------------ stops
    def task_detail(
        self,
        cluster_arn: str,
        task_arn: str,
        td: Any,
        exit_code: int,
        reason: str,
        *,
        group: str,
        started_by: str | None,
    ) -> dict[str, Any]:
        """The detail of `ECS Task State Change` STOPPED for a task of `td` whose essential containers exited."""
        now = self.rt.clock.now()
        containers = []
        for container in td.container_definitions:
            entry: dict[str, Any] = {
                "containerArn": f"{cluster_arn.replace(':cluster/', ':container/')}/{uuid.uuid4()}",
                "name": container["name"],
                "image": container.get("image", ""),
                "lastStatus": "STOPPED",
                "exitCode": exit_code if container.get("essential", True) else 0,
                "taskArn": task_arn,
            }
            if reason:
                entry["reason"] = reason
            containers.append(entry)
        detail: dict[str, Any] = {
            "clusterArn": cluster_arn,
            "taskArn": task_arn,
            "taskDefinitionArn": td.arn,
            "group": group,
            "containers": containers,
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "launchType": "FARGATE",
            "cpu": str(td.cpu or "256"),
            "memory": str(td.memory or "512"),
            "availabilityZone": f"{self.rt.region}a",
            "version": 3,
            "createdAt": iso(now - timedelta(minutes=2)),
            "startedAt": iso(now - timedelta(minutes=1)),
            "stoppingAt": iso(now),
            "stoppedAt": iso(now),
            "executionStoppedAt": iso(now),
        }
        if started_by:
            detail["startedBy"] = started_by
        return detail

    def stop_tasks(
        self,
        cluster: str,
        *,
        service: str | None = None,
        family: str | None = None,
        exit_code: int = 1,
        reason: str = "",
        count: int = 1,
        started_by: str | None = None,
    ) -> list[str]:
        """Inject `ECS Task State Change` STOPPED for tasks of a service (its current revision) or a family."""
        ecs = self._ecs
        cluster_obj = ecs._get_cluster(cluster)
        if service:
            svc = ecs._get_service(cluster, service)
            td = ecs.describe_task_definition(svc.task_definition)
            group = f"service:{svc.name}"
            started_by = started_by or (svc.deployments[0]["id"] if svc.deployments else "ecs-svc/local")
        elif family:
            td = ecs.describe_task_definition(family)
            group = f"family:{family}"
        else:
            raise ValueError("stop_tasks needs a service or a family")
        arns = [
            f"arn:aws:ecs:{self.rt.region}:{ACCOUNT}:task/{cluster_obj.name}/{uuid.uuid4().hex}" for _ in range(count)
        ]
        events = [
            (self.task_detail(cluster_obj.arn, arn, td, exit_code, reason, group=group, started_by=started_by), [arn])
            for arn in arns
        ]
        self.rt.emit_many("aws.ecs", "ECS Task State Change", events)
        self.rt.note(
            "ecs",
            f"{count} task(s) of {service or family} stopped, exit code {exit_code}"
            + (f" ({reason})" if reason else ""),
            exit_code=exit_code,
            count=count,
        )
        return arns
