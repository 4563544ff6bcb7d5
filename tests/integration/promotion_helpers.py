"""A two-stage world for the promotion tests: web in cluster `staging` (deployed on push) and in cluster `prod`
(promoted from staging), the real deployer and watcher handlers, their queues in moto, the clock in a test's hand."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from dockhand_local.images import image_manifest
from dockhand_local.lambda_context import LambdaContext
from tests.support.events import load_event, sqs_event, with_detail

ACCOUNT = "123456789012"
REGION = "us-east-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
DIGEST = "sha256:" + "b" * 64
NEWER = "sha256:" + "c" * 64
APPROVER = f"arn:aws:iam::{ACCOUNT}:role/Releaser"


def targets(**production: Any) -> list[dict[str, Any]]:
    staging = {"name": "web-staging", "repository": "web", "tags": "semver:^1.0", "stage": "staging"}
    prod = {"name": "web-prod", "repository": "web", "stage": "production", "promote_from": "staging"}
    return [
        staging | {"cluster": "staging", "services": ["web"]},
        prod | {"cluster": "prod", "services": ["web"], "bake_minutes": 30} | production,
    ]


class Walk:
    """Drives the stack: pushes, deployment outcomes, stops; hands each queue's messages to its function."""

    def __init__(self, stack: Any, clock: Any, function_env: Callable[..., Any], config: Path) -> None:
        from tests.integration.test_watcher import Inbox

        self.stack, self.clock, self.function_env, self.config = stack, clock, function_env, config
        self.inbox = Inbox(stack, clock)  # SNS (through a subscribed queue) and the watcher's delayed messages
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.ecs = boto3.client("ecs", region_name=REGION)
        # What the services run at first is in ECR, so that its push time orders the walk's digests after it.
        ecr = boto3.client("ecr", region_name=REGION)
        ecr.create_repository(repositoryName="web")
        ecr.put_image(repositoryName="web", imageTag="1.0.0", imageManifest=image_manifest("web:1.0.0"))
        for cluster in ("staging", "prod"):
            self.ecs.create_cluster(clusterName=cluster)
            td = self.ecs.register_task_definition(
                family=f"web-{cluster}",
                containerDefinitions=[{"name": "web", "image": f"{REGISTRY}/web:1.0.0", "memory": 256}],
            )["taskDefinition"]["taskDefinitionArn"]
            self.ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=td, desiredCount=1)
        self._n = 0

    def deployer(self, *bodies: Any) -> dict[str, Any]:
        from functions.deployer import app

        self.function_env("DeployerFunction", self.config)
        event = sqs_event(*bodies)
        for record in event["Records"]:
            record["attributes"]["MessageGroupId"] = "ecr-push"
        return app.lambda_handler(event, LambdaContext())

    def approver(self, headers: dict[str, str], body: str) -> dict[str, Any]:
        """Slack's request to the approver's function URL, as Lambda hands it over (headers in lower case)."""
        from functions.approver import app

        self.function_env("ApproverFunction", self.config)
        event = {
            "version": "2.0",
            "headers": {k.lower(): v for k, v in headers.items()},
            "body": body,
            "isBase64Encoded": False,
            "requestContext": {"http": {"method": "POST", "path": "/"}},
        }
        return app.lambda_handler(event, LambdaContext())

    def hook(self, sample: str = "post-test-traffic-shift", before: Callable[[], Any] | None = None) -> dict[str, Any]:
        """ECS calls the lifecycle hook with a sample payload of `events/hooks/` (the service prod/web)."""
        from functions.hook import app

        self.function_env("HookFunction", self.config)
        if before is not None:
            before()
        return app.lambda_handler(load_event(f"hooks/{sample}"), LambdaContext())

    def watcher(self, *bodies: Any) -> dict[str, Any]:
        from functions.watcher import app

        self.function_env("WatcherFunction", self.config)
        out = app.lambda_handler(sqs_event(*bodies), LambdaContext())
        self._new_deployment_ids()
        return out

    def push(self, tag: str, digest: str = DIGEST) -> None:
        self._n += 1
        event = with_detail(
            load_event("ecr-image-push"), **{"repository-name": "web", "image-tag": tag, "image-digest": digest}
        )
        event.update(id=f"push-{self._n}", region=REGION, account=ACCOUNT, time=datetime.now(UTC).isoformat())
        assert self.deployer(event)["batchItemFailures"] == []
        self._new_deployment_ids()

    def _new_deployment_ids(self) -> None:
        """moto's UpdateService makes no new deployment (the id stays the service's first): each deploy gets the
        fresh id ECS would give it, in the ledger and the deployment record, as the deployment events carry it."""
        from dockhand import deps
        from dockhand.state.deployments import Deployments

        table = deps.table()
        for item in table.scan_prefix("LEDGER#"):
            old = str(item.get("deployment_id") or "")
            if not old or "#" in old:
                continue
            self._n += 1
            new = f"{old}#{self._n}"
            rec = Deployments(table).get(old)
            if rec is not None:
                Deployments(table).record(rec.model_copy(update={"deployment_id": new}))
            table.put({**item, "deployment_id": new})

    def image(self, cluster: str) -> str:
        svc = self.ecs.describe_services(cluster=cluster, services=["web"])["services"][0]
        td = self.ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        return str(td["containerDefinitions"][0]["image"])

    def deployment_id(self, cluster: str) -> str:
        from dockhand import deps
        from dockhand.state.ledger import Ledger

        row = Ledger(deps.table()).read(f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/web")
        return str(row.deployment_id)

    def completed(
        self, cluster: str, name: str = "ecs-deployment-completed", at: datetime | None = None
    ) -> dict[str, Any]:
        """ECS says the deployment Dockhand started on `cluster`/web ended (completed, by default), at `at` (default:
        now; ECS stamps the event as it happens, however late it is handled)."""
        now = (at or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
        event = with_detail(load_event(name), deploymentId=self.deployment_id(cluster), updatedAt=now)
        event.update(
            time=now,
            region=REGION,
            account=ACCOUNT,
            resources=[f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/web"],
        )
        return self.watcher(event)

    def task_failed(self, cluster: str) -> dict[str, Any]:
        self._n += 1
        task = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{self._n:032x}"
        event = copy.deepcopy(load_event("ecs-task-stopped-service-crash"))
        now = datetime.now(UTC).isoformat()
        event.update(region=REGION, account=ACCOUNT, resources=[task], id=f"stop-{self._n}")
        for c in event["detail"]["containers"]:
            c.update(taskArn=task, containerArn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:container/{cluster}/{self._n}")
        event["detail"].update(
            taskArn=task,
            clusterArn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}",
            group="service:web",
            stoppedAt=now,
            stoppingAt=now,
            executionStoppedAt=now,
        )
        event["detail"].pop("taskDefinitionArn", None)
        return self.watcher(event)

    def later(self, seconds: float) -> dict[str, Any] | None:
        """Let `seconds` pass; hand the watcher every message of its queue due by then."""
        bodies = self.inbox.after(seconds)
        return self.watcher(*bodies) if bodies else None

    def to_deployer(self) -> list[dict[str, Any]]:
        """Hand the deployer what waits on the deploy queue (promotions); returns the bodies."""
        url, bodies = self.stack.queue_url("DeployQueue"), []
        while msgs := self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for m in msgs:
                bodies.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if bodies:
            assert self.deployer(*bodies)["batchItemFailures"] == []
            self._new_deployment_ids()
        return bodies

    def notes(self) -> list[dict[str, Any]]:
        """The promotion notifications SNS received so far: kind and message."""
        seen = self.inbox.sns()
        return [
            {"kind": n["attributes"]["kind"], "body": n["body"]} for n in seen if "promotion" in n["attributes"]["kind"]
        ]

    def promotion(self, stage: str = "production", digest: str = DIGEST) -> Any:
        from dockhand import deps
        from dockhand.state.promotions import Promotions

        return Promotions(deps.table()).get("web", stage, digest)

    def gate(self, stage: str = "production", digest: str = DIGEST) -> Any:
        """The traffic gate the hook holds on `stage` for `digest`."""
        from dockhand import deps
        from dockhand.state.promotions import TrafficGates

        return TrafficGates(deps.table()).get("web", stage, digest)

    def deployed_to_production(self, tag: str = "1.1.0") -> None:
        """`tag` pushed, completed in staging, baked, released and deployed to production (bake_minutes=1)."""
        self.push(tag)
        self.completed("staging")
        self.later(60)
        assert [b["stage"] for b in self.to_deployer()] == ["production"]


SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_CHANNEL = "C0GATE"


def slack_bot(stack: Any, slack: Any) -> dict[str, Any]:
    """The stack's Slack credential names the loopback Slack (bot mode, with the app's signing secret); the
    notifications section that posts to it."""
    creds = {"bot_token": "xoxb-gate", "api_url": slack.api_url, "signing_secret": SIGNING_SECRET}
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=stack.physical["SlackSecret"], SecretString=json.dumps(creds)
    )
    return {"sns": True, "slack": {"mode": "bot", "channel": SLACK_CHANNEL}}


def web_5xx_alarm(state: str, cw: Any = None, name: str = "web-5xx") -> None:
    """The CloudWatch alarm `name` (with `cw`: in its account and Region), in `state` (OK or ALARM)."""
    cw = cw or boto3.client("cloudwatch", region_name=REGION)
    cw.put_metric_alarm(
        AlarmName=name,
        MetricName="5xx",
        Namespace="Web",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="set by the test")


@pytest.fixture
def walk(stack: Any, time_machine: Any, function_env: Any, write_config: Any) -> Callable[..., Walk]:
    """make(**production) → a Walk whose production target has these settings; the clock stands still."""
    time_machine.move_to(datetime.now(UTC), tick=False)

    def make(notifications: dict[str, Any] | None = None, **production: Any) -> Walk:
        deploy = {"targets": targets(**production)}
        config = write_config({"deploy": deploy, "notifications": notifications or {"sns": True}})
        return Walk(stack, time_machine, function_env, config)

    return make
