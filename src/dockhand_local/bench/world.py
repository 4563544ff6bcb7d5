"""The bench's AWS and its functions: moto in server mode on loopback, the stack made from template.yaml, the
clusters, services and jobs the flows need, a loopback Slack, and each function in a process of its own.

Every function runs in its own interpreter (`worker.py`) with the environment template.yaml gives it, as Lambda
runs it; the world lives in this process, where the bench sets it up and reads what happened.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dockhand_local.bench.costs import request_units
from dockhand_local.bench.lambda_site import LambdaSite
from dockhand_local.bench.lambda_site import prepare as prepare_site
from dockhand_local.stack import ACCOUNT, ROOT, create_stack

REGION = "us-east-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
WORKER = Path(__file__).with_name("worker.py")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": "bench"}
FUNCTIONS = {
    "deployer": "DeployerFunction",
    "watcher": "WatcherFunction",
    "batch": "BatchFunction",
    "schedule_sync": "ScheduleSyncFunction",
}
SLACK_TOKEN = "xoxb-bench"


@dataclass(frozen=True)
class Fleet:
    """Services of one repository spread round-robin over clusters and task-definition families."""

    repository: str
    services: int
    clusters: int
    families: int

    def cluster(self, i: int) -> str:
        return f"{self.repository}-c{i}"

    def family(self, i: int) -> str:
        return f"{self.repository}-f{i}"

    def placement(self) -> list[tuple[str, str, str]]:
        """(cluster, service, family) for every service."""
        return [
            (self.cluster(n % self.clusters), f"{self.repository}-s{n:03d}", self.family(n % self.families))
            for n in range(self.services)
        ]


@dataclass
class Invocation:
    """What one handler invocation cost: wall ms, ms inside AWS calls, and the calls (service, action, start, end)."""

    ms: float
    aws_ms: float
    calls: list[tuple[str, str, float, float]]
    result: Any
    rss_mb: float
    cpu_ms: float = 0.0  # the process's CPU time for the invocation
    aws_cpu_ms: float = 0.0  # of which inside AWS calls
    items: list[int] = field(default_factory=list)  # what each call carried (a DynamoDB batch: its items; else 1)

    @property
    def own_cpu_ms(self) -> float:
        return self.cpu_ms - self.aws_cpu_ms

    @property
    def own_ms(self) -> float:
        return self.ms - self.aws_ms

    def counts(self) -> Counter[str]:
        return Counter(f"{service}:{action}" for service, action, _, _ in self.calls)

    def units(self) -> Counter[str]:
        """What the calls bill, by service:Action: DynamoDB's request units (a batch bills each item it carried, a
        transaction each twice), one for any other call."""
        billed: Counter[str] = Counter()
        for (service, action, _, _), items in zip(self.calls, self.items or [1] * len(self.calls), strict=True):
            billed[f"{service}:{action}"] += request_units(action, items)
        return billed


class Worker:
    """One function in its own interpreter, as Lambda runs it (see worker.py)."""

    def __init__(self, function_dir: Path, env: dict[str, str], importtime: bool = False) -> None:
        """With `importtime`, Python reports every import's time on stderr, and the worker who first imported
        each package (`close()` returns that report)."""
        self.proc = subprocess.Popen(
            [sys.executable, "-S", *(("-X", "importtime") if importtime else ()), str(WORKER), str(function_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if importtime else subprocess.DEVNULL,
            env={**env, "BENCH_TRACE_IMPORTS": "1"} if importtime else env,
            cwd=function_dir,
            text=True,
        )
        ready = self._read()
        self.import_ms = float(ready["import_ms"])
        self.import_cpu_ms = float(ready["import_cpu_ms"])

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"bench worker {self.proc.args[-1]} exited: {err[-2000:]}")
        return json.loads(line)

    def request(self, **payload: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(payload, default=str) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def invoke(self, event: dict[str, Any]) -> Invocation:
        a = self.request(op="invoke", event=event)
        calls = [(str(s), str(op), float(t0), float(t1)) for s, op, t0, t1 in a["calls"]]
        return Invocation(
            a["ms"], a["aws_ms"], calls, a["result"], a["rss_mb"], a["cpu_ms"], a["aws_cpu_ms"], list(a["items"])
        )

    def close(self) -> str:
        """Stop the process; return what it wrote on stderr (the -X importtime report, when asked)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        self.proc.wait(timeout=60)
        return err

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.close()


@dataclass
class World:
    """Start with `start()`; `stop()` ends the moto server and the loopback Slack."""

    workdir: Path
    fleets: tuple[Fleet, ...] = ()
    compile_bytecode: bool = False  # as the built layer ships it (see lambda_site.prepare)
    site: LambdaSite | None = None
    endpoint: str = ""
    stack: Any = None
    slack: Any = None
    network: dict[str, str] = field(default_factory=dict)
    cfn_responses: list[dict[str, Any]] = field(default_factory=list)
    _server: Any = None
    _cfn: Any = None
    _session: Any = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _counters: Counter[str] = field(default_factory=Counter)

    # -------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> World:
        import logging

        import boto3
        from moto.server import ThreadedMotoServer

        from dockhand_local.slack import LoopbackSlack

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.modules_log.unlink(missing_ok=True)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=30)
        self._session = boto3.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=REGION,
        )
        self.stack = create_stack(self._session, region=REGION, endpoint_url=self.endpoint)
        code_dirs = [Path(self.stack.functions[logical_id].code_dir) for logical_id in FUNCTIONS.values()]
        self.site = prepare_site(self.workdir / "lambda", code_dirs, self.compile_bytecode)
        self.slack = LoopbackSlack().start()
        self.client("secretsmanager").put_secret_value(
            SecretId=self.stack.physical["SlackSecret"],
            SecretString=json.dumps({"bot_token": SLACK_TOKEN, "api_url": self.slack.api_url}),
        )
        self._cfn = _ResponseServer(self.cfn_responses)
        self._build()
        return self

    def stop(self) -> None:
        from moto.moto_api import state_manager

        state_manager.unset_transition("ecs::task")
        if self.slack is not None:
            self.slack.stop()
        if self._cfn is not None:
            self._cfn.close()
        if self._server is not None:
            self._server.stop()

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(service, endpoint_url=self.endpoint)
        return self._clients[service]

    # -------------------------------------------------------------------------------------------- contents
    def _build(self) -> None:
        from moto.moto_api import state_manager

        # moto moves a task one lifecycle step per DescribeTasks; a real job task runs until it stops
        state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**9})
        ecs = self.client("ecs")
        # deploys: one service of its own (the typical push), and the fleets that measure fan-out
        for fleet in (Fleet("web", 1, 1, 1), *self.fleets):
            for f in range(fleet.families):
                ecs.register_task_definition(
                    family=fleet.family(f),
                    containerDefinitions=[
                        {"name": "app", "image": f"{REGISTRY}/{fleet.repository}:1.0.0", "memory": 256},
                        {"name": "log-router", "image": "public.ecr.aws/aws-observability/fluent-bit:2", "memory": 64},
                    ],
                )
            for c in range(fleet.clusters):
                ecs.create_cluster(clusterName=fleet.cluster(c))
            for cluster, service, family in fleet.placement():
                ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=family, desiredCount=1)
        # watch: a service whose tasks crash (awslogs, so notifications carry log links)
        ecs.create_cluster(clusterName="prod")
        ecs.register_task_definition(
            family="api",
            containerDefinitions=[
                {
                    "name": "app",
                    "image": f"{REGISTRY}/api:2.3.1",
                    "memory": 512,
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": "/ecs/api",
                            "awslogs-region": REGION,
                            "awslogs-stream-prefix": "ecs",
                        },
                    },
                }
            ],
        )
        # batch: a Fargate job in a VPC of its own (moto's RunTask wants security groups and DNS hostnames)
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        self.network = {
            "subnet": ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"],
            "security_group": ec2.create_security_group(GroupName="jobs", Description="jobs", VpcId=vpc)["GroupId"],
        }
        ecs.create_cluster(clusterName="jobs")
        ecs.register_task_definition(
            family="report",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "main", "image": "busybox", "memory": 512, "essential": True}],
        )
        self.config_path.write_text(json.dumps(self.declarations(), indent=2))
        from dockhand.config import validated

        validated.write(self.config_path)  # and its validated form beside it, as the config layer's build ships it

    @property
    def config_path(self) -> Path:
        return self.workdir / "dockhand.yaml"  # JSON is YAML

    def declarations(self) -> dict[str, Any]:
        targets = [{"repository": "web", "tags": "semver:^1.0", "cluster": "web-c0", "services": ["web-s000"]}]
        for fleet in self.fleets:
            by_cluster: dict[str, list[str]] = {}
            for cluster, service, _ in fleet.placement():
                by_cluster.setdefault(cluster, []).append(service)
            targets += [
                {"repository": fleet.repository, "tags": "semver:^1.0", "cluster": cluster, "services": services}
                for cluster, services in by_cluster.items()
            ]
        return {
            "version": 1,
            "deploy": {"targets": targets},
            "watch": {"crash_loop_window_minutes": 10},
            "jobs": [
                {
                    "name": "report",
                    "schedule": "cron(0 2 * * ? *)",
                    "timezone": "Europe/Berlin",
                    "cluster": "jobs",
                    "task_definition": "report",
                    "launch_type": "FARGATE",
                    "network": {
                        "subnets": [self.network["subnet"]],
                        "security_groups": [self.network["security_group"]],
                    },
                    "concurrency": "Allow",
                    "notify_on": ["failure"],
                }
            ],
            "notifications": {"sns": True, "slack": {"mode": "bot", "channel": "C0BENCH"}},
        }

    # -------------------------------------------------------------------------------------------- functions
    def env(self, function: str) -> dict[str, str]:
        logical_id = FUNCTIONS[function]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKHAND_", "POWERTOOLS_", "PYTHON"))}
        env.update(self.stack.env_for(logical_id))
        env.update(CREDENTIALS)
        env.update(
            {
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_LAMBDA_FUNCTION_NAME": self.stack.physical.get(logical_id, logical_id),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                "DOCKHAND_CONFIG": str(self.config_path),
                "PYTHONPATH": str(self.site.opt_python),  # the layer, as Lambda's /opt/python
                "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's file system is read-only
                # what the bench's own clock needs (time-machine), reached only after the handler is imported
                "BENCH_LOCAL_PATHS": os.pathsep.join([str(ROOT / "src"), *_site_packages()]),
                "BENCH_WORKER_LOG": str(self.workdir / f"{function}.log"),
                "BENCH_MODULES_LOG": str(self.modules_log),
            }
        )
        return env

    @property
    def modules_log(self) -> Path:
        """The layer's modules every function process loaded (paths under opt/python, one a line)."""
        return self.workdir / "modules-loaded.log"

    def loaded_modules(self) -> set[str]:
        return set(self.modules_log.read_text().split()) if self.modules_log.exists() else set()

    def code_dir(self, function: str) -> Path:
        """The function's folder as Lambda sees it (a copy; sam builds functions without bytecode)."""
        assert self.site is not None
        return self.site.task(Path(self.stack.functions[FUNCTIONS[function]].code_dir))

    def worker(self, function: str, importtime: bool = False) -> Worker:
        return Worker(self.code_dir(function), self.env(function), importtime)

    # -------------------------------------------------------------------------------------------- events
    def next(self, kind: str) -> int:
        """1, 2, 3 … per kind: each event the bench makes is a new one (a newer tag, another service, a new group)."""
        self._counters[kind] += 1
        return self._counters[kind]

    def sqs(self, queue: str, *bodies: dict[str, Any], group: str | None = None) -> dict[str, Any]:
        """An SQS → Lambda event carrying these bodies from the stack's queue `queue` (logical id)."""
        now_ms = str(int(datetime.now(UTC).timestamp() * 1000))
        attributes = {"ApproximateReceiveCount": "1", "SentTimestamp": now_ms}
        if group:
            attributes |= {"MessageGroupId": group, "SequenceNumber": "1", "MessageDeduplicationId": uuid.uuid4().hex}
        return {
            "Records": [
                {
                    "messageId": str(uuid.uuid4()),
                    "receiptHandle": uuid.uuid4().hex,
                    "body": json.dumps(body),
                    "attributes": dict(attributes),
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.stack.arns[queue],
                    "awsRegion": REGION,
                }
                for body in bodies
            ]
        }

    def push(self, repository: str, tag: str) -> dict[str, Any]:
        """An ECR push of a new image (a new digest every time) as the deploy queue hands it to the deployer."""
        digest = "sha256:" + uuid.uuid4().hex + uuid.uuid4().hex
        detail = {"result": "SUCCESS", "repository-name": repository, "image-digest": digest, "action-type": "PUSH"}
        event = _envelope("aws.ecr", "ECR Image Action", detail | {"image-tag": tag})
        return self.sqs("DeployQueue", event, group="ecr-push")

    def crash(self, group: str, n: int, at: datetime | None = None) -> dict[str, Any]:
        """A service task's STOPPED event: its app container exited 1."""
        at = at or datetime.now(UTC)
        task = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/{uuid.uuid4().hex}"
        detail = {
            "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod",
            "taskArn": task,
            "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/api:1",
            "group": f"service:{group}",
            "startedBy": "ecs-svc/1234567890123456789",
            "launchType": "FARGATE",
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "version": 3,
            "containers": [
                {
                    "name": "app",
                    "lastStatus": "STOPPED",
                    "exitCode": 1,
                    "image": f"{REGISTRY}/api:2.3.1",
                    "taskArn": task,
                }
            ],
            "createdAt": _iso(at - timedelta(minutes=3)),
            "startedAt": _iso(at - timedelta(minutes=2)),
            "stoppingAt": _iso(at),
            "stoppedAt": _iso(at),
            "cpu": "256",
            "memory": "512",
        }
        return _envelope("aws.ecs", "ECS Task State Change", detail, [task], at=at)

    def new_deployment_id(self, cluster: str, service: str) -> str:
        """Give the service a fresh PRIMARY deployment id, as ECS does on every UpdateService (moto keeps the old)."""
        from moto.ecs.models import ecs_backends

        svc = ecs_backends[ACCOUNT][REGION]._get_service(cluster, service)
        deployment_id = f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"
        svc.deployments[0]["id"] = deployment_id
        return deployment_id

    def deployment_event(self, cluster: str, service: str, deployment_id: str, name: str) -> dict[str, Any]:
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{service}"
        detail = {
            "eventType": "INFO",
            "eventName": name,
            "deploymentId": deployment_id,
            "updatedAt": _iso(datetime.now(UTC)),
            "reason": f"ECS deployment {deployment_id}: {name}.",
        }
        return _envelope("aws.ecs", "ECS Deployment State Change", detail, [arn])

    def job_launch(self, scheduled: datetime) -> dict[str, Any]:
        """What the job's schedule sends when it fires (its Target.Input, placeholders filled)."""
        body = {
            "action": "launch",
            "dockhand": "job",
            "execution_id": str(uuid.uuid4()),
            "job": "report",
            "scheduled_time": _iso(scheduled),
        }
        return self.sqs("BatchQueue", body)

    def job_tasks(self) -> list[str]:
        return list(self.client("ecs").list_tasks(cluster="jobs", desiredStatus="RUNNING")["taskArns"])

    def job_stopped(self, task_arn: str, exit_code: int) -> dict[str, Any]:
        """The job task exits: stopped in moto, and the STOPPED event ECS would send for it."""
        ecs = self.client("ecs")
        task = ecs.describe_tasks(cluster="jobs", tasks=[task_arn])["tasks"][0]
        ecs.stop_task(cluster="jobs", task=task_arn, reason="Essential container in task exited")
        now = datetime.now(UTC)
        detail = {
            "clusterArn": task["clusterArn"],
            "taskArn": task_arn,
            "taskDefinitionArn": task["taskDefinitionArn"],
            "group": task.get("group") or "family:report",
            "startedBy": task.get("startedBy", ""),
            "launchType": "FARGATE",
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "version": 5,
            "containers": [{"name": "main", "lastStatus": "STOPPED", "exitCode": exit_code, "image": "busybox"}],
            "createdAt": _iso(now - timedelta(minutes=5)),
            "startedAt": _iso(now - timedelta(minutes=4)),
            "stoppedAt": _iso(now),
            "cpu": "256",
            "memory": "512",
        }
        return self.sqs("BatchQueue", _envelope("aws.ecs", "ECS Task State Change", detail, [task_arn]))

    def schedule_sync(self, request_type: str = "Create") -> dict[str, Any]:
        """CloudFormation's request to the `Custom::DockhandSchedules` resource, for a schedule group of its own."""
        group = f"bench-{self.next('schedule-group')}"
        self.client("scheduler").create_schedule_group(Name=group)
        return {
            "RequestType": request_type,
            "ResponseURL": self._cfn.url,
            "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/dockhand/{uuid.uuid4()}",
            "RequestId": str(uuid.uuid4()),
            "ResourceType": "Custom::DockhandSchedules",
            "LogicalResourceId": "JobSchedules",
            "PhysicalResourceId": f"{group}-job-schedules",
            "ResourceProperties": {
                "ScheduleGroup": group,
                "TargetArn": self.stack.arns["BatchQueue"],
                "RoleArn": self.stack.arns["SchedulerRole"],
                "DeadLetterArn": self.stack.arns["BatchDLQ"],
            },
        }

    def release_delayed(self, queue: str) -> list[dict[str, Any]]:
        """Let the delays of the messages waiting in a queue pass, and take them all off it (their bodies)."""
        from moto.sqs.models import sqs_backends

        url = self.stack.queue_url(queue)
        for message in sqs_backends[ACCOUNT][REGION].queues[url.rsplit("/", 1)[-1]]._messages:
            message.delayed_until = 0.0
        sqs, out = self.client("sqs"), []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return out
            for m in messages:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


class _ResponseServer:
    """Where CloudFormation's custom-resource answers go (a PUT to the pre-signed ResponseURL), on loopback."""

    def __init__(self, into: list[dict[str, Any]]) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                into.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/cfn-response"
        threading.Thread(target=self._server.serve_forever, name="bench-cfn", daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _site_packages() -> list[str]:
    import site

    return [p for p in site.getsitepackages() if Path(p).is_dir()]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _envelope(
    source: str,
    detail_type: str,
    detail: dict[str, Any],
    resources: list[str] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": _iso(at or datetime.now(UTC))[:19] + "Z",
        "region": REGION,
        "resources": resources or [],
        "detail": copy.deepcopy(detail),
    }
