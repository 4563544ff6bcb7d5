"""Every flow of every function, driven through the real handlers in a fresh moto stack, with each AWS call recorded.

The flows reuse the integration tests' helpers (events, task definitions, the batch world, the watcher's inbox), so
they drive the handlers exactly as those tests do. Each flow checks the effect it exists for, so a flow that
quietly did nothing cannot pass for one that made its calls. Task definitions carry a task role and an execution
role, and jobs carry tags, as real ones do: passing roles and tagging on create are part of what is checked.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from dockhand_local.lambda_context import LambdaContext
from tests.audit.policies import FunctionPolicy, Request, function_policy, workload_policy
from tests.audit.recorder import WORKLOAD, Call, Recorder, tighter_variants
from tests.support.fargate import launchable_network

REGION = "us-east-1"
ACCOUNT = "123456789012"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-task"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-execution"
HANDLERS = {
    "DeployerFunction": "functions.deployer.app",
    "WatcherFunction": "functions.watcher.app",
    "BatchFunction": "functions.batch.app",
    "ScheduleSyncFunction": "functions.schedule_sync.app",
    "ApproverFunction": "functions.approver.app",
    "HookFunction": "functions.hook.app",
}


@dataclass
class Checked:
    """One authorization a recorded call needed, and what the deployed policy says about it."""

    call: Call
    request: Request
    allowed_by: list[str]
    loose: list[tuple[Request, list[str]]]  # tighter variants the policy allows all the same, with the statements


@dataclass
class FlowRun:
    function: str
    flow: str
    checked: list[Checked] = field(default_factory=list)
    policy: FunctionPolicy | None = None
    metrics: set[tuple[str, str, frozenset[str]]] = field(default_factory=set)  # (namespace, name, dimension names)

    @property
    def denied(self) -> list[Checked]:
        return [c for c in self.checked if not c.allowed_by]


# ---------------------------------------------------------------------------------------------- the world


@dataclass
class World:
    stack: Any
    recorder: Recorder
    monkeypatch: pytest.MonkeyPatch
    folder: Path
    slack: Any
    context: LambdaContext = field(default_factory=LambdaContext)

    @property
    def ecs(self) -> Any:
        return boto3.client("ecs", region_name=REGION)

    def config(self, data: dict[str, Any], name: str = "dockhand.yaml") -> Path:
        path = self.folder / name
        path.write_text(yaml.safe_dump({"version": 1, **data}, sort_keys=False))
        return path

    def function_env(self, function: str, config_path: Path) -> dict[str, str]:
        """What the `function_env` fixture does: the environment template.yaml gives `function`."""
        from aws_lambda_powertools.utilities import parameters

        from dockhand import deps

        env = {**self.stack.env_for(function), "DOCKHAND_CONFIG": str(config_path)}
        for key in [k for k in os.environ if k.startswith("DOCKHAND_")]:
            self.monkeypatch.delenv(key)
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)
        deps.reset()
        parameters.clear_caches()
        return env

    def handler(self, function: str, config: dict[str, Any]) -> Callable[..., dict[str, Any]]:
        """Configure `function` with `config`; return handler(sqs_event) running it as Lambda would."""
        import importlib

        self.function_env(function, self.config(config, f"{function}.yaml"))
        module = importlib.import_module(HANDLERS[function])
        return lambda event: module.lambda_handler(event, self.context)

    def slack_credentials(self, where: str, mode: str = "webhook", **extra: str) -> dict[str, Any]:
        """Put the loopback Slack's credential (and `extra` keys) where `where` says; return the notifications
        section naming it."""
        from tests.integration.test_watcher import TOKEN

        value = json.dumps(
            (
                {"bot_token": TOKEN, "api_url": self.slack.api_url}
                if mode == "bot"
                else {"webhook_url": self.slack.webhook_url}
            )
            | extra
        )
        section: dict[str, Any] = {"mode": mode, "channel": "C0ALERTS"}
        if where == "stack secret":
            boto3.client("secretsmanager", region_name=REGION).put_secret_value(
                SecretId=self.stack.physical["SlackSecret"], SecretString=value
            )
        elif where in ("ssm under /dockhand/", "ssm named by the user"):
            name = "/dockhand/slack" if where == "ssm under /dockhand/" else "/team/slack"
            boto3.client("ssm", region_name=REGION).put_parameter(Name=name, Type="SecureString", Value=value)
            section |= {"secret_source": "ssm", "secret_name": name}
        else:  # a Secrets Manager secret named by the user
            boto3.client("secretsmanager", region_name=REGION).create_secret(Name="team/slack", SecretString=value)
            section |= {"secret_name": "team/slack"}
        return {"sns": True, "slack": section}


@contextmanager
def world(slack: Any) -> Iterator[World]:
    """A fresh moto account with the stack of template.yaml, the loopback Slack emptied, every handler recorded."""
    import importlib

    from moto import mock_aws

    from dockhand_local.stack import create_stack

    slack.messages.clear()
    with mock_aws(), pytest.MonkeyPatch.context() as monkeypatch, tempfile.TemporaryDirectory() as folder:
        stack = create_stack(boto3.Session(), region=REGION)
        recorder = Recorder(stack)
        with recorder.recording(monkeypatch):
            for function, name in HANDLERS.items():
                module = importlib.import_module(name)
                monkeypatch.setattr(module, "lambda_handler", recorder.wrap(function, module.lambda_handler))
            yield World(stack, recorder, monkeypatch, Path(folder), slack)


def run_flow(function: str, flow: str, slack: Any) -> FlowRun:
    """Drive one flow in a fresh world; check each call's authorizations against each function's policy."""
    with world(slack) as w:
        printed = io.StringIO()
        with redirect_stdout(printed):  # the EMF blobs Powertools Metrics prints
            FLOWS[function][flow](w)
        policies: dict[str, FunctionPolicy] = {}
        result = FlowRun(function, flow, metrics=emitted_metrics(printed.getvalue()))
        for call in w.recorder.calls:
            if call.function not in policies:
                workload = call.function.startswith(WORKLOAD)
                policies[call.function] = (
                    workload_policy(call.function.removeprefix(WORKLOAD))
                    if workload
                    else function_policy(w.stack, call.function)
                )
            policy = policies[call.function]
            for request in call.requests:
                allowed = [s.label for s in policy.allowing(request)]
                loose = [(v, [s.label for s in policy.allowing(v)]) for v in tighter_variants(request)]
                result.checked.append(Checked(call, request, allowed, [(v, s) for v, s in loose if s]))
        result.policy = policies.get(function) or function_policy(w.stack, function)
        return result


def emitted_metrics(stdout: str) -> set[tuple[str, str, frozenset[str]]]:
    from tests.support.metrics import emf_blobs

    return {
        (directive["Namespace"], metric["Name"], frozenset(dimensions))
        for blob in emf_blobs(stdout)
        for directive in blob["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
        for dimensions in directive["Dimensions"] or [[]]
    }


# ------------------------------------------------------------------------------------------------- deploy


def _deploy_world(w: World) -> None:
    """Cluster prod with services web and api, on one task family `web` with roles and tags."""
    from tests.integration.test_deployer import register, web_container

    ecs = w.ecs
    ecs.create_cluster(clusterName="prod")
    td = register(
        ecs,
        "web",
        [web_container("2.0.0")],
        taskRoleArn=TASK_ROLE,
        executionRoleArn=EXECUTION_ROLE,
        tags=[{"key": "team", "value": "payments"}],
    )
    for service in ("web", "api"):
        ecs.create_service(cluster="prod", serviceName=service, taskDefinition=td, desiredCount=1)


def _target(**over: Any) -> dict[str, Any]:
    return {"name": "web", "repository": "web", "tags": "semver:^2.0", "cluster": "prod", "services": ["web"], **over}


def _push(tag: str, digest: str, event_id: str = "e-1", time: str = "2026-11-01T10:00:00Z") -> dict[str, Any]:
    from tests.integration.test_deployer import fifo, push_event

    return fifo(push_event("web", tag, digest, event_id=event_id, time=time))


def _image(w: World, service: str) -> str:
    from tests.integration.test_deployer import images_of, service_td

    return images_of(service_td(w.ecs, "prod", service))["web"]


def deploy_to_one_service(w: World) -> None:
    from tests.integration.test_deployer import DIGEST_A

    _deploy_world(w)
    handler = w.handler("DeployerFunction", {"deploy": {"targets": [_target()]}})
    assert handler(_push("2.1.0", DIGEST_A)) == {"batchItemFailures": []}
    assert _image(w, "web").endswith(DIGEST_A)


def deploy_in_a_workload_account(w: World) -> None:
    """A target in account B (eu-west-1) through the role workload-account/template.yaml made there."""
    from tests.integration.accounts_helpers import ACCOUNT_B, REGION_B
    from tests.integration.test_deployer import DIGEST_A, images_of, register, service_td, web_container

    ecs, _, declared = _workload_account()
    ecs.create_cluster(clusterName="prod")
    td = register(
        ecs,
        "web",
        [web_container("2.0.0")],
        taskRoleArn=f"arn:aws:iam::{ACCOUNT_B}:role/app-task",
        executionRoleArn=f"arn:aws:iam::{ACCOUNT_B}:role/app-execution",
        tags=[{"key": "team", "value": "payments"}],
    )
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition=td, desiredCount=1)
    target = _target(account="b", region=REGION_B)
    handler = w.handler("DeployerFunction", {"accounts": declared, "deploy": {"targets": [target]}})
    assert handler(_push("2.1.0", DIGEST_A)) == {"batchItemFailures": []}
    assert images_of(service_td(ecs, "prod", "web"))["web"].endswith(DIGEST_A)


def deploy_to_many_services(w: World) -> None:
    from tests.integration.test_deployer import DIGEST_A

    _deploy_world(w)
    handler = w.handler("DeployerFunction", {"deploy": {"targets": [_target(services=["web", "api"])]}})
    assert handler(_push("2.1.0", DIGEST_A)) == {"batchItemFailures": []}
    assert _image(w, "web").endswith(DIGEST_A) and _image(w, "api").endswith(DIGEST_A)


def deploy_skips_an_older_push(w: World) -> None:
    from tests.integration.test_deployer import DIGEST_A, DIGEST_B

    _deploy_world(w)
    handler = w.handler("DeployerFunction", {"deploy": {"targets": [_target()]}})
    handler(_push("2.15.0", DIGEST_A))
    handler(_push("2.13.9", DIGEST_B, event_id="e-2", time="2026-11-01T11:00:00Z"))
    assert _image(w, "web").endswith(DIGEST_A)


def deploy_fails_on_a_missing_service(w: World) -> None:
    from tests.integration.test_deployer import DIGEST_A

    _deploy_world(w)
    handler = w.handler("DeployerFunction", {"deploy": {"targets": [_target(services=["ghost"])]}})
    assert handler(_push("2.1.0", DIGEST_A)) == {"batchItemFailures": []}


def deploy_dry_run(w: World) -> None:
    from tests.integration.test_deployer import DIGEST_A

    _deploy_world(w)
    handler = w.handler("DeployerFunction", {"deploy": {"dry_run": True, "targets": [_target()]}})
    assert handler(_push("2.1.0", DIGEST_A)) == {"batchItemFailures": []}
    assert "2.0.0" in _image(w, "web")


def deploy_retries_a_failed_notification(w: World) -> None:
    from tests.integration.test_deployer import DIGEST_A, deploy_queue_messages, fifo_bodies

    _deploy_world(w)
    notifications = w.slack_credentials("stack secret")
    handler = w.handler("DeployerFunction", {"deploy": {"targets": [_target()]}, "notifications": notifications})
    w.slack.fail_next(1, status=503)
    assert handler(_push("2.1.0", DIGEST_A)) == {"batchItemFailures": []}
    (retry,) = deploy_queue_messages(w.stack)
    assert handler(fifo_bodies([retry["body"]], group="notify")) == {"batchItemFailures": []}
    assert len(w.slack.messages) == 1


def deploy_resumes_a_registration_it_could_not_record(w: World) -> None:
    from botocore.exceptions import ClientError

    from tests.integration.test_deployer import DIGEST_A

    _deploy_world(w)
    handler = w.handler("DeployerFunction", {"deploy": {"targets": [_target()]}})
    failed: list[str] = []

    def fail_once(params: dict[str, Any], **_: Any) -> None:
        if not failed and "CLAIM#revision#" in json.dumps(params["Key"]):
            failed.append("revision")
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "UpdateItem")

    from dockhand import deps

    deps.table().raw.meta.client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", fail_once)
    event = _push("2.1.0", DIGEST_A)
    assert handler(event)["batchItemFailures"] and failed == ["revision"]
    assert handler(event) == {"batchItemFailures": []}  # the redelivery finds the revision by its tags
    assert _image(w, "web").endswith(DIGEST_A)
    assert len(w.ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]) == 2


def deploy_judges_a_service_it_never_deployed(w: World) -> None:
    from tests.integration.test_deployer import DIGEST_A, ecr_push, register

    running = ecr_push("main-1", "2026-11-01T09:00:00Z")
    w.ecs.create_cluster(clusterName="prod")
    td = register(w.ecs, "web", [{"name": "web", "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web@{running}"}])
    w.ecs.create_service(cluster="prod", serviceName="web", taskDefinition=td, desiredCount=1)
    handler = w.handler("DeployerFunction", {"deploy": {"targets": [_target(tags="glob:main-*")]}})
    assert handler(_push("main-2", DIGEST_A)) == {"batchItemFailures": []}  # pushed after main-1: deployed
    assert _image(w, "web").endswith(DIGEST_A)


def deploy_parks_bad_input(w: World) -> None:
    from tests.integration.test_deployer import fifo_bodies

    handler = w.handler("DeployerFunction", {"deploy": {"targets": [_target()]}})
    assert handler(fifo_bodies([{"detail-type": "ECR Image Action", "detail": "junk"}], "ecr-push")) == {
        "batchItemFailures": []
    }
    sqs = boto3.client("sqs", region_name=REGION)
    assert sqs.receive_message(QueueUrl=w.stack.queue_url("DeployDLQ")).get("Messages")


def _deploy_notifies_through(where: str) -> Callable[[World], None]:
    def flow(w: World) -> None:
        from tests.integration.test_deployer import DIGEST_A

        _deploy_world(w)
        notifications = w.slack_credentials(where)
        handler = w.handler("DeployerFunction", {"deploy": {"targets": [_target()]}, "notifications": notifications})
        assert handler(_push("2.1.0", DIGEST_A)) == {"batchItemFailures": []}
        assert len(w.slack.messages) == 1

    return flow


# -------------------------------------------------------------------------------------------------- watch


def _watcher(w: World, mode: str = "bot", where: str = "stack secret", **sections: Any) -> Callable[..., Any]:
    from tests.support.events import sqs_event

    handler = w.handler("WatcherFunction", {"notifications": w.slack_credentials(where, mode), **sections})
    import functions.watcher.app as app

    app._TASKDEFS.clear()  # a fresh Lambda container
    return lambda *bodies: handler(sqs_event(*bodies))


@contextmanager
def _clock() -> Iterator[Any]:
    """The watcher tests' clock: time stands still until the flow moves it (moto's SQS delays read it)."""
    import time_machine

    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        yield clock


def _fargate(w: World, cluster: str = "batch", family: str = "nightly") -> dict[str, str]:
    """The watcher tests' Fargate world (a cluster, a task family, a VPC moto launches awsvpc tasks into), the
    task definition with roles."""
    subnet, sg = launchable_network(boto3.client("ec2", region_name=REGION), family, cidr="10.9")
    cluster_arn = w.ecs.create_cluster(clusterName=cluster)["cluster"]["clusterArn"]
    td = _fargate_taskdef(w, family, "job")
    return {"subnet": subnet, "sg": sg, "cluster": cluster_arn, "td": td}


def _fargate_taskdef(w: World, family: str, container: str, ecs: Any = None, account: str = ACCOUNT) -> str:
    """A Fargate task definition as real ones are: a task role and an execution role (of `account`, registered with
    `ecs`: Dockhand's own by default)."""
    return str(
        (ecs or w.ecs).register_task_definition(
            family=family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            taskRoleArn=f"arn:aws:iam::{account}:role/app-task",
            executionRoleArn=f"arn:aws:iam::{account}:role/app-execution",
            containerDefinitions=[{"name": container, "image": f"{family}:1", "memory": 512}],
        )["taskDefinition"]["taskDefinitionArn"]
    )


def _workload_account() -> tuple[Any, Any, dict[str, Any]]:
    """Account B (eu-west-1) with the workload-account template's stack: its ECS and EC2 clients, and the `accounts`
    section that declares it as `b`."""
    from tests.integration.accounts_helpers import (
        ACCOUNT_B,
        EXTERNAL_ID,
        REGION_B,
        in_account,
        role_arn,
        workload_stack,
    )

    workload_stack(ACCOUNT_B, REGION_B)
    declared = {"b": {"id": ACCOUNT_B, "role": role_arn(ACCOUNT_B), "external_id": EXTERNAL_ID}}
    return in_account(ACCOUNT_B, "ecs", REGION_B), in_account(ACCOUNT_B, "ec2", REGION_B), declared


def watch_every_sample_event(w: World) -> None:
    """Each stop cause, deployment state and service action of events/, one at a time."""
    from tests.support.events import EVENTS

    handle = _watcher(w)
    for sample in sorted(EVENTS.glob("ecs-*.json")):
        assert handle(json.loads(sample.read_text())) == {"batchItemFailures": []}, sample.name
    assert len(w.slack.messages) >= 10


def watch_crash_loop_and_window_close(w: World) -> None:
    from tests.integration.test_watcher import Inbox, crash

    handle = _watcher(w, watch={"crash_loop_window_minutes": 10})
    with _clock() as clock:
        inbox = Inbox(w.stack, clock)
        assert handle(*[crash(i) for i in range(10)]) == {"batchItemFailures": []}
        closes = inbox.drain()
        assert [b["action"] for b in closes] == ["close_window"]
        assert handle(*closes) == {"batchItemFailures": []}
    assert len(w.slack.messages) == 2  # the alert, then its summary


def watch_restarts_a_standalone_task(w: World) -> None:
    from tests.integration.test_watcher import Inbox, stopped

    fargate = _fargate(w)
    network = {"subnets": [fargate["subnet"]], "security_groups": [fargate["sg"]]}
    handle = _watcher(w, watch={"restart": {"families": ["nightly"], "backoff_seconds": 30, "network": network}})
    with _clock() as clock:
        inbox = Inbox(w.stack, clock)
        handle(stopped(None, fargate, tags=[{"key": "team", "value": "data"}]))  # a restart carries the task's tags
        restarts = inbox.drain()
        assert "restart" in [b["action"] for b in restarts], restarts
        assert handle(*restarts) == {"batchItemFailures": []}
    assert w.ecs.list_tasks(cluster="batch")["taskArns"]


def watch_restarts_a_task_in_a_workload_account(w: World) -> None:
    """A failed task of account B (eu-west-1), its event forwarded to Dockhand's bus: restarted through B's role."""
    from tests.integration.accounts_helpers import ACCOUNT_B, REGION_B
    from tests.integration.test_watcher import Inbox, stopped

    ecs, ec2, declared = _workload_account()
    subnet, sg = launchable_network(ec2, "nightly", cidr="10.9")
    cluster = ecs.create_cluster(clusterName="batch")["cluster"]["clusterArn"]
    td = _fargate_taskdef(w, "nightly", "job", ecs, ACCOUNT_B)
    network = {"subnets": [subnet], "security_groups": [sg]}
    handle = _watcher(w, accounts=declared, watch={"restart": {"families": ["nightly"], "network": network}})
    task = {"taskArn": f"arn:aws:ecs:{REGION_B}:{ACCOUNT_B}:task/batch/{'e' * 32}", "startedBy": "cron"}
    with _clock() as clock:
        inbox = Inbox(w.stack, clock)
        handle(stopped(task, {"cluster": cluster, "td": td}) | {"account": ACCOUNT_B, "region": REGION_B})
        restarts = [b for b in inbox.drain() if b.get("action") == "restart"]
        assert restarts and handle(*restarts) == {"batchItemFailures": []}
    assert ecs.list_tasks(cluster="batch")["taskArns"]


def watch_completed_deploy_prunes_revisions(w: World) -> None:
    from dockhand import deps
    from dockhand.notify.model import Notification
    from tests.integration.test_deployer import register
    from tests.integration.test_watcher import _record_deployment, deploy_event

    ecs = w.ecs
    ecs.create_cluster(clusterName="prod")
    arns = [register(ecs, "web", [{"name": "web", "image": f"web:{i}"}]) for i in range(1, 7)]
    ecs.create_service(cluster="prod", serviceName="legacy", taskDefinition=arns[1], desiredCount=1)
    worker = _fargate(w, cluster="prod", family="worker")  # a standalone task runs beside the services
    network = {"subnets": [worker["subnet"]], "securityGroups": [worker["sg"]]}
    ecs.run_task(
        cluster="prod",
        taskDefinition=worker["td"],
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": network},
    )
    handle = _watcher(w, deploy={"keep_revisions": 2})
    _record_deployment("ecs-svc/777")
    with w.recorder.paused():  # the deployer's start message, posted before the watcher hears of the deployment
        deps.notifier().notify(Notification(kind="deploy_started", title="Deploying", update_key="deploy/ecs-svc/777"))
    assert handle(deploy_event("ecs-deployment-completed", "ecs-svc/777")) == {"batchItemFailures": []}
    assert [m["kind"] for m in w.slack.messages] == ["post", "update"]
    assert len(ecs.list_task_definitions(familyPrefix="web", status="ACTIVE")["taskDefinitionArns"]) == 3


def watch_rolled_back_deploy_holds_the_digest(w: World) -> None:
    from dockhand import deps
    from dockhand.state.deployments import Holds
    from tests.integration.test_watcher import _record_deployment, deploy_event

    handle = _watcher(w)
    _record_deployment("ecs-svc/888")
    assert handle(deploy_event("ecs-deployment-failed", "ecs-svc/888")) == {"batchItemFailures": []}
    assert Holds(deps.table()).get("web", "sha256:" + "a" * 64) is not None


def watch_parks_bad_input(w: World) -> None:
    handle = _watcher(w)
    assert handle("not json") == {"batchItemFailures": []}
    sqs = boto3.client("sqs", region_name=REGION)
    assert sqs.receive_message(QueueUrl=w.stack.queue_url("WatchDLQ")).get("Messages")


def _watch_notifies_through(where: str, mode: str = "webhook") -> Callable[[World], None]:
    def flow(w: World) -> None:
        from tests.integration.test_watcher import task_event

        handle = _watcher(w, mode=mode, where=where)
        assert handle(task_event()) == {"batchItemFailures": []}
        assert len(w.slack.messages) == 1

    return flow


# -------------------------------------------------------------------------------------------------- batch

T1 = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


@contextmanager
def _batch(w: World) -> Iterator[Any]:
    """The batch tests' world, its job task definition with roles, its jobs tagged."""
    from tests.integration.batch_helpers import BatchWorld, tasks_stay_running

    with tasks_stay_running():
        world_ = BatchWorld(w.stack, w.function_env, lambda data, name="dockhand.yaml": w.config(data, name), w.context)
        _fargate_taskdef(w, "report", "main")  # a new revision of the job's family, now with roles
        yield world_


def _job(world_: Any, **over: Any) -> dict[str, Any]:
    return world_.job(tags={"team": "data"}, **over)


def _concurrency(policy: str, tasks_after: int) -> Callable[[World], None]:
    def flow(w: World) -> None:
        with _batch(w) as b:
            b.declare(_job(b, concurrency=policy))
            b.fire("report", T1)
            assert b.fire("report", T2) == {"batchItemFailures": []}
            assert len(b.tasks()) == tasks_after

    return flow


def batch_retries_then_succeeds(w: World) -> None:
    with _batch(w) as b:
        b.declare(_job(b, retries={"attempts": 3, "backoff_seconds": 60}))
        b.fire("report", T1)
        b.stop(b.tasks()[0]["taskArn"], 1)
        (retry,) = b.one_time("retry")
        b.fire_one_time(retry)
        b.stop(b.tasks()[0]["taskArn"], 0)
        assert [r.status for r in b.runs()] == ["succeeded"]


def batch_deadline_stops_a_run(w: World) -> None:
    with _batch(w) as b:
        b.declare(_job(b, max_runtime_minutes=30))
        b.fire("report", T1)
        (deadline,) = b.one_time("deadline")
        b.fire_one_time(deadline)
        assert [r.status for r in b.runs()] == ["timed_out"]


def batch_run_ends_before_its_deadline(w: World) -> None:
    with _batch(w) as b:
        b.declare(_job(b, max_runtime_minutes=30))
        b.fire("report", T1)
        b.stop(b.tasks()[0]["taskArn"], 0)
        assert [r.status for r in b.runs()] == ["succeeded"] and b.one_time("deadline") == []


def batch_launch_finds_no_capacity(w: World) -> None:
    from tests.integration.test_batch_flows import _ec2_world

    with _batch(w) as b:
        _ec2_world(b)
        b.declare(_job(b, task_definition="report-ec2", launch_type="EC2", network=None, retries={"attempts": 2}))
        assert b.fire("report", T1) == {"batchItemFailures": []}
        assert [r.status for r in b.runs()] == ["retrying"]


def batch_run_fails(w: World) -> None:
    with _batch(w) as b:
        b.declare(_job(b))
        b.fire("report", T1)
        b.stop(b.tasks()[0]["taskArn"], 2)
        assert [r.status for r in b.runs()] == ["failed"]


def batch_runs_a_job_in_a_workload_account(w: World) -> None:
    """A job of account B (eu-west-1) launched and, on its forwarded STOPPED event, finished through B's role."""
    from tests.integration.accounts_helpers import ACCOUNT_B, REGION_B
    from tests.support.events import job_task_stopped

    ecs, ec2, declared = _workload_account()
    subnet, sg = launchable_network(ec2, "jobs")
    ecs.create_cluster(clusterName="demo")
    _fargate_taskdef(w, "report", "main", ecs, ACCOUNT_B)
    with _batch(w) as b:
        job = _job(b, account="b", region=REGION_B) | {"network": {"subnets": [subnet], "security_groups": [sg]}}
        b.declare(job, accounts=declared)
        b.fire("report", T1)
        (task_arn,) = ecs.list_tasks(cluster="demo")["taskArns"]
        ecs.stop_task(cluster="demo", task=task_arn, reason="Essential container in task exited")
        task = ecs.describe_tasks(cluster="demo", tasks=[task_arn])["tasks"][0]
        event = job_task_stopped(task, 2, "Essential container in task exited", "EssentialContainerExited")
        assert b.deliver(event | {"account": ACCOUNT_B, "region": REGION_B}) == {"batchItemFailures": []}
        assert [r.status for r in b.runs()] == ["failed"]


def batch_run_now(w: World) -> None:
    with _batch(w) as b:
        b.declare(_job(b))
        now = {"dockhand": "job", "action": "run_now", "job": "report", "run_id": "20261129T093000Z-now-abc"}
        assert b.deliver({**now, "scheduled_time": "2026-11-29T09:30:00Z"}) == {"batchItemFailures": []}
        assert [r.trigger for r in b.runs()] == ["run_now"]


def batch_launch_finds_the_task_it_could_not_record(w: World) -> None:
    from dockhand.batch.schedules import render_input
    from tests.integration.batch_helpers import failing_once

    with _batch(w) as b:
        b.declare(_job(b))
        target = b.scheduler.get_schedule(Name="report", GroupName=b.group)["Target"]
        body = render_input(target["Input"], T1, "exec-1")
        with failing_once("UpdateItem", "CLAIM#run-launch#", '"task"'):
            b.deliver(body)
        assert b.deliver(body) == {"batchItemFailures": []}
        assert len(b.tasks()) == 1 and [r.status for r in b.runs()] == ["running"]


def batch_parks_bad_input(w: World) -> None:
    with _batch(w) as b:
        b.declare(_job(b))
        assert b.deliver("not json") == {"batchItemFailures": []}
        assert b.sqs.receive_message(QueueUrl=w.stack.queue_url("BatchDLQ")).get("Messages")


def _batch_notifies_through(where: str) -> Callable[[World], None]:
    def flow(w: World) -> None:
        with _batch(w) as b:
            b.declare(_job(b))
            path = b.config_path
            data = yaml.safe_load(path.read_text())
            data["notifications"] = w.slack_credentials(where)
            path.write_text(yaml.safe_dump(data))
            w.function_env("BatchFunction", path)
            b.fire("report", T1)
            b.stop(b.tasks()[0]["taskArn"], 0)
            assert len(w.slack.messages) == 1

    return flow


# ------------------------------------------------------------------------------------------ schedule sync


def schedules_follow_the_file(w: World) -> None:
    """CloudFormation creates, updates (a job changed, then one replaced) and deletes the schedules resource."""
    from tests.integration.test_batch_schedules import _cfn_event, cloudformation_response_url

    with _batch(w) as b, cloudformation_response_url() as (url, received):
        path = b._write_config({"jobs": [b.job(name="a")]}, "sync.yaml")
        w.function_env("ScheduleSyncFunction", path)
        from dockhand import deps
        from functions.schedule_sync import app

        steps = (("Create", ["a"], "cron(0 2 * * ? *)"), ("Update", ["a"], "cron(0 3 * * ? *)"))
        for request, jobs, schedule in (
            *steps,
            ("Update", ["b"], "cron(0 3 * * ? *)"),
            ("Delete", [], "cron(0 3 * * ? *)"),
        ):
            path.write_text(json.dumps({"jobs": [b.job(name=j, schedule=schedule) for j in jobs or ["b"]]}))
            deps.reset()
            app.lambda_handler(_cfn_event(b, request, url, request), w.context)
            assert received[-1]["Status"] == "SUCCESS", received[-1]
            names = [s["Name"] for s in b.scheduler.list_schedules(GroupName=b.group)["Schedules"]]
            assert names == jobs


# ---------------------------------------------------------------------------------------------- promote


def _walk(w: World, clock: Any, notifications: dict[str, Any] | None = None, **production: Any) -> Any:
    from tests.integration.promotion_helpers import Walk, targets

    notifications = notifications or {"sns": True}
    config = w.config({"deploy": {"targets": targets(**production)}, "notifications": notifications}, "walk.yaml")
    return Walk(w.stack, clock, w.function_env, config)


def promote_after_a_clean_bake(w: World) -> None:
    """staging completes, the bake ends clean with the alarm OK, and production is deployed by the deployer."""
    from tests.integration.promotion_helpers import DIGEST, REGISTRY, web_5xx_alarm

    web_5xx_alarm("OK")
    with _clock() as clock:
        walk = _walk(w, clock, alarms=["web-5xx"])
        walk.push("1.1.0")
        walk.completed("staging")
        walk.later(30 * 60)
        assert walk.to_deployer()
    assert walk.image("prod") == f"{REGISTRY}/web@{DIGEST}"


def promote_reads_the_alarms_where_the_earlier_stage_runs(w: World) -> None:
    """Staging in workload account A, production in B naming an alarm that lives with staging: the bake's end reads
    it in account A, through the role workload-account/template.yaml made there."""
    from tests.integration.accounts_helpers import ACCOUNT_A, REGION_A, AccountsWalk, accounts, in_account
    from tests.integration.promotion_helpers import web_5xx_alarm
    from tests.integration.test_accounts import targets

    web_5xx_alarm("OK", in_account(ACCOUNT_A, "cloudwatch", REGION_A), "web-staging-5xx")
    declared = {"accounts": accounts(), "deploy": {"targets": targets(["web-staging-5xx"])}, "notifications": {}}
    with _clock() as clock:
        walk = AccountsWalk(w.stack, clock, w.function_env, w.config(declared, "accounts-walk.yaml"))
        walk.push("1.1.0")
        walk.completed("staging")
        walk.later(10 * 60)
    assert walk.promotion().status == "awaiting_approval"


def promote_stops_on_a_failure_during_the_bake(w: World) -> None:
    with _clock() as clock:
        walk = _walk(w, clock)
        walk.push("1.1.0")
        walk.completed("staging")
        walk.task_failed("staging")
        walk.later(30 * 60)
    assert walk.promotion().status == "stopped"


def _slack_press(where: str, forged: bool = False) -> Callable[[World], None]:
    """Production waits for U0ALICE's approval in Slack (the credential and signing secret where `where` says);
    a press of Approve comes to the approver's function URL, signed — or forged, and refused."""

    def flow(w: World) -> None:
        secret = "8f742231b10e8888abcd99yyyzzz85a5"
        section = w.slack_credentials(where, "bot", signing_secret=secret)
        with _clock() as clock:
            walk = _walk(w, clock, notifications=section, approval={"approvers": ["U0ALICE"]}, bake_minutes=5)
            walk.push("1.1.0")
            walk.completed("staging")
            walk.later(5 * 60)
            ts = next(m["ts"] for m in w.slack.messages if "waits for approval" in m["text"])
            headers, body = w.slack.interaction("C0ALERTS", ts, "dockhand_approve", "U0ALICE", secret)
            reply = walk.approver(headers, body.replace("U0ALICE", "U0MALLORY") if forged else body)
        assert reply["statusCode"] == (401 if forged else 200), reply
        assert walk.promotion().status == ("awaiting_approval" if forged else "approved")

    return flow


def _traffic_gate(where: str | None = None, crash: bool = False) -> Callable[[World], None]:
    """Production (blue/green) deployed behind a traffic gate (a bake on test traffic, an alarm that must not fire):
    ECS calls the hook while the gate holds, then after the bake — or after a task crashed on test traffic. With
    `where`, the notifications go to Slack too, its credential where `where` says."""

    def flow(w: World) -> None:
        from tests.integration.promotion_helpers import web_5xx_alarm

        web_5xx_alarm("OK")
        notifications = w.slack_credentials(where) if where else None
        gate = {"bake_minutes": 5, "alarms": ["web-5xx"]}
        with _clock() as clock:
            walk = _walk(w, clock, notifications=notifications, bake_minutes=1, traffic_gate=gate)
            walk.deployed_to_production()
            assert walk.hook()["hookStatus"] == "IN_PROGRESS"
            if crash:
                walk.task_failed("prod")
            clock.shift(5 * 60)
            assert walk.hook() == {"hookStatus": "FAILED" if crash else "SUCCEEDED"}

    return flow


# ------------------------------------------------------------------------------------------- the catalogue

SLACK_PLACES = ("stack secret", "ssm under /dockhand/", "secret named by the user", "ssm named by the user")

FLOWS: dict[str, dict[str, Callable[[World], None]]] = {
    "DeployerFunction": {
        "push to one service": deploy_to_one_service,
        "push to many services": deploy_to_many_services,
        "push to a service in a workload account": deploy_in_a_workload_account,
        "skip an older push": deploy_skips_an_older_push,
        "fail on a missing service": deploy_fails_on_a_missing_service,
        "dry run": deploy_dry_run,
        "notification retry": deploy_retries_a_failed_notification,
        "resume a registration not recorded": deploy_resumes_a_registration_it_could_not_record,
        "a service Dockhand never deployed": deploy_judges_a_service_it_never_deployed,
        "bad input parked": deploy_parks_bad_input,
        "promotion deployed to the next stage": promote_after_a_clean_bake,
        **{f"Slack credential in the {p}": _deploy_notifies_through(p) for p in SLACK_PLACES},
    },
    "WatcherFunction": {
        "every sample event (each stop cause, deployments, service events)": watch_every_sample_event,
        "crash loop and window close": watch_crash_loop_and_window_close,
        "restart a standalone task": watch_restarts_a_standalone_task,
        "restart a task in a workload account": watch_restarts_a_task_in_a_workload_account,
        "deployment completed, old revisions pruned": watch_completed_deploy_prunes_revisions,
        "deployment rolled back, digest held": watch_rolled_back_deploy_holds_the_digest,
        "bad input parked": watch_parks_bad_input,
        "promotion: bake ends clean (alarm OK), released to the deployer": promote_after_a_clean_bake,
        "promotion: a failure during the bake stops the walk": promote_stops_on_a_failure_during_the_bake,
        "promotion: the earlier stage's alarm read in its workload account": (
            promote_reads_the_alarms_where_the_earlier_stage_runs
        ),
        "Slack bot": _watch_notifies_through("stack secret", mode="bot"),
        **{f"Slack credential in the {p}": _watch_notifies_through(p) for p in SLACK_PLACES},
    },
    "BatchFunction": {
        "launch, Forbid skips": _concurrency("Forbid", 1),
        "launch, Replace stops the running one": _concurrency("Replace", 1),
        "launch, Allow runs alongside": _concurrency("Allow", 2),
        "retry, then success": batch_retries_then_succeeds,
        "deadline": batch_deadline_stops_a_run,
        "completion before the deadline": batch_run_ends_before_its_deadline,
        "failure": batch_run_fails,
        "a job in a workload account": batch_runs_a_job_in_a_workload_account,
        "launch finds no capacity": batch_launch_finds_no_capacity,
        "run now": batch_run_now,
        "launch redelivered after its task could not be recorded": batch_launch_finds_the_task_it_could_not_record,
        "bad input parked": batch_parks_bad_input,
        **{f"Slack credential in the {p}": _batch_notifies_through(p) for p in SLACK_PLACES},
    },
    "ScheduleSyncFunction": {
        "create, update, delete": schedules_follow_the_file,
    },
    "ApproverFunction": {
        "a forged press is refused": _slack_press("stack secret", forged=True),
        **{f"a signed press approves, Slack credential in the {p}": _slack_press(p) for p in SLACK_PLACES},
    },
    "HookFunction": {
        "the gate holds, then passes after a clean bake (alarm OK)": _traffic_gate(),
        "a task crashes on test traffic: the gate fails": _traffic_gate(crash=True),
        **{f"Slack credential in the {p}": _traffic_gate(p) for p in SLACK_PLACES},
    },
}
