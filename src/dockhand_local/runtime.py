"""The local runtime: moto in server mode on loopback, the stack from template.yaml, and the real handlers.

Routing is the deployed one: events go to moto's EventBridge, the template's rules put them on the SQS queues,
and a pump delivers each function's queue to its `lambda_handler` in-process, with the environment template.yaml
gives that function. What AWS emits and moto does not is emitted here (see README, "Local runtime"):

- an image put into ECR by any client → `ECR Image Action` PUSH/SUCCESS;
- UpdateService → a new PRIMARY deployment and `ECS Deployment State Change` IN_PROGRESS then COMPLETED
  (or SERVICE_DEPLOYMENT_FAILED with a circuit-breaker rollback when asked);
- injected task stops → `ECS Task State Change` STOPPED;
- job tasks (startedBy `dockhand-job/…`) stop after a short delay with an exit code from a scripted plan;
- EventBridge Scheduler schedules fire on a local clock that can run faster than the wall clock.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import sys
import threading
import urllib.request
import uuid
import warnings
from collections.abc import Callable
from contextlib import redirect_stdout, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dockhand_local.clock import LocalClock, iso
from dockhand_local.host import FunctionHost, code_path
from dockhand_local.stack import ACCOUNT, ROOT, Stack, create_stack

STATE_FILE = Path(".dockhand/local.json")
JOB_PREFIX = "dockhand-job/"
SNS_CAPTURE_QUEUE = "dockhand-local-sns-capture"
LOCAL_VISIBILITY_TIMEOUT = 2  # wall seconds: failed records come back quickly instead of after 6 minutes
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


@dataclass
class TimelineEntry:
    at: str
    clock: str
    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "clock": self.clock, "kind": self.kind, "text": self.text, "data": self.data}


@dataclass
class Delivery:
    """One SQS message handed to one function (what the routing delivered)."""

    function: str
    queue: str
    body: dict[str, Any]
    failed: bool = False


@dataclass
class RuntimeOptions:
    config_path: Path = Path("config/dockhand.yaml")
    region: str = "us-east-1"
    port: int = 0
    control_port: int = 0
    speed: float = 60.0
    clock_start: datetime | None = None
    deploy_delay: float = 1.5  # wall seconds between IN_PROGRESS and COMPLETED/FAILED
    job_delay: float = 0.5  # wall seconds a job task runs
    state_dir: Path = Path(".dockhand")
    pump: bool = True  # False: deliver and fire schedules only on `deliver_pending()` / `fire_due_schedules()`
    slack: bool = True
    handler_log: Path | None = None  # where handlers' stdout (logs, EMF) goes; None: inherit


class Runtime:
    """Start with `start()`, stop with `stop()`; everything else is safe to call from any thread."""

    def __init__(self, options: RuntimeOptions | None = None) -> None:
        self.options = options or RuntimeOptions()
        self.region = self.options.region
        self.clock = LocalClock(self.options.clock_start, self.options.speed)
        self.timeline: list[TimelineEntry] = []
        self.deliveries: list[Delivery] = []
        self.sns_messages: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.stack: Stack | None = None
        self.endpoint = ""
        self.slack: Any = None
        self.control: Any = None
        self._server: Any = None
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._fire_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._fail_next: dict[str, int] = {}
        self._job_exit_codes: dict[str, list[int]] = {}
        self._schedules_seen: dict[str, datetime] = {}
        self._schedules_fired: set[str] = set()
        self._config_copy: Path | None = None
        self._sns_queue_url = ""
        self.host: FunctionHost | None = None
        self.network: dict[str, str] = {}

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> Runtime:
        import logging

        import boto3
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request drowns the timeline
        self.clock.start()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.options.port, verbose=False)
        self._server.start()
        _host, port = self._server.get_host_and_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        # moto's backends are process-wide: a runtime starts from an empty world even if one ran here before.
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=30)
        self._session = boto3.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=self.region,
        )
        self.stack = create_stack(self._session, region=self.region, endpoint_url=self.endpoint)
        self._shorten_visibility()
        self.host = FunctionHost(self.options.handler_log)
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self._install_config()
        self._provision_network()
        self._sync_schedules()
        self._hook_backends()
        self._capture_sns()
        if self.options.slack:
            self._start_slack()
        from dockhand_local.control import ControlServer

        self.control = ControlServer(self, port=self.options.control_port).start()
        self._write_state()
        self.note("runtime", f"moto on {self.endpoint}, control on {self.control.url}")
        if self.options.pump:
            self._spawn(self._scheduler_loop, "scheduler")
            self._spawn(self._pump_loop, "pump")
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.control:
            self.control.stop()
        if self.slack:
            with suppress(Exception):
                self.slack.stop()
        if self._server:
            self._server.stop()
        if self.host:
            self.host.close()
        with suppress(FileNotFoundError):
            self.state_file.unlink()
        self.clock.stop()

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def state_file(self) -> Path:
        return self.options.state_dir / "local.json"

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=f"dockhand-local-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _write_state(self) -> None:
        self.options.state_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "endpoint": self.endpoint,
            "control_port": self.control.port,
            "control_url": self.control.url,
            "region": self.region,
            "pid": os.getpid(),
        }
        self.state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(service, endpoint_url=self.endpoint)
            return self._clients[service]

    def note(self, kind: str, text: str, **data: Any) -> TimelineEntry:
        entry = TimelineEntry(
            datetime.now(UTC).isoformat(timespec="milliseconds"), iso(self.clock.now()), kind, text, data
        )
        with self._lock:
            self.timeline.append(entry)
        return entry

    # ------------------------------------------------------------------------------------------ stack setup
    def _shorten_visibility(self) -> None:
        sqs = self.client("sqs")
        assert self.stack is not None
        for fn in self.stack.functions.values():
            if fn.queue_url:
                timeout = max(1, round(LOCAL_VISIBILITY_TIMEOUT * self.clock.speed))  # local seconds
                sqs.set_queue_attributes(QueueUrl=fn.queue_url, Attributes={"VisibilityTimeout": str(timeout)})

    def _install_config(self) -> None:
        """Lambda finds the file at /opt/dockhand.yaml (the config layer); locally each function gets a copy."""
        source = Path(self.options.config_path)
        target = self.options.state_dir / "dockhand.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        self._config_copy = target.resolve()

    def _provision_network(self) -> None:
        """Jobs name subnets and security groups; moto makes its own ids, so create them and map the names."""
        import yaml

        assert self._config_copy is not None
        data = yaml.safe_load(self._config_copy.read_text(encoding="utf-8")) or {}
        jobs = [j for j in data.get("jobs") or [] if isinstance(j, dict) and j.get("network")]
        if not jobs:
            return
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's RunTask needs it
        mapping: dict[str, str] = {}
        for job in jobs:
            network = job["network"]
            for i, subnet in enumerate(network.get("subnets") or []):
                if subnet not in mapping:
                    mapping[subnet] = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{len(mapping)}.0/24")["Subnet"][
                        "SubnetId"
                    ]
                network["subnets"][i] = mapping[subnet]
            for i, group in enumerate(network.get("security_groups") or []):
                if group not in mapping:
                    mapping[group] = ec2.create_security_group(
                        GroupName=group, Description=f"local {group}", VpcId=vpc
                    )["GroupId"]
                network["security_groups"][i] = mapping[group]
        self.network = {"vpc": vpc, **mapping}
        self._config_copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        self.note("runtime", "job networks created: " + ", ".join(f"{k} → {v}" for k, v in mapping.items()))

    def _sync_schedules(self) -> None:
        """Create the jobs' schedules as a deploy would (the batch wing's sync)."""
        from dockhand.batch.schedules import sync_schedules
        from dockhand.config import load_config

        assert self.stack is not None and self._config_copy is not None and self.host is not None
        config = load_config(self._config_copy)
        if not config.jobs:
            return
        try:
            with redirect_stdout(self.host.out or sys.stdout):
                report = sync_schedules(
                    config,
                    self.client("scheduler"),
                    self.stack.physical["ScheduleGroup"],
                    self.stack.arns["BatchQueue"],
                    self.stack.arns["SchedulerRole"],
                    self.stack.arns["BatchDLQ"],
                )
        except Exception as exc:  # the runtime still serves deploys and watch without schedules
            self.errors.append(f"schedule sync: {type(exc).__name__}: {exc}")
            self.note("error", f"job schedules not created: {type(exc).__name__}: {exc}")
            return
        self.note("scheduler", f"job schedules created: {', '.join(report.created) or 'none'}")

    def function_env(self, logical_id: str) -> dict[str, str]:
        """The environment one function sees: template.yaml's (Globals + own), pointed at the local endpoint."""
        assert self.stack is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKHAND_", "POWERTOOLS_"))}
        env.update(self.stack.env_for(logical_id))
        env.update(CREDENTIALS)
        env.update(
            {
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_LAMBDA_FUNCTION_NAME": self.stack.physical.get(logical_id, logical_id),
                "DOCKHAND_CONFIG": str(self._config_copy),
            }
        )
        return env

    def _capture_sns(self) -> None:
        assert self.stack is not None
        sqs = self.client("sqs")
        self._sns_queue_url = sqs.create_queue(QueueName=SNS_CAPTURE_QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self._sns_queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.client("sns").subscribe(TopicArn=self.stack.topic_arn, Protocol="sqs", Endpoint=arn)

    def _start_slack(self) -> None:
        from dockhand.config import load_config
        from dockhand_local.slack import LoopbackSlack

        self.slack = LoopbackSlack()
        self.slack.start()
        cfg = load_config(Path(self.options.config_path))
        slack_cfg = cfg.notifications.slack
        if slack_cfg is not None and slack_cfg.mode == "webhook":
            secret = {"webhook_url": self.slack.webhook_url}
        else:
            secret = {"bot_token": "xoxb-local", "api_url": self.slack.api_url}
        assert self.stack is not None
        self.client("secretsmanager").put_secret_value(
            SecretId=self.stack.physical["SlackSecret"], SecretString=json.dumps(secret)
        )

    # ------------------------------------------------------------------------------------------ emitting
    def emit(self, source: str, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> str:
        """Put one event on moto's default bus, as the AWS service would (the template's rules route it)."""
        response = self.client("events").put_events(
            Entries=[
                {
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "Resources": resources or [],
                    "Time": self.clock.now(),
                }
            ]
        )
        entry = response["Entries"][0]
        if "ErrorCode" in entry:
            self.errors.append(f"put_events {detail_type}: {entry['ErrorCode']}")
        return str(entry.get("EventId", ""))

    def put_event(self, event: dict[str, Any]) -> str:
        """Put a whole sample event (events/*.json shape) on the bus."""
        return self.emit(event["source"], event["detail-type"], event["detail"], event.get("resources"))

    def _after(self, seconds: float, action: Callable[[], None]) -> None:
        def run() -> None:
            if not self._stop.wait(seconds):
                try:
                    action()
                except Exception as exc:  # a timer must never die silently
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    self.note("error", f"{type(exc).__name__}: {exc}")

        threading.Thread(target=run, daemon=True).start()

    # ------------------------------------------------------------------------------------------ moto hooks
    def _hook_backends(self) -> None:
        from moto.ecr.models import ecr_backends
        from moto.ecs.models import ecs_backends

        ecr = ecr_backends[ACCOUNT][self.region]
        ecs = ecs_backends[ACCOUNT][self.region]
        original_put_image = ecr.put_image
        original_update_service = ecs.update_service
        original_run_task = ecs.run_task

        def put_image(
            repository_name: str,
            image_manifest: str,
            image_tag: str | None,
            image_manifest_mediatype: str | None = None,
            digest: str | None = None,
        ) -> Any:
            image = original_put_image(repository_name, image_manifest, image_tag, image_manifest_mediatype, digest)
            self._on_push(repository_name, image.get_image_digest(), image_tag or "")
            return image

        def update_service(service_properties: dict[str, Any]) -> Any:
            cluster = service_properties.get("cluster") or "default"
            name = str(service_properties.get("service", "")).split("/")[-1]
            before = ecs._get_service(cluster, name)
            previous_td = before.task_definition
            previous_deployments = copy.deepcopy(before.deployments)
            force = bool(service_properties.get("force_new_deployment"))
            service = original_update_service(service_properties)
            if service.task_definition != previous_td or force:
                self._on_update(ecs, service, previous_td, previous_deployments)
            return service

        def run_task(*args: Any, **kwargs: Any) -> Any:
            tasks = original_run_task(*args, **kwargs)
            for task in tasks:
                if (task.started_by or "").startswith(JOB_PREFIX):
                    self._on_job_task(ecs, task)
            return tasks

        ecr.put_image = put_image
        ecs.update_service = update_service
        ecs.run_task = run_task

    def _on_push(self, repository: str, digest: str, tag: str) -> None:
        detail = {
            "result": "SUCCESS",
            "repository-name": repository,
            "image-digest": digest,
            "action-type": "PUSH",
            "image-tag": tag,
        }
        self.note(
            "ecr",
            f"image pushed: {repository}:{tag or '<untagged>'} {digest[:19]}…",
            repository=repository,
            tag=tag,
            digest=digest,
        )
        self.emit("aws.ecr", "ECR Image Action", detail)

    def _on_update(self, ecs: Any, service: Any, previous_td: str, previous: list[dict[str, Any]]) -> None:
        """moto keeps the old deployment: give the service a new PRIMARY one, then let it complete or fail."""
        now = datetime.now(UTC)
        deployment_id = f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"
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
        active = [{**d, "status": "ACTIVE"} for d in previous[:1]]
        service.deployments = [primary, *active]
        name, arn = service.name, service.arn
        self.note(
            "ecs",
            f"service {name} updated → {service.task_definition.rsplit('/', 1)[-1]} ({deployment_id})",
            service=name,
            deployment_id=deployment_id,
            task_definition=service.task_definition,
        )
        self._after(
            0.05,
            lambda: self._deployment_event(
                arn,
                "INFO",
                "SERVICE_DEPLOYMENT_IN_PROGRESS",
                deployment_id,
                f"ECS deployment {deployment_id} in progress.",
            ),
        )
        with self._lock:
            fail = self._fail_next.get(name, 0) > 0
            if fail:
                self._fail_next[name] -= 1
        previous_id = str(template.get("id", ""))

        def finish() -> None:
            done = datetime.now(UTC)
            if fail:
                service.task_definition = previous_td
                rollback_id = f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"
                primary.update(
                    status="INACTIVE",
                    rolloutState="FAILED",
                    updatedAt=done,
                    rolloutStateReason="ECS deployment circuit breaker: task failed to start.",
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
                self.note(
                    "ecs",
                    f"deployment {deployment_id} failed: circuit breaker rolled {name} back to "
                    f"{previous_td.rsplit('/', 1)[-1]}",
                    service=name,
                    deployment_id=deployment_id,
                )
                self._deployment_event(
                    arn,
                    "ERROR",
                    "SERVICE_DEPLOYMENT_FAILED",
                    deployment_id,
                    "ECS deployment circuit breaker: task failed to start.",
                )
                self._deployment_event(
                    arn,
                    "INFO",
                    "SERVICE_DEPLOYMENT_IN_PROGRESS",
                    rollback_id,
                    f"ECS deployment circuit breaker: rolling back to deploymentId {previous_id}.",
                )
            else:
                primary.update(
                    rolloutState="COMPLETED",
                    updatedAt=done,
                    runningCount=service.desired_count,
                    pendingCount=0,
                    rolloutStateReason=f"ECS deployment {deployment_id} completed.",
                )
                service.deployments = [primary]
                self.note("ecs", f"deployment {deployment_id} completed", service=name, deployment_id=deployment_id)
                self._deployment_event(
                    arn,
                    "INFO",
                    "SERVICE_DEPLOYMENT_COMPLETED",
                    deployment_id,
                    f"ECS deployment {deployment_id} completed.",
                )

        self._after(self.options.deploy_delay, finish)

    def _deployment_event(self, service_arn: str, event_type: str, name: str, deployment_id: str, reason: str) -> None:
        detail = {
            "eventType": event_type,
            "eventName": name,
            "deploymentId": deployment_id,
            "updatedAt": iso(self.clock.now()),
            "reason": reason,
        }
        self.emit("aws.ecs", "ECS Deployment State Change", detail, [service_arn])

    def fail_next_deploy(self, service: str, count: int = 1) -> None:
        with self._lock:
            self._fail_next[service] = self._fail_next.get(service, 0) + count
        self.note("control", f"the next {count} deployment(s) of {service} will fail (circuit breaker)")

    def plan_job_exit_codes(self, job: str, codes: list[int]) -> None:
        with self._lock:
            self._job_exit_codes.setdefault(job, []).extend(codes)
        self.note("control", f"job {job} will exit with {', '.join(map(str, codes))}")

    def _on_job_task(self, ecs: Any, task: Any) -> None:
        job = task.started_by[len(JOB_PREFIX) :].split("/")[0]
        with self._lock:
            plan = self._job_exit_codes.get(job) or []
            exit_code = plan.pop(0) if plan else 0
        self.note("ecs", f"job {job}: task started ({task.task_arn.rsplit('/', 1)[-1][:8]})", job=job)
        task_arn, cluster_arn, td_arn = task.task_arn, task.cluster_arn, task.task_definition_arn

        def stop() -> None:
            with suppress(Exception):
                task.last_status = "STOPPED"
                task.desired_status = "STOPPED"
                task.stopped_reason = "Essential container in task exited"
            td = ecs.describe_task_definition(td_arn)
            detail = self._task_detail(
                cluster_arn,
                task_arn,
                td,
                exit_code,
                "",
                group=task.group or f"family:{td.family}",
                started_by=task.started_by,
            )
            self.note("ecs", f"job {job}: task stopped, exit code {exit_code}", job=job, exit_code=exit_code)
            self.emit("aws.ecs", "ECS Task State Change", detail, [task_arn])

        self._after(self.options.job_delay, stop)

    def _task_detail(
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
        now = self.clock.now()
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
            "availabilityZone": f"{self.region}a",
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
        from moto.ecs.models import ecs_backends

        ecs = ecs_backends[ACCOUNT][self.region]
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
        arns = []
        for _ in range(count):
            task_arn = f"arn:aws:ecs:{self.region}:{ACCOUNT}:task/{cluster_obj.name}/{uuid.uuid4().hex}"
            detail = self._task_detail(
                cluster_obj.arn, task_arn, td, exit_code, reason, group=group, started_by=started_by
            )
            self.emit("aws.ecs", "ECS Task State Change", detail, [task_arn])
            arns.append(task_arn)
        self.note(
            "ecs",
            f"{count} task(s) of {service or family} stopped, exit code {exit_code}"
            + (f" ({reason})" if reason else ""),
            exit_code=exit_code,
            count=count,
        )
        return arns

    # ------------------------------------------------------------------------------------------ schedules
    def _scheduler_loop(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.fire_due_schedules()
            except Exception as exc:
                self.errors.append(f"scheduler: {type(exc).__name__}: {exc}")

    def fire_due_schedules(self) -> int:
        """Send the Input of every schedule due on the local clock to its target queue; return how many fired."""
        with self._fire_lock:
            return self._fire_due_schedules()

    def _fire_due_schedules(self) -> int:
        from moto.scheduler.models import scheduler_backends

        backend = scheduler_backends[ACCOUNT][self.region]
        now = self.clock.now()
        fired = 0
        for group in list(backend.schedule_groups.values()):
            for schedule in list(group.schedules.values()):
                if schedule.state != "ENABLED":
                    continue
                key = schedule.arn
                one_time = schedule.schedule_expression.startswith("at(")
                with self._lock:
                    since = self._schedules_seen.setdefault(key, now)
                    self._schedules_seen[key] = now
                # A one-time schedule whose time has passed still fires once; recurring ones never backfill.
                window = (datetime(1970, 1, 1, tzinfo=UTC), now) if one_time else (since, now)
                for due in _due_times(schedule.schedule_expression, schedule.schedule_expression_timezone, *window):
                    if key in self._schedules_fired:
                        break
                    self._deliver_schedule(schedule, due)
                    fired += 1
                    if one_time:
                        self._schedules_fired.add(key)
                        if schedule.action_after_completion == "DELETE":
                            with suppress(Exception):
                                backend.delete_schedule(group.name, schedule.name)
        return fired

    def _deliver_schedule(self, schedule: Any, due: datetime) -> None:
        target = schedule.target
        body = str(target.get("Input") or "{}")
        body = body.replace("<aws.scheduler.scheduled-time>", iso(due))
        body = body.replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
        body = body.replace("<aws.scheduler.schedule-arn>", schedule.arn)
        queue_name = str(target["Arn"]).rsplit(":", 1)[-1]
        sqs = self.client("sqs")
        url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        kwargs: dict[str, Any] = {}
        if queue_name.endswith(".fifo"):
            kwargs["MessageGroupId"] = (target.get("SqsParameters") or {}).get("MessageGroupId", "schedule")
        sqs.send_message(QueueUrl=url, MessageBody=body, **kwargs)
        self.note("scheduler", f"schedule {schedule.name} fired for {iso(due)}", schedule=schedule.name)

    # ------------------------------------------------------------------------------------------ the pump
    def _pump_loop(self) -> None:
        while not self._stop.is_set():
            try:
                moved = self.deliver_pending(max_rounds=1)
            except Exception as exc:
                self.errors.append(f"pump: {type(exc).__name__}: {exc}")
                moved = 0
            if not moved:
                self._stop.wait(0.05)

    def deliver_pending(self, max_rounds: int = 50) -> int:
        """Receive from every function queue (and the SNS capture) and hand batches to the handlers."""
        assert self.stack is not None
        total = 0
        for _ in range(max_rounds):
            moved = self._collect_sns()
            for fn in self.stack.functions.values():
                if fn.queue_url:
                    moved += self._deliver(fn)
            total += moved
            if not moved:
                break
        return total

    def _collect_sns(self) -> int:
        sqs = self.client("sqs")
        messages = sqs.receive_message(QueueUrl=self._sns_queue_url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            envelope = json.loads(message["Body"])
            text = envelope.get("Message", "")
            try:
                parsed: Any = json.loads(text)
            except (TypeError, ValueError):
                parsed = text
            entry = {
                "channel": "sns",
                "subject": envelope.get("Subject"),
                "message": parsed,
                "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            }
            with self._lock:
                self.sns_messages.append(entry)
            self.note("sns", f"SNS: {_headline(parsed, envelope.get('Subject'))}")
            sqs.delete_message(QueueUrl=self._sns_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def _deliver(self, fn: Any) -> int:
        sqs = self.client("sqs")
        assert fn.queue_url is not None and self.stack is not None
        response = sqs.receive_message(
            QueueUrl=fn.queue_url,
            MaxNumberOfMessages=min(fn.batch_size, 10),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        queue_arn = self.stack.arns[fn.queue_logical_id]
        records = [_sqs_record(m, queue_arn, self.region) for m in messages]
        for record in records:
            record["body"] = _with_account(record["body"])
        failed_ids = self._invoke(fn, {"Records": records})
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for m, record in zip(messages, records, strict=True):
            body = _json_or_text(record["body"])  # what the handler saw
            with self._lock:
                self.deliveries.append(
                    Delivery(fn.logical_id, fn.queue_logical_id, body, failed=m["MessageId"] in failed_ids)
                )
        if done:
            sqs.delete_message_batch(
                QueueUrl=fn.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(messages)

    def _invoke(self, fn: Any, event: dict[str, Any]) -> set[str]:
        """Call the function's lambda_handler; return the ids it reported as failed (all of them if it raised)."""
        assert self.stack is not None and self.host is not None
        all_ids = {r["messageId"] for r in event["Records"]}
        if not code_path(fn).exists():
            self.note("handler", f"{fn.logical_id}: {code_path(fn).relative_to(ROOT)} does not exist; message dropped")
            return set()
        try:
            result = self.host.invoke(fn, event, self.function_env(fn.logical_id), self.stack.arns[fn.logical_id])
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self.note(
                "handler",
                f"{fn.logical_id} raised {type(exc).__name__}: {first_line}; the batch will retry",
                function=fn.logical_id,
            )
            self.errors.append(f"{fn.logical_id}: {type(exc).__name__}: {exc}")
            return all_ids
        failures = (result or {}).get("batchItemFailures", []) if isinstance(result, dict) else []
        failed = {f["itemIdentifier"] for f in failures}
        label = fn.logical_id.removesuffix("Function").lower()
        self.note(
            "handler",
            f"{label}: {len(all_ids)} record(s)" + (f", {len(failed)} to retry" if failed else ""),
            function=fn.logical_id,
            failed=len(failed),
        )
        return failed

    # ------------------------------------------------------------------------------------------ views
    def messages(self) -> dict[str, list[dict[str, Any]]]:
        slack = list(self.slack.messages) if self.slack is not None else []
        with self._lock:
            return {"slack": slack, "sns": list(self.sns_messages)}

    def timeline_dicts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e.as_dict() for e in self.timeline]


def _sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = dict(message.get("Attributes", {}))
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _with_account(body: str) -> str:
    """moto's SQS targets drop the envelope's `account` (AWS always sends it); put it back."""
    try:
        event = json.loads(body)
    except ValueError:
        return body
    if isinstance(event, dict) and "detail-type" in event and "source" in event and not event.get("account"):
        event["account"] = ACCOUNT
        return json.dumps(event)
    return body


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}


def _headline(message: Any, subject: str | None) -> str:
    if isinstance(message, dict):
        content = message.get("content") or {}
        if isinstance(content, dict) and (content.get("title") or content.get("description")):
            return str(content.get("title") or content.get("description"))
    return subject or str(message)[:100]


_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


def _due_times(expression: str, timezone: str | None, start: datetime, end: datetime) -> list[datetime]:
    """Times in (start, end] at which the schedule fires (`at(...)` here, cron/rate by the batch wing's module)."""
    match = _AT.match(expression)
    if match:
        moment = datetime.fromisoformat(match.group(1)).replace(tzinfo=ZoneInfo(timezone or "UTC"))
        return [moment] if start < moment <= end else []
    from dockhand.schedule_expressions import fire_times

    return list(fire_times(expression, timezone or "UTC", start, end))


def read_state(path: Path = STATE_FILE) -> dict[str, Any]:
    """What a running `dockhand local up` wrote: endpoint, control port/url, region."""
    return json.loads(path.read_text(encoding="utf-8"))
